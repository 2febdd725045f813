// lib/layers/ordered.ts readFilesInOrder over a real GNU tar: files at one offset (a file and
// its hard link) read together, a sink that stops early, a file of no bytes, a hostile offset
// inside a file already read (reported through `problem`, or failing the read without it), and
// a jump over a long gap to a later start.
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toEntries } from '../../src/lib/layers/columns.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { readFilesInOrder, type FileSink, type TarFromFn } from '../../src/lib/layers/ordered.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { buildTar, pseudoRandomBytes } from '../harness/compare-fixtures.ts';

let work: string;
let tar: Uint8Array;
let entries: IndexEntry[];
const big = pseudoRandomBytes('ordered big', 3 << 20);

/** The tar in chunks of 64 KiB from `start`, as a decoder hands them over; its first 16 KiB
 * in chunks of `chunk`. */
const streamFrom = (start: number, chunk = 65_536) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = start; at < tar.length;) {
        const n = at < 16_384 ? chunk : 65_536;
        c.enqueue(tar.subarray(at, at + n));
        at += n;
      }
      c.close();
    },
  });

/** A layer whose checkpoints are every `spacing` bytes: a read starts at the one at or before
 * the offset asked for. `spacing` Infinity: no checkpoints, always from the start. */
function layer(spacing = Infinity, chunk?: number): { tarFrom: TarFromFn; asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    tarFrom: async (offset) => {
      asked.push(offset);
      const start = spacing === Infinity ? 0 : Math.floor(offset / spacing) * spacing;
      return { tar: streamFrom(start, chunk), start };
    },
  };
}

const file = (path: string) => {
  const e = entries.find((x) => x.path === path);
  if (!e) throw new Error(`${path} is not in the tar`);
  return e;
};
const bytesOf = (e: { offset: number; size: number }) =>
  Buffer.from(tar.subarray(e.offset, e.offset + e.size));

/** A sink collecting a file's bytes (a copy: pieces are views into the chunk). */
function collector(stopAfter = Infinity) {
  const got: Buffer[] = [];
  let ended = 0;
  let bytes = 0;
  const sink: FileSink = {
    push(piece) {
      got.push(Buffer.from(piece));
      bytes += piece.length;
      return bytes < stopAfter;
    },
    end() {
      ended++;
    },
  };
  return { sink, all: () => Buffer.concat(got), ended: () => ended };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-ordered-'));
  const path = await buildTar(work, [
    { type: 'file', path: 'a/first.txt', content: 'first file\n' },
    { type: 'file', path: 'a/hard.txt', content: 'the bytes two names share\n' },
    { type: 'hardlink', path: 'a/link.txt', target: 'a/hard.txt' },
    { type: 'file', path: 'a/empty', content: '' },
    { type: 'file', path: 'b/big.bin', content: big },
    { type: 'file', path: 'c/after.txt', content: 'after the big file\n' },
  ]);
  tar = new Uint8Array(await readFile(path));
  const listing = await listLayer(streamFrom(0));
  entries = toEntries(listing.files);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('readFilesInOrder', () => {
  test('files at one offset are read together, each to its own sink; no bytes end at once', async () => {
    const hard = file('a/hard.txt');
    // The hard link is read by its target's bytes: the same offset.
    const files = [
      { name: 'first', offset: file('a/first.txt').offset, size: file('a/first.txt').size },
      { name: 'hard', offset: hard.offset, size: hard.size },
      { name: 'link', offset: hard.offset, size: hard.size },
      { name: 'empty', offset: file('a/empty').offset, size: 0 },
      { name: 'after', offset: file('c/after.txt').offset, size: file('c/after.txt').size },
    ].sort((x, y) => x.offset - y.offset);
    const sinks = new Map<string, ReturnType<typeof collector>>();
    const opened: string[] = [];
    // Chunks of 7 bytes: a file's bytes come in many pieces, and both names get every one.
    const stats = await readFilesInOrder(
      layer(Infinity, 7).tarFrom,
      files,
      (f) => {
        opened.push(f.name);
        const c = collector();
        sinks.set(f.name, c);
        return c.sink;
      },
      { signal: new AbortController().signal },
    );
    expect(opened.sort()).toEqual(['after', 'empty', 'first', 'hard', 'link']);
    expect(sinks.get('hard')!.all().toString()).toBe('the bytes two names share\n');
    expect(sinks.get('link')!.all().toString()).toBe('the bytes two names share\n');
    expect(sinks.get('first')!.all().toString()).toBe('first file\n');
    expect(sinks.get('after')!.all().toString()).toBe('after the big file\n');
    expect(sinks.get('empty')!.all().length).toBe(0);
    for (const [name, c] of sinks) expect(c.ended(), name).toBe(1);
    expect(stats.starts).toBe(1);
  });

  test('a sink that stops early gets no more of its file, and is ended once', async () => {
    const b = file('b/big.bin');
    const after = file('c/after.txt');
    const stop = collector(100);
    const rest = collector();
    await readFilesInOrder(layer().tarFrom, [b, after], (f) => (f === b ? stop.sink : rest.sink), {
      signal: new AbortController().signal,
    });
    // It said it had enough within the first chunk: it got that chunk's piece, no more.
    expect(stop.all().length).toBeLessThanOrEqual(65_536);
    expect(stop.all()).toEqual(bytesOf(b).subarray(0, stop.all().length));
    expect(stop.ended()).toBe(1);
    expect(rest.all().toString()).toBe('after the big file\n');
  });

  test('a hostile offset inside a file already read: reported, or the read fails', async () => {
    const b = file('b/big.bin');
    const after = file('c/after.txt');
    // Claims to start inside the big file, after the read has passed it.
    const hostile = { offset: b.offset + 1000, size: 10 };
    const problems: string[] = [];
    const got = collector();
    await readFilesInOrder(
      layer().tarFrom,
      [b, hostile, after].sort((x, y) => x.offset - y.offset),
      (f) => (f === after ? got.sink : collector().sink),
      {
        signal: new AbortController().signal,
        problem: (f, message) => problems.push(`${f.offset}: ${message}`),
      },
    );
    expect(problems).toEqual([
      `${hostile.offset}: its bytes overlap another file read before it; not read`,
    ]);
    expect(got.all().toString()).toBe('after the big file\n');
    await expect(
      readFilesInOrder(
        layer().tarFrom,
        [b, hostile].sort((x, y) => x.offset - y.offset),
        () => collector().sink,
        { signal: new AbortController().signal },
      ),
    ).rejects.toThrow(/overlap another file/);
  });

  test('a long gap is jumped through a later start; the bytes are the same', async () => {
    const first = file('a/first.txt');
    const after = file('c/after.txt');
    const spacing = 1 << 20;
    const l = layer(spacing);
    const a = collector();
    const c = collector();
    const stats = await readFilesInOrder(
      l.tarFrom,
      [first, after],
      (f) => (f === first ? a.sink : c.sink),
      { signal: new AbortController().signal, spacing },
    );
    expect(a.all().toString()).toBe('first file\n');
    expect(c.all().toString()).toBe('after the big file\n');
    // Two starts: the first file's, then the checkpoint before the last file.
    expect(stats.starts).toBe(2);
    expect(l.asked).toEqual([first.offset, after.offset]);
    expect(stats.decoded).toBeLessThan(tar.length - spacing);
    // Without checkpoints, one stream through the gap.
    const whole = await readFilesInOrder(layer().tarFrom, [first, after], () => collector().sink, {
      signal: new AbortController().signal,
      spacing,
    });
    expect(whole.starts).toBe(1);
    expect(whole.decoded).toBeGreaterThan(big.length);
  });
});
