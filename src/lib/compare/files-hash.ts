// Hashing the files a comparison could not decide by their metadata: every requested file of one
// layer in a single pass over its uncompressed tar, in offset order, so that no byte is read
// twice and nothing but the chunk in hand is held.
import { createSHA256 } from 'hash-wasm';
import { yielder } from '../tasks.ts';
import type { FileRead } from './files.ts';

/**
 * The sha256 digests (`sha256:…`) of files of a tar stream that starts at byte `start` of the
 * layer's tar, in the order given (which must be by offset, none before `start`). Reading stops
 * after the last file; the stream is cancelled then.
 */
export async function hashFiles(
  tar: ReadableStream<Uint8Array>,
  files: readonly FileRead[],
  opts: { start?: number; signal?: AbortSignal } = {},
): Promise<string[]> {
  const out: string[] = [];
  if (files.length === 0) return out;
  const h = await createSHA256();
  const tick = yielder();
  const reader = tar.getReader();
  const start = opts.start ?? 0;
  let at = start;
  let i = 0;
  h.init();
  // Files of no bytes (and any at the position reached) are done before reading on.
  const finishEmpty = () => {
    while (i < files.length && files[i]!.size === 0) {
      out.push('sha256:' + h.digest('hex'));
      h.init();
      i++;
    }
  };
  finishEmpty();
  try {
    while (i < files.length) {
      const w = tick();
      if (w) await w;
      opts.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) throw new Error(`the layer ended before the file at ${files[i]!.offset} did`);
      const end = at + value.byteLength;
      // A chunk may hold the end of one file and the whole of several more.
      while (i < files.length) {
        const f = files[i]!;
        if (f.offset < start) throw new Error(`file at ${f.offset} is before the read's start`);
        const from = Math.max(f.offset, at);
        const to = Math.min(f.offset + f.size, end);
        if (to > from) h.update(value.subarray(from - at, to - at));
        if (f.offset + f.size > end) break;
        out.push('sha256:' + h.digest('hex'));
        h.init();
        i++;
        finishEmpty();
      }
      at = end;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return out;
}
