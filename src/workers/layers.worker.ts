// The layers worker: decompresses and reads layers for the file browser (listing, diffID check,
// file contents, the file search), apart from the images worker, so browsing never waits for a
// download and a download never waits for a listing.
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { algorithmOf } from '../lib/oci/hasher.ts';
import { decompress } from '../lib/layers/decompress.ts';
import { fileBlob, listLayer, readFileBytes, type FileBytes } from '../lib/layers/read.ts';
import type { Store } from '../lib/store/store.ts';
import { withLock } from '../lib/store/locks.ts';
import { expose, type CallContext } from './rpc.ts';
import { store } from './store.ts';
import { asColumns, countTooDeep, TreeService } from './tree-service.ts';

export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  /** The config's diffID for this layer: it names the hash algorithm. */
  diffID?: string;
}

/** A layer's listing as the page sees it: counts, not entries (the worker keeps those). */
export interface LayerListingResult {
  diffID: string;
  uncompressedSize: number;
  /** Entries in the layer's index. */
  entries: number;
  /** Entries more than MAX_DEPTH directories deep, which no tree shows. */
  tooDeep: number;
}

/** Sent while a layer is read: how far it is. */
export type LayerEvent = { type: 'progress'; entries: number; uncompressed: number };

const summaryOf = (
  l: { diffID: string; uncompressedSize: number },
  entries: number,
  tooDeep: number,
): LayerListingResult => ({
  diffID: l.diffID,
  uncompressedSize: l.uncompressedSize,
  entries,
  tooDeep,
});

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

/** The layers' indexes and the file tree's views, which the page asks for rows on screen. */
const tree = new TreeService({
  stored: async (digest) => {
    const index = await (await store()).layerIndexes.get(digest);
    return index ? asColumns(index) : undefined;
  },
});

const api = {
  /** The file index of a layer: from the store when it was read before, else by reading the
   * layer through (following its download if it is still coming), then stored. */
  async listLayer(arg: LayerRef, ctx: CallContext<LayerEvent>): Promise<LayerListingResult> {
    const s = await store();
    const found = async () => {
      const stored = await s.layerIndexes.get(arg.digest);
      if (!stored) return undefined;
      const index = asColumns(stored);
      tree.remember(arg.digest, index);
      return summaryOf(stored, index.count, countTooDeep(index));
    };
    const stored = await found();
    if (stored) return stored;
    // One reader per layer across tabs: a second waits, then finds the index stored.
    return withLock(
      `berth-index:${arg.digest}`,
      async () => {
        const again = await found();
        if (again) return again;
        const src = await source(s, arg, ctx.signal);
        // The entries go into the tree's index as they come; the page gets counts only.
        const live = tree.listingStarted(arg.digest);
        let ok = false;
        try {
          const listing = await listLayer(tarStream(src.open, arg.mediaType, ctx.signal), {
            signal: ctx.signal,
            algorithm: arg.diffID ? algorithmOf(arg.diffID) : 'sha256',
            onBatch: (files, uncompressed) => {
              live.add(files);
              ctx.emit({
                type: 'progress',
                entries: live.count,
                uncompressed,
              } satisfies LayerEvent);
            },
          });
          // Only a verified blob's listing is kept: a followed download is checked at commit.
          if (src.committed || (await s.content.info(arg.digest)))
            await s.layerIndexes.put(arg.digest, listing);
          ok = true;
          return summaryOf(listing, listing.files.length, live.tooDeep);
        } finally {
          tree.listingEnded(arg.digest, live, ok);
        }
      },
      { signal: ctx.signal },
    );
  },

  ...tree.api,

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
