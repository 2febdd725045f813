// What every implementation of an ingest shares: resuming from a saved hash state, and
// composing a committed blob from its chunks.
import { type Hasher, algorithmOf, createHasher } from '../oci/hasher.ts';
import type { BlobRecord, IngestRecord } from './schema.ts';
import { CorruptStoreError, type IngestOptions } from './store.ts';

/** A committed blob's chunks as one Blob, checked to cover it without a gap. */
export function composeChunks(rec: BlobRecord, chunks: { offset: number; data: Blob }[]): Blob {
  let at = 0;
  for (const c of chunks) {
    if (c.offset !== at) break;
    at += c.data.size;
  }
  if (at !== rec.size) {
    throw new CorruptStoreError(
      `blob ${rec.digest}: the stored chunks cover ${at} of ${rec.size} bytes; the browser's storage lost data`,
    );
  }
  return new Blob(
    chunks.map((c) => c.data),
    { type: rec.mediaType },
  );
}

/** The record and hasher of a (re)opened ingest: a previous one's saved state is resumed when
 * it fits. */
export async function resumeIngest(
  opts: IngestOptions,
  previous: IngestRecord | undefined,
): Promise<{ rec: IngestRecord; hasher: Hasher }> {
  let hasher = await createHasher(algorithmOf(opts.digest));
  let offset = 0;
  if (previous?.hashState && previous.size === opts.size && previous.offset <= opts.size) {
    try {
      hasher.load(previous.hashState);
      offset = previous.offset;
    } catch {
      // A state from another hash-wasm build cannot be trusted: start over.
      hasher = await createHasher(algorithmOf(opts.digest));
    }
  }
  const now = Date.now();
  const rec: IngestRecord = {
    ...opts,
    offset,
    hashState: hasher.save(),
    startedAt: previous?.startedAt ?? now,
    updatedAt: now,
  };
  return { rec, hasher };
}
