// The IndexedDB schema. Blobs are content-addressed and split into chunk Blobs, so no layer is
// ever one huge value and an export can compose them without copying bytes into JS.
import type { DBSchema } from 'idb';
import type { IndexEntry } from '../layers/entry.ts';
import type { LayerCheckpoints } from '../layers/checkpoints.ts';
import type {
  BlobRecord,
  CredentialRecord,
  ImageRecord,
  IngestRecord,
  LayerIndexRecord,
  PullRecord,
} from './store.ts';

export const dbName = 'berth';
export const dbVersion = 5;

/** A chunk of a blob or of an ingest in progress, keyed by [digest, offset]. */
export interface ChunkRecord {
  digest: string;
  offset: number;
  data: Blob;
}

/** One batch of a layer's file index. */
export interface LayerEntriesRecord {
  digest: string;
  batch: number;
  entries: IndexEntry[];
}

/** A layer's random-access checkpoints (layers/checkpoints.ts), keyed by its blob's digest. */
export interface LayerCheckpointsRecord extends LayerCheckpoints {
  digest: string;
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
  layerCheckpoints: { key: string; value: LayerCheckpointsRecord };
}
