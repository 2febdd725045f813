// The matcher over one file's bytes as a layer read hands them over, piece by piece. A file up
// to `holdBytes` is held whole and searched once it ends; a bigger one is searched in windows
// of `windowBytes`, each cut after its last line break, the partial last line carried into the
// next, so memory stays bounded whatever the file's size. A line longer than `maxCarry` (a
// minified file) is cut too, keeping the finder's overlap so that a match across the cut is
// still found. UTF-8 split across pieces or windows is decoded whole (a streaming decoder).
//
// One hit per line, as grep counts them. Line numbers are counted only up to a hit in a file
// held whole (most files have none), and through every window of a bigger one.
import type { Finder } from './query.ts';
import {
  kindAllowed,
  sniffBytes,
  SNIFF_BYTES,
  type SearchFilters,
  type Sniffed,
} from './filters.ts';

export interface MatchHit {
  /** 1-based line, and column in UTF-16 code units. */
  line: number;
  column: number;
  /** At most `snippetChars` of the line around the match, its line break left out. */
  snippet: string;
  /** Where the match is in the snippet, and how long (cut at the snippet's end). */
  start: number;
  length: number;
  /** Whether the snippet starts after the line does, or ends before it does. */
  cutBefore: boolean;
  cutAfter: boolean;
  /** Characters before the match in the file: a bound for where a viewer must read to. */
  at: number;
}

export interface MatcherOptions {
  /** Files up to this size are held whole. */
  holdBytes: number;
  /** The window of a bigger file (at least SNIFF_BYTES). */
  windowBytes: number;
  /** A partial line longer than this is searched without waiting for its end. */
  maxCarry: number;
  /** Hits kept per file; one more says there are more. */
  maxHits: number;
  snippetChars: number;
}

export const defaultMatcherOptions: MatcherOptions = {
  holdBytes: 8 << 20,
  windowBytes: 4 << 20,
  maxCarry: 1 << 20,
  maxHits: 100,
  snippetChars: 200,
};

/** Characters of the line kept before a match in its snippet, when the line is long. */
const before = 60;

export type FileVerdict = 'searched' | 'skipped';

/** Searches one file; used as a FileSink (lib/layers/ordered.ts). */
export class FileMatcher {
  readonly hits: MatchHit[] = [];
  /** More hits than maxHits: the rest were not looked for. */
  more = false;
  /** What its first bytes said; undefined until the read reached them. */
  sniffed: Sniffed | undefined;
  /** The kind filter turned it down. */
  skipped = false;

  readonly #finder: Finder;
  readonly #opts: MatcherOptions;
  readonly #filters: SearchFilters;
  /** Called before a window is searched with an expression that may backtrack. */
  readonly #before: (() => void) | undefined;
  readonly #size: number;
  #buf: Uint8Array | undefined;
  #fill = 0;
  #seen = 0;
  #done = false;
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  /** The decoded text not searched to its end: the partial last line. */
  #carry = '';
  /** The line at the carry's start, and how far into its line the carry starts. */
  #line = 1;
  #colBase = 0;
  /** Characters decoded before the carry. */
  #chars = 0;
  #lastHitLine = 0;

  constructor(
    finder: Finder,
    size: number,
    filters: SearchFilters,
    opts: MatcherOptions = defaultMatcherOptions,
    beforeWindow?: () => void,
  ) {
    this.#finder = finder;
    this.#size = size;
    this.#filters = filters;
    this.#opts = opts;
    this.#before = beforeWindow;
  }

  /** Whether the file is held whole (else it is searched in windows). */
  get #whole(): boolean {
    return this.#size <= this.#opts.holdBytes;
  }

  push(piece: Uint8Array): boolean {
    if (this.#done) return false;
    this.#seen += piece.length;
    const last = this.#seen >= this.#size;
    // A file in one piece is searched where it lies.
    if (this.#fill === 0 && (last || piece.length >= this.#windowSize)) {
      if (!this.#sniff(piece)) return false;
      this.#search(piece, last);
      return !this.#done;
    }
    let at = 0;
    while (at < piece.length && !this.#done) {
      const buf = (this.#buf ??= new Uint8Array(Math.min(this.#size, this.#windowSize)));
      const n = Math.min(buf.length - this.#fill, piece.length - at);
      buf.set(piece.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill === buf.length) this.#flush(last && at === piece.length);
    }
    return !this.#done;
  }

  end(): void {
    if (this.#done) return;
    // Ended early (a file shorter than its entry said, or its sinks had enough): what is held.
    this.#flush(true);
  }

  get #windowSize(): number {
    return this.#whole ? this.#size : Math.max(SNIFF_BYTES, this.#opts.windowBytes);
  }

  #flush(final: boolean) {
    const bytes = this.#buf ? this.#buf.subarray(0, this.#fill) : new Uint8Array(0);
    this.#fill = 0;
    if (!this.#sniff(bytes)) return;
    this.#search(bytes, final);
    if (final) this.#buf = undefined;
  }

  /** Looks at the file's first bytes once; false when the filters turn the file down. */
  #sniff(head: Uint8Array): boolean {
    if (this.sniffed) return true;
    this.sniffed = sniffBytes(head);
    if (kindAllowed(this.#filters, this.sniffed)) return true;
    this.skipped = true;
    this.#done = true;
    return false;
  }

  #search(bytes: Uint8Array, final: boolean) {
    // A file searched in one go whose bytes cannot hold the text is not decoded at all.
    const whole = final && this.#chars === 0 && this.#carry === '';
    if (whole && this.#finder.mayMatch && !this.#finder.mayMatch(bytes)) {
      this.#done = true;
      return;
    }
    const text = this.#carry + this.#decoder.decode(bytes, { stream: !final });
    let end = text.length;
    if (!final) {
      // Searched up to the last line break; what follows waits for the rest of its line,
      // unless it is already too long to wait for.
      end = text.lastIndexOf('\n') + 1;
      if (text.length - end > this.#opts.maxCarry) end = text.length - this.#finder.overlap;
    }
    if (this.#before && end > 0) this.#before();
    const finder = this.#finder;
    let line = this.#line;
    /** Where the line being counted starts in `text` (0 for the carry's line), and how far
     * newlines have been counted. */
    let lineStart = 0;
    let counted = 0;
    const countTo = (to: number) => {
      let p = text.indexOf('\n', counted);
      while (p !== -1 && p < to) {
        line++;
        lineStart = p + 1;
        p = text.indexOf('\n', lineStart);
      }
      counted = to;
    };
    let from = 0;
    while (from <= end && !this.#done) {
      const at = finder.find(text, from);
      // An empty match at the very end is a line only when the file does not end with a
      // line break (else "^" would find a line after the last).
      if (at < 0 || at > end) break;
      if (at === end && (!final || end === 0 || text.charCodeAt(end - 1) === 10)) break;
      const length = finder.length;
      countTo(at);
      if (line === this.#lastHitLine) {
        from = at + Math.max(1, length);
        continue;
      }
      if (this.hits.length >= this.#opts.maxHits) {
        this.more = true;
        this.#done = true;
        break;
      }
      this.#lastHitLine = line;
      const colBase = lineStart === 0 ? this.#colBase : 0;
      this.hits.push(this.#hit(text, at, length, lineStart, line, colBase));
      // One hit per line: the next is looked for on the next line.
      const nl = text.indexOf('\n', at + Math.max(1, length));
      from = nl < 0 ? text.length + 1 : nl + 1;
    }
    if (final || this.#done) {
      this.#carry = '';
      this.#done = true;
      return;
    }
    countTo(end);
    // The carry starts `end - lineStart` into its line, past what earlier windows cut off.
    this.#colBase = end - lineStart + (lineStart === 0 ? this.#colBase : 0);
    this.#line = line;
    this.#chars += end;
    this.#carry = text.slice(end);
  }

  #hit(
    text: string,
    at: number,
    length: number,
    lineStart: number,
    line: number,
    colBase: number,
  ): MatchHit {
    const max = this.#opts.snippetChars;
    const from = Math.max(lineStart, at - before);
    let to = Math.min(text.length, from + max);
    // The line's end, looked for within the snippet only: a minified file's one line may be
    // megabytes long.
    const cut = text.slice(from, to);
    const nl = cut.indexOf('\n', at - from);
    let cutAfter = to < text.length;
    if (nl >= 0) {
      to = from + nl;
      cutAfter = false;
    }
    let snippet = text.slice(from, to);
    if (!cutAfter && snippet.endsWith('\r')) snippet = snippet.slice(0, -1);
    return {
      line,
      column: colBase + at - lineStart + 1,
      snippet,
      start: at - from,
      length: Math.max(0, Math.min(length, snippet.length - (at - from))),
      cutBefore: from > lineStart || (lineStart === 0 && colBase > 0),
      cutAfter,
      at: this.#chars + at,
    };
  }
}
