// How a layer's file is shown: what kind of content it is, its hex dump, a name safe to save it
// under, its ls -l mode, and the arithmetic of a virtualised list. Pure: runs on the page, in
// workers and in Node.

import type { EntryType } from './entry.ts';
import { baseName } from './paths.ts';

export type ImageMime =
  'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp' | 'image/bmp' | 'image/x-icon';

export type Sniffed =
  { kind: 'text'; text: string } | { kind: 'image'; mime: ImageMime } | { kind: 'binary' };

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const u32le = (b: Uint8Array, at: number) =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** Raster formats a browser decodes safely in an <img>. SVG is deliberately absent: it is text. */
function imageMime(b: Uint8Array): ImageMime | null {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a'))) return 'image/gif';
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)) return 'image/webp';
  // "BM" alone starts too many text files; the DIB header size must be one of the known ones.
  if (
    startsWith(b, ascii('BM')) &&
    b.length >= 26 &&
    [12, 40, 52, 56, 64, 108, 124].includes(u32le(b, 14))
  )
    return 'image/bmp';
  // ICONDIR: reserved 0, type 1, at least one image, and the first entry's reserved byte 0.
  if (startsWith(b, [0, 0, 1, 0]) && b.length >= 22 && (b[4]! | (b[5]! << 8)) > 0 && b[9] === 0)
    return 'image/x-icon';
  return null;
}

/** Control characters that ordinary text files carry: \t \n \f \r and ESC (ANSI colours). */
const isAllowedControl = (c: number) => c === 9 || c === 10 || c === 12 || c === 13 || c === 27;
const isControl = (c: number) => c < 0x20 || (c >= 0x7f && c <= 0x9f);

/**
 * What a file's bytes are: a raster image by its magic bytes, text when they are UTF-8 without NUL
 * and with few control characters, else binary. A multi-byte sequence cut off at the very end is
 * allowed (content may be capped) and dropped from the text.
 */
export function sniff(bytes: Uint8Array): Sniffed {
  const mime = imageMime(bytes);
  if (mime) return { kind: 'image', mime };
  if (bytes.indexOf(0) !== -1) return { kind: 'binary' };
  let text: string;
  try {
    // stream: true keeps an incomplete trailing sequence pending instead of failing on it.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return { kind: 'binary' };
  }
  let controls = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isControl(c) && !isAllowedControl(c)) controls++;
  }
  return controls * 100 > text.length ? { kind: 'binary' } : { kind: 'text', text };
}

const hex2 = (n: number) => (n < 16 ? '0' : '') + n.toString(16);

/**
 * Lines of `hexdump -C` for the 16-byte lines start … start+count-1 (all remaining by default):
 * offset, two groups of eight bytes, and the printable ASCII between bars. Unlike hexdump, repeated
 * lines are not collapsed into "*" and no final offset line is added.
 */
export function hexLines(bytes: Uint8Array, start = 0, count?: number): string[] {
  const total = Math.ceil(bytes.length / 16);
  const from = Math.max(0, Math.min(start, total));
  const to = count === undefined ? total : Math.max(from, Math.min(total, from + count));
  const out: string[] = [];
  for (let line = from; line < to; line++) {
    const at = line * 16;
    let hex = '';
    let text = '';
    for (let i = 0; i < 16; i++) {
      if (i === 8) hex += ' ';
      const b = bytes[at + i];
      if (at + i < bytes.length && b !== undefined) {
        hex += hex2(b) + ' ';
        text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else hex += '   ';
    }
    out.push(`${at.toString(16).padStart(8, '0')}  ${hex} |${text}|`);
  }
  return out;
}

const enc = new TextEncoder();
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
const MAX_NAME_BYTES = 200;

function clipUtf8(s: string, max: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = enc.encode(ch).length;
    if (used + n > max) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * A name to save the file under on any OS: the basename, with reserved characters and the
 * invisible ones showControls escapes (controls, bidi overrides such as the U+202E that makes
 * "invoice-\u202efdp.exe" read "invoice-exe.pdf", separators, lone surrogates) as "_", no leading dots (never hidden, never ".."), no trailing dots or spaces (Windows drops them),
 * Windows device names such as CON or com1.txt prefixed with "_", at most 200 bytes of UTF-8
 * (keeping a short extension), and never empty.
 */
export function safeFileName(path: string): string {
  // Trailing runs are cut with loops: /[. ]+$/ backtracks quadratically on a long run.
  const base = baseName(path);
  let name = trimEnd(
    base
      .replace(INVISIBLE, '_')
      .replace(/[/\\:*?"<>|]/g, '_')
      .replace(/^\.+/, ''),
    '. ',
  );
  if (!name) return 'file';
  if (RESERVED.test(name)) name = `_${name}`;
  if (enc.encode(name).length <= MAX_NAME_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot) : '';
  if (ext && enc.encode(ext).length <= 16) {
    return clipUtf8(name.slice(0, dot), MAX_NAME_BYTES - enc.encode(ext).length) + ext;
  }
  return clipUtf8(name, MAX_NAME_BYTES);
}

/** `text` without the trailing run of characters from `chars`, in linear time. */
function trimEnd(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1]!)) end--;
  return text.slice(0, end);
}

/**
 * Lines of a text, split at \n and \r\n. A final line break ends the last line rather than starting
 * an empty one, so "a\n" is one line and "" none. A lone \r stays in its line.
 */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// C0 and C1 controls, DEL, bidirectional marks and overrides, line and paragraph separators, BOM,
// and lone surrogates.
const INVISIBLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** The escape shown for one invisible character: \n, \t, \r, \xNN or \uNNNN. */
function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const c = ch.charCodeAt(0);
  return c <= 0xff ? `\\x${hex2(c)}` : `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * A string cut into plain text and escapes for its invisible characters ([text, true] for an
 * escape), so that a view can style the escapes apart from literal backslashes. Escapes rather than
 * Control Pictures (␛), which many Linux fonts lack. Tabs stay as they are when keepTabs is set.
 */
export function controlParts(s: string, keepTabs = false): [string, boolean][] {
  const out: [string, boolean][] = [];
  let last = 0;
  for (const m of s.matchAll(INVISIBLE)) {
    if (keepTabs && m[0] === '\t') continue;
    if (m.index > last) out.push([s.slice(last, m.index), false]);
    out.push([escapeChar(m[0]), true]);
    last = m.index + m[0].length;
  }
  if (last < s.length || out.length === 0) out.push([s.slice(last), false]);
  return out;
}

/**
 * A string safe to show as one line of plain text (a title, a tooltip): every invisible character
 * escaped, so "a\nb" stays on one line and a name cannot pretend to end in ".txt" with U+202E.
 */
export function showControls(s: string, keepTabs = false): string {
  return controlParts(s, keepTabs)
    .map(([t]) => t)
    .join('');
}

/** Browsers cap an element's height (Firefox near 17.9 million px); taller lists are scaled. */
export const MAX_SCROLL_PX = 10_000_000;

export interface ViewWindow {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Height of the scrolled content, in px. */
  height: number;
  /** Top of row i in the scrolled content is i * rowHeight + offset. */
  offset: number;
}

/** The physical height of `count` rows, and the ratio of virtual to physical scroll distance. */
function scaleOf(count: number, rowHeight: number, viewport: number) {
  const virtual = count * rowHeight;
  const height = Math.min(virtual, MAX_SCROLL_PX);
  const scale =
    virtual > height && height > viewport ? (virtual - viewport) / (height - viewport) : 1;
  return { height, scale };
}

/**
 * Which rows of a fixed-height list to render for a scroll position, with `overscan` extra rows
 * on each side. Lists taller than MAX_SCROLL_PX scroll proportionally.
 */
export function viewWindow(
  count: number,
  rowHeight: number,
  scrollTop: number,
  viewport: number,
  overscan = 20,
): ViewWindow {
  const { height, scale } = scaleOf(count, rowHeight, viewport);
  const top = Math.max(0, scrollTop) * scale;
  const first = Math.floor(top / rowHeight);
  const last = Math.ceil((top + Math.max(viewport, 0)) / rowHeight);
  return {
    start: Math.max(0, Math.min(count, first - overscan)),
    end: Math.max(0, Math.min(count, last + overscan)),
    height,
    offset: Math.max(0, scrollTop) - top,
  };
}

/** The scrollTop that brings row `index` fully into view with the least movement. */
export function scrollTopFor(
  index: number,
  count: number,
  rowHeight: number,
  scrollTop: number,
  viewport: number,
): number {
  const { scale } = scaleOf(count, rowHeight, viewport);
  const top = scrollTop * scale;
  const rowTop = index * rowHeight;
  let want = top;
  if (rowTop < top) want = rowTop;
  else if (rowTop + rowHeight > top + viewport) want = rowTop + rowHeight - viewport;
  return want === top ? scrollTop : Math.max(0, want / scale);
}

const TYPE_CHAR: Record<EntryType, string> = {
  file: '-',
  // A hardlink is another name for a regular file, and ls shows it as one.
  hardlink: '-',
  dir: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
  other: '?',
};

/** ls -l style mode string: type, then rwx for owner, group and others with setuid/setgid
 * (s/S) and sticky (t/T). File-type bits in `mode`, if any, are ignored. A mode that is not a
 * non-negative safe integer (a hostile base-256 field) shows "?" for every permission. */
export function formatMode(type: EntryType, mode: number): string {
  if (!Number.isSafeInteger(mode) || mode < 0) return TYPE_CHAR[type] + '?'.repeat(9);
  // Bit operators work on 32 bits; only the low 12 are permissions.
  mode %= 0o10000;
  const bit = (mask: number, c: string) => (mode & mask ? c : '-');
  const exec = (x: number, special: number, set: string, unset: string) =>
    mode & special ? (mode & x ? set : unset) : bit(x, 'x');
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}
