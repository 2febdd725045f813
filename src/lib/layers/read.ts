// Reading a layer's uncompressed tar: its file index (with the diffID computed on the way), and
// the bytes of one file. Both stream: memory stays bounded whatever the layer's size.
import { createHasher, type HashAlgorithm } from '../oci/hasher.ts';
import type { IndexEntry } from './entry.ts';
import { ColumnsBuilder, type ColumnIndex, type EntryColumns } from './columns.ts';
import { TarParser, type TarEntry } from './tar.ts';
import { yielder } from '../tasks.ts';

export interface LayerListing {
  /** Every entry, in tar order, in columns. */
  files: ColumnIndex;
  /** Digest of the uncompressed tar, to check against the config's rootfs.diff_ids. */
  diffID: string;
  uncompressedSize: number;
}

/** A listing's progress. The `batches` of every call, in order, make the whole index; the
 * `partial` batch of the latest call (a copy, the listing goes on filling its own) holds the
 * entries found since the last full batch. */
export interface ListProgress {
  /** Batches completed since the last call: full ones, and at the end the last one. */
  batches: EntryColumns[];
  /** The entries found so far past the last batch, when there are any; replaces any earlier
   * partial batch. */
  partial?: EntryColumns;
  /** Uncompressed bytes read so far. */
  uncompressed: number;
}

export interface ListOptions {
  signal?: AbortSignal;
  /** Receives the listing's progress (see ListProgress). The batches are the caller's: they
   * may be transferred to another thread. */
  onProgress?: (progress: ListProgress) => void;
  /** The diffID's algorithm (sha256 unless the config says otherwise). */
  algorithm?: HashAlgorithm;
  /** Least milliseconds between two calls that only carry a partial batch (default
   * progressMs): a partial batch is a copy of up to a batch's columns. */
  progressMs?: number;
  /** Most milliseconds of work between two yields to the event loop (default yieldMs). */
  yieldMs?: number;
}

/** How often a listing reports the entries of the batch it is filling. */
export const progressMs = 250;

export function toFileEntry(e: TarEntry): IndexEntry {
  return {
    path: e.path,
    type: e.type,
    size: e.size,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    offset: e.offset,
    ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    ...(e.devmajor !== undefined ? { devmajor: e.devmajor } : {}),
    ...(e.devminor !== undefined ? { devminor: e.devminor } : {}),
    ...(e.sparse ? { sparse: true } : {}),
  };
}

/** A batch with its own copies of the typed arrays (the strings are immutable): what a caller
 * may transfer away while the index keeps the original. */
function detachable(b: EntryColumns): EntryColumns {
  return {
    ...b,
    pathEnds: b.pathEnds.slice(),
    linkEnds: b.linkEnds.slice(),
    types: b.types.slice(),
    sizes: b.sizes.slice(),
    offsets: b.offsets.slice(),
    mtimes: b.mtimes.slice(),
    modes: b.modes.slice(),
    uids: b.uids.slice(),
    gids: b.gids.slice(),
    extras: new Map(b.extras),
  };
}

/** Lists every entry of an uncompressed layer stream and computes its diffID. */
export async function listLayer(
  tar: ReadableStream<Uint8Array>,
  opts: ListOptions = {},
): Promise<LayerListing> {
  const hasher = await createHasher(opts.algorithm ?? 'sha256');
  const columns = new ColumnsBuilder();
  // A TarEntry is an IndexEntry with more fields: the builder copies the ones it keeps.
  const parser = new TarParser({ onEntry: (e) => columns.push(e) });
  const every = opts.progressMs ?? progressMs;
  let reported = 0;
  let lastPartial = 0;
  const report = (n: number) => {
    if (!opts.onProgress) return;
    const full = columns.take();
    const now = performance.now();
    const fresh = columns.count > reported;
    if (full.length === 0 && !(fresh && now - lastPartial >= every)) return;
    reported = columns.count;
    lastPartial = now;
    const partial = columns.partial();
    opts.onProgress({
      batches: full.map(detachable),
      ...(partial ? { partial } : {}),
      uncompressed: n,
    });
  };
  const reader = tar.getReader();
  const tick = yielder(opts.yieldMs);
  let n = 0;
  try {
    for (;;) {
      await tick();
      opts.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      hasher.update(value);
      n += value.byteLength;
      // Bytes after the end-of-archive blocks still count for the diffID, as in moby.
      if (!parser.done) parser.push(value);
      report(n);
    }
    parser.end();
  } finally {
    reader.releaseLock();
  }
  const files = columns.finish();
  // The last batch, sealed by finish, goes out with the batches not reported yet.
  if (opts.onProgress) {
    const rest = columns.take();
    opts.onProgress({ batches: rest.map(detachable), uncompressed: n });
  }
  return { files, diffID: hasher.digest(), uncompressedSize: n };
}

export interface FileBytes {
  bytes: Uint8Array;
  /** The file is longer than what was read. */
  truncated: boolean;
}

/** Reads up to `limit` bytes of a file at `offset` in an uncompressed layer stream, then stops
 * reading (and cancels the stream). */
export async function readFileBytes(
  tar: ReadableStream<Uint8Array>,
  offset: number,
  size: number,
  limit: number,
  signal?: AbortSignal,
): Promise<FileBytes> {
  const want = Math.min(size, limit);
  const out = new Uint8Array(want);
  let got = 0;
  await eachFileChunk(tar, offset, want, signal, (chunk) => {
    out.set(chunk, got);
    got += chunk.byteLength;
  });
  if (got < want) throw new Error(`the layer ended ${want - got} bytes before the file did`);
  return { bytes: out, truncated: want < size };
}

/** The whole file as a Blob, built from the stream's pieces (kept by the browser, not in the
 * JS heap at once). */
export async function fileBlob(
  tar: ReadableStream<Uint8Array>,
  offset: number,
  size: number,
  signal?: AbortSignal,
): Promise<Blob> {
  const parts: Blob[] = [];
  let got = 0;
  await eachFileChunk(tar, offset, size, signal, (chunk) => {
    parts.push(new Blob([chunk.slice()]));
    got += chunk.byteLength;
  });
  if (got < size) throw new Error(`the layer ended ${size - got} bytes before the file did`);
  return new Blob(parts);
}

async function eachFileChunk(
  tar: ReadableStream<Uint8Array>,
  offset: number,
  length: number,
  signal: AbortSignal | undefined,
  each: (chunk: Uint8Array) => void,
): Promise<void> {
  const reader = tar.getReader();
  const tick = yielder();
  let at = 0;
  const end = offset + length;
  try {
    while (at < end) {
      await tick();
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) return;
      const from = Math.max(offset, at);
      const to = Math.min(end, at + value.byteLength);
      if (to > from) each(value.subarray(from - at, to - at));
      at += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
