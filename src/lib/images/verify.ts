// "Verify": re-hash every stored blob of an image and report what does not match, the way
// go-containerregistry's validate package checks an image, over what the store holds.
import { messageOf } from '../errors.ts';
import { algorithmOf, createHasher, hashStream } from '../oci/hasher.ts';
import type { ImageRecord, Store } from '../store/store.ts';
import { Documents, isDocument } from './documents.ts';
import { imageRoots, reachableFrom } from './gc.ts';

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
  store: Store,
  image: ImageRecord,
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const result: VerifyResult = { checked: 0, bytes: 0, problems: [] };
  const pulled = new Set(image.manifests.map((m) => m.descriptor.digest));
  const docs = new Documents(store.content);
  for (const d of (await reachableFrom(docs, imageRoots(image))).values()) {
    if (signal?.aborted) throw signal.reason;
    const info = await store.content.info(d.digest);
    if (!info) {
      // Entries of an index that were not pulled, and foreign layers, are absent by design.
      const expected = !isDocument(d) && !d.urls?.length;
      if (expected || pulled.has(d.digest)) {
        result.problems.push({ digest: d.digest, mediaType: d.mediaType, problem: 'missing' });
      }
      continue;
    }
    let blob: Blob;
    try {
      blob = await store.content.read(d.digest);
    } catch (err) {
      result.problems.push({ digest: d.digest, mediaType: d.mediaType, problem: messageOf(err) });
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
