// Incremental digests over hash-wasm. The state can be saved and restored, so an interrupted
// ingest resumes hashing where its last durable chunk ended.
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import { parseDigest } from './digest.ts';

export type HashAlgorithm = 'sha256' | 'sha512';

export interface Hasher {
  readonly algorithm: HashAlgorithm;
  update(bytes: Uint8Array): void;
  /** The digest string, `<algorithm>:<hex>`, of everything written. */
  digest(): string;
  /** An opaque snapshot of the state, for load() after a reload. */
  save(): Uint8Array;
  load(state: Uint8Array): void;
}

/** The algorithm of a digest, which is validated first. */
export function algorithmOf(digest: string): HashAlgorithm {
  return parseDigest(digest).algorithm;
}

export async function createHasher(algorithm: HashAlgorithm): Promise<Hasher> {
  const h: IHasher = algorithm === 'sha512' ? await createSHA512() : await createSHA256();
  h.init();
  return {
    algorithm,
    update: (bytes) => void h.update(bytes),
    digest: () => `${algorithm}:${h.digest('hex')}`,
    save: () => h.save(),
    load: (state) => void h.load(state),
  };
}

/** The digest of a small in-memory document (a manifest, a config). */
export async function digestBytes(bytes: Uint8Array, algorithm: HashAlgorithm = 'sha256') {
  const h = await createHasher(algorithm);
  h.update(bytes);
  return h.digest();
}

/** Hashes a stream into `hasher`, returning the number of bytes read. */
export async function hashStream(stream: ReadableStream<Uint8Array>, hasher: Hasher) {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    hasher.update(value);
    n += value.byteLength;
  }
}
