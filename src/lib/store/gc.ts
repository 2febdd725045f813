// containerd's garbage collection, for IndexedDB: image records are the roots; every blob
// reachable from them stays, everything else goes, with its chunks. Ingests nobody touched for
// the lease time go too.
import { isIndex, isManifest } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { type ContentStore, chunkRange } from './content.ts';
import { gcLock, withLock } from './locks.ts';
import type { ImageRecord } from './schema.ts';

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

/** Every descriptor reachable from the roots through stored documents, each once: an index
 * entry that was never pulled is reached but not descended into. */
export async function reachableFrom(
  store: ContentStore,
  roots: Descriptor[],
): Promise<Map<string, Descriptor>> {
  const seen = new Map<string, Descriptor>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.set(d.digest, d);
    if (!isIndex(d.mediaType) && !isManifest(d.mediaType)) return;
    if (!(await store.info(d.digest))) return;
    const doc = parseManifestDocument(await store.readBytes(d.digest), {
      descriptorMediaType: d.mediaType,
    });
    const children =
      doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
    for (const c of children) await walk(c);
  };
  for (const r of roots) await walk(r);
  return seen;
}

/** The roots of one image record: its target and the manifests pulled from it. */
export function imageRoots(image: ImageRecord): Descriptor[] {
  return [image.target, ...image.manifests.map((m) => m.descriptor)];
}

/** The digests reachable from all image records. */
async function reachable(store: ContentStore): Promise<Set<string>> {
  const images = await store.db.getAll('images');
  return new Set((await reachableFrom(store, images.flatMap(imageRoots))).keys());
}

/** Removes what no image needs. Runs with the GC lock held exclusively, so no pull is between
 * committing its blobs and recording its image. */
export function collectGarbage(
  store: ContentStore,
  opts: { now?: number; lease?: number } = {},
): Promise<CollectResult> {
  return withLock(gcLock, () => sweep(store, opts));
}

/** Deletes an image record and collects what only it needed, in one critical section. */
export function deleteImage(store: ContentStore, name: string): Promise<CollectResult> {
  return withLock(gcLock, async () => {
    await store.db.delete('images', name);
    return sweep(store, {});
  });
}

/** Mark and sweep; the caller holds the GC lock exclusively. */
async function sweep(
  store: ContentStore,
  opts: { now?: number; lease?: number },
): Promise<CollectResult> {
  {
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
  }
}
