// The content store, in containerd's roles: a provider (read by digest), an ingester (write by
// ref, visible only after commit verifies size and digest) and image records.
import { type Hasher, algorithmOf, createHasher, hashStream } from '../oci/hasher.ts';
import { DigestMismatchError, SizeMismatchError } from '../oci/errors.ts';
import type { Database } from './db.ts';
import type { BlobRecord, ImageRecord, IngestRecord, PullRecord } from './schema.ts';
import { withLock } from './locks.ts';

/** Chunks are stored as Blobs of this size: big enough that IndexedDB puts run near their best
 * throughput, small enough that no single value is huge. */
export const chunkSize = 16 << 20;

export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError';
  constructor(readonly digest: string) {
    super(`blob ${digest} is not in the store`);
  }
}

export class CorruptStoreError extends Error {
  override name = 'CorruptStoreError';
}

export interface IngestOptions {
  ref: string;
  digest: string;
  size: number;
  mediaType: string;
  /** "registry/repository" the bytes come from. */
  source: string;
}

/** Every chunk of a digest, committed or being ingested. */
export const chunkRange = (digest: string) => IDBKeyRange.bound([digest, 0], [digest, Infinity]);

export class ContentStore {
  constructor(readonly db: Database) {}

  /** The committed blob's record, or undefined. Ingests in progress are invisible here. */
  info(digest: string): Promise<BlobRecord | undefined> {
    return this.db.get('blobs', digest);
  }

  /** Remembers another place a stored blob can be fetched from. */
  async addSource(digest: string, source: string): Promise<void> {
    const tx = this.db.transaction('blobs', 'readwrite');
    const rec = await tx.store.get(digest);
    if (rec && !rec.sources.includes(source)) {
      rec.sources.push(source);
      await tx.store.put(rec);
    }
    await tx.done;
  }

  /** The blob's content as one Blob composed of its stored chunks: no bytes are copied. */
  async read(digest: string): Promise<Blob> {
    const tx = this.db.transaction(['blobs', 'chunks']);
    const rec = await tx.objectStore('blobs').get(digest);
    const chunks = rec ? await tx.objectStore('chunks').getAll(chunkRange(digest)) : [];
    await tx.done;
    if (!rec) throw new BlobNotFoundError(digest);
    let at = 0;
    for (const c of chunks) {
      if (c.offset !== at) break;
      at += c.data.size;
    }
    if (at !== rec.size) {
      throw new CorruptStoreError(
        `blob ${digest}: the stored chunks cover ${at} of ${rec.size} bytes; the browser's storage lost data`,
      );
    }
    return new Blob(
      chunks.map((c) => c.data),
      { type: rec.mediaType },
    );
  }

  /** The bytes of a blob as a stream, following its ingest while it is still being written:
   * chunks are read in order as they become durable, so a layer's files can be listed while it
   * downloads. Bytes at an offset never change (they are the digest's), so what was read stays
   * right even if the ingest restarts; the caller still checks the result (a diffID). */
  follow(
    digest: string,
    size: number,
    opts: { signal?: AbortSignal; pollMs?: number; startMs?: number } = {},
  ) {
    let offset = 0;
    const giveUpAt = Date.now() + (opts.startMs ?? 0);
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          if (offset >= size) return controller.close();
          opts.signal?.throwIfAborted();
          const chunk = await this.db.get('chunks', [digest, offset]);
          if (chunk) {
            offset += chunk.data.size;
            controller.enqueue(new Uint8Array(await chunk.data.arrayBuffer()));
            return;
          }
          const [blob, ingest] = await Promise.all([
            this.db.get('blobs', digest),
            this.db.getFromIndex('ingests', 'digest', digest),
          ]);
          if (blob) {
            throw new CorruptStoreError(`blob ${digest}: no stored chunk at offset ${offset}`);
          }
          // Nothing yet: the download may not have started; wait for it a little.
          if (!ingest && (offset > 0 || Date.now() > giveUpAt)) {
            throw new BlobNotFoundError(digest);
          }
          await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
        }
      },
    });
  }

  /** Reads a small blob (a manifest, a config) into memory. */
  async readBytes(digest: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.read(digest)).arrayBuffer());
  }

  /** Opens a writer for an ingest, resuming a previous one for the same digest where its state
   * was saved. Callers hold the digest's lock (see ingest()). */
  async writer(opts: IngestOptions): Promise<IngestWriter> {
    let hasher = await createHasher(algorithmOf(opts.digest));
    const previous = await this.db.getFromIndex('ingests', 'digest', opts.digest);
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
    // Drop chunks past the durable offset: a crash can leave a piece stored but not recorded.
    const tx = this.db.transaction(['ingests', 'chunks'], 'readwrite');
    if (previous && previous.ref !== opts.ref) await tx.objectStore('ingests').delete(previous.ref);
    await tx
      .objectStore('chunks')
      .delete(IDBKeyRange.bound([opts.digest, offset], [opts.digest, Infinity]));
    await tx.objectStore('ingests').put(rec);
    await tx.done;
    return new IngestWriter(this.db, rec, hasher);
  }

  /** Runs fn with the ingest lock of this digest held, across tabs and workers. */
  withIngestLock<T>(digest: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withLock(`berth-ingest:${digest}`, fn, signal ? { signal } : {});
  }

  /** Records that a pull started or restarted. Until its image is recorded, the pull is a
   * lease: what it committed stays through garbage collection, and a reopened app offers to
   * resume it. */
  async startPull(pull: Omit<PullRecord, 'startedAt' | 'updatedAt'>): Promise<void> {
    const tx = this.db.transaction('pulls', 'readwrite');
    const old = await tx.store.get(pull.name);
    const now = Date.now();
    const same = old?.target.digest === pull.target.digest && old.platform === pull.platform;
    await tx.store.put({ ...pull, startedAt: same ? old.startedAt : now, updatedAt: now });
    await tx.done;
  }

  /** Records the image, and ends the pull that stored it, in one transaction. */
  async putImage(image: Omit<ImageRecord, 'createdAt' | 'updatedAt'>): Promise<ImageRecord> {
    const tx = this.db.transaction(['images', 'pulls'], 'readwrite');
    const images = tx.objectStore('images');
    const old = await images.get(image.name);
    const now = Date.now();
    const manifests = [...(old?.target.digest === image.target.digest ? old.manifests : [])];
    for (const m of image.manifests) {
      const i = manifests.findIndex((x) => x.descriptor.digest === m.descriptor.digest);
      // An inspect after a pull leaves the manifest pulled: its layers are stored.
      if (i >= 0) manifests[i] = m.lazy && !manifests[i]!.lazy ? { ...m, lazy: false } : m;
      else manifests.push(m);
    }
    const rec: ImageRecord = {
      name: image.name,
      target: image.target,
      manifests,
      ...(image.complete || (old?.complete && old.target.digest === image.target.digest)
        ? { complete: true }
        : {}),
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
    };
    await images.put(rec);
    await tx.objectStore('pulls').delete(image.name);
    await tx.done;
    return rec;
  }

  getImage(name: string): Promise<ImageRecord | undefined> {
    return this.db.get('images', name);
  }
}

/** Writes one ingest. Bytes arrive as Blob pieces, which are stored as chunk slices while the
 * same Blob is hashed: the bytes never pass through JS twice. */
export class IngestWriter {
  readonly #db: Database;
  readonly #rec: IngestRecord;
  readonly #hasher: Hasher;
  #closed = false;
  #digest: string | undefined;

  constructor(db: Database, rec: IngestRecord, hasher: Hasher) {
    this.#db = db;
    this.#rec = rec;
    this.#hasher = hasher;
  }

  get ref() {
    return this.#rec.ref;
  }

  /** Bytes durably stored; a fetch resumes from here. */
  get offset() {
    return this.#rec.offset;
  }

  get size() {
    return this.#rec.size;
  }

  /** Appends a piece at the current offset and records the new offset with the hash state. */
  async write(piece: Blob): Promise<void> {
    if (this.#closed) throw new Error(`ingest ${this.ref} is closed`);
    const rec = this.#rec;
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
      const tx = this.#db.transaction('chunks', 'readwrite');
      for (let at = 0; at < piece.size; at += chunkSize) {
        void tx.store.put({
          digest: rec.digest,
          offset: rec.offset + at,
          data: piece.slice(at, Math.min(piece.size, at + chunkSize)),
        });
      }
      await Promise.all([hashStream(piece.stream(), this.#hasher), tx.done]);
      rec.offset += piece.size;
      rec.hashState = this.#hasher.save();
      rec.updatedAt = Date.now();
      await this.#db.put('ingests', rec);
    } catch (err) {
      // The hasher may have taken part of the piece: this writer can no longer be trusted.
      // Its durable state stays; a new writer resumes from it.
      this.#closed = true;
      throw err;
    }
  }

  /** The digest of the bytes written, once they are all there. It ends writing: a caller can
   * check several ingests before it commits any (an import is all or nothing). */
  digest(): string {
    const rec = this.#rec;
    if (rec.offset !== rec.size) {
      throw new SizeMismatchError(rec.size, rec.offset, `${rec.ref}: not complete`);
    }
    this.#closed = true;
    return (this.#digest ??= this.#hasher.digest());
  }

  /** Verifies size and digest, then makes the blob visible. Always closes the writer; on
   * failure the ingest's chunks are removed. */
  async commit(): Promise<BlobRecord> {
    const rec = this.#rec;
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
    const tx = this.#db.transaction(['blobs', 'ingests'], 'readwrite');
    const existing = await tx.objectStore('blobs').get(rec.digest);
    const blob: BlobRecord = existing ?? {
      digest: rec.digest,
      size: rec.size,
      mediaType: rec.mediaType,
      sources: [],
      committedAt: Date.now(),
    };
    if (rec.source && !blob.sources.includes(rec.source)) blob.sources.push(rec.source);
    await tx.objectStore('blobs').put(blob);
    await tx.objectStore('ingests').delete(rec.ref);
    await tx.done;
    return blob;
  }

  /** Removes the ingest and its chunks. */
  async abort(): Promise<void> {
    this.#closed = true;
    const tx = this.#db.transaction(['ingests', 'chunks'], 'readwrite');
    await tx.objectStore('chunks').delete(chunkRange(this.#rec.digest));
    await tx.objectStore('ingests').delete(this.#rec.ref);
    await tx.done;
  }
}
