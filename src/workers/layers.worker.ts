// The layers worker: decompresses and reads layers for the file browser (listing, diffID check,
// file contents, the file search), apart from the images worker, so browsing never waits for a
// download and a download never waits for a listing.
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { algorithmOf } from '../lib/oci/hasher.ts';
import { decompress } from '../lib/layers/decompress.ts';
import {
  CHECKPOINT_MIN_LAYER,
  CHECKPOINT_SPACING,
  CheckpointRecorder,
  LiveCheckpoints,
  type TarFrom,
} from '../lib/layers/checkpoints.ts';
import { fileBlob, listLayer, readFileBytes, type FileBytes } from '../lib/layers/read.ts';
import type { Store } from '../lib/store/store.ts';
import { withLock } from '../lib/store/locks.ts';
import type { CheckpointsWorkerApi } from './checkpoints.worker.ts';
import { expose, WorkerBridge, type CallContext } from './rpc.ts';
import { store } from './store.ts';
import { countTooDeep, TreeService } from './tree-service.ts';
import { storedTarFrom, type LayerRef } from './layer-tar.ts';
import { CompareService } from './compare-service.ts';
import { PackagesService } from './packages-service.ts';
import { ExportService } from './export-service.ts';
import { SpaceService } from './space-service.ts';
import { catalogers } from '../lib/packages/catalogers.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';

export type { LayerRef };

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

/** The checkpoint passes, one at a time: each takes a core for longer than the layer's listing. */
let passes: Promise<unknown> = Promise.resolve();

/** Listings running in this worker, and what waits for there to be none. */
let listings = 0;
let whenIdle: (() => void)[] = [];
const noListing = () =>
  listings === 0 ? Promise.resolve() : new Promise<void>((r) => whenIdle.push(r));
function listingEnded() {
  if (--listings > 0) return;
  const waiting = whenIdle;
  whenIdle = [];
  for (const r of waiting) r();
}

/** The checkpoints of passes still running, by layer digest: reads use them before they are
 * stored. An entry goes once its pass has ended (and stored them, or failed). */
const recording = new Map<string, LiveCheckpoints>();

/**
 * Records a stored gzip layer's checkpoints in a worker of its own, after its listing and once
 * no listing runs here, and stores them when done. Not beside the listing: fflate, the only
 * decoder that reports deflate block boundaries, takes two to three times the CPU of the native
 * one the listing uses, and on two cores the two passes slowed each other (and the listing,
 * which is what the person waits for) more than they gained. Checkpoints reach reads as they
 * are recorded (`recording`); a failure costs only reads from the layer's start, as before.
 * `listRate` is how fast the listing decoded (uncompressed bytes per ms), which a read weighs
 * against resuming at a checkpoint.
 */
function checkpointPass(layer: LayerRef, blob: Blob, listRate: number): void {
  if (layerCompression(layer.mediaType) !== 'gzip' || !nativeGunzip) return;
  if (layer.size < CHECKPOINT_MIN_LAYER) return;
  passes = passes.then(async () => {
    await noListing();
    const s = await store();
    if (await s.layerCheckpoints.get(layer.digest)) return;
    const worker = new Worker(new URL('./checkpoints.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-checkpoints',
    });
    const found = new LiveCheckpoints('gzip', CHECKPOINT_SPACING, listRate);
    recording.set(layer.digest, found);
    try {
      const bridge = new WorkerBridge<CheckpointsWorkerApi>(worker);
      const checkpoints = await bridge.call(
        'record',
        { blob, compression: 'gzip' },
        {
          onEvent: (recorded) => {
            try {
              found.add(recorded);
            } catch {
              // A checkpoint out of order: reads stop using this pass's until they are stored.
              recording.delete(layer.digest);
            }
          },
        },
      );
      // The blob may have been deleted meanwhile: its checkpoints would outlive it.
      if (checkpoints && (await s.content.info(layer.digest))) {
        await s.layerCheckpoints.put(layer.digest, checkpoints);
      }
    } catch {
      // No checkpoints: reads of this layer start at its beginning, as before.
    } finally {
      recording.delete(layer.digest);
      worker.terminate();
    }
  });
}

/** What reads of files cost, for tests (which read it from the worker's global scope): how
 * many started at a checkpoint (and of those, how many at one a running pass had recorded), and
 * the uncompressed bytes decoded before reaching a file. */
const readStats = { reads: 0, fromCheckpoint: 0, fromLive: 0, skippedBytes: 0 };
(self as unknown as { berthReadStats: typeof readStats }).berthReadStats = readStats;

function countRead(offset: number, from: TarFrom & { live?: boolean }) {
  readStats.reads++;
  if (from.start > 0) readStats.fromCheckpoint++;
  if (from.live) readStats.fromLive++;
  readStats.skippedBytes += offset - from.start;
}

/** A layer's uncompressed tar from near `offset` on: a stored layer's from the checkpoint at or
 * before it when it has checkpoints (stored, or recorded so far by a running pass when that is
 * estimated sooner than from the start), else the whole tar, from the store or following its
 * download. A read from a checkpoint cannot check the CRC-32 of the gzip member it starts in;
 * it relies on the blob's digest, checked at commit, and on the checkpoints having been
 * recorded from those verified bytes (tarFrom says what is still checked). */
async function layerTarFrom(
  layer: LayerRef,
  offset: number,
  signal: AbortSignal,
): Promise<TarFrom & { live?: boolean }> {
  const s = await store();
  if (await s.content.info(layer.digest)) {
    return storedTarFrom(s, layer, offset, signal, (digest, at) =>
      recording.get(digest)?.forRead(at),
    );
  }
  const src = await source(s, layer, signal);
  return { tar: tarStream(src.open, layer.mediaType, signal), start: 0 };
}

/** The diffIDs of the layers listed or read back here, for comparisons (same diffID, same
 * offset: the same bytes). */
const diffIDs = new Map<string, string>();

/** The layers' indexes and the file tree's views, which the page asks for rows on screen. */
const tree = new TreeService({
  stored: async (digest) => {
    const index = await (await store()).layerIndexes.get(digest);
    if (index) diffIDs.set(digest, index.diffID);
    return index?.files;
  },
});

/** Comparisons of two images' files, over the tree's indexes. */
const compare = new CompareService({
  index: (digest) => tree.completeIndex(digest),
  diffID: async (digest) => diffIDs.get(digest),
  tarFrom: (layer, offset, signal) => layerTarFrom(layer, offset, signal),
});

/** What the services that read files of layers share: the tree's indexes and the store. */
const layerFiles = {
  index: (digest: string) => tree.completeIndex(digest),
  stored: async (digest: string) => (await (await store()).content.info(digest)) !== undefined,
  tarFrom: (layer: LayerRef, offset: number, signal: AbortSignal) =>
    layerTarFrom(layer, offset, signal),
};

/** The packages of images, over the tree's indexes and the stored layers. */
const packages = new PackagesService({ ...layerFiles, catalogers });

/** Exports of the files as a tar, over the tree's indexes and the stored layers. */
const exports = new ExportService(layerFiles);

/** Where the space goes: treemaps, the largest files, duplicates and wasted space. */
const space = new SpaceService(layerFiles);

const api = {
  /** The file index of a layer: from the store when it was read before, else by reading the
   * layer through (following its download if it is still coming), then stored. */
  async listLayer(arg: LayerRef, ctx: CallContext<LayerEvent>): Promise<LayerListingResult> {
    const s = await store();
    const found = async () => {
      const stored = await s.layerIndexes.get(arg.digest);
      if (!stored) return undefined;
      const index = stored.files;
      diffIDs.set(arg.digest, stored.diffID);
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
        // The entries go into the tree's index as they come; the page gets counts only.
        const live = tree.listingStarted(arg.digest);
        let ok = false;
        const started = performance.now();
        listings++;
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
          diffIDs.set(arg.digest, listing.diffID);
          if (src.blob && !recorder) {
            const ms = performance.now() - started;
            checkpointPass(arg, src.blob, listing.uncompressedSize / Math.max(ms, 1));
          }
          ok = true;
          return summaryOf(listing, listing.files.count, live.tooDeep);
        } finally {
          listingEnded();
          tree.listingEnded(arg.digest, live, ok);
        }
      },
      { signal: ctx.signal },
    );
  },

  ...tree.api,

  ...compare.api,

  ...packages.api,

  ...exports.api,
  ...space.api,

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
