// Layer file indexes, kept next to their blobs: written once a layer has been read through,
// read back at once on every later visit (offline too), removed by GC with the blob.
import type { ContentStore } from './content.ts';
import { chunkRange } from './content.ts';
import type { IndexEntry } from '../layers/entry.ts';
import type { LayerIndexRecord } from './schema.ts';

/** Entries per stored batch: small enough to write in one put, few enough records to read
 * 100,000 entries quickly. */
export const entriesPerBatch = 5000;

export interface LayerIndex extends LayerIndexRecord {
  files: IndexEntry[];
}

/** Stores a layer's index in one transaction, replacing any earlier one. */
export async function putLayerIndex(
  store: ContentStore,
  digest: string,
  index: { diffID: string; uncompressedSize: number; files: IndexEntry[] },
): Promise<void> {
  const batches = Math.ceil(index.files.length / entriesPerBatch);
  const tx = store.db.transaction(['layerIndexes', 'layerEntries'], 'readwrite');
  const entries = tx.objectStore('layerEntries');
  void entries.delete(chunkRange(digest));
  for (let b = 0; b < batches; b++) {
    void entries.put({
      digest,
      batch: b,
      entries: index.files.slice(b * entriesPerBatch, (b + 1) * entriesPerBatch),
    });
  }
  void tx.objectStore('layerIndexes').put({
    digest,
    diffID: index.diffID,
    uncompressedSize: index.uncompressedSize,
    entries: index.files.length,
    batches,
    indexedAt: Date.now(),
  });
  await tx.done;
}

/** The stored index of a layer, or undefined when it was not indexed yet. */
export async function getLayerIndex(
  store: ContentStore,
  digest: string,
): Promise<LayerIndex | undefined> {
  const tx = store.db.transaction(['layerIndexes', 'layerEntries']);
  const rec = await tx.objectStore('layerIndexes').get(digest);
  const batches = rec ? await tx.objectStore('layerEntries').getAll(chunkRange(digest)) : [];
  await tx.done;
  if (!rec || batches.length !== rec.batches) return undefined;
  return { ...rec, files: batches.flatMap((b) => b.entries) };
}
