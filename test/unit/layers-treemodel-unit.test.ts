// The tree model's own cases: exact totals, normalisation, depth, links, the row window, and
// that long work yields and stops when asked.
import { describe, expect, test } from 'vitest';
import { ColumnsBuilder, toColumns } from '../../src/lib/layers/columns.ts';
import { MAX_DEPTH } from '../../src/lib/layers/paths.ts';
import { buildTreeModel, wastedSpaceOf } from '../../src/lib/layers/treemodel.ts';
import { d, entry, f } from './layers-entry-helpers.ts';

const merged = { kind: 'merged' } as const;

describe('buildTreeModel', () => {
  test('directory totals past 2^53 are the nearest double to the exact sum', async () => {
    const big = 2 ** 53 - 1;
    // Summed as doubles, last listed first, the ones are lost: 2^53 - 1 + 1 + 1 + 1 is 2^53.
    const files = [f('a/y', 1), f('a/z', 1), f('a/zz', 1), f('a/x', big)];
    const m = await buildTreeModel(merged, [toColumns(files)]);
    m.toggle('a');
    const [a, x] = m.rows(0, 2);
    expect(a!.size).toBe(2 ** 53 + 2);
    expect(x!.size).toBe(big);
    await m.search('a');
    expect(m.rows(0, 1)[0]!.size).toBe(2 ** 53 + 2);
  });

  test('"/etc/x", "./etc/x" and "etc//x" are one file, the last listed wins; ".." is a name', async () => {
    const m = await buildTreeModel(
      { kind: 'layer', index: 0 },
      [toColumns([f('/etc/x', 1), f('./etc/x', 2), f('etc//x', 3), f('../up', 4)])],
      { changes: false },
    );
    m.toggle('etc');
    expect(m.rows(0, m.count).map((r) => [r.path, r.size])).toEqual([
      ['..', 4],
      ['etc', 3],
      ['etc/x', 3],
    ]);
    expect(m.select('etc/x')?.entry?.path).toBe('etc//x');
  });

  test('entries deeper than MAX_DEPTH are counted and left out', async () => {
    const deep = Array.from({ length: MAX_DEPTH + 1 }, () => 'd').join('/');
    const fine = Array.from({ length: MAX_DEPTH }, () => 'd').join('/');
    for (const view of [merged, { kind: 'all' } as const]) {
      const m = await buildTreeModel(view, [toColumns([f(deep, 1), f(`${fine}/./`, 2)])]);
      expect(m.tooDeep).toBe(1);
      expect(await m.reveal(fine)).toBe(view.kind === 'merged');
    }
  });

  test('a layer view marks changes when every layer below is given, else shows its entries', async () => {
    const lower = toColumns([f('a', 1), f('b', 2)]);
    const upper = toColumns([f('a', 3), f('.wh.b')]);
    const view = { kind: 'layer', index: 1 } as const;
    const rows = async (m: Promise<{ rows(s: number, e: number): { path: string }[] }>) =>
      (await m).rows(0, 9).map((r) => r.path + ' ' + String((r as { change?: string }).change));
    expect(await rows(buildTreeModel(view, [lower, upper]))).toEqual(['a modified', 'b deleted']);
    expect(await rows(buildTreeModel(view, [undefined, upper]))).toEqual([
      '.wh.b undefined',
      'a undefined',
    ]);
    expect(await rows(buildTreeModel(view, [lower, upper], { changes: false }))).toHaveLength(2);
    expect((await wastedSpaceOf([lower, upper])).files.map((w) => w.path)).toEqual(['a', 'b']);
  });

  test('a hard link names the last earlier non-link entry of its own layer', async () => {
    const layer = toColumns([
      f('a', 1),
      f('a', 2),
      entry('a', 'hardlink', 0, { linkname: 'a' }),
      entry('b', 'hardlink', 0, { linkname: './a' }),
    ]);
    const m = await buildTreeModel(merged, [layer, toColumns([f('a', 3)])]);
    expect(m.hardlinkTarget(0, './a')?.size).toBe(2);
    expect(m.hardlinkTarget(0, '/a')?.size).toBe(2);
    expect(m.hardlinkTarget(1, 'a')?.size).toBe(3);
    expect(m.hardlinkTarget(0, 'nothing')).toBeUndefined();
    expect(m.hardlinkTarget(5, 'a')).toBeUndefined();
  });

  test('rows count what is open: a closed parent hides an open child until it opens', async () => {
    const m = await buildTreeModel(merged, [toColumns([d('a'), d('a/b'), f('a/b/c'), f('z')])]);
    expect(m.rows(0, 10).map((r) => r.path)).toEqual(['a', 'z']);
    m.toggle('a/b');
    expect(m.count).toBe(2);
    m.toggle('a');
    expect(m.rows(0, 10).map((r) => r.path)).toEqual(['a', 'a/b', 'a/b/c', 'z']);
    expect(m.rows(-5, 2).map((r) => r.path)).toEqual(['a', 'a/b']);
    expect(m.rows(3, 99).map((r) => [r.path, r.posInSet, r.setSize])).toEqual([['z', 2, 2]]);
    expect(m.indexOf('z')).toBe(3);
    m.toggle('a');
    expect(m.indexOf('a/b/c')).toBe(-1);
    expect(m.reveal('a/b/c')).toBe(true);
    expect(m.indexOf('a/b/c')).toBe(2);
    await m.search('c');
    expect(m.rows(0, 10).map((r) => r.path)).toEqual(['a', 'a/b', 'a/b/c']);
    // Nothing opens or closes during a search; what was open shows again once it is cleared.
    m.toggle('a');
    expect(m.count).toBe(3);
    await m.search('');
    expect(m.rows(0, 10).map((r) => r.path)).toEqual(['a', 'a/b', 'a/b/c', 'z']);
  });

  test('a long build lets the event loop turn and stops when its signal aborts', async () => {
    const b = new ColumnsBuilder();
    for (let i = 0; i < 400_000; i++) b.push(f(`usr/d${i >> 10}/f${i}`, i));
    const index = b.finish();
    const ac = new AbortController();
    // Runs only if the build yields to the event loop.
    setTimeout(() => ac.abort(new Error('stop')), 0);
    await expect(buildTreeModel(merged, [index], { signal: ac.signal })).rejects.toThrow('stop');
    await expect(
      buildTreeModel(merged, [index], { signal: AbortSignal.abort(new Error('before')) }),
    ).rejects.toThrow('before');
    const m = await buildTreeModel(merged, [toColumns([f('a')])]);
    await expect(m.search('a', AbortSignal.abort(new Error('search')))).rejects.toThrow('search');
    await expect(m.sort('size', AbortSignal.abort(new Error('sort')))).rejects.toThrow('sort');
  }, 120_000);
});
