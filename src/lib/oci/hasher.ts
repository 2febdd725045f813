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

/** Hashes one piece of a blob into a hasher: in this thread, or elsewhere (a pool of workers)
 * from its saved state. */
export type PieceHasher = (hasher: Hasher, piece: Blob) => Promise<void>;

/** Hashes a piece in this thread. */
export const hashInThread: PieceHasher = async (hasher, piece) => {
  await hashStream(piece.stream(), hasher);
};

/** Advances a saved state by a piece's bytes and returns the new state: the work a hashing
 * worker does for a piece, with its own hasher. */
export async function advanceState(
  hasher: Hasher,
  state: Uint8Array,
  piece: Blob,
): Promise<Uint8Array> {
  hasher.load(state);
  await hashStream(piece.stream(), hasher);
  return hasher.save();
}

/** A PieceHasher that has the state advanced elsewhere: the hasher's state goes out (about 100
 * bytes), the piece goes as a Blob (its bytes are not copied), and the new state comes back. */
export function hashElsewhere(
  advance: (algorithm: HashAlgorithm, state: Uint8Array, piece: Blob) => Promise<Uint8Array>,
): PieceHasher {
  return async (hasher, piece) => {
    hasher.load(await advance(hasher.algorithm, hasher.save(), piece));
  };
}
