// Reading many files of one layer: ONE pass over its uncompressed tar, in offset order, so that no
// byte is decoded twice and nothing but the chunk in hand (and what a sink keeps) is held. Where
// the gap to the next wanted file is longer than the checkpoint spacing, the read asks for a
// later start (a gzip or zstd checkpoint at or before the file) and takes it when it skips
// enough: the random access of a stored layer. The package inventory, the comparison's hashes,
// the search and the secret scan all read through here.
import { yielder } from '../tasks.ts';

/** A layer's uncompressed tar from `start` on (`start` ≤ the offset asked for). */
export interface TarStart {
  tar: ReadableStream<Uint8Array>;
  start: number;
}

/** Opens a layer's tar at or before `offset`: from a checkpoint when it has some. */
export type TarFromFn = (offset: number, signal: AbortSignal) => Promise<TarStart>;

/** Where a file's bytes are in the layer's uncompressed tar. */
export interface OrderedFile {
  readonly offset: number;
  readonly size: number;
}

/** What a read does with one file's bytes. */
export interface FileSink {
  /** The next piece of the file, in order (a view into the chunk: copy what must outlive the
   * call). Returning false says no more of this file is needed: once every sink of the file
   * says so, the rest of it is skipped like any gap. */
  push(piece: Uint8Array): boolean | void;
  /** The file's bytes ended (all of them, or its sinks said they had enough). Awaited before
   * the read goes on. */
  end(): void | Promise<void>;
}

export interface ReadFilesOptions<F> {
  signal: AbortSignal;
  /** The layer's checkpoint spacing: a gap longer than this asks for a later start. Infinity
   * (the default) never does: one stream from the first file on. */
  spacing?: number;
  /** The least a later start must skip to be taken (default: the spacing). */
  minSkip?: number;
  /** A file that cannot be read in order: only a hostile index places a file inside another
   * (its bytes are behind the read). It is skipped; without this the read fails instead. */
  problem?(file: F, message: string): void;
}

/** What a read cost: for tests and the bench. */
export interface ReadFilesStats {
  /** Streams opened: the first, and one per jump to a later start. */
  starts: number;
  /** Uncompressed bytes decoded, wanted or not. */
  decoded: number;
}

/**
 * Reads `files` (sorted by offset; files at one offset, such as a file and its hard links, are
 * read together) of the layer that `tarFrom` opens, calling `open` for each as the read reaches
 * it: the sink it returns gets the file's bytes, or the file is passed over when it returns
 * undefined. A file of no bytes is opened and ended at once. Fails with the signal's reason,
 * when the layer ends before a file does, and with what a sink throws.
 */
export async function readFilesInOrder<F extends OrderedFile>(
  tarFrom: TarFromFn,
  files: readonly F[],
  open: (file: F) => FileSink | undefined | Promise<FileSink | undefined>,
  opts: ReadFilesOptions<F>,
): Promise<ReadFilesStats> {
  const stats: ReadFilesStats = { starts: 0, decoded: 0 };
  if (files.length === 0) return stats;
  const { signal } = opts;
  const spacing = opts.spacing ?? Infinity;
  const minSkip = opts.minSkip ?? spacing;
  const tick = yielder();
  const overlap = (f: F) => {
    const message = 'its bytes overlap another file read before it; not read';
    if (!opts.problem) throw new Error(`the file at ${f.offset}: ${message}`);
    opts.problem(f, message);
  };

  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let at = 0;
  /** Whether asking for a later start can help: not once the layer answered with its start
   * for an offset past the first checkpoint's place (it has no checkpoints). */
  let jumps = false;
  /** A file's sink: it takes bytes while open and short of the file's size. */
  type Open = { sink: FileSink; size: number; got: number; open: boolean };
  /** The files being read (one offset): their place, the longest's size, and their sinks. */
  let cur: { offset: number; size: number; sinks: Open[] } | undefined;

  const endAll = async (sinks: Open[]) => {
    for (const s of sinks) await s.sink.end();
  };
  /** Opens the files at the next offset; ends those of no bytes (or no sink) at once. */
  const group = async () => {
    const offset = files[i]!.offset;
    const sinks: Open[] = [];
    const empty: Open[] = [];
    while (i < files.length && files[i]!.offset === offset) {
      const f = files[i++]!;
      const sink = await open(f);
      if (sink) (f.size > 0 ? sinks : empty).push({ sink, size: f.size, got: 0, open: true });
    }
    await endAll(empty);
    if (sinks.length === 0) return undefined;
    return { offset, size: Math.max(...sinks.map((s) => s.size)), sinks };
  };

  /** Opens the files that start before `end` (within the chunk in hand), until one needs bytes. */
  const within = async (end: number) => {
    while (i < files.length && files[i]!.offset < end) {
      if (files[i]!.offset < at) {
        overlap(files[i++]!);
        continue;
      }
      cur = await group();
      if (cur) return;
    }
  };

  try {
    while (i < files.length || cur) {
      const w = tick();
      if (w) await w;
      signal.throwIfAborted();
      if (!cur) {
        const f = files[i]!;
        if (f.size === 0 && (i + 1 === files.length || files[i + 1]!.offset !== f.offset)) {
          await group();
          continue;
        }
        if (reader && f.offset < at) {
          overlap(f);
          i++;
          continue;
        }
        if (!reader) {
          const from = await tarFrom(f.offset, signal);
          reader = from.tar.getReader();
          at = from.start;
          stats.starts++;
          jumps = from.start > 0 || f.offset < spacing;
        } else if (jumps && f.offset - at > spacing) {
          const later = await tarFrom(f.offset, signal);
          if (later.start - at >= minSkip) {
            await reader.cancel().catch(() => undefined);
            reader = later.tar.getReader();
            at = later.start;
            stats.starts++;
          } else {
            await later.tar.cancel().catch(() => undefined);
            // None past where the read is: the layer has no checkpoints to jump to.
            if (later.start <= at) jumps = false;
          }
        }
        cur = await group();
        if (!cur) continue;
      }
      const { done, value } = await reader!.read();
      if (done) throw new Error(`the layer ended before the file at ${cur.offset} did`);
      stats.decoded += value.byteLength;
      const end = at + value.byteLength;
      // A chunk may hold the end of one file and the whole of several more.
      while (cur) {
        const lo = Math.max(cur.offset, at);
        const hi = Math.min(cur.offset + cur.size, end);
        if (hi > lo) {
          const piece = value.subarray(lo - at, hi - at);
          for (const s of cur.sinks) {
            if (!s.open) continue;
            // Files at one offset may differ in size (only in a hostile index): each gets its own.
            const own = s.got + piece.length <= s.size ? piece : piece.subarray(0, s.size - s.got);
            s.got += own.length;
            s.open = s.sink.push(own) !== false && s.got < s.size;
          }
        }
        // A file none of whose sinks needs more is done before its end: the rest of it is a
        // gap like any other, skipped through a checkpoint when long enough.
        if (cur.offset + cur.size > end && cur.sinks.some((s) => s.open)) break;
        const sinks = cur.sinks;
        cur = undefined;
        await endAll(sinks);
        // The next files, while they start within this chunk.
        await within(end);
      }
      at = end;
    }
  } finally {
    await reader?.cancel().catch(() => undefined);
  }
  return stats;
}
