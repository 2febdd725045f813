import { toEntries } from '../../src/lib/layers/columns.ts';
// Random access into stored layers: checkpoints recorded while a layer is listed, then files read
// from the nearest checkpoint, compared byte for byte with what GNU tar extracts. Every layer is
// made at test time by the real tools (GNU tar, gzip, zstd, umoci, skopeo).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CheckpointRecorder,
  type LayerBlob,
  type LayerCheckpoints,
  LiveCheckpoints,
  nearestCheckpoint,
  recordCheckpoints,
  soonerFromCheckpoint,
  tarFrom,
} from '../../src/lib/layers/checkpoints.ts';
import { decompress, DecompressError } from '../../src/lib/layers/decompress.ts';
import { fileBlob, listLayer, readFileBytes } from '../../src/lib/layers/read.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';

const exec = promisify(execFile);
const sh = (script: string) => exec('sh', ['-c', script], { cwd: dir, maxBuffer: 1 << 20 });

let dir: string;
const file = (name: string) => join(dir, name);

/** Small spacing, so a few MiB of layer have many checkpoints. */
const SPACING = 256 * 1024;

/** Bytes from a seeded xorshift32: incompressible, and the same on every run. */
function prng(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-checkpoints-'));
  const root = file('root');
  await mkdir(join(root, 'text'), { recursive: true });
  await mkdir(join(root, 'bin'), { recursive: true });
  // Many small text files, incompressible files between them, and the last file after all.
  for (let i = 0; i < 300; i++) {
    const lines = Array.from({ length: 20 + ((i * 37) % 400) }, (_, k) => `file ${i} line ${k}`);
    await writeFile(join(root, 'text', `f${String(i).padStart(3, '0')}.txt`), lines.join('\n'));
  }
  await writeFile(join(root, 'bin', 'random-a'), prng(1_500_000, 1));
  await writeFile(join(root, 'bin', 'random-b'), prng(700_000, 2));
  await writeFile(join(root, 'zz-last'), 'the last file of the layer\n');
  await sh(
    [
      // Sorted names and fixed times: GNU tar's layer, the same on every run.
      'tar --sort=name --mtime=@0 --owner=0 --group=0 -cf layer.tar -C root .',
      // Numbers compress well: a long run of them, from seq, between the files.
      'seq 1 400000 > root/numbers && tar --sort=name --mtime=@0 -rf layer.tar -C root numbers',
      'mkdir -p want && tar -xf layer.tar -C want',
      'gzip -1 -c layer.tar > fast.gz',
      'gzip -9 -c layer.tar > best.gz',
      // Members cut at arbitrary places: files span member boundaries.
      'split -b 700000 layer.tar part. && for p in part.*; do gzip -c $p >> multi.gz; done',
      // One big member, then a small one: a layer whose last member no checkpoint is in.
      'head -c 100000 layer.tar > extra && gzip -c extra > extra.gz',
      'cat fast.gz extra.gz > tail.gz && cat layer.tar extra > tail.tar',
      'zstd -q -c layer.tar > single.zst',
      'for p in part.*; do zstd -q -c $p >> multi.zst; done',
      // zstd:chunked, as skopeo writes it, from an image umoci builds.
      'umoci init --layout oci && umoci new --image oci:t',
      'umoci unpack --rootless --image oci:t bundle > /dev/null',
      'tar -xf layer.tar -C bundle/rootfs && umoci repack --image oci:t bundle',
      'skopeo copy -q --dest-compress-format zstd:chunked oci:oci:t oci:chunked:t',
    ].join(' && '),
  );
  // The zstd:chunked layer: the one layer of the one manifest skopeo wrote.
  const index = JSON.parse(await readFile(file('chunked/index.json'), 'utf8'));
  const blob = (d: string) => file(`chunked/blobs/${d.replace(':', '/')}`);
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  await sh(`cp ${blob(manifest.layers[0].digest)} chunked.zst`);
  await sh('mkdir -p want-chunked && zstd -dc chunked.zst | tar -xf - -C want-chunked');
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A Blob that counts what is read through it: where each stream starts, and its bytes. */
class CountingBlob implements LayerBlob {
  readonly starts: number[] = [];
  read = 0;
  constructor(readonly blob: Blob) {}
  get size() {
    return this.blob.size;
  }
  stream() {
    return this.slice(0).stream();
  }
  slice(start: number) {
    this.starts.push(start);
    const inner = this.blob.slice(start);
    return {
      stream: () => {
        const reader = inner.stream().getReader();
        return new ReadableStream<Uint8Array>(
          {
            pull: async (c) => {
              const r = await reader.read();
              if (r.done) return c.close();
              this.read += r.value.length;
              c.enqueue(r.value);
            },
            cancel: (reason) => reader.cancel(reason),
          },
          { highWaterMark: 0 },
        );
      },
    };
  }
}

interface Layer {
  name: string;
  compression: 'gzip' | 'zstd';
  want: string;
}
const layers: Layer[] = [
  { name: 'fast.gz', compression: 'gzip', want: 'want' },
  { name: 'best.gz', compression: 'gzip', want: 'want' },
  { name: 'multi.gz', compression: 'gzip', want: 'want' },
  { name: 'multi.zst', compression: 'zstd', want: 'want' },
  { name: 'chunked.zst', compression: 'zstd', want: 'want-chunked' },
];

/** Lists a layer while recording checkpoints, as the layers worker does. */
async function listWithCheckpoints(layer: Layer) {
  const blob = new Blob([await readFile(file(layer.name))]);
  const recorder = new CheckpointRecorder(layer.compression, SPACING);
  const tar = decompress(() => blob.stream(), layer.compression, {
    checkpoints: recorder,
    native: false,
  });
  const listing = await listLayer(tar, { yieldMs: 1000 });
  return { blob, listing, checkpoints: recorder.finish() };
}

const regular = (files: IndexEntry[]) => files.filter((f) => f.type === 'file' && f.size > 0);

describe('files read from checkpoints are the bytes GNU tar extracts', { timeout: 60_000 }, () => {
  for (const layer of layers) {
    test(
      layer.name,
      async () => {
        const { blob, listing, checkpoints } = await listWithCheckpoints(layer);
        expect(checkpoints, 'checkpoints recorded').toBeDefined();
        const cps = checkpoints!;
        // At least one per SPACING of output, except where a zstd frame is longer than that.
        const min = layer.compression === 'gzip' ? listing.uncompressedSize / SPACING / 2 : 3;
        expect(cps.points.length).toBeGreaterThan(min);
        const files = regular(toEntries(listing.files));
        expect(files.length).toBeGreaterThan(300);
        let fromCheckpoint = 0;
        for (const f of files) {
          const counting = new CountingBlob(blob);
          const from = await tarFrom(counting, layer.compression, cps, f.offset);
          const got = await readFileBytes(from.tar, f.offset - from.start, f.size, f.size);
          const want = new Uint8Array(await readFile(join(dir, layer.want, f.path)));
          expect(Buffer.compare(got.bytes, want), f.path).toBe(0);
          const point = nearestCheckpoint(cps, f.offset);
          if (point) {
            fromCheckpoint++;
            // Only the blob from the checkpoint on was opened, never its start.
            expect(counting.starts).toEqual([point.in]);
            expect(counting.read).toBeLessThanOrEqual(blob.size - point.in);
            expect(from.start).toBe(point.out);
          } else {
            expect(counting.starts).toEqual([0]);
          }
        }
        expect(fromCheckpoint).toBeGreaterThan(files.length / 2);
      },
      120_000,
    );
  }

  test('gzip checkpoints inside members carry windows; member starts do not', async () => {
    const best = (await listWithCheckpoints(layers[1]!)).checkpoints!;
    expect(best.points.every((p) => p.window && p.window.length === 32768)).toBe(true);
    // Some start mid-byte: the bit offset is honoured, not rounded.
    expect(best.points.some((p) => p.bit !== 0)).toBe(true);
    const multi = (await listWithCheckpoints(layers[2]!)).checkpoints!;
    const starts = multi.points.filter((p) => !p.window);
    expect(starts.length).toBeGreaterThan(0);
    expect(starts.every((p) => p.in === p.member)).toBe(true);
  });

  test('a single-frame zstd layer has no checkpoint inside it', async () => {
    const { checkpoints, listing } = await listWithCheckpoints({
      name: 'single.zst',
      compression: 'zstd',
      want: 'want',
    });
    expect(listing.files.count).toBeGreaterThan(300);
    expect(checkpoints).toBeUndefined();
  });

  test('the last file, read from its checkpoint, reads only the end of the blob', async () => {
    const layer = layers[1]!;
    const { blob, listing, checkpoints } = await listWithCheckpoints(layer);
    const last = regular(toEntries(listing.files)).at(-1)!;
    expect(last.path).toMatch(/numbers$/);
    const counting = new CountingBlob(blob);
    const from = await tarFrom(counting, 'gzip', checkpoints, last.offset);
    const got = await fileBlob(from.tar, last.offset - from.start, last.size);
    const want = await readFile(join(dir, 'want', last.path));
    expect(Buffer.compare(new Uint8Array(await got.arrayBuffer()), want)).toBe(0);
    expect(from.start).toBeGreaterThan(last.offset - 2 * SPACING);
    // The file is the last ~2.5 MiB of 6: most of the blob before it is never read.
    expect(counting.starts[0]).toBeGreaterThan(blob.size / 3);
    expect(counting.read).toBeLessThanOrEqual(blob.size - counting.starts[0]!);
  });

  test('a read resumed natively past a member no checkpoint knows falls back to fflate and reads on', async () => {
    const blob = new Blob([await readFile(file('tail.gz'))]);
    const recorder = new CheckpointRecorder('gzip', SPACING);
    const reader = decompress(() => blob.stream(), 'gzip', {
      checkpoints: recorder,
      native: false,
    }).getReader();
    while (!(await reader.read()).done);
    const all = recorder.finish()!;
    // As if the second member were too small for a checkpoint of its own.
    const first = all.points[0]!.member;
    const cps = { ...all, points: all.points.filter((p) => p.member === first) };
    const point = cps.points.at(-1)!;
    expect(point.window).toBeDefined();
    const want = new Uint8Array(await readFile(file('tail.tar')));
    const counting = new CountingBlob(blob);
    const from = await tarFrom(counting, 'gzip', cps, point.out);
    expect(from.start).toBe(point.out);
    const rest = want.length - from.start;
    const got = await readFileBytes(from.tar, 0, rest, rest);
    expect(got.bytes.length).toBe(rest);
    expect(Buffer.compare(got.bytes, want.subarray(from.start))).toBe(0);
    // The native decoder went first, and fflate again from the same checkpoint.
    expect(counting.starts.filter((s) => s === point.in).length).toBe(2);
  });

  test('a later member that is corrupt still fails its CRC when read from a checkpoint', async () => {
    const layer = layers[2]!;
    const { listing, checkpoints } = await listWithCheckpoints(layer);
    const data = new Uint8Array(await readFile(file(layer.name)));
    const cps = checkpoints!;
    const point = cps.points.find((p) => p.window)!;
    // The next member starts after the checkpoint's own: flip one bit of its CRC-32.
    const next = cps.points.find((p) => !p.window && p.in > point.in)!;
    data[next.in - 8] = data[next.in - 8]! ^ 1;
    const { tar } = await tarFrom(new Blob([data]), 'gzip', cps, point.out);
    const err = await readFileBytes(tar, 0, listing.uncompressedSize, listing.uncompressedSize)
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecompressError);
    expect((err as Error).message).toMatch(/trailer check/);
  });

  test('without checkpoints (or with another compression) a read starts at the beginning', async () => {
    const blob = new CountingBlob(new Blob([await readFile(file('best.gz'))]));
    // The stream opens the blob on its first read.
    const first = async (tar: ReadableStream<Uint8Array>) => {
      const reader = tar.getReader();
      await reader.read();
      await reader.cancel();
    };
    const from = await tarFrom(blob, 'gzip', undefined, 5_000_000);
    expect(from.start).toBe(0);
    await first(from.tar);
    const zst = (await listWithCheckpoints(layers[3]!)).checkpoints;
    const other = await tarFrom(blob, 'gzip', zst, 5_000_000);
    expect(other.start).toBe(0);
    await first(other.tar);
    expect(blob.starts).toEqual([0, 0]);
  });
});

/** A blob's stream, in 16 KiB pieces, that stops handing out bytes once `at` bytes are out,
 * until `release`. */
function gated(blob: Blob, at: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const paused = new Promise<void>((r) => (reached = r));
  let out = 0;
  const open = () =>
    new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          if (out >= at) {
            reached();
            await released;
          }
          if (out >= blob.size) return c.close();
          const piece = new Uint8Array(await blob.slice(out, out + 16384).arrayBuffer());
          out += piece.length;
          c.enqueue(piece);
        },
      },
      { highWaterMark: 0 },
    );
  return { open, paused, release };
}

describe('checkpoints recorded so far, while the pass runs', { timeout: 60_000 }, () => {
  test('a read issued mid-pass starts at the last one recorded and gets its bytes right', async () => {
    const layer = layers[1]!;
    const blob = new Blob([await readFile(file(layer.name))]);
    const { listing, checkpoints: listed } = await listWithCheckpoints(layer);
    const last = regular(toEntries(listing.files)).at(-1)!;
    // The pass stops two thirds of the way in, well before the last file.
    const gate = gated(blob, Math.floor((blob.size * 2) / 3));
    const found = new LiveCheckpoints('gzip', SPACING);
    const pass = recordCheckpoints(gate.open, 'gzip', {
      spacing: SPACING,
      onRecord: (r) => found.add(r),
    });
    await gate.paused;
    const so = found.snapshot();
    expect(so?.points.length, 'checkpoints recorded before the gate').toBeGreaterThan(3);
    const lastSoFar = so!.points.at(-1)!;
    expect(lastSoFar.out).toBeLessThan(last.offset);

    const cps = found.forRead(last.offset);
    expect(cps, 'the checkpoints so far are offered to the read').toBeDefined();
    const counting = new CountingBlob(blob);
    const from = await tarFrom(counting, 'gzip', cps, last.offset);
    const got = await readFileBytes(from.tar, last.offset - from.start, last.size, last.size);
    const want = await readFile(join(dir, 'want', last.path));
    expect(Buffer.compare(got.bytes, want), last.path).toBe(0);
    expect(from.start).toBe(lastSoFar.out);
    expect(counting.starts).toEqual([lastSoFar.in]);

    // The pass goes on to the end: what it stores begins with what reads were offered.
    gate.release();
    const stored = (await pass)!;
    expect(stored.points.slice(0, so!.points.length)).toEqual(so!.points);
    // Its larger pushes find the same checkpoints as a listing that records them.
    expect(stored.points).toEqual(listed!.points);
    const bytes = async (b: Blob) => new Uint8Array(await b.arrayBuffer());
    const soFar = await bytes(so!.windows);
    expect((await bytes(stored.windows)).subarray(0, soFar.length)).toEqual(soFar);
  });

  test('a read goes from the start when that is estimated sooner', () => {
    const cases: [string, number, number, number | undefined, number | undefined, boolean][] = [
      // name, offset, checkpoint, checkpoint rate, start rate, want checkpoint
      ['no rates', 100, 10, undefined, undefined, true],
      ['no start rate', 100, 10, 1, undefined, true],
      ['close checkpoint, slower decoder', 100, 90, 1, 3, true],
      ['far checkpoint, slower decoder', 100, 10, 1, 3, false],
      ['equal estimates', 100, 50, 1, 2, true],
    ];
    for (const [name, offset, from, fromRate, startRate, want] of cases) {
      expect(soonerFromCheckpoint(offset, from, fromRate, startRate), name).toBe(want);
    }
    const found = new LiveCheckpoints('zstd', SPACING, 10_000, 0);
    found.add({ point: { out: 1 << 20, in: 5000, bit: 0 } }, 1000);
    // The pass decodes 1 MiB per second, a read from the start ten times as fast.
    expect(found.forRead(1.5 * (1 << 20))).toBeUndefined();
    expect(found.forRead((1 << 20) + 100)?.points).toHaveLength(1);
    expect(found.forRead(100)).toBeUndefined();
  });

  test('a window out of order is refused, not misplaced', () => {
    const found = new LiveCheckpoints('gzip', SPACING);
    const point = (out: number, at: number) => ({
      out,
      in: out / 2,
      bit: 0,
      member: 0,
      window: { at, size: 4, length: 32768 },
    });
    found.add({ point: point(100, 0), window: new Uint8Array(4) });
    expect(() => found.add({ point: point(200, 8), window: new Uint8Array(4) })).toThrow(/window/);
    expect(() => found.add({ point: point(200, 4) })).toThrow(/window/);
    expect(() => found.add({ point: point(50, 4), window: new Uint8Array(4) })).toThrow(/order/);
    found.add({ point: point(200, 4), window: new Uint8Array(4) });
    expect(found.snapshot()?.points.map((p) => p.out)).toEqual([100, 200]);
  });
});

describe('uncompressed layers', { timeout: 60_000 }, () => {
  test('are read from the file itself, without checkpoints', async () => {
    const blob = new CountingBlob(new Blob([await readFile(file('layer.tar'))]));
    const listing = await listLayer(blob.stream(), { yieldMs: 1000 });
    const last = regular(toEntries(listing.files)).at(-1)!;
    blob.starts.length = 0;
    blob.read = 0;
    const from = await tarFrom(blob, 'none', undefined, last.offset);
    const got = await readFileBytes(from.tar, last.offset - from.start, last.size, last.size);
    const want = await readFile(join(dir, 'want', last.path));
    expect(Buffer.compare(got.bytes, want)).toBe(0);
    expect(blob.starts).toEqual([last.offset]);
    expect(blob.read).toBeLessThanOrEqual(blob.size - last.offset);
  });
});

describe('stored checkpoints', { timeout: 60_000 }, () => {
  test('the memory store keeps them, windows and all, and deletes them with the blob', async () => {
    const store = memoryStore();
    const { checkpoints } = await listWithCheckpoints(layers[1]!);
    const cps: LayerCheckpoints = checkpoints!;
    await store.layerCheckpoints.put('sha256:x', cps);
    const back = (await store.layerCheckpoints.get('sha256:x'))!;
    expect(back.points).toEqual(cps.points);
    expect(back.spacing).toBe(SPACING);
    const bytes = async (b: Blob) => new Uint8Array(await b.arrayBuffer());
    expect(await bytes(back.windows)).toEqual(await bytes(cps.windows));
    await store.content.delete('sha256:x');
    expect(await store.layerCheckpoints.get('sha256:x')).toBeUndefined();
  });
});
