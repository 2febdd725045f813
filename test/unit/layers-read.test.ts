// Reading a layer lets the worker's event loop turn: a stream whose bytes are already in
// memory (a decompression bomb expanding from one stored chunk) resolves every read as a
// microtask, so without a yield a cancel message would never be handled.
import { describe, expect, test } from 'vitest';
import { listLayer, readFileBytes } from '../../src/lib/layers/read.ts';
import { toEntries } from '../../src/lib/layers/columns.ts';

/** An endless tar of zero blocks, each read answered at once, from memory. */
function endless(): ReadableStream<Uint8Array> {
  const zeros = new Uint8Array(64 * 1024);
  return new ReadableStream({ pull: (c) => c.enqueue(zeros) }, { highWaterMark: 0 });
}

/** Aborts from a macrotask: what a worker's 'cancel' message handler does. */
function abortFromTask(): AbortSignal {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new DOMException('cancelled', 'AbortError')), 10);
  return ac.signal;
}

describe('reading a layer yields to the event loop', () => {
  test('listLayer of an endless in-memory stream stops when a task aborts it', async () => {
    const err = await listLayer(endless(), { signal: abortFromTask() }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
  });

  test('readFileBytes skipping through an endless stream stops when a task aborts it', async () => {
    const err = await readFileBytes(
      endless(),
      Number.MAX_SAFE_INTEGER - 10,
      5,
      5,
      abortFromTask(),
    ).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
  });

  test('a listing still reads every entry', async () => {
    // One empty file "a" in a ustar header, then the two end blocks.
    const tar = new Uint8Array(512 * 3);
    const enc = new TextEncoder();
    tar.set(enc.encode('a'), 0);
    tar.set(enc.encode('0000644\0'), 100);
    tar.set(enc.encode('00000000000\0'), 124);
    tar.set(enc.encode('00000000000\0'), 136);
    tar[156] = 0x30;
    tar.set(enc.encode('ustar\x0000'), 257);
    tar.set(enc.encode('        '), 148);
    const sum = tar.subarray(0, 512).reduce((n, b) => n + b, 0);
    tar.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    const listing = await listLayer(new Blob([tar]).stream(), { yieldMs: 0 });
    expect(toEntries(listing.files).map((f) => f.path)).toEqual(['a']);
  });
});
