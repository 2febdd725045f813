// Berth's decoders against the reference tools. Real .gz and .zst streams are made at test time
// by gzip and zstd from real files, then mutated with a fixed seed (bit flips, truncations,
// inserted and deleted bytes); for every mutant, `gzip -dc` / `zstd -dc` decide: what they
// reject Berth rejects with a DecompressError, what they accept Berth decodes to the same bytes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decompress, DecompressError } from '../../src/lib/layers/decompress.ts';
import { listLayer } from '../../src/lib/layers/read.ts';

/** More mutants per stream for a longer run: REFERENCE_SCALE=10 npx vitest run <this file>. */
const scale = Number(process.env['REFERENCE_SCALE'] ?? 1);
let dir: string;
const fixtures: Record<string, Uint8Array> = {};

function run(cmd: string, args: string[], input?: Uint8Array) {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20, cwd: dir });
  return { status: r.status, stdout: new Uint8Array(r.stdout), stderr: String(r.stderr) };
}
const sh = (script: string) => {
  const r = run('sh', ['-c', script]);
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
};

type Outcome = { ok: Uint8Array } | { error: unknown };

async function berth(data: Uint8Array, compression: 'gzip' | 'zstd', native = false) {
  const parts: Uint8Array[] = [];
  try {
    const stream = decompress(
      () => new Blob([data as Uint8Array<ArrayBuffer>]).stream(),
      compression,
      {
        native,
      },
    );
    const reader = stream.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      parts.push(r.value.slice());
    }
  } catch (error) {
    return { error } satisfies Outcome;
  }
  return { ok: Buffer.concat(parts) } satisfies Outcome;
}

/** A small fast PRNG (mulberry32), so every run mutates the same way. */
function prng(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

/** `count` deterministic mutants of `data`, each with a name saying what was done. */
function mutants(data: Uint8Array, count: number, seed: number) {
  const rand = prng(seed);
  const out: { what: string; bytes: Uint8Array }[] = [];
  for (let k = 0; k < count; k++) {
    const at = rand(data.length);
    const kind = k % 5;
    let bytes: Uint8Array;
    let what: string;
    if (kind === 0 || kind === 1) {
      const bit = 1 << rand(8);
      bytes = data.slice();
      bytes[at] = (bytes[at] ?? 0) ^ bit;
      what = `flip bit ${bit} at ${at}`;
    } else if (kind === 2) {
      bytes = data.slice(0, at);
      what = `truncate at ${at}`;
    } else if (kind === 3) {
      const b = rand(256);
      bytes = Buffer.concat([data.subarray(0, at), Uint8Array.of(b), data.subarray(at)]);
      what = `insert ${b} at ${at}`;
    } else {
      bytes = Buffer.concat([data.subarray(0, at), data.subarray(at + 1)]);
      what = `delete byte at ${at}`;
    }
    out.push({ what, bytes });
  }
  return out;
}

/** Tells where Berth and the reference tool part ways on one input, or undefined. */
async function disagreement(
  name: string,
  bytes: Uint8Array,
  kind: 'gzip' | 'zstd',
  native = false,
) {
  const ref = run(kind, ['-dcq'], bytes);
  const got = await berth(bytes, kind, native);
  if ('error' in got && !(got.error instanceof DecompressError)) {
    return `${name}: Berth threw ${String(got.error)}, not a DecompressError`;
  }
  // gzip warns (status 2) on trailing garbage after a good member, and ignores trailing zeros;
  // moby (Go's gzip reader) rejects both, so Berth may too, as long as it says so.
  const lenient = kind === 'gzip' && (ref.status === 2 || /trailing/.test(ref.stderr));
  if (ref.status !== 0 && !lenient) {
    return 'error' in got
      ? undefined
      : `${name}: ${kind} rejects (${ref.stderr.trim()}), Berth accepts`;
  }
  if ('error' in got) {
    // zstd 1.5.4's fast Huffman decoder (large literal sections) does not check that a stream
    // ends where it should, and its plain one does; Berth always checks, so it may refuse
    // corrupt literals that zstd decodes (to bytes that differ from the original anyway).
    const huffman = kind === 'zstd' && /huffman literals stream/.test(String(got.error));
    return (lenient || huffman) && got.error instanceof DecompressError
      ? undefined
      : `${name}: ${kind} accepts, Berth rejects: ${String(got.error)}`;
  }
  return Buffer.compare(Buffer.from(got.ok), Buffer.from(ref.stdout)) === 0
    ? undefined
    : `${name}: Berth decodes ${got.ok.length} bytes, ${kind} ${ref.stdout.length}, and they differ`;
}

/** A skippable frame (magic 0x184D2A5?) holding `payload`. */
function skippable(payload: Uint8Array, nibble = 0) {
  const head = new Uint8Array(8);
  new DataView(head.buffer).setUint32(0, 0x184d2a50 + nibble, true);
  new DataView(head.buffer).setUint32(4, payload.length, true);
  return Buffer.concat([head, payload]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-reference-'));
  // Text (matches reach far back) (~46 KB of licences) and a binary (~100 KB): small enough for hundreds of runs.
  sh(
    'cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 | head -c 100000 > text &&' +
      'head -c 100000 "$(command -v sh)" > bin &&' +
      'zstd -q -c text > text.zst && zstd -q -19 -c bin > bin.zst &&' +
      'zstd -q --no-check -c text > nocheck.zst &&' +
      'cat text | zstd -q -c --no-check > stream.zst &&' +
      'zstd -q -c --long=20 --zstd=wlog=10 text > smallwindow.zst &&' +
      'zstd -q -c -1 bin > bin1.zst &&' +
      'gzip -n -c text > text.gz && gzip -9 -c bin > bin.gz && gzip -1 -c text > text1.gz',
  );
  for (const name of [
    'text',
    'text.zst',
    'bin.zst',
    'nocheck.zst',
    'stream.zst',
    'smallwindow.zst',
    'bin1.zst',
    'text.gz',
    'bin.gz',
    'text1.gz',
  ]) {
    fixtures[name] = new Uint8Array(await readFile(join(dir, name)));
  }
  const f = (n: string) => fixtures[n]!;
  fixtures['frames.zst'] = Buffer.concat([
    f('nocheck.zst').subarray(0, 0),
    f('bin1.zst'),
    skippable(f('text').subarray(0, 300), 7),
    f('nocheck.zst'),
  ]);
  fixtures['members.gz'] = Buffer.concat([f('text1.gz'), f('bin.gz')]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('agrees with zstd -d on mutated zstd streams', () => {
  const names = [
    'text.zst',
    'bin.zst',
    'nocheck.zst',
    'stream.zst',
    'smallwindow.zst',
    'frames.zst',
  ];
  for (const [i, name] of names.entries()) {
    test(
      name,
      async () => {
        const data = fixtures[name]!;
        expect(await disagreement(name, data, 'zstd')).toBeUndefined();
        const problems: string[] = [];
        for (const m of mutants(data, 60 * scale, 1000 + i)) {
          const d = await disagreement(`${name}, ${m.what}`, m.bytes, 'zstd');
          if (d) problems.push(d);
        }
        expect(problems).toEqual([]);
      },
      120_000,
    );
  }
});

describe('agrees with gzip -d on mutated gzip streams', () => {
  for (const [i, name] of ['text.gz', 'bin.gz', 'members.gz'].entries()) {
    for (const native of [false, true]) {
      test(
        `${name}, ${native ? 'native' : 'fflate'}`,
        async () => {
          const data = fixtures[name]!;
          expect(await disagreement(name, data, 'gzip', native)).toBeUndefined();
          const problems: string[] = [];
          for (const m of mutants(data, 50 * scale, 2000 + i)) {
            const d = await disagreement(`${name}, ${m.what}`, m.bytes, 'gzip', native);
            if (d) problems.push(d);
          }
          expect(problems).toEqual([]);
        },
        120_000 * scale,
      );
    }
  }
});

/** The DecompressError Berth gives for `data`, or fails the test. */
async function rejection(data: Uint8Array, kind: 'gzip' | 'zstd', native = false) {
  const got = await berth(data, kind, native);
  if (!('error' in got)) throw new Error('Berth accepted the input');
  expect(got.error).toBeInstanceOf(DecompressError);
  return String(got.error);
}

describe('regressions from issue 13', () => {
  test('an 18-byte zstd frame declaring ~98,000 sequences of ~128 KiB fails, and fast', async () => {
    // From the issue: one compressed block whose sequences section declares 0xffff + 0x7f00
    // sequences; fzstd used to run them all, writing past its buffer.
    const hex = '28b52ffd00004d000000ffffff5423053401';
    const frame = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    expect(await rejection(frame, 'zstd')).toMatch(/corrupt data: sequences bitstream/);
    expect(run('zstd', ['-t'], frame).status).not.toBe(0);
  });

  test('frames of a few bytes that declare 128 MiB windows each stop at the window budget', async () => {
    // Found in review: fzstd allocates every frame's whole window up front, so 9 bytes cost
    // 128 MiB each. The frame is zstd's own format: magic, descriptor 0 (no content size),
    // window descriptor 0x88 (2^27), one empty last raw block; `zstd -t` accepts it.
    const frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88, 0x01, 0x00, 0x00];
    const one = Uint8Array.from(frame);
    expect(run('zstd', ['-t', '--memory=128MB'], one).status).toBe(0);
    const many = Uint8Array.from(
      { length: frame.length * 400 },
      (_, i) => frame[i % frame.length]!,
    );
    expect(await rejection(many, 'zstd')).toMatch(/declare \d+ bytes of windows/);
    // A few such frames are within the budget.
    const few = Uint8Array.from({ length: frame.length * 4 }, (_, i) => frame[i % frame.length]!);
    expect(await berth(few, 'zstd')).not.toHaveProperty('error');
  });

  test('input that decodes to nothing still lets a cancel in (the decoder yields)', async () => {
    // Skippable frames (magic 0x184D2A50, size 0): 64 MiB of them from memory, each read
    // resolved at once. Without a yield the read runs to the end, and the abort comes after.
    const frame = Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);
    const chunk = Uint8Array.from({ length: 1 << 20 }, (_, i) => frame[i % 8]!);
    let pulled = 0;
    const ac = new AbortController();
    const input = new ReadableStream<Uint8Array>({
      pull(c) {
        // Once decoding is under way, a cancel arrives as a task, as a worker's message does.
        if (++pulled === 2) setTimeout(() => ac.abort(new Error('cancelled by the test')), 0);
        if (pulled > 64) c.close();
        else c.enqueue(chunk);
      },
    });
    const out = decompress(() => input, 'zstd', { signal: ac.signal });
    await expect(out.getReader().read()).rejects.toThrow('cancelled by the test');
    expect(pulled).toBeLessThan(64);
  });

  test('a wrong Frame_Content_Size, larger or smaller, is refused and named', async () => {
    // zstd writes the content size of a file it reads from disk, in a single-segment frame
    // when it is small: byte 4 is the descriptor, the size follows (2 bytes, minus 256).
    sh('head -c 5000 text > small && zstd -q -f small -o small.zst');
    const good = new Uint8Array(await readFile(join(dir, 'small.zst')));
    expect(good[4]! & 0xe0).toBe(0x60);
    for (const delta of [1, -1]) {
      const bad = good.slice();
      new DataView(bad.buffer).setUint16(5, 5000 - 256 + delta, true);
      expect(run('zstd', ['-t'], bad).status).not.toBe(0);
      // One byte short, the frame's window (its content size) is also smaller than its block.
      const why = delta > 0 ? /Frame_Content_Size/ : /Frame_Content_Size|block maximum/;
      expect(await rejection(bad, 'zstd')).toMatch(why);
    }
  });

  test('a gzip member with a wrong header CRC (FHCRC) is refused; a right one passes', async () => {
    // gzip never writes FHCRC; set the flag and insert the CRC-16 into `gzip -n` output.
    const plain = fixtures['text.gz']!;
    const header = plain.slice(0, 10);
    header[3] = header[3]! | 2;
    const crc = crc16(header);
    const make = (value: number) =>
      Buffer.concat([header, Uint8Array.of(value & 0xff, value >> 8), plain.subarray(10)]);
    expect(run('gzip', ['-t'], make(crc)).status).toBe(0);
    expect(await disagreement('right FHCRC', make(crc), 'gzip')).toBeUndefined();
    const wrong = make(crc ^ 0x0100);
    expect(run('gzip', ['-t'], wrong).status).not.toBe(0);
    for (const native of [false, true]) {
      expect(await rejection(wrong, 'gzip', native)).toMatch(/header CRC \(FHCRC/);
    }
    // The same in the second member of two.
    const two = Buffer.concat([fixtures['text1.gz']!, wrong]);
    expect(await rejection(two, 'gzip')).toMatch(/header CRC \(FHCRC/);
  });

  test('a gzip member with a reserved flag bit set is refused', async () => {
    const bad = fixtures['text.gz']!.slice();
    bad[3] = bad[3]! | 0x20;
    expect(run('gzip', ['-t'], bad).status).not.toBe(0);
    expect(await rejection(bad, 'gzip')).toMatch(/reserved header flag bits/);
  });

  test('the size and ratio caps name themselves', async () => {
    const open = (name: string) => () =>
      new Blob([fixtures[name]! as Uint8Array<ArrayBuffer>]).stream();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      const r = s.getReader();
      while (!(await r.read()).done);
    };
    for (const [name, kind] of [
      ['text.zst', 'zstd'],
      ['text.gz', 'gzip'],
    ] as const) {
      await expect(drain(decompress(open(name), kind, { maxSize: 20_000 }))).rejects.toThrow(
        /more than 20000 bytes, Berth's cap on a layer's uncompressed size/,
      );
      await expect(
        drain(decompress(open(name), kind, { maxRatio: 2, ratioGrace: 1000 })),
      ).rejects.toThrow(/expands more than 2 times .* Berth's cap on the compression ratio/);
    }
  });
});

/** The low 16 bits of the CRC-32 (gzip's) of `bytes`. */
function crc16(bytes: Uint8Array) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) & 0xffff;
}

describe('the diffID guards what a zstd frame without a checksum cannot', () => {
  test('a corrupted layer that zstd -d still decodes hashes to another diffID', async () => {
    // A real layer: a tar of text files, in one zstd frame without a content checksum.
    sh('tar -cf layer.tar -C /usr/share common-licenses && zstd -q -f --no-check layer.tar');
    const tar = new Uint8Array(await readFile(join(dir, 'layer.tar')));
    const layer = new Uint8Array(await readFile(join(dir, 'layer.tar.zst')));
    const diffID = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const open = (b: Uint8Array) => () => new Blob([b as Uint8Array<ArrayBuffer>]).stream();
    const sha = (id: string) => `sha256:${id.replace(/^sha256:/, '')}`;
    const good = await listLayer(decompress(open(layer), 'zstd'));
    expect(sha(good.diffID)).toBe(diffID);
    // The first deterministic bit flip that zstd decodes without complaint, to other bytes,
    // and that Berth lists too (a flip in a file's content, not in a tar header): only the
    // diffID, which the layer view compares with the config's, can tell.
    const rand = prng(13);
    let tried = 0;
    for (; tried < 500; tried++) {
      const bad = layer.slice();
      const at = 20 + rand(layer.length - 20);
      bad[at] = bad[at]! ^ (1 << rand(8));
      const ref = run('zstd', ['-dcq'], bad);
      if (ref.status !== 0 || Buffer.compare(Buffer.from(ref.stdout), Buffer.from(tar)) === 0) {
        continue;
      }
      const listed = await listLayer(decompress(open(bad), 'zstd')).catch(() => undefined);
      if (!listed) continue;
      expect(sha(listed.diffID)).not.toBe(diffID);
      expect(sha(listed.diffID)).toBe(
        `sha256:${createHash('sha256').update(ref.stdout).digest('hex')}`,
      );
      break;
    }
    expect(tried).toBeLessThan(500);
  });
});
