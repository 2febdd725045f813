import { describe, expect, it } from 'vitest';
import {
  BATCH,
  ColumnsBuilder,
  entryAt,
  toColumns,
  toEntries,
} from '../../src/lib/layers/columns.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';

const entry = (i: number, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  path: `d${i % 7}/f${i}`,
  type: 'file',
  size: i * 3,
  mode: 0o644,
  uid: i % 5,
  gid: 0,
  mtime: 1_700_000_000 + i,
  offset: 512 * (i + 1),
  ...extra,
});

describe('entry columns', () => {
  it('round-trips every field, rare ones included', () => {
    const entries: IndexEntry[] = [
      entry(0),
      entry(1, { type: 'symlink', linkname: '../x' }),
      entry(2, { type: 'symlink', linkname: '' }),
      entry(3, { type: 'hardlink', linkname: 'd0/f0', size: 0 }),
      entry(4, { type: 'char', devmajor: 1, devminor: 3 }),
      entry(5, { sparse: true, size: 2 ** 40 }),
      entry(6, { mode: 2 ** 40, uid: -1, gid: 2 ** 33 }),
      entry(7, { path: 'caf\u00e9/\u{1F600}/\\x80', type: 'dir' }),
      entry(8, { type: 'file', linkname: 'odd but kept' }),
    ];
    expect(toEntries(toColumns(entries))).toEqual(entries);
  });

  it('splits into batches and finds each entry', () => {
    const n = BATCH * 2 + 17;
    const b = new ColumnsBuilder();
    for (let i = 0; i < n; i++) b.push(entry(i));
    expect(b.take().map((c) => c.count)).toEqual([BATCH, BATCH]);
    expect(b.partial()?.count).toBe(17);
    const index = b.finish();
    expect(index.count).toBe(n);
    expect(index.batches.map((c) => c.count)).toEqual([BATCH, BATCH, 17]);
    for (const i of [0, 1, BATCH - 1, BATCH, 2 * BATCH, n - 1])
      expect(entryAt(index, i)).toEqual(entry(i));
    expect(() => entryAt(index, n)).toThrow(RangeError);
  });

  it('finishing twice answers the same index (the listing returns it, the tree keeps it)', () => {
    const b = new ColumnsBuilder();
    const entries = Array.from({ length: BATCH + 5 }, (_, i) => entry(i));
    for (const e of entries) b.push(e);
    const first = b.finish();
    const again = b.finish();
    expect(again.batches).toHaveLength(2);
    expect(toEntries(again)).toEqual(entries);
    expect(toEntries(first)).toEqual(entries);
  });
});
