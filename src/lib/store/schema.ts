// The IndexedDB schema. Blobs are content-addressed and split into chunk Blobs, so no layer is
// ever one huge value and an export can compose them without copying bytes into JS.
import type { DBSchema } from 'idb';
import type { IndexEntry } from '../layers/entry.ts';
import type { Descriptor } from '../oci/types.ts';

export const dbName = 'berth';
export const dbVersion = 4;

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

/** A chunk of a blob or of an ingest in progress, keyed by [digest, offset]. */
export interface ChunkRecord {
  digest: string;
  offset: number;
  data: Blob;
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
  createdAt: number;
  updatedAt: number;
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
  indexedAt: number;
}

/** One batch of a layer's file index. */
export interface LayerEntriesRecord {
  digest: string;
  batch: number;
  entries: IndexEntry[];
}

/** Registry credentials, stored only when the user ticked "remember" when signing in. */
export interface CredentialRecord {
  registry: string;
  username: string;
  password: string;
  savedAt: number;
}

export interface BerthDB extends DBSchema {
  blobs: { key: string; value: BlobRecord };
  chunks: { key: [string, number]; value: ChunkRecord };
  ingests: { key: string; value: IngestRecord; indexes: { digest: string } };
  images: { key: string; value: ImageRecord };
  credentials: { key: string; value: CredentialRecord };
  pulls: { key: string; value: PullRecord };
  layerIndexes: { key: string; value: LayerIndexRecord };
  layerEntries: { key: [string, number]; value: LayerEntriesRecord };
}
