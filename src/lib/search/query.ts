// What a search inside files looks for: text, or a JavaScript regular expression, compiled once
// into a finder that the matcher runs over decoded windows of a file.

export interface SearchQuery {
  /** The text, or the regular expression's source (or /source/flags). */
  text: string;
  regex: boolean;
  caseSensitive: boolean;
}

/** Finds the first match at or after `from` in `text`: its index and length, or -1. */
export interface Finder {
  find(text: string, from: number): number;
  /** The length of the match `find` returned last. */
  readonly length: number;
  /** Whether a match can be held up by backtracking: only a regular expression can. */
  readonly backtracks: boolean;
  /** Characters at the end of an over-long line kept for the next window, so that a match
   * across the cut is still found (exactly for text; up to this length for an expression). */
  readonly overlap: number;
  /** Whether these bytes may hold a match: false only when they surely do not. A file held
   * whole that cannot match is then never decoded. Only text (not an expression) has one. */
  mayMatch?(bytes: Uint8Array): boolean;
}

export type Compiled = { ok: true; finder: Finder } | { ok: false; message: string };

/** Flags a person may give after /source/: the rest are the matcher's own (g, m) or change
 * what an index means (d, y). */
const userFlags = /^[isuv]*$/;
/** The longest match across a window's cut that an expression is sure to find. */
const regexOverlap = 4096;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Compiles a query; an empty one, or an expression JavaScript rejects, is a message. */
export function compileQuery(q: SearchQuery): Compiled {
  if (q.text === '') return { ok: false, message: 'Type the text to search for.' };
  if (!q.regex && q.caseSensitive) return { ok: true, finder: literalFinder(q.text) };
  const prefilter = q.regex ? undefined : byteSearch(q.text, false);
  let source = q.regex ? q.text : escapeRegex(q.text);
  let flags = q.caseSensitive ? '' : 'i';
  if (q.regex) {
    // "/source/flags", as JavaScript writes an expression.
    const m = /^\/([\s\S]+)\/([a-z]*)$/.exec(q.text);
    if (m) {
      if (!userFlags.test(m[2]!)) {
        return {
          ok: false,
          message: `The regular expression's flags "${m[2]}" are not ones a search takes (i, s, u, v).`,
        };
      }
      source = m[1]!;
      for (const f of m[2]!) if (!flags.includes(f)) flags += f;
    }
  }
  let re: RegExp;
  try {
    // g: every match from lastIndex; m: ^ and $ at each line's ends, as grep reads them.
    re = new RegExp(source, `gm${flags}`);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `The regular expression is not valid: ${why}` };
  }
  // Assigned, not spread: a spread would freeze the finder's `length` getter.
  const finder: Finder = regexFinder(re, q.regex);
  if (prefilter) finder.mayMatch = prefilter;
  return { ok: true, finder };
}

function literalFinder(needle: string): Finder {
  const mayMatch = byteSearch(needle, true);
  return {
    find: (text, from) => text.indexOf(needle, from),
    length: needle.length,
    backtracks: false,
    overlap: Math.max(0, needle.length - 1),
    ...(mayMatch ? { mayMatch } : {}),
  };
}

const encoder = new TextEncoder();

/**
 * A search for text in bytes, before any decoding (Boyer-Moore-Horspool: it looks at about one
 * byte in the needle's length). Case-insensitive only for ASCII text, where folding a byte
 * cannot change a UTF-8 sequence; undefined otherwise. The bytes of a match are the text's
 * UTF-8 whatever the cut, so a file held whole without them has no match; a decoder would only
 * turn invalid sequences into U+FFFD, which text with no U+FFFD cannot match.
 */
function byteSearch(
  text: string,
  caseSensitive: boolean,
): ((b: Uint8Array) => boolean) | undefined {
  if (text.includes('\uFFFD')) return undefined;
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(text);
  if (!caseSensitive && !ascii) return undefined;
  const needle = encoder.encode(caseSensitive ? text : text.toLowerCase());
  const m = needle.length;
  if (m === 0) return undefined;
  const fold = new Uint8Array(256);
  for (let c = 0; c < 256; c++) fold[c] = !caseSensitive && c >= 0x41 && c <= 0x5a ? c + 32 : c;
  const shift = new Uint32Array(256).fill(m);
  for (let i = 0; i < m - 1; i++) {
    shift[needle[i]!] = m - 1 - i;
    // Either case of a letter shifts alike.
    if (!caseSensitive && needle[i]! >= 0x61 && needle[i]! <= 0x7a)
      shift[needle[i]! - 32] = m - 1 - i;
  }
  const last = needle[m - 1]!;
  return (b) => {
    const n = b.length;
    let i = m - 1;
    while (i < n) {
      const c = fold[b[i]!]!;
      if (c === last) {
        let j = m - 2;
        let k = i - 1;
        while (j >= 0 && fold[b[k]!] === needle[j]) {
          j--;
          k--;
        }
        if (j < 0) return true;
      }
      i += shift[b[i]!]!;
    }
    return false;
  };
}

function regexFinder(re: RegExp, backtracks: boolean): Finder {
  let length = 0;
  return {
    find(text, from) {
      re.lastIndex = from;
      const m = re.exec(text);
      if (!m) return -1;
      length = m[0].length;
      return m.index;
    },
    get length() {
      return length;
    },
    backtracks,
    overlap: regexOverlap,
  };
}
