// What the library view lists: every stored image with what it costs on disk, and the pulls
// that were interrupted, with how far they got.
import type { Descriptor, Platform } from '../oci/types.ts';
import type { PullRecord, Store } from '../store/store.ts';
import { Documents, isDocument } from './documents.ts';
import { imageRoots, reachableFrom } from './gc.ts';

export interface LibraryImage {
  name: string;
  target: Descriptor;
  /** The manifests pulled, each with its platform where it has one. */
  manifests: { digest: string; platform?: Platform; pulledAt: number }[];
  /** Every manifest of the index was pulled: the image exports whole. */
  complete: boolean;
  /** Bytes of the stored blobs the image reaches. */
  size: number;
  /** Of those, the bytes another image or an interrupted pull reaches too: deleting this image
   * does not free them. */
  shared: number;
  /** When a manifest of it was last pulled. */
  pulledAt: number;
}

export interface InterruptedPull extends PullRecord {
  /** Bytes stored for it so far, committed or in ingests. */
  stored: number;
  /** Bytes it needs in all, as far as the manifests stored so far tell. */
  total: number;
}

export interface Library {
  images: LibraryImage[];
  pulls: InterruptedPull[];
  /** Bytes Berth holds: committed blobs and ingests in progress. */
  bytes: number;
}

export async function readLibrary(store: Store): Promise<Library> {
  const [images, pulls, blobs, ingests] = await Promise.all([
    store.images.list(),
    store.images.listPulls(),
    store.content.list(),
    store.content.listIngests(),
  ]);
  const size = new Map(blobs.map((b) => [b.digest, b.size]));
  const ingested = new Map(ingests.map((i) => [i.digest, i.offset]));
  const docs = new Documents(store.content);
  const imageSets: Set<string>[] = [];
  for (const i of images)
    imageSets.push(new Set((await reachableFrom(docs, imageRoots(i))).keys()));
  const pullSets: Map<string, Descriptor>[] = [];
  for (const p of pulls) pullSets.push(await reachableFrom(docs, [p.target]));
  // How many roots (images and pulls) reach each digest.
  const users = new Map<string, number>();
  for (const set of [...imageSets, ...pullSets.map((m) => new Set(m.keys()))]) {
    for (const d of set) users.set(d, (users.get(d) ?? 0) + 1);
  }
  const sum = (digests: Iterable<string>, only?: (d: string) => boolean) => {
    let n = 0;
    for (const d of digests) if (!only || only(d)) n += size.get(d) ?? 0;
    return n;
  };
  return {
    images: images
      .map((image, i) => ({
        name: image.name,
        target: image.target,
        manifests: image.manifests.map((m) => ({
          digest: m.descriptor.digest,
          ...(m.descriptor.platform ? { platform: m.descriptor.platform } : {}),
          pulledAt: m.pulledAt,
        })),
        complete: image.complete ?? false,
        size: sum(imageSets[i]!),
        shared: sum(imageSets[i]!, (d) => (users.get(d) ?? 0) > 1),
        pulledAt: Math.max(image.updatedAt, ...image.manifests.map((m) => m.pulledAt)),
      }))
      .sort((a, b) => b.pulledAt - a.pulledAt),
    pulls: pulls
      .map((p, i) => {
        // Manifests of other platforms are reached through the index but not pulled, and a
        // foreign layer is never fetched.
        const needed = [...pullSets[i]!.values()].filter((d) =>
          isDocument(d) ? size.has(d.digest) : !d.urls?.length,
        );
        return {
          ...p,
          stored: needed.reduce(
            (n, d) => n + (size.has(d.digest) ? d.size : (ingested.get(d.digest) ?? 0)),
            0,
          ),
          total: needed.reduce((n, d) => n + d.size, 0),
        };
      })
      .sort((a, b) => b.updatedAt - a.updatedAt),
    bytes: sum(size.keys()) + [...ingested.values()].reduce((n, v) => n + v, 0),
  };
}
