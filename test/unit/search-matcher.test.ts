// The search's query, filters and matcher (src/lib/search): lines and columns, windows cut
// across pieces and lines, CRLF, UTF-8 split across pieces, case and expression flags, bounded
// snippets of a minified line, binary sniffing and the caps.
import { describe, expect, test } from 'vitest';
import {
  kindAllowed,
  noFilters,
  pathFilter,
  sniffBytes,
  type SearchFilters,
} from '../../src/lib/search/filters.ts';
import {
  defaultMatcherOptions,
  FileMatcher,
  type MatcherOptions,
} from '../../src/lib/search/matcher.ts';
import { compileQuery, type SearchQuery } from '../../src/lib/search/query.ts';

const enc = new TextEncoder();

function finder(text: string, q: Partial<SearchQuery> = {}) {
  const c = compileQuery({ text, regex: false, caseSensitive: true, ...q });
  if (!c.ok) throw new Error(c.message);
  return c.finder;
}

/** Runs a matcher over `content` cut into pieces of `piece` bytes. */
function run(
  content: string | Uint8Array,
  f: ReturnType<typeof finder>,
  piece = Infinity,
  opts: Partial<MatcherOptions> = {},
  filters: SearchFilters = noFilters,
) {
  const bytes = typeof content === 'string' ? enc.encode(content) : content;
  const m = new FileMatcher(f, bytes.length, filters, { ...defaultMatcherOptions, ...opts });
  const step = Math.min(piece, Math.max(1, bytes.length));
  for (let at = 0; at < bytes.length; at += step) {
    // Views into one buffer, as a layer read hands them over.
    if (m.push(bytes.subarray(at, at + step)) === false) break;
  }
  m.end();
  return m;
}

const lines = (m: FileMatcher) => m.hits.map((h) => [h.line, h.column]);

/** Small windows: a file of a few hundred bytes searched as a big one is. */
const small: Partial<MatcherOptions> = { holdBytes: 64, windowBytes: 8192, maxCarry: 100 };

describe('query', () => {
  test('empty text and an invalid expression are messages', () => {
    expect(compileQuery({ text: '', regex: false, caseSensitive: false })).toMatchObject({
      ok: false,
    });
    const bad = compileQuery({ text: 'a(b', regex: true, caseSensitive: false });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toMatch(/^The regular expression is not valid: /);
    const flags = compileQuery({ text: '/a/g', regex: true, caseSensitive: true });
    expect(flags.ok).toBe(false);
  });

  test('text is literal, even with expression characters', () => {
    const m = run('a+b\naab\n(a+b)\n', finder('a+b'));
    expect(lines(m)).toEqual([
      [1, 1],
      [3, 2],
    ]);
  });
});

describe('matcher', () => {
  const text = 'alpha\nbeta needle\ngamma\nneedle at start and needle again\n\nend needle';

  test('lines and columns, one hit per line, the last line without a break', () => {
    const m = run(text, finder('needle'));
    expect(lines(m)).toEqual([
      [2, 6],
      [4, 1],
      [6, 5],
    ]);
    expect(m.hits[0]!.snippet).toBe('beta needle');
    expect(m.hits[0]!.start).toBe(5);
    expect(m.hits[0]!.length).toBe(6);
  });

  test('the same hits in windows, whatever the pieces', () => {
    const big = Array.from({ length: 2000 }, (_, i) =>
      i % 97 === 0 ? `x needle ${i}` : `line ${i}`,
    ).join('\n');
    const want = lines(run(big, finder('needle')));
    expect(want.length).toBe(21);
    for (const piece of [1, 7, 100, 4096, 10_000]) {
      expect(lines(run(big, finder('needle'), piece, small)), `pieces of ${piece}`).toEqual(want);
    }
  });

  test('CRLF: lines counted by LF, the CR kept out of the snippet', () => {
    const m = run('one\r\ntwo needle\r\nthree\r\n', finder('needle'), 3);
    expect(lines(m)).toEqual([[2, 5]]);
    expect(m.hits[0]!.snippet).toBe('two needle');
  });

  test('UTF-8 split across pieces and windows is decoded whole', () => {
    const content = 'ünïcödé ✓ line\n'.repeat(600) + 'ça marche: naïve ✓ café\n';
    const f = finder('naïve ✓ café');
    for (const piece of [1, 2, 3, 5]) {
      const m = run(content, f, piece, small);
      expect(lines(m), `pieces of ${piece}`).toEqual([[601, 12]]);
      expect(m.hits[0]!.snippet).toBe('ça marche: naïve ✓ café');
    }
    // A window's cut at every byte of the match's line, its multi-byte characters included.
    for (let k = 0; k < 16; k++) {
      const cut = 'x'.repeat(8191 - k) + '\nnaïve ✓ café\n';
      const m = run(cut, f, 4096, small);
      expect(lines(m), `cut ${k} bytes into the line`).toEqual([[2, 1]]);
    }
  });

  test('case-insensitive text, and expression flags', () => {
    expect(
      lines(run('Needle\nNEEDLE\nneedle\n', finder('needle', { caseSensitive: false }))),
    ).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(lines(run('Needle\nneedle\n', finder('needle')))).toEqual([[2, 1]]);
    // ^ and $ at each line's ends; /…/i and the toggle both ignore case; s lets . cross lines.
    const re = (t: string, caseSensitive = true) => finder(t, { regex: true, caseSensitive });
    expect(lines(run('ab\nxab\nab x\nab\n', re('^ab$')))).toEqual([
      [1, 1],
      [4, 1],
    ]);
    expect(lines(run('AB\nab\n', re('/^ab$/i')))).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(lines(run('AB\nab\n', re('^ab$', false)))).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(lines(run('a\nb\n', re('/a.b/s')))).toEqual([[1, 1]]);
    expect(lines(run('a\nb\n', re('a.b')))).toEqual([]);
  });

  test('a minified line: the snippet is bounded, the match across a cut is found', () => {
    const line = 'x'.repeat(300_000) + 'needle' + 'y'.repeat(300_000);
    for (const piece of [65_536, 1_000_000]) {
      const m = run(line, finder('needle'), piece, {
        holdBytes: 1024,
        windowBytes: 65_536,
        maxCarry: 100_000,
      });
      expect(lines(m)).toEqual([[1, 300_001]]);
      const h = m.hits[0]!;
      expect(h.snippet.length).toBeLessThanOrEqual(200);
      expect(h.snippet.slice(h.start, h.start + h.length)).toBe('needle');
      expect(h.cutBefore && h.cutAfter).toBe(true);
    }
  });

  test('text found in the bytes (before decoding) exactly where lines hold it', () => {
    // Small alphabets make near misses common: every way a byte search can go wrong.
    let seed = 7;
    // xorshift32: every residue comes up.
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pick = (alphabet: string, n: number) =>
      Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let k = 0; k < 2000; k++) {
      // Short, so that a file without the text is common.
      const content = pick('abAB\n', 1 + rnd(16));
      const needle = pick('abAB', 1 + rnd(4));
      for (const caseSensitive of [true, false]) {
        const fold = (t: string) => (caseSensitive ? t : t.toLowerCase());
        const want = content
          .split('\n')
          .flatMap((l, i) => (fold(l).includes(fold(needle)) ? [i + 1] : []));
        const f = finder(needle, { caseSensitive });
        const what = `${JSON.stringify(needle)} in ${JSON.stringify(content)}`;
        expect(f.mayMatch!(enc.encode(content)), what).toBe(fold(content).includes(fold(needle)));
        expect(
          run(content, f).hits.map((h) => [h.line, h.length]),
          what,
        ).toEqual(want.map((l) => [l, needle.length]));
      }
    }
  });

  test('at most maxHits per file, then more', () => {
    const m = run('n\n'.repeat(500), finder('n'), 7, { maxHits: 100 });
    expect(m.hits.length).toBe(100);
    expect(m.more).toBe(true);
    const few = run('n\n'.repeat(100), finder('n'), 7, { maxHits: 100 });
    expect(few.more).toBe(false);
  });

  test('an empty file and an empty match at the end', () => {
    expect(run('', finder('x')).hits).toEqual([]);
    const re = finder('^', { regex: true });
    expect(lines(run('a\nb\n', re))).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(lines(run('a\nb', re))).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });
});

describe('filters', () => {
  const bin = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...enc.encode('needle\n')]);

  test('binary files are skipped unless asked for; ELF is executable', () => {
    expect(sniffBytes(bin)).toEqual({ binary: true, elf: true });
    expect(sniffBytes(enc.encode('text\n'))).toEqual({ binary: false, elf: false });
    const skipped = run(bin, finder('needle'));
    expect(skipped.skipped).toBe(true);
    expect(skipped.hits).toEqual([]);
    const asked = run(bin, finder('needle'), 3, {}, { ...noFilters, binary: true });
    expect(lines(asked)).toEqual([[1, 9]]);
    expect(kindAllowed({ ...noFilters, kind: 'executable' }, sniffBytes(bin))).toBe(true);
    expect(kindAllowed({ ...noFilters, kind: 'text' }, sniffBytes(bin))).toBe(false);
    expect(kindAllowed({ ...noFilters, kind: 'binary' }, sniffBytes(enc.encode('t')))).toBe(false);
    // A NUL past the first 8 KiB does not make a file binary (grep's rule).
    const late = new Uint8Array(9000).fill(0x61);
    late[8500] = 0;
    expect(sniffBytes(late).binary).toBe(false);
  });

  test('path glob, size and extensions', () => {
    const f = pathFilter({
      ...noFilters,
      path: 'etc/**',
      minSize: 2,
      maxSize: 10,
      extensions: 'conf, .txt',
    });
    expect(f('etc/app/a.conf', 5)).toBe(true);
    expect(f('etc/app/a.TXT', 5)).toBe(true);
    expect(f('etc/app/a.conf', 11)).toBe(false);
    expect(f('etc/app/a.conf', 1)).toBe(false);
    expect(f('etc/app/a.sh', 5)).toBe(false);
    expect(f('usr/app/a.conf', 5)).toBe(false);
    expect(f('etc/.conf', 5)).toBe(false);
    expect(pathFilter(noFilters)('anything', 0)).toBe(true);
  });
});
