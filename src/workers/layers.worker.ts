// The layers worker: decompresses and reads layers for the file browser (listing, diffID check,
// file contents, the file search), apart from the images worker, so browsing never waits for a
// download and a download never waits for a listing.
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { algorithmOf } from '../lib/oci/hasher.ts';
import { decompress } from '../lib/layers/decompress.ts';
import { fileBlob, listLayer, readFileBytes, type FileBytes } from '../lib/layers/read.ts';
import { searchPaths } from '../lib/layers/search.ts';
import type { Store } from '../lib/store/store.ts';
import { withLock } from '../lib/store/locks.ts';
import { transferables, type ColumnIndex, type EntryColumns } from '../lib/layers/columns.ts';
import { expose, transfer, type CallContext } from './rpc.ts';
import { store } from './store.ts';

export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  /** The config's diffID for this layer: it names the hash algorithm. */
  diffID?: string;
}

export interface LayerListingResult {
  files: ColumnIndex;
  diffID: string;
  uncompressedSize: number;
}

/** Sent while a layer is read (see ListProgress): the entries found since the last event, in
 * column batches whose typed arrays are transferred. Every event's batches, in order, hold the
 * listing's entries in order; the result holds them all again, in the index's own batches. */
export type LayerEvent = { type: 'columns'; batches: EntryColumns[]; uncompressed: number };

/** The buffers of these batches, each once (a transfer list naming one twice is refused). */
const movable = (batches: readonly EntryColumns[]) => [...new Set(transferables(batches))];

/** The listing, its typed arrays moved to the page rather than copied: the worker keeps
 * nothing of it. */
function moved(listing: LayerListingResult): LayerListingResult {
  const { files, diffID, uncompressedSize } = listing;
  const out = { files, diffID, uncompressedSize };
  return transfer(out, movable(files.batches));
}

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

function tarStream(open: () => ReadableStream<Uint8Array>, mediaType: string, signal: AbortSignal) {
  return decompress(open, layerCompression(mediaType), { signal });
}

/** A layer's uncompressed tar, from the store or following its download. */
async function layerTar(layer: LayerRef, signal: AbortSignal) {
  const src = await source(await store(), layer, signal);
  return tarStream(src.open, layer.mediaType, signal);
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
    if (stored) return moved(stored);
    // One reader per layer across tabs: a second waits, then finds the index stored.
    return withLock(
      `berth-index:${arg.digest}`,
      async () => {
        const again = await s.layerIndexes.get(arg.digest);
        if (again) return moved(again);
        const src = await source(s, arg, ctx.signal);
        const listing = await listLayer(tarStream(src.open, arg.mediaType, ctx.signal), {
          signal: ctx.signal,
          algorithm: arg.diffID ? algorithmOf(arg.diffID) : 'sha256',
          onProgress: ({ batches, uncompressed }) =>
            ctx.emit(
              { type: 'columns', batches, uncompressed } satisfies LayerEvent,
              movable(batches),
            ),
        });
        // Only a verified blob's listing is kept: a followed download is checked at commit.
        if (src.committed || (await s.content.info(arg.digest)))
          await s.layerIndexes.put(arg.digest, listing);
        return moved(listing);
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
    const tar = await layerTar(arg.layer, ctx.signal);
    return readFileBytes(tar, arg.offset, arg.size, arg.limit, ctx.signal);
  },

  /** One whole file, for "Download this file". */
  async fileBlob(
    arg: { layer: LayerRef; offset: number; size: number },
    ctx: CallContext,
  ): Promise<Blob> {
    const tar = await layerTar(arg.layer, ctx.signal);
    return fileBlob(tar, arg.offset, arg.size, ctx.signal);
  },
};

export type LayersWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
