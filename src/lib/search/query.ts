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
  return { ok: true, finder: regexFinder(re, q.regex) };
}

function literalFinder(needle: string): Finder {
  return {
    find: (text, from) => text.indexOf(needle, from),
    length: needle.length,
    backtracks: false,
    overlap: Math.max(0, needle.length - 1),
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
