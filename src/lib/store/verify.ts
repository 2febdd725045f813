// "Verify": re-hash every stored blob of an image and report what does not match, the way
// go-containerregistry's validate package checks an image, over what the store holds.
import { algorithmOf, createHasher, hashStream } from '../oci/hasher.ts';
import { isIndex, isManifest } from '../oci/mediatypes.ts';
import type { ContentStore } from './content.ts';
import { imageRoots, reachableFrom } from './gc.ts';
import type { ImageRecord } from './schema.ts';

export interface VerifyProblem {
  digest: string;
  mediaType: string;
  problem: string;
}

export interface VerifyResult {
  /** Blobs re-hashed. */
  checked: number;
  bytes: number;
  problems: VerifyProblem[];
}

export async function verifyImage(
  store: ContentStore,
  image: ImageRecord,
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const result: VerifyResult = { checked: 0, bytes: 0, problems: [] };
  const pulled = new Set(image.manifests.map((m) => m.descriptor.digest));
  for (const d of (await reachableFrom(store, imageRoots(image))).values()) {
    if (signal?.aborted) throw signal.reason;
    const info = await store.info(d.digest);
    if (!info) {
      // Entries of an index that were not pulled, and foreign layers, are absent by design.
      const expected = !(isIndex(d.mediaType) || isManifest(d.mediaType)) && !d.urls?.length;
      if (expected || pulled.has(d.digest)) {
        result.problems.push({ digest: d.digest, mediaType: d.mediaType, problem: 'missing' });
      }
      continue;
    }
    let blob: Blob;
    try {
      blob = await store.read(d.digest);
    } catch (err) {
      result.problems.push({
        digest: d.digest,
        mediaType: d.mediaType,
        problem: err instanceof Error ? err.message : String(err),
      });
      continue;
    }
    const hasher = await createHasher(algorithmOf(d.digest));
    const size = await hashStream(blob.stream(), hasher);
    const actual = hasher.digest();
    result.checked++;
    result.bytes += size;
    if (actual !== d.digest || size !== d.size) {
      result.problems.push({
        digest: d.digest,
        mediaType: d.mediaType,
        problem: `stored bytes hash to ${actual} (${size} bytes, want ${d.size})`,
      });
    }
  }
  return result;
}
