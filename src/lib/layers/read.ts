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

/** A listing's progress: the entries found since the last report, in columns (batches of at
 * most BATCH entries, not aligned with the index's own). Every report's batches, in order, hold
 * the index's entries in order. */
export interface ListProgress {
  batches: EntryColumns[];
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
  /** Least milliseconds between two reports (default progressMs). */
  progressMs?: number;
  /** Most milliseconds of work between two yields to the event loop (default yieldMs). */
  yieldMs?: number;
  /** Where the index is built (a new builder unless given): a caller that reads the entries
   * while the listing goes on (the file tree's live index) passes its own. */
  builder?: ColumnsBuilder;
  /** Sees each entry as it is added. */
  onEntry?: (entry: IndexEntry) => void;
  /** Told, as often as onProgress would be, how many entries and bytes were read. */
  onCount?: (entries: number, uncompressed: number) => void;
}

/** How often a listing reports the entries it found: each report is a few column batches, so
 * not every chunk of the stream needs its own. */
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

/** Lists every entry of an uncompressed layer stream and computes its diffID. */
export async function listLayer(
  tar: ReadableStream<Uint8Array>,
  opts: ListOptions = {},
): Promise<LayerListing> {
  const hasher = await createHasher(opts.algorithm ?? 'sha256');
  const columns = opts.builder ?? new ColumnsBuilder();
  const onEntry = opts.onEntry;
  // The entries since the last report, in columns of their own: each entry is copied once
  // more, where sending the batch being filled each time would copy it again and again.
  let fresh: ColumnsBuilder | undefined;
  const progress = opts.onProgress;
  // A TarEntry is an IndexEntry with more fields: the builders copy the ones they keep.
  const parser = new TarParser({
    onEntry: (e) => {
      columns.push(e);
      onEntry?.(e);
      if (progress) (fresh ??= new ColumnsBuilder()).push(e);
    },
  });
  const every = opts.progressMs ?? progressMs;
  let reported = performance.now();
  const report = (n: number, now: number) => {
    reported = now;
    const batches = [...(fresh?.finish().batches ?? [])];
    fresh = undefined;
    if (batches.length > 0) progress?.({ batches, uncompressed: n });
    opts.onCount?.(columns.count, n);
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
      if (progress || opts.onCount) {
        const now = performance.now();
        if (now - reported >= every) report(n, now);
      }
    }
    parser.end();
  } finally {
    reader.releaseLock();
  }
  report(n, 0);
  return { files: columns.finish(), diffID: hasher.digest(), uncompressedSize: n };
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
