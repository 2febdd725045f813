// The store in memory, with the IndexedDB store's semantics: chunks keyed by digest and offset,
// ingests invisible until a commit verifies size and digest, resumable from the saved hash
// state, image records with pull leases, layer indexes deleted with their blob. It runs where
// there is no IndexedDB (Node), so the logic above the store is tested in seconds, and it can
// be told to fail the way a browser's storage fails.
import type { Hasher, PieceHasher } from '../oci/hasher.ts';
import {
  CheckedIngestWriter,
  committedBlob,
  composeChunks,
  followChunks,
  resumeIngest,
} from './ingest.ts';
import { indexRecords, readIndex } from './layer-index.ts';
import { withLock } from './locks.ts';
import type { LayerEntriesRecord } from './schema.ts';
import type { LayerCheckpoints } from '../layers/checkpoints.ts';
import {
  type BlobRecord,
  type CredentialRecord,
  type ImageRecord,
  type IngestRecord,
  type LayerIndexRecord,
  type PullRecord,
  type TagDetailsRecord,
  BlobNotFoundError,
  type ContentStore,
  type FollowOptions,
  type IngestOptions,
  type IngestWriter,
  type Store,
  chunkSize,
  ingestLockName,
  keptTagDetails,
  mergeImage,
  renewPull,
} from './store.ts';

export interface MemoryFaults {
  /** Fails the nth chunk put (1-based, over the store's life) as a full disk does: the whole
   * write is refused and nothing of it is stored. */
  quotaOnPut?: number;
  /** Fails the commit of a digest for which this returns true as a full disk does; the ingest
   * stays, as the browser's aborted transaction leaves it. */
  quotaOnCommit?: (digest: string) => boolean;
  /** Called once a write is durable, before the writer returns: a test may crash() here. */
  afterWrite?: (ingest: { ref: string; digest: string; offset: number; size: number }) => void;
}

export interface MemoryStoreOptions {
  /** How ingests hash their pieces, as the browser's store can be told; in this thread by
   * default. */
  hashPiece?: PieceHasher;
}

/** What a browser throws when storage is full. */
export const quotaExceeded = () =>
  new DOMException('The quota has been exceeded.', 'QuotaExceededError');

/** The writers' process died: what was durable stays, a writer that was open is gone. */
export class StoreCrashedError extends Error {
  override name = 'StoreCrashedError';
}

/** The durable state, shared by the parts of one memory store. */
class Data {
  readonly blobs = new Map<string, BlobRecord>();
  /** Per digest, chunks by offset, committed or being ingested. */
  readonly chunks = new Map<string, Map<number, Blob>>();
  readonly ingests = new Map<string, IngestRecord>();
  readonly images = new Map<string, ImageRecord>();
  readonly pulls = new Map<string, PullRecord>();
  readonly layerIndexes = new Map<string, LayerIndexRecord>();
  /** Batch records of each layer index, by digest, as IndexedDB's layerEntries holds them. */
  readonly layerEntries = new Map<string, LayerEntriesRecord[]>();
  readonly layerCheckpoints = new Map<string, LayerCheckpoints>();
  readonly credentials = new Map<string, CredentialRecord>();
  /** In the order stored, as IndexedDB's storedAt index walks them. */
  readonly tagDetails = new Map<string, TagDetailsRecord>();
  puts = 0;
  /** Bumped by crash(): writers opened before it are dead. */
  generation = 0;

  constructor(
    readonly faults: MemoryFaults,
    readonly hashPiece?: PieceHasher,
  ) {}

  chunksOf(digest: string) {
    let m = this.chunks.get(digest);
    if (!m) this.chunks.set(digest, (m = new Map()));
    return m;
  }

  /** Drops a digest's chunks at or past an offset. */
  dropChunks(digest: string, from = 0) {
    const m = this.chunks.get(digest);
    if (!m) return;
    for (const at of [...m.keys()]) if (at >= from) m.delete(at);
    if (m.size === 0) this.chunks.delete(digest);
  }

  ingestOf(digest: string) {
    for (const i of this.ingests.values()) if (i.digest === digest) return i;
    return undefined;
  }
}

// Records are cloned in and out, as IndexedDB does: no caller holds the store's own objects.
const copy = <T>(v: T): T => structuredClone(v);

function putIndex(data: Data, digest: string, index: Parameters<typeof indexRecords>[1]) {
  const { header, batches } = indexRecords(digest, index);
  data.layerEntries.set(digest, copy(batches));
  data.layerIndexes.set(digest, copy(header));
}

export interface MemoryStore extends Store {
  /** Simulates the writing process dying: every open writer fails from now on, and what was
   * durably stored stays for a new writer to resume. */
  crash(): void;
  /** How many chunks of a digest are stored, committed or not (what a failure leaves). */
  chunkCount(digest: string): number;
  /** Flips the first stored byte of a digest, as a disk that lost data would (for verify). */
  corrupt(digest: string): Promise<void>;
  /** The records of a layer index as stored (copies), to see its layout. */
  layerIndexRecords(digest: string): { header?: LayerIndexRecord; batches: LayerEntriesRecord[] };
  /** Stores layer index records as given: what an earlier version wrote. */
  putLayerIndexRecords(header: LayerIndexRecord, batches: LayerEntriesRecord[]): void;
}

export function memoryStore(faults: MemoryFaults = {}, opts: MemoryStoreOptions = {}): MemoryStore {
  const data = new Data(faults, opts.hashPiece);
  return {
    content: new MemoryContentStore(data),
    images: {
      get: async (name) => copy(data.images.get(name)),
      list: async () => copy([...data.images.values()]),
      async put(image) {
        const rec = mergeImage(data.images.get(image.name), copy(image), Date.now());
        data.images.set(rec.name, rec);
        data.pulls.delete(image.name);
        return copy(rec);
      },
      delete: async (name) => void data.images.delete(name),
      async startPull(pull) {
        data.pulls.set(pull.name, renewPull(data.pulls.get(pull.name), copy(pull), Date.now()));
      },
      getPull: async (name) => copy(data.pulls.get(name)),
      listPulls: async () => copy([...data.pulls.values()]),
      deletePull: async (name) => void data.pulls.delete(name),
    },
    layerIndexes: {
      async get(digest) {
        const rec = data.layerIndexes.get(digest);
        const read = rec && readIndex(copy(rec), copy(data.layerEntries.get(digest) ?? []));
        if (read?.old) putIndex(data, digest, read.index);
        return read?.index;
      },
      put: async (digest, index) => putIndex(data, digest, index),
    },
    layerCheckpoints: {
      get: async (digest) => copy(data.layerCheckpoints.get(digest)),
      put: async (digest, checkpoints) => void data.layerCheckpoints.set(digest, copy(checkpoints)),
    },
    tagDetails: {
      get: async (digest) => copy(data.tagDetails.get(digest)),
      async put(rec) {
        data.tagDetails.delete(rec.digest);
        data.tagDetails.set(rec.digest, copy(rec));
        while (data.tagDetails.size > keptTagDetails) {
          data.tagDetails.delete(data.tagDetails.keys().next().value!);
        }
      },
    },
    credentials: {
      list: async () => copy([...data.credentials.values()]),
      registries: async () => [...data.credentials.keys()],
      put: async (rec) => void data.credentials.set(rec.registry, copy(rec)),
      delete: async (registry) => void data.credentials.delete(registry),
      clear: async () => data.credentials.clear(),
    },
    crash() {
      data.generation++;
    },
    chunkCount: (digest) => data.chunks.get(digest)?.size ?? 0,
    layerIndexRecords: (digest) => ({
      ...(data.layerIndexes.has(digest) ? { header: copy(data.layerIndexes.get(digest)) } : {}),
      batches: copy(data.layerEntries.get(digest) ?? []),
    }),
    putLayerIndexRecords(header, batches) {
      data.layerIndexes.set(header.digest, copy(header));
      data.layerEntries.set(header.digest, copy(batches));
    },
    async corrupt(digest) {
      const first = data.chunks.get(digest)?.get(0);
      if (!first) throw new BlobNotFoundError(digest);
      const bytes = new Uint8Array(await first.arrayBuffer());
      bytes[0] = bytes[0]! ^ 0xff;
      data.chunks.get(digest)!.set(0, new Blob([bytes]));
    },
  };
}

class MemoryContentStore implements ContentStore {
  readonly #data: Data;

  constructor(data: Data) {
    this.#data = data;
  }

  async info(digest: string) {
    return copy(this.#data.blobs.get(digest));
  }

  async list() {
    return copy([...this.#data.blobs.values()]);
  }

  async addSource(digest: string, source: string) {
    const rec = this.#data.blobs.get(digest);
    if (rec && !rec.sources.includes(source)) rec.sources.push(source);
  }

  async delete(digest: string) {
    this.#data.dropChunks(digest);
    this.#data.layerIndexes.delete(digest);
    this.#data.layerEntries.delete(digest);
    this.#data.layerCheckpoints.delete(digest);
    this.#data.blobs.delete(digest);
  }

  async read(digest: string) {
    const rec = this.#data.blobs.get(digest);
    if (!rec) throw new BlobNotFoundError(digest);
    const chunks = [...(this.#data.chunks.get(digest) ?? new Map<number, Blob>())]
      .map(([offset, data]) => ({ offset, data }))
      .sort((a, b) => a.offset - b.offset);
    return composeChunks(rec, chunks);
  }

  async readBytes(digest: string) {
    return new Uint8Array(await (await this.read(digest)).arrayBuffer());
  }

  follow(digest: string, size: number, opts: FollowOptions = {}) {
    return followChunks(digest, size, opts, {
      chunk: async (offset) => this.#data.chunks.get(digest)?.get(offset),
      state: async () => ({
        committed: this.#data.blobs.has(digest),
        ingesting: this.#data.ingestOf(digest) !== undefined,
      }),
    });
  }

  async writer(opts: IngestOptions): Promise<IngestWriter> {
    const data = this.#data;
    const previous = data.ingestOf(opts.digest);
    const { rec, hasher } = await resumeIngest(opts, previous && copy(previous));
    if (previous && previous.ref !== opts.ref) data.ingests.delete(previous.ref);
    data.dropChunks(opts.digest, rec.offset);
    data.ingests.set(rec.ref, copy(rec));
    return new MemoryIngestWriter(data, rec, hasher);
  }

  withIngestLock<T>(digest: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withLock(ingestLockName(digest), fn, signal ? { signal } : {});
  }

  async listIngests() {
    return copy([...this.#data.ingests.values()]);
  }

  async abortIngest(ref: string) {
    const rec = this.#data.ingests.get(ref);
    if (rec) this.#data.dropChunks(rec.digest);
    this.#data.ingests.delete(ref);
  }
}

class MemoryIngestWriter extends CheckedIngestWriter {
  readonly #data: Data;
  readonly #generation: number;

  constructor(data: Data, rec: IngestRecord, hasher: Hasher) {
    super(rec, hasher, data.hashPiece);
    this.#data = data;
    this.#generation = data.generation;
  }

  #alive() {
    if (this.#generation !== this.#data.generation) {
      throw new StoreCrashedError(`ingest ${this.ref}: the writer's process is gone`);
    }
  }

  protected async append(piece: Blob): Promise<void> {
    this.#alive();
    const rec = this.rec;
    const slices: [number, Blob][] = [];
    for (let at = 0; at < piece.size; at += chunkSize) {
      this.#data.puts++;
      if (this.#data.puts === this.#data.faults.quotaOnPut) throw quotaExceeded();
      slices.push([rec.offset + at, piece.slice(at, Math.min(piece.size, at + chunkSize))]);
    }
    await this.hashPiece(piece);
    this.#alive();
    const chunks = this.#data.chunksOf(rec.digest);
    for (const [at, blob] of slices) chunks.set(at, blob);
    rec.offset += piece.size;
    rec.hashState = this.hasher.save();
    rec.updatedAt = Date.now();
    this.#data.ingests.set(rec.ref, copy(rec));
    this.#data.faults.afterWrite?.({
      ref: rec.ref,
      digest: rec.digest,
      offset: rec.offset,
      size: rec.size,
    });
  }

  protected async publish(): Promise<BlobRecord> {
    this.#alive();
    const rec = this.rec;
    if (this.#data.faults.quotaOnCommit?.(rec.digest)) throw quotaExceeded();
    const blob = committedBlob(this.#data.blobs.get(rec.digest), rec);
    this.#data.blobs.set(rec.digest, blob);
    this.#data.ingests.delete(rec.ref);
    return copy(blob);
  }

  protected async remove(): Promise<void> {
    this.#alive();
    this.#data.dropChunks(this.rec.digest);
    this.#data.ingests.delete(this.rec.ref);
  }
}
