// containerd's garbage collection: image records are the roots; every blob reachable from them
// stays, everything else goes, with what was derived from it. Ingests nobody touched for the
// lease time go too, and so do pulls nobody resumed within it.
import type { Descriptor } from '../oci/types.ts';
import { gcLock, withLock, withLockIfIdle } from '../store/locks.ts';
import type { ImageRecord, Store } from '../store/store.ts';
import { Documents, isDocument } from './documents.ts';

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
 * entry that was never pulled is reached but not descended into. Walks over one store share
 * `docs`, so each document is read and parsed once. */
export async function reachableFrom(
  docs: Documents,
  roots: Descriptor[],
): Promise<Map<string, Descriptor>> {
  const seen = new Map<string, Descriptor>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.set(d.digest, d);
    if (!isDocument(d)) return;
    for (const c of await docs.storedChildren(d)) await walk(c);
  };
  for (const r of roots) await walk(r);
  return seen;
}

/** The roots of one image record: its target, the manifests pulled from it, and what was
 * stored beside it (signatures, SBOMs, attestations). */
export function imageRoots(image: ImageRecord): Descriptor[] {
  return [
    image.target,
    ...image.manifests.map((m) => m.descriptor),
    ...(image.referrers ?? []).map((r) => r.descriptor),
  ];
}

/** The roots of garbage collection: every image record, and every pull still within its
 * lease (its committed blobs wait for it to finish). */
async function roots(store: Store, expired: number): Promise<Descriptor[]> {
  const images = await store.images.list();
  const pulls = (await store.images.listPulls()).filter((p) => p.updatedAt > expired);
  return [...images.flatMap(imageRoots), ...pulls.map((p) => p.target)];
}

/** Removes what no image or live pull needs. Runs with the GC lock held exclusively, so no
 * pull is between committing its blobs and recording its image. With `ifIdle`, it runs only
 * when no pull holds the lock (and returns undefined otherwise): a background collection never
 * makes a pull wait. */
export function collectGarbage(
  store: Store,
  opts: { now?: number; lease?: number; ifIdle?: boolean } = {},
): Promise<CollectResult | undefined> {
  return opts.ifIdle
    ? withLockIfIdle(gcLock, () => sweep(store, opts))
    : withLock(gcLock, () => sweep(store, opts));
}

/** Deletes an image record and collects what only it needed, in one critical section. */
export function deleteImage(store: Store, name: string): Promise<CollectResult> {
  return withLock(gcLock, async () => {
    await store.images.delete(name);
    return sweep(store, {});
  });
}

/** Mark and sweep; the caller holds the GC lock exclusively. */
async function sweep(store: Store, opts: { now?: number; lease?: number }): Promise<CollectResult> {
  const expired = (opts.now ?? Date.now()) - (opts.lease ?? ingestLease);
  const docs = new Documents(store.content);
  const keep = new Set((await reachableFrom(docs, await roots(store, expired))).keys());
  const result: CollectResult = { blobs: 0, bytes: 0, ingests: 0, pulls: 0 };
  for (const blob of await store.content.list()) {
    if (keep.has(blob.digest)) continue;
    await store.content.delete(blob.digest);
    result.blobs++;
    result.bytes += blob.size;
  }
  for (const ingest of await store.content.listIngests()) {
    if (ingest.updatedAt > expired) continue;
    await store.content.abortIngest(ingest.ref);
    result.ingests++;
    result.bytes += ingest.offset;
  }
  for (const pull of await store.images.listPulls()) {
    if (pull.updatedAt > expired) continue;
    await store.images.deletePull(pull.name);
    result.pulls++;
  }
  return result;
}

/** Gives up an interrupted pull: its record goes, with the ingests only it was writing, and the
 * blobs it committed that nothing else needs. */
export function discardPull(store: Store, name: string): Promise<CollectResult> {
  return withLock(gcLock, async () => {
    const pull = await store.images.getPull(name);
    if (!pull) return { blobs: 0, bytes: 0, ingests: 0, pulls: 0 };
    // What it was fetching is read from its manifests before the sweep removes them.
    const docs = new Documents(store.content);
    const mine = await reachableFrom(docs, [pull.target]);
    await store.images.deletePull(name);
    const result = await sweep(store, {});
    // Read after the sweep, as it left the store.
    const others = await reachableFrom(
      new Documents(store.content),
      (await store.images.listPulls()).map((p) => p.target),
    );
    for (const ingest of await store.content.listIngests()) {
      if (!mine.has(ingest.digest) || others.has(ingest.digest)) continue;
      await store.content.abortIngest(ingest.ref);
      result.ingests++;
      result.bytes += ingest.offset;
    }
    return { ...result, pulls: 1 };
  });
}
