// containerd's garbage collection, for IndexedDB: image records are the roots; every blob
// reachable from them stays, everything else goes, with its chunks. Ingests nobody touched for
// the lease time go too.
import { isIndex, isManifest } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import type { ContentStore } from './content.ts';
import { gcLock, withLock } from './locks.ts';

/** An ingest left alone this long is abandoned (unless resumed before). */
export const ingestLease = 24 * 60 * 60 * 1000;

export interface CollectResult {
  /** Committed blobs removed. */
  blobs: number;
  /** Their bytes. */
  bytes: number;
  /** Abandoned ingests removed. */
  ingests: number;
}

const chunkRange = (digest: string) => IDBKeyRange.bound([digest, 0], [digest, Infinity]);

/** The digests reachable from the image records: targets, pulled manifests, and everything
 * below them that is stored. */
async function reachable(store: ContentStore): Promise<Set<string>> {
  const seen = new Set<string>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!isIndex(d.mediaType) && !isManifest(d.mediaType)) return;
    if (!(await store.info(d.digest))) return; // an index entry never pulled
    const doc = parseManifestDocument(await store.readBytes(d.digest), {
      descriptorMediaType: d.mediaType,
    });
    const children =
      doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
    for (const c of children) await walk(c);
  };
  for (const image of await store.db.getAll('images')) {
    await walk(image.target);
    for (const m of image.manifests) await walk(m.descriptor);
  }
  return seen;
}

/** Removes what no image needs. Runs with the GC lock held exclusively, so no pull is between
 * committing its blobs and recording its image. */
export function collectGarbage(
  store: ContentStore,
  opts: { now?: number; lease?: number } = {},
): Promise<CollectResult> {
  return withLock(gcLock, async () => {
    const keep = await reachable(store);
    const result: CollectResult = { blobs: 0, bytes: 0, ingests: 0 };
    for (const blob of await store.db.getAll('blobs')) {
      if (keep.has(blob.digest)) continue;
      const tx = store.db.transaction(['blobs', 'chunks'], 'readwrite');
      await tx.objectStore('chunks').delete(chunkRange(blob.digest));
      await tx.objectStore('blobs').delete(blob.digest);
      await tx.done;
      result.blobs++;
      result.bytes += blob.size;
    }
    const expired = (opts.now ?? Date.now()) - (opts.lease ?? ingestLease);
    for (const ingest of await store.db.getAll('ingests')) {
      if (ingest.updatedAt > expired) continue;
      const tx = store.db.transaction(['ingests', 'chunks'], 'readwrite');
      await tx.objectStore('chunks').delete(chunkRange(ingest.digest));
      await tx.objectStore('ingests').delete(ingest.ref);
      await tx.done;
      result.ingests++;
    }
    return result;
  });
}

/** Deletes an image record and collects what only it needed. */
export async function deleteImage(store: ContentStore, name: string): Promise<CollectResult> {
  await withLock(gcLock, () => store.db.delete('images', name));
  return collectGarbage(store);
}
