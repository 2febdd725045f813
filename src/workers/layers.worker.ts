// The layers worker: decompresses and reads layers for the file browser (listing, diffID check,
// file contents, the file search), apart from the images worker, so browsing never waits for a
// download and a download never waits for a listing.
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { algorithmOf } from '../lib/oci/hasher.ts';
import { decompress } from '../lib/layers/decompress.ts';
import {
  CHECKPOINT_MIN_LAYER,
  CheckpointRecorder,
  tarFrom,
  type TarFrom,
} from '../lib/layers/checkpoints.ts';
import { fileBlob, listLayer, readFileBytes, type FileBytes } from '../lib/layers/read.ts';
import { searchPaths } from '../lib/layers/search.ts';
import type { Store } from '../lib/store/store.ts';
import { withLock } from '../lib/store/locks.ts';
import type { IndexEntry } from '../lib/layers/entry.ts';
import { expose, type CallContext } from './rpc.ts';
import { store } from './store.ts';

export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  /** The config's diffID for this layer: it names the hash algorithm. */
  diffID?: string;
}

export interface LayerListingResult {
  files: IndexEntry[];
  diffID: string;
  uncompressedSize: number;
}

/** Sent while a layer is read: the entries found since the last event. */
export type LayerEvent = { type: 'files'; files: IndexEntry[]; uncompressed: number };

/** How long a listing waits for a layer's download to start (a lazy fetch the page just
 * asked the images worker for). */
const followStartMs = 60_000;

/** The layer's compressed bytes: the stored blob, or, while it is still downloading, its ingest
 * followed chunk by chunk. */
async function source({ content }: Store, layer: LayerRef, signal: AbortSignal) {
  if (await content.info(layer.digest)) {
    const blob = await content.read(layer.digest);
    return { open: () => blob.stream() as ReadableStream<Uint8Array>, committed: true };
  }
  return {
    open: () => content.follow(layer.digest, layer.size, { signal, startMs: followStartMs }),
    committed: false,
  };
}

function tarStream(
  open: () => ReadableStream<Uint8Array>,
  mediaType: string,
  signal: AbortSignal,
  checkpoints?: CheckpointRecorder,
) {
  return decompress(open, layerCompression(mediaType), { signal, checkpoints });
}

/** Records where later reads may start, for layers big enough to need it. */
function recorderFor(layer: LayerRef): CheckpointRecorder | undefined {
  const compression = layerCompression(layer.mediaType);
  if (compression !== 'gzip' && compression !== 'zstd') return undefined;
  return layer.size >= CHECKPOINT_MIN_LAYER ? new CheckpointRecorder(compression) : undefined;
}

/** What reads of files cost, for tests (which read it from the worker's global scope): how
 * many started at a checkpoint, and the uncompressed bytes decoded before reaching a file. */
const readStats = { reads: 0, fromCheckpoint: 0, skippedBytes: 0 };
(self as unknown as { berthReadStats: typeof readStats }).berthReadStats = readStats;

function countRead(offset: number, from: TarFrom) {
  readStats.reads++;
  if (from.start > 0) readStats.fromCheckpoint++;
  readStats.skippedBytes += offset - from.start;
}

/** A layer's uncompressed tar from near `offset` on: a stored layer's from the checkpoint at or
 * before it when it has checkpoints, else the whole tar, from the store or following its
 * download. A read from a checkpoint cannot check the CRC-32 of the gzip member it starts in;
 * it relies on the blob's digest, checked at commit, and on the checkpoints having been
 * recorded from those verified bytes (tarFrom says what is still checked). */
async function layerTarFrom(
  layer: LayerRef,
  offset: number,
  signal: AbortSignal,
): Promise<TarFrom> {
  const s = await store();
  const compression = layerCompression(layer.mediaType);
  if (await s.content.info(layer.digest)) {
    const [blob, checkpoints] = await Promise.all([
      s.content.read(layer.digest),
      s.layerCheckpoints.get(layer.digest),
    ]);
    return tarFrom(blob, compression, checkpoints, offset, { signal });
  }
  const src = await source(s, layer, signal);
  return { tar: tarStream(src.open, layer.mediaType, signal), start: 0 };
}

/** The paths the page searches: the view on screen, sent once per version of it. */
let searchable: { version: number; paths: readonly string[] } = { version: -1, paths: [] };

/** A search asked for a version of the paths this worker does not hold (it never got them,
 * or was restarted); the page sends them again. */
export class SearchListingError extends Error {
  override name = 'SearchListingError';
}

export interface SearchRequest {
  /** Which version of the page's paths the query is for. */
  version: number;
  /** The paths themselves, when this version is new to the worker; kept for later queries. */
  paths?: string[];
  query: string;
}

const api = {
  /** The file index of a layer: from the store when it was read before, else by reading the
   * layer through (following its download if it is still coming), then stored. */
  async listLayer(arg: LayerRef, ctx: CallContext<LayerEvent>): Promise<LayerListingResult> {
    const s = await store();
    const stored = await s.layerIndexes.get(arg.digest);
    if (stored) return stored;
    // One reader per layer across tabs: a second waits, then finds the index stored.
    return withLock(
      `berth-index:${arg.digest}`,
      async () => {
        const again = await s.layerIndexes.get(arg.digest);
        if (again) return again;
        const src = await source(s, arg, ctx.signal);
        const recorder = recorderFor(arg);
        const tar = tarStream(src.open, arg.mediaType, ctx.signal, recorder);
        const listing = await listLayer(tar, {
          signal: ctx.signal,
          algorithm: arg.diffID ? algorithmOf(arg.diffID) : 'sha256',
          onBatch: (files, uncompressed) =>
            ctx.emit({ type: 'files', files, uncompressed } satisfies LayerEvent),
        });
        // Only a verified blob's listing is kept: a followed download is checked at commit.
        if (src.committed || (await s.content.info(arg.digest))) {
          const checkpoints = recorder?.finish();
          if (checkpoints) await s.layerCheckpoints.put(arg.digest, checkpoints);
          await s.layerIndexes.put(arg.digest, listing);
        }
        return listing;
      },
      { signal: ctx.signal },
    );
  },

  /** Which of the page's paths match a search (the search box's globs and substrings): their
   * indexes, in order. The page cancels a search that a newer query replaces. */
  async searchPaths(arg: SearchRequest, ctx: CallContext): Promise<Uint32Array> {
    if (arg.paths) searchable = { version: arg.version, paths: arg.paths };
    if (searchable.version !== arg.version) {
      throw new SearchListingError(`search: paths version ${arg.version} was never sent`);
    }
    return searchPaths(searchable.paths, arg.query, { signal: ctx.signal });
  },

  /** Up to `limit` bytes of one file, for the viewer. */
  async readFile(
    arg: { layer: LayerRef; offset: number; size: number; limit: number },
    ctx: CallContext,
  ): Promise<FileBytes> {
    const from = await layerTarFrom(arg.layer, arg.offset, ctx.signal);
    countRead(arg.offset, from);
    return readFileBytes(from.tar, arg.offset - from.start, arg.size, arg.limit, ctx.signal);
  },

  /** One whole file, for "Download this file". */
  async fileBlob(
    arg: { layer: LayerRef; offset: number; size: number },
    ctx: CallContext,
  ): Promise<Blob> {
    const from = await layerTarFrom(arg.layer, arg.offset, ctx.signal);
    countRead(arg.offset, from);
    return fileBlob(from.tar, arg.offset - from.start, arg.size, ctx.signal);
  },
};

export type LayersWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
