// The store, in containerd's roles (core/content/content.go, core/images/image.go, leases):
// content is read by digest (Provider), written by ref and made visible only by a verifying
// commit (Ingester), listed and deleted (Manager), and watched while written (IngestManager).
// Image records and pull leases live apart from blobs, as containerd's images.Store does. What
// is derived from a blob (a layer's file index) is deleted with it.
//
// Everything is one `Store` of four parts rather than one class: a caller names the part it
// uses (`store.content.info`), an implementation can share state between parts (a blob's
// deletion takes its layer index with it), and a test store is a plain object.
import type { ColumnIndex } from '../layers/columns.ts';
import type { LayerCheckpoints } from '../layers/checkpoints.ts';
import type { Descriptor } from '../oci/types.ts';

// The records every implementation keeps (IndexedDB's layout of them is schema.ts).

/** A committed blob: its bytes are the chunks [digest, 0 … size). Present only after the
 * ingest's size and digest were verified. */
export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string;
  /** Where the blob can be fetched again, as "registry/repository" (containerd's
   * distribution.source labels). */
  sources: string[];
  committedAt: number;
}

/** A blob being written. Its chunks are invisible to readers until commit verifies them. */
export interface IngestRecord {
  /** containerd's MakeRefKey: `<role>-<digest>`. */
  ref: string;
  digest: string;
  size: number;
  mediaType: string;
  source: string;
  /** Bytes durably stored and hashed; resume from here. */
  offset: number;
  /** hash-wasm state after `offset` bytes. */
  hashState?: Uint8Array;
  startedAt: number;
  updatedAt: number;
}

/** A named image: the roots of garbage collection. */
export interface ImageRecord {
  /** The canonical reference, e.g. docker.io/library/alpine:3.20. */
  name: string;
  /** The descriptor the reference resolved to: a manifest or an index. */
  target: Descriptor;
  /** The platform manifests pulled completely (config and every layer stored). Each
   * descriptor carries its platform, as an index entry does. */
  manifests: {
    descriptor: Descriptor;
    pulledAt: number;
    /** Inspected, not pulled: the manifest and config are stored, the layers only once
     * opened. A later pull replaces the entry. */
    lazy?: boolean;
  }[];
  /** Every manifest of the target index was pulled ("All platforms"): it exports whole. */
  complete?: boolean;
  /** Signatures, SBOMs and attestations stored for the image (images/referrers.ts): roots of
   * garbage collection beside its own manifests, so they go when the image goes. */
  referrers?: ReferrerRecord[];
  createdAt: number;
  updatedAt: number;
}

/** A manifest attached to an image, fetched, checked and stored: a referrer (through the
 * referrers API or its tag schema), a cosign `.sig`/`.att`/`.sbom` tag, or an attestation
 * manifest of the image's index. */
export interface ReferrerRecord {
  descriptor: Descriptor;
  /** The digest it describes: the image's root, or a platform manifest of its index. */
  subject: string;
  via: 'api' | 'tag-schema' | 'cosign-tag' | 'index';
}

/** A pull that started and has not finished: a lease, as containerd's, that keeps the blobs it
 * already committed from garbage collection, and lets a reopened app offer to resume it. */
export interface PullRecord {
  /** The canonical reference being pulled. */
  name: string;
  /** The resolved root: a manifest or an index. */
  target: Descriptor;
  /** The platform asked for, in formatPlatform's form, or 'all'. */
  platform?: string;
  startedAt: number;
  /** Renewed each time the pull (re)starts; the lease runs from here. */
  updatedAt: number;
}

/** The file index of a layer, derived from its blob: kept next to it, so reopening an image
 * (offline too) lists its files at once. Removed with the blob. */
export interface LayerIndexRecord {
  /** The layer blob's digest. */
  digest: string;
  /** sha256 of the uncompressed tar, to check against the config's rootfs.diff_ids. */
  diffID: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** Entries, stored in `layerEntries` in batches numbered 0 … batches-1. */
  entries: number;
  batches: number;
  /** 'columns': each batch record holds one EntryColumns (BATCH entries, the last fewer).
   * Absent in records written by earlier versions, whose batches hold IndexEntry objects,
   * entriesPerBatch a record; they are read, converted and written again in columns. */
  layout?: 'columns';
  indexedAt: number;
}

/** What a tag's digest is, for the repository view's rows (lib/pull/tag-details.ts), kept
 * apart from the blobs it was read from: garbage collection removes those (no image holds
 * them), and a date read once is not worth a second request. Content never changes under a
 * digest, so a record never goes stale; only the bound removes it. */
export interface TagDetailsRecord {
  /** The manifest or index a tag pointed at. */
  digest: string;
  /** The platforms an index offers; 0 for a single manifest. */
  platforms: number;
  /** Compressed bytes of the config and layers of the manifest dated. */
  size: number;
  /** The config's `created` (ms since the epoch), when it has a real one. */
  created?: number;
  /** The platform preference an index's manifest was chosen by ('' for none). */
  preferred: string;
  /** When it was stored (ms since the epoch): past the bound, the oldest go first. */
  storedAt: number;
}

/** How many tag details are kept: a few hundred bytes each. */
export const keptTagDetails = 5000;

/** Registry credentials, stored only when the user ticked "remember" when signing in. */
export interface CredentialRecord {
  registry: string;
  username: string;
  password: string;
  savedAt: number;
}

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

export interface FollowOptions {
  signal?: AbortSignal;
  pollMs?: number;
  /** How long to wait for an ingest that has not started yet. */
  startMs?: number;
}

/** Reads committed content (containerd's content.Provider and InfoProvider). */
export interface Provider {
  /** The committed blob's record, or undefined. Ingests in progress are invisible here. */
  info(digest: string): Promise<BlobRecord | undefined>;
  /** The blob's content as one Blob composed of its stored chunks: no bytes are copied. */
  read(digest: string): Promise<Blob>;
  /** Reads a small blob (a manifest, a config) into memory. */
  readBytes(digest: string): Promise<Uint8Array>;
  /** The bytes of a blob as a stream, following its ingest while it is still being written:
   * chunks are read in order as they become durable, so a layer's files can be listed while it
   * downloads. Bytes at an offset never change (they are the digest's), so what was read stays
   * right even if the ingest restarts; the caller still checks the result (a diffID). */
  follow(digest: string, size: number, opts?: FollowOptions): ReadableStream<Uint8Array>;
}

/** Writes one ingest. Bytes arrive as Blob pieces, stored as chunk slices while the same Blob
 * is hashed (containerd's content.Writer). */
export interface IngestWriter {
  readonly ref: string;
  /** Bytes durably stored; a fetch resumes from here. */
  readonly offset: number;
  readonly size: number;
  /** Appends a piece at the current offset and records the new offset with the hash state. A
   * failed write closes the writer; its durable state stays for a new writer to resume. */
  write(piece: Blob): Promise<void>;
  /** The digest of the bytes written, once they are all there. It ends writing: a caller can
   * check several ingests before it commits any (an import is all or nothing). */
  digest(): string;
  /** Verifies size and digest, then makes the blob visible. Always closes the writer; on
   * failure the ingest's chunks are removed. */
  commit(): Promise<BlobRecord>;
  /** Removes the ingest and its chunks. */
  abort(): Promise<void>;
}

/** Opens writers by ref (containerd's content.Ingester). */
export interface Ingester {
  /** Opens a writer for an ingest, resuming a previous one for the same digest where its state
   * was saved. Callers hold the digest's lock (withIngestLock). */
  writer(opts: IngestOptions): Promise<IngestWriter>;
  /** Runs fn with the ingest lock of this digest held, across tabs and workers. */
  withIngestLock<T>(digest: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** Committed blobs as a set (containerd's content.Manager). */
export interface Manager {
  list(): Promise<BlobRecord[]>;
  /** Removes a committed blob with its chunks and what was derived from it (its layer index),
   * in one step. */
  delete(digest: string): Promise<void>;
  /** Remembers another place a stored blob can be fetched from. */
  addSource(digest: string, source: string): Promise<void>;
}

/** Ingests in progress (containerd's content.IngestManager). */
export interface IngestManager {
  /** Every ingest with its durable offset (containerd's ListStatuses). */
  listIngests(): Promise<IngestRecord[]>;
  /** Removes an ingest and its chunks. */
  abortIngest(ref: string): Promise<void>;
}

export interface ContentStore extends Provider, Ingester, Manager, IngestManager {}

export type NewImage = Omit<ImageRecord, 'createdAt' | 'updatedAt'>;
export type NewPull = Omit<PullRecord, 'startedAt' | 'updatedAt'>;

/** Image records, the roots of garbage collection, and pulls as leases (containerd's
 * images.Store with the leases of the pulls that write them). */
export interface ImageStore {
  get(name: string): Promise<ImageRecord | undefined>;
  list(): Promise<ImageRecord[]>;
  /** Records the image, merged with a record of the same name and target, and ends the pull
   * that stored it, in one step. */
  put(image: NewImage): Promise<ImageRecord>;
  delete(name: string): Promise<void>;
  /** Records that a pull started or restarted. Until its image is recorded, the pull is a
   * lease: what it committed stays through garbage collection, and a reopened app offers to
   * resume it. */
  startPull(pull: NewPull): Promise<void>;
  getPull(name: string): Promise<PullRecord | undefined>;
  listPulls(): Promise<PullRecord[]>;
  deletePull(name: string): Promise<void>;
}

export interface LayerIndex extends LayerIndexRecord {
  files: ColumnIndex;
}

/** Layer file indexes, kept next to their blobs and deleted with them (Manager.delete). */
export interface LayerIndexStore {
  /** The stored index of a layer, or undefined when it was not indexed yet. */
  get(digest: string): Promise<LayerIndex | undefined>;
  /** Stores a layer's index in one step, replacing any earlier one. */
  put(
    digest: string,
    index: { diffID: string; uncompressedSize: number; files: ColumnIndex },
  ): Promise<void>;
}

/** Where reads of a stored layer may start decompressing (layers/checkpoints.ts): derived
 * from the blob like its file index, and deleted with it (Manager.delete). */
export interface LayerCheckpointStore {
  /** The layer's checkpoints, or undefined when none were recorded. */
  get(digest: string): Promise<LayerCheckpoints | undefined>;
  /** Stores them, replacing any earlier ones. */
  put(digest: string, checkpoints: LayerCheckpoints): Promise<void>;
}

/** Tag details by digest, at most keptTagDetails of them. */
export interface TagDetailsStore {
  get(digest: string): Promise<TagDetailsRecord | undefined>;
  /** Stores a record, replacing one of the same digest, and drops the oldest past the bound. */
  put(rec: TagDetailsRecord): Promise<void>;
}

/** Credentials the user asked Berth to remember. */
export interface CredentialStore {
  list(): Promise<CredentialRecord[]>;
  /** The registries with remembered credentials, without reading any password. */
  registries(): Promise<string[]>;
  put(rec: CredentialRecord): Promise<void>;
  delete(registry: string): Promise<void>;
  clear(): Promise<void>;
}

export interface Store {
  content: ContentStore;
  images: ImageStore;
  layerIndexes: LayerIndexStore;
  layerCheckpoints: LayerCheckpointStore;
  tagDetails: TagDetailsStore;
  credentials: CredentialStore;
}

/** Entries per stored batch of a layer index in the object layout of earlier versions (read,
 * never written: see LayerIndexRecord.layout). */
export const entriesPerBatch = 5000;

/** putImage's merge: a record of the same target keeps its manifests and completeness, and an
 * inspect after a pull leaves the manifest pulled (its layers are stored). Shared by every
 * implementation so they cannot drift. */
export function mergeImage(
  old: ImageRecord | undefined,
  image: NewImage,
  now: number,
): ImageRecord {
  const manifests = [...(old?.target.digest === image.target.digest ? old.manifests : [])];
  for (const m of image.manifests) {
    const i = manifests.findIndex((x) => x.descriptor.digest === m.descriptor.digest);
    if (i >= 0) manifests[i] = m.lazy && !manifests[i]!.lazy ? { ...m, lazy: false } : m;
    else manifests.push(m);
  }
  return {
    name: image.name,
    target: image.target,
    manifests,
    ...(image.complete || (old?.complete && old.target.digest === image.target.digest)
      ? { complete: true }
      : {}),
    // A pull that follows keeps what was found beside the image, while its target is the same.
    ...(image.referrers
      ? { referrers: image.referrers }
      : old?.referrers && old.target.digest === image.target.digest
        ? { referrers: old.referrers }
        : {}),
    createdAt: old?.createdAt ?? now,
    updatedAt: now,
  };
}

/** startPull's record: a restart of the same pull keeps its start time. */
export function renewPull(old: PullRecord | undefined, pull: NewPull, now: number): PullRecord {
  const same = old?.target.digest === pull.target.digest && old.platform === pull.platform;
  return { ...pull, startedAt: same ? old.startedAt : now, updatedAt: now };
}

/** The ingest lock's name, shared by every implementation so that two stores over the same
 * data (two tabs) exclude each other. */
export const ingestLockName = (digest: string) => `berth-ingest:${digest}`;
