// Random access into a compressed layer, as zlib's examples/zran.c does it: while a layer is
// decompressed for its listing, a checkpoint is recorded every SPACING bytes of output, and a
// later read of one file starts decompressing at the nearest checkpoint before it instead of at
// the start of the layer.
//
// A gzip checkpoint is a deflate block boundary: its bit offset in the compressed blob, its
// offset in the uncompressed tar, and the 32 KiB of output before it (the window that the
// block's back-references may reach). A gzip member's start needs no window. A zstd checkpoint
// is a frame's start: frames are independent, so nothing else is needed; a layer made by the
// zstd CLI is one frame and has no checkpoint inside it.
import { deflateSync, inflateSync } from 'fflate';
import type { Compression } from '../oci/mediatypes.ts';
import { decompress, type DecompressOptions } from './decompress.ts';

/**
 * Uncompressed bytes between two checkpoints, at least. A read decompresses up to this much
 * before it reaches its offset (tens of milliseconds of fflate), and a gzip checkpoint costs its
 * window, at most 32 KiB: 4 MiB keeps that under 8 MiB per GiB of layer (about 2 MiB for text,
 * whose windows deflate 4:1), the spacing SOCI chose. zran's 1 MiB would make the longest skip
 * a quarter as long but the store four times larger.
 */
export const CHECKPOINT_SPACING = 4 * 1024 * 1024;

/** Layers smaller than this (compressed) get no checkpoints: reading one from its start is
 * already quick, and listing a gzip layer for checkpoints gives up the native decoder. */
export const CHECKPOINT_MIN_LAYER = 8 * 1024 * 1024;

/** One place to start decompressing. */
export interface Checkpoint {
  /** Offset in the uncompressed tar. */
  out: number;
  /** Byte offset in the compressed blob where decoding starts. */
  in: number;
  /** gzip: bits of the byte at `in` that belong to the block before (0 to 7). */
  bit: number;
  /** gzip: compressed offset of the header of the member the checkpoint is in. */
  member?: number;
  /**
   * gzip: where the window (the output before the checkpoint, up to 32 KiB) is in the
   * record's `windows`: `size` bytes from `at`, deflated, inflating to `length` bytes. Absent
   * at a member's start, where `in` is the member's header and no window is needed.
   */
  window?: { at: number; size: number; length: number };
}

/** A layer's checkpoints, stored next to its file index and deleted with its blob. */
export interface LayerCheckpoints {
  compression: 'gzip' | 'zstd';
  /** The spacing they were recorded at. */
  spacing: number;
  /** By increasing `out`. */
  points: Checkpoint[];
  /** The gzip windows, deflated, one after another. A Blob: the browser keeps it, and a read
   * takes only the slice it needs. */
  windows: Blob;
}

/** One checkpoint as it is recorded: the point, and the bytes of its stored window (gzip, inside
 * a member: the `size` bytes its `window` names). What a pass hands on as it goes, so that reads
 * can start from the checkpoints recorded so far (LiveCheckpoints). */
export interface RecordedCheckpoint {
  point: Checkpoint;
  window?: Uint8Array;
}

/** Collects checkpoints while a layer is decompressed (DecompressOptions.checkpoints). */
export class CheckpointRecorder {
  readonly #spacing: number;
  readonly #points: Checkpoint[] = [];
  readonly #windows: Blob[] = [];
  readonly #onRecord: ((recorded: RecordedCheckpoint) => void) | undefined;
  #windowBytes = 0;
  #last = 0;
  #lastIn = -1;

  constructor(
    readonly compression: 'gzip' | 'zstd',
    spacing = CHECKPOINT_SPACING,
    /** Told of each checkpoint as soon as it is kept. */
    onRecord?: (recorded: RecordedCheckpoint) => void,
  ) {
    this.#spacing = spacing;
    this.#onRecord = onRecord;
  }

  /** Whether a checkpoint at uncompressed offset `out` would be kept: callers ask first, so a
   * window is copied only when it is. */
  wants(out: number): boolean {
    return out > 0 && out - this.#last >= this.#spacing;
  }

  /** A gzip deflate block starts at compressed bit offset `bitOffset`, uncompressed offset
   * `out`, in the member whose header is at `member`; `window` is the output before it in
   * that member (empty at the member's start). */
  block(bitOffset: number, out: number, member: number, window: Uint8Array) {
    // fflate reports a boundary again when a block's header did not fit in one push.
    if (bitOffset <= this.#lastIn || !this.wants(out)) return;
    this.#lastIn = bitOffset;
    this.#last = out;
    if (window.length === 0) {
      // The member's start: decode it from its header, which checks its CRC too.
      this.#keep({ out, in: member, bit: 0, member });
      return;
    }
    const packed = deflateSync(window, { level: 1 });
    // Incompressible windows are stored as they are (size === length says so).
    const stored = packed.length < window.length ? packed : window.slice();
    const point = {
      out,
      in: Math.floor(bitOffset / 8),
      bit: bitOffset % 8,
      member,
      window: { at: this.#windowBytes, size: stored.length, length: window.length },
    };
    this.#windows.push(new Blob([stored]));
    this.#windowBytes += stored.length;
    this.#keep(point, stored);
  }

  /** A zstd frame starts at compressed offset `at`, uncompressed offset `out`. */
  frame(at: number, out: number) {
    if (at <= this.#lastIn || !this.wants(out)) return;
    this.#lastIn = at;
    this.#last = out;
    this.#keep({ out, in: at, bit: 0 });
  }

  #keep(point: Checkpoint, window?: Uint8Array) {
    this.#points.push(point);
    this.#onRecord?.(window ? { point, window } : { point });
  }

  /** What was recorded, or undefined when there is no checkpoint past the layer's start. */
  finish(): LayerCheckpoints | undefined {
    if (this.#points.length === 0) return undefined;
    return {
      compression: this.compression,
      spacing: this.#spacing,
      points: this.#points,
      windows: new Blob(this.#windows),
    };
  }
}

/** The checkpoint to start from for uncompressed offset `offset`: the last one at or before
 * it, or undefined when there is none (start at the beginning). */
export function nearestCheckpoint(cps: LayerCheckpoints, offset: number): Checkpoint | undefined {
  const { points } = cps;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]!.out <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? points[lo - 1] : undefined;
}

/** What the compressed blob must offer: a Blob does (slicing one reads nothing). */
export interface LayerBlob {
  readonly size: number;
  slice(start: number): { stream(): ReadableStream<Uint8Array> };
  stream(): ReadableStream<Uint8Array>;
}

/** The uncompressed tar from some offset on. */
export interface TarFrom {
  tar: ReadableStream<Uint8Array>;
  /** The uncompressed offset the stream starts at. */
  start: number;
}

/**
 * The layer's uncompressed tar, starting at the nearest checkpoint at or before `offset` (or at
 * its start without one; an uncompressed layer starts at `offset` itself). Only the blob from
 * there on is read.
 *
 * Integrity: a read that starts inside a gzip member cannot check that member's CRC-32 (it
 * covers bytes before the checkpoint); members that start later are checked whole, as are zstd
 * frames from a checkpoint on. What stays unchecked is covered by where the bytes come from:
 * the stored blob's digest was verified when it was committed, and the checkpoints were
 * recorded while decoding those verified bytes, whose diffID the listing checked.
 */
export async function tarFrom(
  blob: LayerBlob,
  compression: Compression,
  cps: LayerCheckpoints | undefined,
  offset: number,
  opts: DecompressOptions = {},
): Promise<TarFrom> {
  if (compression === 'none') {
    // An uncompressed tar is its own index: start at the file.
    return { tar: decompress(() => blob.slice(offset).stream(), 'none', opts), start: offset };
  }
  const point = cps && cps.compression === compression ? nearestCheckpoint(cps, offset) : undefined;
  if (!point) return { tar: decompress(() => blob.stream(), compression, opts), start: 0 };
  const open = () => blob.slice(point.in).stream();
  if (!point.window) {
    // A zstd frame or a gzip member: an ordinary stream from there.
    return { tar: decompress(open, compression, opts), start: point.out };
  }
  const { at, size, length } = point.window;
  const stored = new Uint8Array(await cps!.windows.slice(at, at + size).arrayBuffer());
  const window = size === length ? stored : inflateSync(stored, { out: new Uint8Array(length) });
  if (window.length !== length) {
    throw new Error(`a stored checkpoint window inflates to ${window.length} bytes, not ${length}`);
  }
  // The native decoder may take over when the layer is one member (NativeResume): the
  // checkpoints show most layers of several members, and the last member's trailer tells the
  // rest (they then fall back to fflate from the same checkpoint).
  const end = blob.size - 8 - point.in;
  const oneMember = cps!.points.every((p) => p.member === undefined || p.member === point.member);
  const last =
    end > 0 && oneMember ? { end, out: point.out, isize: () => lastIsize(blob) } : undefined;
  return {
    tar: decompress(open, compression, {
      ...opts,
      resume: { window, bit: point.bit, ...(last ? { last } : {}) },
    }),
    start: point.out,
  };
}

/** The ISIZE of a gzip blob's last member: its last four bytes, little-endian. */
async function lastIsize(blob: LayerBlob): Promise<number | undefined> {
  const reader = blob
    .slice(blob.size - 4)
    .stream()
    .getReader();
  const tail: number[] = [];
  try {
    while (tail.length < 4) {
      const r = await reader.read();
      if (r.done) break;
      tail.push(...r.value.subarray(0, 4 - tail.length));
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (tail.length < 4) return undefined;
  return (tail[0]! | (tail[1]! << 8) | (tail[2]! << 16) | (tail[3]! << 24)) >>> 0;
}

/** The pass's most compressed bytes per fflate push. In Chromium (256 MiB of the huge case's
 * layer, raw fflate, CPU of all the browser's threads on a loaded machine): 32 KiB 15-18 s,
 * 64 KiB 13 s, 128 KiB 10 s, 256 KiB 7.9 s, 1 MiB 7.6 s, the rest being its allocations and
 * the collector; the native decoder 4.4 s. A push may expand about 1032 times, so one step of
 * a gzip bomb can allocate 256 MiB here, in the pass's own worker, and drop it at once. */
const PASS_PIECE_MAX = 256 * 1024;

/**
 * Decodes a whole layer only to record its checkpoints, discarding the output: the pass that
 * follows a gzip listing, so that the listing keeps the native decoder (fflate, which alone
 * reports block boundaries, takes two to three times its CPU in Chromium).
 */
export async function recordCheckpoints(
  open: () => ReadableStream<Uint8Array>,
  compression: 'gzip' | 'zstd',
  opts: {
    signal?: AbortSignal;
    spacing?: number;
    onRecord?: (recorded: RecordedCheckpoint) => void;
  } = {},
): Promise<LayerCheckpoints | undefined> {
  const recorder = new CheckpointRecorder(compression, opts.spacing, opts.onRecord);
  const reader = decompress(open, compression, {
    checkpoints: recorder,
    gzipPieceMax: PASS_PIECE_MAX,
    ...(opts.signal ? { signal: opts.signal } : {}),
  }).getReader();
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      if ((await reader.read()).done) break;
    }
  } finally {
    reader.releaseLock();
  }
  return recorder.finish();
}

/**
 * The checkpoints a running pass has recorded so far, gathered in the thread that reads files
 * (from RecordedCheckpoint messages), so that a read need not wait for the pass to end and
 * store them. Windows must arrive in the order the pass numbered them; one out of place is
 * refused, never misplaced.
 */
export class LiveCheckpoints {
  readonly #points: Checkpoint[] = [];
  readonly #windows: Blob[] = [];
  #windowBytes = 0;
  #snapshot: LayerCheckpoints | undefined;
  #reachedAt: number;

  constructor(
    readonly compression: 'gzip' | 'zstd',
    readonly spacing: number,
    /** Uncompressed bytes per ms a read from the layer's start decodes at (how fast the
     * listing went), if known. */
    readonly fromStartRate?: number,
    /** When the pass started, in performance.now() time. */
    readonly startedAt = performance.now(),
  ) {
    this.#reachedAt = startedAt;
  }

  add({ point, window }: RecordedCheckpoint, now = performance.now()) {
    const last = this.#points.at(-1);
    if (last && point.out <= last.out) throw new Error('a checkpoint came out of order');
    if (point.window) {
      if (!window || point.window.at !== this.#windowBytes || window.length !== point.window.size) {
        throw new Error("a checkpoint's window came out of order");
      }
      // Structured clones and fresh arrays: never views of a shared buffer.
      this.#windows.push(new Blob([window as Uint8Array<ArrayBuffer>]));
      this.#windowBytes += window.length;
    }
    this.#points.push(point);
    this.#reachedAt = now;
    this.#snapshot = undefined;
  }

  /** Uncompressed bytes per ms the pass decodes at (from its start to its last checkpoint),
   * which is how fast a read resumed at a checkpoint goes too: the same decoder. */
  get rate(): number | undefined {
    const last = this.#points.at(-1);
    const ms = this.#reachedAt - this.startedAt;
    return last && ms > 0 ? last.out / ms : undefined;
  }

  /** The checkpoints so far, as a stored record would hold them (undefined before the first). */
  snapshot(): LayerCheckpoints | undefined {
    if (this.#points.length === 0) return undefined;
    this.#snapshot ??= {
      compression: this.compression,
      spacing: this.spacing,
      points: [...this.#points],
      windows: new Blob(this.#windows),
    };
    return this.#snapshot;
  }

  /** The checkpoints a read of uncompressed offset `offset` should start from, or undefined
   * when decoding from the layer's start (natively) is estimated to get there sooner. */
  forRead(offset: number): LayerCheckpoints | undefined {
    const cps = this.snapshot();
    const point = cps && nearestCheckpoint(cps, offset);
    if (!point) return undefined;
    return soonerFromCheckpoint(offset, point.out, this.rate, this.fromStartRate) ? cps : undefined;
  }
}

/**
 * Whether a read of uncompressed offset `offset` reaches it sooner by resuming at a checkpoint
 * at `from` (fflate, `fromRate` bytes per ms) than by decoding the layer from its start (the
 * native decoder, `startRate`). Without both rates: the checkpoint, as when they are stored.
 */
export function soonerFromCheckpoint(
  offset: number,
  from: number,
  fromRate: number | undefined,
  startRate: number | undefined,
): boolean {
  if (!fromRate || !startRate) return true;
  return (offset - from) / fromRate <= offset / startRate;
}
