// Hashing the files a comparison could not decide by their metadata: every requested file of one
// layer in a single pass over its uncompressed tar, in offset order (lib/layers/ordered.ts), so
// that no byte is read twice and nothing but the chunk in hand is held.
import { createSHA256 } from 'hash-wasm';
import { readFilesInOrder } from '../layers/ordered.ts';
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
  const start = opts.start ?? 0;
  const out: string[] = new Array<string>(files.length);
  const h = await createSHA256();
  h.init();
  const empty = 'sha256:' + h.digest('hex');
  // Files at one place (a file named twice) are hashed once, and each gets the digest.
  const places: { offset: number; size: number; at: number[] }[] = [];
  files.forEach((f, i) => {
    if (f.offset < start) throw new Error(`file at ${f.offset} is before the read's start`);
    const last = places.at(-1);
    if (last && last.offset === f.offset && last.size === f.size) last.at.push(i);
    else places.push({ offset: f.offset, size: f.size, at: [i] });
  });
  let given = false;
  await readFilesInOrder(
    async () => {
      if (given) throw new Error('the tar stream was already read');
      given = true;
      return { tar, start };
    },
    places,
    (place) => {
      if (place.size === 0)
        return { push: () => false, end: () => place.at.forEach((i) => (out[i] = empty)) };
      h.init();
      return {
        push: (piece) => void h.update(piece),
        end: () => {
          const digest = 'sha256:' + h.digest('hex');
          for (const i of place.at) out[i] = digest;
        },
      };
    },
    { signal: opts.signal ?? new AbortController().signal },
  );
  if (!given) await tar.cancel().catch(() => undefined);
  return out;
}
