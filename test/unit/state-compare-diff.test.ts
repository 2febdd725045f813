// The comparison's text diff (jsdiff, cut to the changes with context) and its side-by-side
// layout, and the first differing byte of two binaries.
import { describe, expect, test } from 'vitest';
import { splitRows, formatDelta, rowBadge } from '../../src/state/compare-format.ts';
import { firstDifference } from '../../src/state/compare.svelte.ts';
import { formatBytes } from '../../src/state/format.ts';
import { diffContext, maxDiffLines, textDiff } from '../../src/workers/text-diff.ts';

const lines = (n: number, f = (i: number) => `line ${i}`) =>
  Array.from({ length: n }, (_, i) => f(i + 1)).join('\n') + '\n';

describe('textDiff', () => {
  test('one line changed in the middle: the change, its context, the rest counted', () => {
    const a = lines(100);
    const b = lines(100, (i) => (i === 50 ? 'LINE 50' : `line ${i}`));
    const d = textDiff(a, b);
    expect(d.added).toBe(1);
    expect(d.removed).toBe(1);
    expect(d.gaveUp).toBe(false);
    expect(d.cut).toBe(false);
    expect(d.pieces[0]).toEqual({ kind: 'skip', lines: 49 - diffContext });
    expect(d.pieces.at(-1)).toEqual({ kind: 'skip', lines: 50 - diffContext });
    const shown = d.pieces.filter((p) => p.kind !== 'skip');
    expect(shown).toContainEqual({ kind: 'del', a: 50, text: 'line 50' });
    expect(shown).toContainEqual({ kind: 'add', b: 50, text: 'LINE 50' });
    expect(shown.filter((p) => p.kind === 'same')).toHaveLength(2 * diffContext);
    // Line numbers of the context run on in each text.
    expect(shown[0]).toEqual({ kind: 'same', a: 47, b: 47, text: 'line 47' });
  });

  test('a file added: every line added; equal texts: nothing but a count', () => {
    const d = textDiff('', 'x\ny\n');
    expect(d.pieces).toEqual([
      { kind: 'add', b: 1, text: 'x' },
      { kind: 'add', b: 2, text: 'y' },
    ]);
    const same = textDiff('a\nb\n', 'a\nb\n');
    expect(same.added + same.removed).toBe(0);
    expect(same.pieces).toEqual([{ kind: 'skip', lines: 2 }]);
  });

  test('a diff longer than the bound is cut, and says so', () => {
    const d = textDiff('', lines(maxDiffLines + 10));
    expect(d.cut).toBe(true);
    expect(d.pieces).toHaveLength(maxDiffLines);
    expect(d.added).toBe(maxDiffLines + 10);
  });
});

describe('splitRows', () => {
  test('removed lines pair with the added lines after them; the rest stand alone', () => {
    const d = textDiff('a\nb\nc\nd\n', 'a\nB\nC\nX\nd\n');
    const rows = splitRows(d.pieces);
    expect(rows.map((r) => (r.kind === 'skip' ? r.lines : [r.left?.text, r.right?.text]))).toEqual([
      ['a', 'a'],
      ['b', 'B'],
      ['c', 'C'],
      [undefined, 'X'],
      ['d', 'd'],
    ]);
  });
});

describe('the words and figures of a comparison', () => {
  test('size deltas carry their sign', () => {
    expect(formatDelta(0)).toBe('±0 B');
    expect(formatDelta(2048)).toBe(`+${formatBytes(2048)}`);
    expect(formatDelta(-5)).toBe('−5 B');
  });
  test('a row says what changed, and a pending one that it may have', () => {
    expect(rowBadge({ difference: 'changed', aspects: ['content', 'mode'], dir: false })).toEqual({
      text: 'changed: content, mode',
      kind: 'modified',
    });
    expect(rowBadge({ difference: 'unchanged', aspects: [], pending: true, dir: false }).text).toBe(
      'maybe changed',
    );
    expect(rowBadge({ difference: 'unchanged', aspects: [], dir: false }).text).toBe('');
  });
  test('the first differing byte, where a shorter file ends, or none', () => {
    const u = (...b: number[]) => new Uint8Array(b);
    expect(firstDifference(u(1, 2, 3), u(1, 9, 3))).toBe(1);
    expect(firstDifference(u(1, 2), u(1, 2, 3))).toBe(2);
    expect(firstDifference(u(1, 2), u(1, 2))).toBe(-1);
    expect(firstDifference(undefined, u(1))).toBe(0);
  });
});
