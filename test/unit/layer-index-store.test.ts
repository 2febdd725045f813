// A layer's index is stored in columns, one record per batch, and read back whole; records of
// the object layout that earlier versions wrote are still read, and written again in columns;
// records that do not fit together are not trusted (the layer is listed again).
import { describe, expect, test } from 'vitest';
import { BATCH, toColumns, toEntries } from '../../src/lib/layers/columns.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import type { LayerEntriesRecord } from '../../src/lib/store/schema.ts';
import { entriesPerBatch, type LayerIndexRecord } from '../../src/lib/store/store.ts';

const digest = `sha256:${'a'.repeat(64)}`;
const diffID = `sha256:${'b'.repeat(64)}`;

const entry = (i: number, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  path: `usr/share/d${i % 97}/f${i}`,
  type: 'file',
  size: i * 7,
  mode: 0o644,
  uid: i % 3,
  gid: 0,
  mtime: 1_700_000_000 + i,
  offset: 1024 * (i + 1),
  ...extra,
});

/** More than one batch, with the rare fields here and there. */
function entries(n: number): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 1) out.push(entry(i, { type: 'symlink', linkname: `../f${i - 1}` }));
    else if (i % 1000 === 2) out.push(entry(i, { type: 'hardlink', linkname: 'usr/x', size: 0 }));
    else if (i === BATCH + 3) out.push(entry(i, { type: 'char', devmajor: 1, devminor: 3 }));
    else if (i === 5) out.push(entry(i, { path: 'caf\u00e9/\u{1F600}', sparse: true }));
    else if (i === 6) out.push(entry(i, { uid: 2 ** 40 }));
    else out.push(entry(i));
  }
  return out;
}

describe('layer index records', () => {
  test('an index of several batches round-trips through the store in columns', async () => {
    const s = memoryStore();
    const listed = entries(BATCH + 1234);
    await s.layerIndexes.put(digest, { diffID, uncompressedSize: 99, files: toColumns(listed) });
    const stored = s.layerIndexRecords(digest);
    expect(stored.header).toMatchObject({ entries: listed.length, batches: 2, layout: 'columns' });
    expect(stored.batches.map((b) => b.columns?.count)).toEqual([BATCH, 1234]);
    const got = await s.layerIndexes.get(digest);
    expect(got).toMatchObject({ digest, diffID, uncompressedSize: 99, entries: listed.length });
    expect(got!.files.count).toBe(listed.length);
    expect(got!.files.batches.map((b) => b.count)).toEqual([BATCH, 1234]);
    expect(toEntries(got!.files)).toEqual(listed);
  }, 30_000);

  test('an empty index round-trips', async () => {
    const s = memoryStore();
    await s.layerIndexes.put(digest, { diffID, uncompressedSize: 0, files: toColumns([]) });
    const got = await s.layerIndexes.get(digest);
    expect(got).toMatchObject({ entries: 0, batches: 0, files: { count: 0, batches: [] } });
  });

  test('records of the object layout are read, and written again in columns', async () => {
    const s = memoryStore();
    const listed = entries(12_345);
    const batches = [];
    for (let b = 0; b * entriesPerBatch < listed.length; b++) {
      const slice = listed.slice(b * entriesPerBatch, (b + 1) * entriesPerBatch);
      batches.push({ digest, batch: b, entries: slice });
    }
    // As an earlier version wrote them: no layout, entry objects, entriesPerBatch a record.
    s.putLayerIndexRecords(
      {
        digest,
        diffID,
        uncompressedSize: 7,
        entries: listed.length,
        batches: batches.length,
        indexedAt: 1,
      },
      batches,
    );
    const got = await s.layerIndexes.get(digest);
    expect(got).toMatchObject({ diffID, uncompressedSize: 7, entries: listed.length });
    expect(toEntries(got!.files)).toEqual(listed);
    const rewritten = s.layerIndexRecords(digest);
    expect(rewritten.header).toMatchObject({ layout: 'columns', batches: 1 });
    expect(rewritten.batches[0]!.columns?.count).toBe(listed.length);
    expect(toEntries((await s.layerIndexes.get(digest))!.files)).toEqual(listed);
  }, 30_000);

  test('records that do not fit together are not trusted', async () => {
    const s = memoryStore();
    await s.layerIndexes.put(digest, {
      diffID,
      uncompressedSize: 1,
      files: toColumns(entries(BATCH + 10)),
    });
    const { header, batches } = s.layerIndexRecords(digest);
    const cases: { name: string; header: LayerIndexRecord; batches: LayerEntriesRecord[] }[] = [
      { name: 'a batch missing', header: header!, batches: batches.slice(0, 1) },
      { name: 'a count that does not add up', header: { ...header!, entries: 5 }, batches },
      { name: 'batches out of order', header: header!, batches: [...batches].reverse() },
      {
        name: 'a column shorter than its batch',
        header: header!,
        batches: [
          batches[0]!,
          {
            digest,
            batch: 1,
            columns: { ...batches[1]!.columns!, sizes: new Float64Array(3) },
          },
        ],
      },
    ];
    for (const c of cases) {
      s.putLayerIndexRecords(c.header, c.batches);
      expect(await s.layerIndexes.get(digest), c.name).toBeUndefined();
    }
  }, 30_000);
});
