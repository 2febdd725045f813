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
import type { Store } from '../lib/store/store.ts';
import { withLock } from '../lib/store/locks.ts';
import type { CheckpointsWorkerApi } from './checkpoints.worker.ts';
import { expose, WorkerBridge, type CallContext } from './rpc.ts';
import { store } from './store.ts';
import { countTooDeep, TreeService } from './tree-service.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';

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
    return { open: () => blob.stream() as ReadableStream<Uint8Array>, committed: true, blob };
  }
  return {
    open: () => content.follow(layer.digest, layer.size, { signal, startMs: followStartMs }),
    committed: false,
    blob: undefined,
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

/** Records where later reads may start, for layers big enough to need it, while the listing
 * decodes them: zstd frames cost nothing to note, and a gzip layer still downloading has no
 * blob to hand to the checkpoint pass. A stored gzip layer gets its own pass instead
 * (checkpointPass), so that the listing keeps the native decoder. */
function recorderFor(layer: LayerRef, committed: boolean): CheckpointRecorder | undefined {
  const compression = layerCompression(layer.mediaType);
  if (compression !== 'gzip' && compression !== 'zstd') return undefined;
  if (compression === 'gzip' && committed && nativeGunzip) return undefined;
  return layer.size >= CHECKPOINT_MIN_LAYER ? new CheckpointRecorder(compression) : undefined;
}

/** Whether this runtime decodes gzip natively (the listing's decoder when it records nothing). */
const nativeGunzip = typeof DecompressionStream === 'function';

/** The checkpoint passes, one at a time: each takes a core for as long as the layer's listing. */
let passes: Promise<unknown> = Promise.resolve();

/**
 * Records a stored gzip layer's checkpoints on another core while the listing decodes it here
 * natively (fflate, the only decoder that reports deflate block boundaries, is about half as
 * fast in Chromium), and stores them when done. The listing does not wait for it: until the
 * checkpoints are stored, a read starts at the layer's beginning. A failure costs only that.
 */
function checkpointPass(layer: LayerRef, blob: Blob): void {
  if (layerCompression(layer.mediaType) !== 'gzip' || !nativeGunzip) return;
  if (layer.size < CHECKPOINT_MIN_LAYER) return;
  passes = passes.then(async () => {
    const worker = new Worker(new URL('./checkpoints.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-checkpoints',
    });
    try {
      const bridge = new WorkerBridge<CheckpointsWorkerApi>(worker);
      const checkpoints = await bridge.call('record', { blob, compression: 'gzip' });
      const s = await store();
      // The blob may have been deleted meanwhile: its checkpoints would outlive it.
      if (checkpoints && (await s.content.info(layer.digest))) {
        await s.layerCheckpoints.put(layer.digest, checkpoints);
      }
    } catch {
      // No checkpoints: reads of this layer start at its beginning, as before.
    } finally {
      worker.terminate();
    }
  });
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

/** The layers' indexes and the file tree's views, which the page asks for rows on screen. */
const tree = new TreeService({
  stored: async (digest) => {
    const index = await (await store()).layerIndexes.get(digest);
    return index?.files;
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
      const index = stored.files;
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
        const recorder = recorderFor(arg, src.committed);
        if (src.blob && !recorder) checkpointPass(arg, src.blob);
        // The entries go into the tree's index as they come; the page gets counts only.
        const live = tree.listingStarted(arg.digest);
        let ok = false;
        try {
          const tar = tarStream(src.open, arg.mediaType, ctx.signal, recorder);
          const listing = await listLayer(tar, {
            signal: ctx.signal,
            algorithm: arg.diffID ? algorithmOf(arg.diffID) : 'sha256',
            builder: live.builder,
            onEntry: (e) => live.saw(e),
            onCount: (entries, uncompressed) =>
              ctx.emit({ type: 'progress', entries, uncompressed } satisfies LayerEvent),
          });
          // Only a verified blob's listing is kept: a followed download is checked at commit.
          if (src.committed || (await s.content.info(arg.digest))) {
            const checkpoints = recorder?.finish();
            if (checkpoints) await s.layerCheckpoints.put(arg.digest, checkpoints);
            await s.layerIndexes.put(arg.digest, listing);
          }
          ok = true;
          return summaryOf(listing, listing.files.count, live.tooDeep);
        } finally {
          tree.listingEnded(arg.digest, live, ok);
        }
      },
      { signal: ctx.signal },
    );
  },

  ...tree.api,

  /** Takes the index of a layer listed from its table of contents (the images worker read
   * it; the layer is not downloaded), so that views can show it. Returns its too-deep count. */
  async adoptIndex(arg: { digest: string; index: ColumnIndex }): Promise<number> {
    tree.adopt(arg.digest, arg.index);
    return countTooDeep(arg.index);
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
