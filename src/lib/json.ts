// JSON from someone else (a registry, an archive, a token server) is read here, under two
// bounds: its size, and how deep its arrays and objects nest. The depth is measured by a linear
// scan before JSON.parse sees the text, so nothing recursive ever walks a deep document: not
// JSON.parse, not the validators, not JSON.stringify in an error message, not the structured
// clone that posts a parsed config from a worker to the page (Chromium's gives up near 2,000
// levels, far below what a 4 MiB document can nest).

/** How deep foreign JSON may nest. Real manifests, indexes and configs nest 5 or 6 levels; a
 * document nested deeper than this is refused, not half-read. */
export const maxJsonDepth = 64;

export type JsonErrorKind = 'size' | 'depth' | 'encoding' | 'syntax';

/** Foreign JSON that was refused, and why. Each caller turns it into its own module's error. */
export class JsonError extends Error {
  override name = 'JsonError';
  constructor(
    readonly kind: JsonErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface JsonBounds {
  /** Names the document in errors: "the config nests 5000 levels deep". */
  what: string;
  /** The most bytes read (or UTF-16 units, for a string). */
  maxBytes: number;
  /** The deepest nesting of arrays and objects read; maxJsonDepth unless given. */
  maxDepth?: number;
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How deep the arrays and objects of a JSON text nest, brackets inside strings not counted.
 * Linear in the text and never recursive; for text that is not JSON the answer is only an
 * estimate, which JSON.parse then refuses anyway. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) deepest = depth;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/**
 * Parses foreign JSON, refusing it with a JsonError that names the bound when it is bigger than
 * `maxBytes` or nests deeper than `maxDepth`, and when bytes are not UTF-8 or the text is not
 * JSON. Bytes are decoded strictly; pass a string to decode leniently yourself.
 */
export function parseJsonBounded(input: Uint8Array | string, bounds: JsonBounds): unknown {
  const { what, maxBytes, maxDepth = maxJsonDepth } = bounds;
  const size = typeof input === 'string' ? input.length : input.byteLength;
  if (size > maxBytes) {
    const unit = typeof input === 'string' ? 'characters' : 'bytes';
    throw new JsonError(
      'size',
      `${what} is ${size} ${unit}; Berth reads at most ${maxBytes} ${unit}`,
    );
  }
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      throw new JsonError('encoding', `${what} is not JSON: it is not even UTF-8 text`);
    }
  }
  const depth = jsonDepth(text);
  if (depth > maxDepth) {
    throw new JsonError(
      'depth',
      `${what} nests ${depth} levels deep; Berth reads at most ${maxDepth}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const start = text.trimStart().slice(0, 1);
    // A proxy or login portal answering with a web page is the usual cause, so name it.
    const hint =
      start === '<'
        ? ' (it looks like an HTML page, so something between Berth and the server answered instead)'
        : text.trim() === ''
          ? ' (the body is empty)'
          : ` (${(e as Error).message})`;
    throw new JsonError('syntax', `${what} is not JSON${hint}`);
  }
}
