// containerd's garbage collection, for IndexedDB: image records are the roots; every blob
// reachable from them stays, everything else goes, with its chunks. Ingests nobody touched for
// the lease time go too, and so do pulls nobody resumed within it.
import { isIndex, isManifest } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { type ContentStore, chunkRange } from './content.ts';
import { gcLock, withLock, withLockIfIdle } from './locks.ts';
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
  /** Interrupted pulls given up (their lease expired, or discarded). */
  pulls: number;
}

/** Every descriptor reachable from the roots through stored documents, each once: an index
 * entry that was never pulled is reached but not descended into. */
export async function reachableFrom(
  store: ContentStore,
  roots: Descriptor[],
  /** Children of documents already read: several walks over one store share it, so each
   * manifest is read and parsed once. */
  children = new Map<string, Descriptor[]>(),
): Promise<Map<string, Descriptor>> {
  const seen = new Map<string, Descriptor>();
  const childrenOf = async (d: Descriptor): Promise<Descriptor[]> => {
    const known = children.get(d.digest);
    if (known) return known;
    if (!(await store.info(d.digest))) return [];
    const doc = parseManifestDocument(await store.readBytes(d.digest), {
      descriptorMediaType: d.mediaType,
    });
    const list =
      doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
    children.set(d.digest, list);
    return list;
  };
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.set(d.digest, d);
    if (!isIndex(d.mediaType) && !isManifest(d.mediaType)) return;
    for (const c of await childrenOf(d)) await walk(c);
  };
  for (const r of roots) await walk(r);
  return seen;
}

/** The roots of one image record: its target and the manifests pulled from it. */
export function imageRoots(image: ImageRecord): Descriptor[] {
  return [image.target, ...image.manifests.map((m) => m.descriptor)];
}

/** The roots of garbage collection: every image record, and every pull still within its
 * lease (its committed blobs wait for it to finish). */
async function roots(store: ContentStore, expired: number): Promise<Descriptor[]> {
  const images = await store.db.getAll('images');
  const pulls = (await store.db.getAll('pulls')).filter((p) => p.updatedAt > expired);
  return [...images.flatMap(imageRoots), ...pulls.map((p) => p.target)];
}
/** Removes what no image or live pull needs. Runs with the GC lock held exclusively, so no
 * pull is between committing its blobs and recording its image. With `ifIdle`, it runs only
 * when no pull holds the lock (and returns undefined otherwise): a background collection never
 * makes a pull wait. */
export function collectGarbage(
  store: ContentStore,
  opts: { now?: number; lease?: number; ifIdle?: boolean } = {},
): Promise<CollectResult | undefined> {
  return opts.ifIdle
    ? withLockIfIdle(gcLock, () => sweep(store, opts))
    : withLock(gcLock, () => sweep(store, opts));
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
  const expired = (opts.now ?? Date.now()) - (opts.lease ?? ingestLease);
  const keep = new Set((await reachableFrom(store, await roots(store, expired))).keys());
  const result: CollectResult = { blobs: 0, bytes: 0, ingests: 0, pulls: 0 };
  for (const blob of await store.db.getAll('blobs')) {
    if (keep.has(blob.digest)) continue;
    // The blob goes with what was derived from it.
    const tx = store.db.transaction(
      ['blobs', 'chunks', 'layerIndexes', 'layerEntries'],
      'readwrite',
    );
    await tx.objectStore('chunks').delete(chunkRange(blob.digest));
    await tx.objectStore('layerEntries').delete(chunkRange(blob.digest));
    await tx.objectStore('layerIndexes').delete(blob.digest);
    await tx.objectStore('blobs').delete(blob.digest);
    await tx.done;
    result.blobs++;
    result.bytes += blob.size;
  }
  for (const ingest of await store.db.getAll('ingests')) {
    if (ingest.updatedAt > expired) continue;
    await dropIngest(store, ingest.ref, ingest.digest);
    result.ingests++;
    result.bytes += ingest.offset;
  }
  for (const pull of await store.db.getAll('pulls')) {
    if (pull.updatedAt > expired) continue;
    await store.db.delete('pulls', pull.name);
    result.pulls++;
  }
  return result;
}

async function dropIngest(store: ContentStore, ref: string, digest: string) {
  const tx = store.db.transaction(['ingests', 'chunks'], 'readwrite');
  await tx.objectStore('chunks').delete(chunkRange(digest));
  await tx.objectStore('ingests').delete(ref);
  await tx.done;
}

/** Gives up an interrupted pull: its record goes, with the ingests only it was writing, and the
 * blobs it committed that nothing else needs. */
export function discardPull(store: ContentStore, name: string): Promise<CollectResult> {
  return withLock(gcLock, async () => {
    const pull = await store.db.get('pulls', name);
    if (!pull) return { blobs: 0, bytes: 0, ingests: 0, pulls: 0 };
    // What it was fetching is read from its manifests before the sweep removes them.
    const mine = await reachableFrom(store, [pull.target]);
    await store.db.delete('pulls', name);
    const result = await sweep(store, {});
    const others = await reachableFrom(
      store,
      (await store.db.getAll('pulls')).map((p) => p.target),
    );
    for (const ingest of await store.db.getAll('ingests')) {
      if (!mine.has(ingest.digest) || others.has(ingest.digest)) continue;
      await dropIngest(store, ingest.ref, ingest.digest);
      result.ingests++;
      result.bytes += ingest.offset;
    }
    return { ...result, pulls: 1 };
  });
}
