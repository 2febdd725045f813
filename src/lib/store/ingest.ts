// What every implementation of an ingest shares: resuming from a saved hash state, the
// writer's checks (a piece past the declared size, a commit of too few bytes or of the wrong
// digest), and composing a committed blob from its chunks. An implementation supplies only how
// a piece is stored, how a verified blob is published and how an ingest is removed.
import { DigestMismatchError, SizeMismatchError } from '../oci/errors.ts';
import {
  type Hasher,
  type PieceHasher,
  algorithmOf,
  createHasher,
  hashInThread,
} from '../oci/hasher.ts';
import {
  BlobNotFoundError,
  type BlobRecord,
  CorruptStoreError,
  type FollowOptions,
  type IngestOptions,
  type IngestRecord,
  type IngestWriter,
} from './store.ts';

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

/** An ingest writer's state and checks; subclasses store the bytes. */
export abstract class CheckedIngestWriter implements IngestWriter {
  protected readonly rec: IngestRecord;
  protected readonly hasher: Hasher;
  #hashPiece: PieceHasher;
  #closed = false;
  #digest: string | undefined;

  constructor(rec: IngestRecord, hasher: Hasher, hashPiece: PieceHasher = hashInThread) {
    this.rec = rec;
    this.hasher = hasher;
    this.#hashPiece = hashPiece;
  }

  /** Hashes the piece into the writer's hasher, where the store was told to (a pool of
   * workers in the browser): pieces of one blob in order, blobs side by side. */
  protected hashPiece(piece: Blob): Promise<void> {
    return this.#hashPiece(this.hasher, piece);
  }

  /** Stores the piece at rec.offset while hashing it, then advances rec.offset and
   * rec.hashState durably. */
  protected abstract append(piece: Blob): Promise<void>;
  /** Makes the verified ingest a blob and drops the ingest record. */
  protected abstract publish(): Promise<BlobRecord>;
  /** Removes the ingest and its chunks. */
  protected abstract remove(): Promise<void>;

  get ref() {
    return this.rec.ref;
  }

  get offset() {
    return this.rec.offset;
  }

  get size() {
    return this.rec.size;
  }

  async write(piece: Blob): Promise<void> {
    if (this.#closed) throw new Error(`ingest ${this.ref} is closed`);
    const rec = this.rec;
    if (rec.offset + piece.size > rec.size) {
      const got = rec.offset + piece.size;
      await this.abort();
      throw new SizeMismatchError(
        rec.size,
        got,
        `${rec.ref}: more bytes than the descriptor declares`,
      );
    }
    try {
      await this.append(piece);
    } catch (err) {
      // The hasher may have taken part of the piece: this writer can no longer be trusted.
      // Its durable state stays; a new writer resumes from it.
      this.#closed = true;
      throw err;
    }
  }

  digest(): string {
    const rec = this.rec;
    if (rec.offset !== rec.size) {
      throw new SizeMismatchError(rec.size, rec.offset, `${rec.ref}: not complete`);
    }
    this.#closed = true;
    return (this.#digest ??= this.hasher.digest());
  }

  async commit(): Promise<BlobRecord> {
    const rec = this.rec;
    if (rec.offset !== rec.size) {
      await this.abort();
      throw new SizeMismatchError(rec.size, rec.offset, rec.ref);
    }
    const actual = this.digest();
    if (actual !== rec.digest) {
      await this.abort();
      throw new DigestMismatchError(rec.digest, actual, rec.offset, rec.ref);
    }
    this.#closed = true;
    return this.publish();
  }

  async abort(): Promise<void> {
    this.#closed = true;
    await this.remove();
  }
}

/** The record of a blob once an ingest commits: the one already stored (another writer's) or
 * a new one, with the ingest's source added. */
export function committedBlob(existing: BlobRecord | undefined, rec: IngestRecord): BlobRecord {
  const blob: BlobRecord = existing ?? {
    digest: rec.digest,
    size: rec.size,
    mediaType: rec.mediaType,
    sources: [],
    committedAt: Date.now(),
  };
  if (rec.source && !blob.sources.includes(rec.source)) blob.sources.push(rec.source);
  return blob;
}

/** Where follow() looks: the chunk at an offset, and whether the digest is committed or being
 * ingested when that chunk is not there yet. */
export interface ChunkSource {
  chunk(offset: number): Promise<Blob | undefined>;
  state(): Promise<{ committed: boolean; ingesting: boolean }>;
}

/** Provider.follow over any chunk source: chunks in order as they become durable, waiting for
 * the next while the ingest goes on. */
export function followChunks(
  digest: string,
  size: number,
  opts: FollowOptions,
  source: ChunkSource,
): ReadableStream<Uint8Array> {
  let offset = 0;
  const giveUpAt = Date.now() + (opts.startMs ?? 0);
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      for (;;) {
        if (offset >= size) return controller.close();
        opts.signal?.throwIfAborted();
        const chunk = await source.chunk(offset);
        if (chunk) {
          offset += chunk.size;
          controller.enqueue(new Uint8Array(await chunk.arrayBuffer()));
          return;
        }
        const { committed, ingesting } = await source.state();
        if (committed) {
          throw new CorruptStoreError(`blob ${digest}: no stored chunk at offset ${offset}`);
        }
        // Nothing yet: the download may not have started; wait for it a little.
        if (!ingesting && (offset > 0 || Date.now() > giveUpAt)) {
          throw new BlobNotFoundError(digest);
        }
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
      }
    },
  });
}
