// The IndexedDB schema. Blobs are content-addressed and split into chunk Blobs, so no layer is
// ever one huge value and an export can compose them without copying bytes into JS.
import type { DBSchema } from 'idb';
import type { EntryColumns } from '../layers/columns.ts';
import type { IndexEntry } from '../layers/entry.ts';
import type { LayerCheckpoints } from '../layers/checkpoints.ts';
import type {
  BlobRecord,
  CredentialRecord,
  ImageRecord,
  IngestRecord,
  LayerIndexRecord,
  PullRecord,
  TagDetailsRecord,
} from './store.ts';

export const dbName = 'berth';
export const dbVersion = 6;

/** A chunk of a blob or of an ingest in progress, keyed by [digest, offset]. */
export interface ChunkRecord {
  digest: string;
  offset: number;
  data: Blob;
}

/** One batch of a layer's file index: its columns (typed arrays and two strings, which
 * structured clone stores compactly), or, in records of earlier versions, entry objects (see
 * LayerIndexRecord.layout). */
export type LayerEntriesRecord = { digest: string; batch: number } & (
  { columns: EntryColumns; entries?: never } | { entries: IndexEntry[]; columns?: never }
);

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
  tagDetails: { key: string; value: TagDetailsRecord; indexes: { storedAt: number } };
}
