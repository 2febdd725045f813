// How a layer's file index is laid out in records, for both stores: a header record and one
// record per batch of columns. Records of earlier versions (entry objects, entriesPerBatch a
// record) are still read: converted to columns, and the store writes them again in columns, so
// that an index listed once is never listed again after an upgrade, and the conversion's cost
// (about what reopening such an index cost before) is paid once.
import { BATCH, toColumns, type ColumnIndex, type EntryColumns } from '../layers/columns.ts';
import type { LayerEntriesRecord } from './schema.ts';
import type { LayerIndex, LayerIndexRecord } from './store.ts';

export interface IndexRecords {
  header: LayerIndexRecord;
  batches: LayerEntriesRecord[];
}

/** The records of a layer's index, in columns. */
export function indexRecords(
  digest: string,
  index: { diffID: string; uncompressedSize: number; files: ColumnIndex },
  now = Date.now(),
): IndexRecords {
  return {
    header: {
      digest,
      diffID: index.diffID,
      uncompressedSize: index.uncompressedSize,
      entries: index.files.count,
      batches: index.files.batches.length,
      layout: 'columns',
      indexedAt: now,
    },
    batches: index.files.batches.map((columns, batch) => ({ digest, batch, columns })),
  };
}

/** The index these records hold; `old` when they are in the object layout (the caller writes
 * them again in columns). Undefined when they are incomplete or do not fit together (a batch
 * missing, a count that does not add up): the layer is then listed again. */
export function readIndex(
  header: LayerIndexRecord,
  records: readonly LayerEntriesRecord[],
): { index: LayerIndex; old: boolean } | undefined {
  if (records.length !== header.batches) return undefined;
  if (header.layout === 'columns') {
    const batches: EntryColumns[] = [];
    let count = 0;
    for (const [k, r] of records.entries()) {
      const b = r.columns;
      if (!b || r.batch !== k || !wellFormed(b)) return undefined;
      // Every batch but the last is full: entry i is found by shifts (columns.ts locate).
      if (k < records.length - 1 ? b.count !== BATCH : b.count === 0 || b.count > BATCH) {
        return undefined;
      }
      batches.push(b);
      count += b.count;
    }
    if (count !== header.entries) return undefined;
    return { index: { ...header, files: { count, batches } }, old: false };
  }
  const entries = [];
  for (const r of records) {
    if (!r.entries) return undefined;
    entries.push(...r.entries);
  }
  if (entries.length !== header.entries) return undefined;
  return { index: { ...header, layout: 'columns', files: toColumns(entries) }, old: true };
}

/** The columns of a batch have its length, and its ends stay inside its strings. */
function wellFormed(b: EntryColumns): boolean {
  const n = b.count;
  const arrays = [b.pathEnds, b.linkEnds, b.types, b.sizes, b.offsets, b.mtimes];
  if (![...arrays, b.modes, b.uids, b.gids].every((a) => a.length === n)) return false;
  return n === 0 || (b.pathEnds[n - 1]! <= b.paths.length && b.linkEnds[n - 1]! <= b.links.length);
}
