// The store in IndexedDB: blobs as chunk Blobs keyed [digest, offset], ingests with their
// saved hash state, image records, pulls, layer indexes and credentials (schema.ts). The
// database handle stays in here: everything else goes through the roles of store.ts.
import type { Hasher, PieceHasher } from '../oci/hasher.ts';
import {
  CheckedIngestWriter,
  committedBlob,
  composeChunks,
  followChunks,
  resumeIngest,
} from './ingest.ts';
import { type Database, type OpenOptions, openDatabase } from './db.ts';
import { indexRecords, readIndex } from './layer-index.ts';
import { withLock } from './locks.ts';
import {
  type BlobRecord,
  type IngestRecord,
  BlobNotFoundError,
  type ContentStore,
  type CredentialStore,
  type FollowOptions,
  type ImageStore,
  type IngestOptions,
  type IngestWriter,
  type LayerCheckpointStore,
  type LayerIndexStore,
  type Store,
  type TagDetailsStore,
  chunkSize,
  ingestLockName,
  keptTagDetails,
  mergeImage,
  renewPull,
} from './store.ts';

/** Every chunk of a digest, committed or being ingested; also every batch of a layer index. */
const digestRange = (digest: string) => IDBKeyRange.bound([digest, 0], [digest, Infinity]);

export interface IdbStoreOptions extends OpenOptions {
  /** How ingests hash their pieces; in the writer's thread by default. */
  hashPiece?: PieceHasher;
}

/** Opens the database and the store over it; the handle never leaves this module. */
export async function openIdbStore(opts: IdbStoreOptions = {}): Promise<Store> {
  return idbStore(await openDatabase(opts), opts.hashPiece);
}

function idbStore(db: Database, hashPiece: PieceHasher | undefined): Store {
  return {
    content: new IdbContentStore(db, hashPiece),
    images: idbImages(db),
    layerIndexes: idbLayerIndexes(db),
    layerCheckpoints: idbLayerCheckpoints(db),
    tagDetails: idbTagDetails(db),
    credentials: idbCredentials(db),
  };
}

class IdbContentStore implements ContentStore {
  readonly #db: Database;
  readonly #hashPiece: PieceHasher | undefined;

  constructor(db: Database, hashPiece: PieceHasher | undefined) {
    this.#db = db;
    this.#hashPiece = hashPiece;
  }

  info(digest: string): Promise<BlobRecord | undefined> {
    return this.#db.get('blobs', digest);
  }

  list(): Promise<BlobRecord[]> {
    return this.#db.getAll('blobs');
  }

  async addSource(digest: string, source: string): Promise<void> {
    const tx = this.#db.transaction('blobs', 'readwrite');
    const rec = await tx.store.get(digest);
    if (rec && !rec.sources.includes(source)) {
      rec.sources.push(source);
      await tx.store.put(rec);
    }
    await tx.done;
  }

  async delete(digest: string): Promise<void> {
    // The blob goes with what was derived from it, in one transaction.
    const tx = this.#db.transaction(
      ['blobs', 'chunks', 'layerIndexes', 'layerEntries', 'layerCheckpoints'],
      'readwrite',
    );
    await tx.objectStore('layerCheckpoints').delete(digest);
    await tx.objectStore('chunks').delete(digestRange(digest));
    await tx.objectStore('layerEntries').delete(digestRange(digest));
    await tx.objectStore('layerIndexes').delete(digest);
    await tx.objectStore('blobs').delete(digest);
    await tx.done;
  }

  async read(digest: string): Promise<Blob> {
    const tx = this.#db.transaction(['blobs', 'chunks']);
    const rec = await tx.objectStore('blobs').get(digest);
    const chunks = rec ? await tx.objectStore('chunks').getAll(digestRange(digest)) : [];
    await tx.done;
    if (!rec) throw new BlobNotFoundError(digest);
    return composeChunks(rec, chunks);
  }

  follow(digest: string, size: number, opts: FollowOptions = {}) {
    return followChunks(digest, size, opts, {
      chunk: async (offset) => (await this.#db.get('chunks', [digest, offset]))?.data,
      state: async () => {
        const [blob, ingest] = await Promise.all([
          this.#db.get('blobs', digest),
          this.#db.getFromIndex('ingests', 'digest', digest),
        ]);
        return { committed: blob !== undefined, ingesting: ingest !== undefined };
      },
    });
  }

  async readBytes(digest: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.read(digest)).arrayBuffer());
  }

  async writer(opts: IngestOptions): Promise<IngestWriter> {
    const previous = await this.#db.getFromIndex('ingests', 'digest', opts.digest);
    const { rec, hasher } = await resumeIngest(opts, previous);
    // Drop chunks past the durable offset: a crash can leave a piece stored but not recorded.
    const tx = this.#db.transaction(['ingests', 'chunks'], 'readwrite');
    if (previous && previous.ref !== opts.ref) await tx.objectStore('ingests').delete(previous.ref);
    await tx
      .objectStore('chunks')
      .delete(IDBKeyRange.bound([opts.digest, rec.offset], [opts.digest, Infinity]));
    await tx.objectStore('ingests').put(rec);
    await tx.done;
    return new IdbIngestWriter(this.#db, rec, hasher, this.#hashPiece);
  }

  withIngestLock<T>(digest: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withLock(ingestLockName(digest), fn, signal ? { signal } : {});
  }

  listIngests(): Promise<IngestRecord[]> {
    return this.#db.getAll('ingests');
  }

  async abortIngest(ref: string): Promise<void> {
    const tx = this.#db.transaction(['ingests', 'chunks'], 'readwrite');
    const rec = await tx.objectStore('ingests').get(ref);
    if (rec) await tx.objectStore('chunks').delete(digestRange(rec.digest));
    await tx.objectStore('ingests').delete(ref);
    await tx.done;
  }
}

function idbImages(db: Database): ImageStore {
  return {
    get: (name) => db.get('images', name),
    list: () => db.getAll('images'),
    async put(image) {
      // The one transaction that records the image and ends the pull's lease.
      const tx = db.transaction(['images', 'pulls'], 'readwrite');
      const images = tx.objectStore('images');
      const rec = mergeImage(await images.get(image.name), image, Date.now());
      await images.put(rec);
      await tx.objectStore('pulls').delete(image.name);
      await tx.done;
      return rec;
    },
    delete: (name) => db.delete('images', name),
    async startPull(pull) {
      const tx = db.transaction('pulls', 'readwrite');
      await tx.store.put(renewPull(await tx.store.get(pull.name), pull, Date.now()));
      await tx.done;
    },
    getPull: (name) => db.get('pulls', name),
    listPulls: () => db.getAll('pulls'),
    deletePull: (name) => db.delete('pulls', name),
  };
}

function idbLayerIndexes(db: Database): LayerIndexStore {
  const put: LayerIndexStore['put'] = async (digest, index) => {
    const { header, batches } = indexRecords(digest, index);
    const tx = db.transaction(['layerIndexes', 'layerEntries'], 'readwrite');
    const entries = tx.objectStore('layerEntries');
    void entries.delete(digestRange(digest));
    // Each put clones its batch at once: a few large values, typed arrays stored as bytes.
    for (const rec of batches) void entries.put(rec);
    void tx.objectStore('layerIndexes').put(header);
    await tx.done;
  };
  return {
    put,
    async get(digest) {
      const tx = db.transaction(['layerIndexes', 'layerEntries']);
      const rec = await tx.objectStore('layerIndexes').get(digest);
      const batches = rec ? await tx.objectStore('layerEntries').getAll(digestRange(digest)) : [];
      await tx.done;
      const read = rec && readIndex(rec, batches);
      if (read?.old) await put(digest, read.index);
      return read?.index;
    },
  };
}

function idbLayerCheckpoints(db: Database): LayerCheckpointStore {
  return {
    async get(digest) {
      const rec = await db.get('layerCheckpoints', digest);
      if (!rec) return undefined;
      const { digest: _, ...checkpoints } = rec;
      return checkpoints;
    },
    // The windows are a Blob: IndexedDB keeps it apart from the record's other fields.
    put: async (digest, checkpoints) =>
      void (await db.put('layerCheckpoints', { ...checkpoints, digest })),
  };
}

function idbTagDetails(db: Database): TagDetailsStore {
  return {
    get: (digest) => db.get('tagDetails', digest),
    async put(rec) {
      const tx = db.transaction('tagDetails', 'readwrite');
      await tx.store.put(rec);
      let extra = (await tx.store.count()) - keptTagDetails;
      let cursor = extra > 0 ? await tx.store.index('storedAt').openCursor() : null;
      while (cursor && extra-- > 0) {
        await cursor.delete();
        cursor = await cursor.continue();
      }
      await tx.done;
    },
  };
}

function idbCredentials(db: Database): CredentialStore {
  return {
    list: () => db.getAll('credentials'),
    registries: () => db.getAllKeys('credentials'),
    put: async (rec) => void (await db.put('credentials', rec)),
    delete: (registry) => db.delete('credentials', registry),
    clear: () => db.clear('credentials'),
  };
}

/** Writes one ingest. Bytes arrive as Blob pieces, which are stored as chunk slices while the
 * same Blob is hashed: the bytes never pass through JS twice. */
class IdbIngestWriter extends CheckedIngestWriter {
  readonly #db: Database;

  constructor(db: Database, rec: IngestRecord, hasher: Hasher, hashPiece?: PieceHasher) {
    super(rec, hasher, hashPiece);
    this.#db = db;
  }

  protected async append(piece: Blob): Promise<void> {
    const rec = this.rec;
    const tx = this.#db.transaction('chunks', 'readwrite');
    for (let at = 0; at < piece.size; at += chunkSize) {
      void tx.store.put({
        digest: rec.digest,
        offset: rec.offset + at,
        data: piece.slice(at, Math.min(piece.size, at + chunkSize)),
      });
    }
    await Promise.all([this.hashPiece(piece), tx.done]);
    rec.offset += piece.size;
    rec.hashState = this.hasher.save();
    rec.updatedAt = Date.now();
    await this.#db.put('ingests', rec);
  }

  protected async publish(): Promise<BlobRecord> {
    const rec = this.rec;
    const tx = this.#db.transaction(['blobs', 'ingests'], 'readwrite');
    const blob = committedBlob(await tx.objectStore('blobs').get(rec.digest), rec);
    await tx.objectStore('blobs').put(blob);
    await tx.objectStore('ingests').delete(rec.ref);
    await tx.done;
    return blob;
  }

  protected async remove(): Promise<void> {
    const tx = this.#db.transaction(['ingests', 'chunks'], 'readwrite');
    await tx.objectStore('chunks').delete(digestRange(this.rec.digest));
    await tx.objectStore('ingests').delete(this.rec.ref);
    await tx.done;
  }
}
