// Every fixture is made at test time by the real tools (GNU tar, gzip, zstd) from files that any
// Debian system has, and every expected output is what `gzip -dc` or `zstd -dc` says it is.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decompress,
  DecompressError,
  type DecompressOptions,
  type NativeGunzipPair,
  UnsupportedCompressionError,
} from '../../src/lib/layers/decompress.ts';
import type { Compression } from '../../src/lib/oci/mediatypes.ts';

const exec = promisify(execFile);
const sh = (script: string) => exec('sh', ['-c', script], { cwd: dir, maxBuffer: 1 << 20 });

let dir: string;
const file = (name: string) => join(dir, name);
const bytes = async (name: string) => new Uint8Array(await readFile(file(name)));
/** Flips bits of one byte of a copy made for corrupting. */
const xor = (b: Uint8Array, at: number, bits: number) => (b[at] = (b[at] ?? 0) ^ bits);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** sha256 and length of `gzip -dc` / `zstd -dc` of a fixture, or of the file itself. */
async function expected(name: string) {
  const tool = name.endsWith('.gz') ? 'gzip -dc' : name.endsWith('.zst') ? 'zstd -dc' : 'cat';
  const { stdout } = await sh(`${tool} ${name} | tee ${name}.out | sha256sum`);
  return { sha: stdout.split(' ')[0], length: (await stat(file(`${name}.out`))).size };
}

/** Regular files from `from`, in name order, until they add up to `total` bytes; shell-quoted. */
async function pickFiles(from: string, total: number) {
  const picked: string[] = [];
  let size = 0;
  for (const name of (await readdir(from)).sort()) {
    const s = await stat(join(from, name)).catch(() => undefined);
    if (!s?.isFile() || s.size === 0 || s.size > total / 4) continue;
    picked.push(`'${name.replaceAll("'", "'\\''")}'`);
    size += s.size;
    if (size >= total) break;
  }
  return picked;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-decompress-'));
  // Binaries compress ~2:1, the licence texts ~3:1: a layer-like mix.
  const bins = (await pickFiles('/usr/bin', 3_000_000)).join(' ');
  const small = (await pickFiles('/usr/bin', 400_000)).join(' ');
  await sh(
    [
      `tar -cf big.tar -C /usr/bin ${bins} -C /usr/share common-licenses`,
      `tar -cf a.tar -C /usr/share common-licenses`,
      `tar -cf b.tar -C /usr/bin ${small}`,
      'gzip -c big.tar > big.tar.gz',
      'zstd -q -c big.tar > big.tar.zst',
      'zstd -q -c --no-check big.tar > nocheck.tar.zst',
      'gzip -c a.tar > multi.gz && gzip -c b.tar >> multi.gz',
      'zstd -q -c a.tar > multi.zst && zstd -q -c --no-check b.tar >> multi.zst',
      // eStargz-like: one gzip member per file.
      'for f in /usr/share/common-licenses/*; do gzip -c "$f" >> many.gz; done',
      // Cut inside the second member's header, which fflate alone takes for a clean end.
      'gzip -c a.tar > cut-header.gz && gzip -c b.tar | head -c 3 >> cut-header.gz',
      // Incompressible data goes into stored (raw) blocks, where a flipped byte decodes fine
      // and only the CRC-32 or the zstd content checksum can catch it.
      'head -c 300000 /dev/urandom > random',
      'gzip -c random > random.gz && zstd -q -c random > random.zst',
      'head -c 200M /dev/zero | gzip -c > bomb.gz',
      'head -c 200M /dev/zero | zstd -q -c > bomb.zst',
      "printf '' | zstd -q -c > empty-frame.zst",
    ].join(' && '),
  );
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Stats {
  opens: number;
  /** Compressed bytes handed to the decoder, over all opens. */
  pulled: number;
  cancels: unknown[];
}

/** A pull-based source over `data`, the way a Blob's stream() is, that counts what it gives. */
function source(data: Uint8Array, chunkSize = 64 * 1024, failAt = Infinity) {
  const stats: Stats = { opens: 0, pulled: 0, cancels: [] };
  const open = () => {
    stats.opens++;
    let pos = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (pos >= failAt) throw new Error(`disk on fire at ${pos}`);
          if (pos >= data.length) return controller.close();
          const piece = data.slice(pos, pos + chunkSize);
          pos += piece.length;
          stats.pulled += piece.length;
          controller.enqueue(piece);
        },
        cancel(reason) {
          stats.cancels.push(reason);
        },
      },
      { highWaterMark: 0 },
    );
  };
  return { open, stats };
}

async function drain(stream: ReadableStream<Uint8Array>) {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    length += chunk.length;
  }
  return { sha: hash.digest('hex'), length };
}

/** Fails like Chromium's DecompressionStream on multi-member gzip: it decodes (with Node's real
 * decoder) and delivers `limit` bytes, then errors. */
function failingNative(limit: number): () => NativeGunzipPair {
  return () => {
    const real = new DecompressionStream('gzip');
    let seen = 0;
    const cut = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (seen >= limit) throw new TypeError('Junk found after end of compressed data.');
        const part = chunk.subarray(0, limit - seen);
        seen += part.length;
        controller.enqueue(part);
      },
      flush() {
        if (seen >= limit) throw new TypeError('Junk found after end of compressed data.');
      },
    });
    return { writable: real.writable, readable: real.readable.pipeThrough(cut) };
  };
}

type Case = { name: string; fixture: string; compression: Compression; opts?: DecompressOptions };

describe('decodes what gzip -dc and zstd -dc decode', () => {
  const cases: Case[] = [
    { name: 'gzip, native', fixture: 'big.tar.gz', compression: 'gzip' },
    { name: 'gzip, fflate', fixture: 'big.tar.gz', compression: 'gzip', opts: { native: false } },
    { name: 'multi-member gzip, native', fixture: 'multi.gz', compression: 'gzip' },
    {
      name: 'multi-member gzip, fflate',
      fixture: 'multi.gz',
      compression: 'gzip',
      opts: { native: false },
    },
    {
      name: 'gzip with one member per file, fflate',
      fixture: 'many.gz',
      compression: 'gzip',
      opts: { native: false },
    },
    { name: 'zstd with checksum', fixture: 'big.tar.zst', compression: 'zstd' },
    { name: 'zstd without checksum', fixture: 'nocheck.tar.zst', compression: 'zstd' },
    { name: 'two zstd frames, one checked', fixture: 'multi.zst', compression: 'zstd' },
    { name: 'zstd frame of nothing', fixture: 'empty-frame.zst', compression: 'zstd' },
    { name: 'none', fixture: 'big.tar', compression: 'none' },
  ];
  for (const { name, fixture, compression, opts } of cases) {
    for (const chunkSize of [64 * 1024, 1000]) {
      test(`${name}, input in ${chunkSize}-byte chunks`, async () => {
        const want = await expected(fixture);
        const { open } = source(await bytes(fixture), chunkSize);
        const got = await drain(decompress(open, compression, opts));
        expect(got, `decompress(${fixture})`).toEqual(want);
      });
    }
  }

  test('the multi-member fixtures really are multi-member', async () => {
    // gzip -l reports a multi-member file as one; count member headers instead.
    const many = await bytes('many.gz');
    let members = 0;
    for (let i = 0; i + 2 < many.length; i++) {
      if (many[i] === 0x1f && many[i + 1] === 0x8b && many[i + 2] === 8) members++;
    }
    expect(members).toBeGreaterThan(10);
  });

  test("'none' hands the input chunks through as they are", async () => {
    const data = await bytes('a.tar');
    const { open } = source(data, 4096);
    const chunks: Uint8Array[] = [];
    for await (const c of decompress(open, 'none')) chunks.push(c);
    expect(chunks.every((c) => c.length === 4096 || c === chunks.at(-1))).toBe(true);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
  });
});

describe('skippable zstd frames (RFC 8878 section 3.1.2), as zstd:chunked writes them', () => {
  // Magic 0x184D2A5?, a 4-byte little-endian length, then that many bytes of anything.
  function skippable(payload: Uint8Array, nibble = 0) {
    const frame = new Uint8Array(8 + payload.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, 0x184d2a50 + nibble, true);
    view.setUint32(4, payload.length, true);
    frame.set(payload, 8);
    return frame;
  }

  test('are passed over before, between and after frames, like zstd -dc does', async () => {
    const a = await bytes('multi.zst');
    const junk = await bytes('a.tar');
    const data = Buffer.concat([skippable(junk.subarray(0, 1000), 0xf), a, skippable(junk), a]);
    await writeFile(file('skippable.zst'), data);
    const want = await expected('skippable.zst');
    const got = await drain(decompress(source(data, 777).open, 'zstd'));
    expect(got).toEqual(want);
  });
});

describe('the native gzip decoder falls back to fflate', () => {
  // What delivered bytes the failing native decoder gets to deliver before it fails.
  const limits = [
    { name: 'right after the first member, as Chromium does', limit: -1 },
    { name: 'in the middle of a chunk', limit: 12_345 },
    { name: 'before any output', limit: 0 },
  ];
  for (const { name, limit } of limits) {
    test(`when it fails ${name}`, async () => {
      const firstMember = (await stat(file('a.tar'))).size;
      const want = await expected('multi.gz');
      const { open, stats } = source(await bytes('multi.gz'));
      const nativeGunzip = failingNative(limit < 0 ? firstMember : limit);
      const got = await drain(decompress(open, 'gzip', { nativeGunzip }));
      expect(got).toEqual(want);
      expect(stats.opens, 'opens: the native attempt, then fflate').toBe(2);
    });
  }

  test('Node 20 reads every member itself, so there it does not fall back', async () => {
    const { open, stats } = source(await bytes('many.gz'));
    expect(await drain(decompress(open, 'gzip'))).toEqual(await expected('many.gz'));
    expect(stats.opens).toBe(1);
  });

  test('and reports corrupt data as fflate finds it', async () => {
    const data = await bytes('multi.gz');
    xor(data, data.length >> 1, 0xff);
    const { open, stats } = source(data);
    const err = await drain(decompress(open, 'gzip', { nativeGunzip: failingNative(0) })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecompressError);
    expect(stats.opens).toBe(2);
  });
});

describe('bad data is an error, never a short or wrong success', () => {
  type Bad = { name: string; fixture: string; compression: Compression; mangle: Mangle };
  type Mangle = (b: Uint8Array) => Uint8Array;
  const half: Mangle = (b) => b.subarray(0, b.length >> 1);
  const flip: Mangle = (b) => {
    const c = b.slice();
    for (let i = 0; i < 4; i++) xor(c, (c.length >> 1) + i, 0xa5);
    return c;
  };
  const flipOne: Mangle = (b) => {
    const c = b.slice();
    xor(c, c.length >> 1, 1);
    return c;
  };
  const bad: Bad[] = [
    { name: 'gzip cut in half', fixture: 'big.tar.gz', compression: 'gzip', mangle: half },
    // fflate alone accepts all of these three.
    {
      name: 'gzip cut inside its trailer',
      fixture: 'big.tar.gz',
      compression: 'gzip',
      mangle: (b) => b.subarray(0, -3),
    },
    {
      name: 'gzip cut right after a header',
      fixture: 'big.tar.gz',
      compression: 'gzip',
      mangle: (b) => b.subarray(0, 10),
    },
    {
      name: 'multi-member gzip cut inside the second header',
      fixture: 'cut-header.gz',
      compression: 'gzip',
      mangle: (b) => b,
    },
    { name: 'gzip with flipped bytes', fixture: 'big.tar.gz', compression: 'gzip', mangle: flip },
    {
      name: 'gzip with a wrong CRC',
      fixture: 'big.tar.gz',
      compression: 'gzip',
      mangle: (b) => {
        const c = b.slice();
        xor(c, c.length - 6, 1);
        return c;
      },
    },
    {
      name: 'gzip with a flipped byte in a stored block',
      fixture: 'random.gz',
      compression: 'gzip',
      mangle: flipOne,
    },
    { name: 'gzip of nothing', fixture: 'big.tar.gz', compression: 'gzip', mangle: () => EMPTY },
    { name: 'a tar called gzip', fixture: 'big.tar', compression: 'gzip', mangle: (b) => b },
    { name: 'zstd cut in half', fixture: 'big.tar.zst', compression: 'zstd', mangle: half },
    {
      name: 'zstd cut inside its checksum',
      fixture: 'big.tar.zst',
      compression: 'zstd',
      mangle: (b) => b.subarray(0, -2),
    },
    { name: 'zstd with flipped bytes', fixture: 'big.tar.zst', compression: 'zstd', mangle: flip },
    {
      name: 'zstd with a flipped byte in a raw block',
      fixture: 'random.zst',
      compression: 'zstd',
      mangle: flipOne,
    },
    { name: 'zstd of nothing', fixture: 'big.tar.zst', compression: 'zstd', mangle: () => EMPTY },
    { name: 'a tar called zstd', fixture: 'big.tar', compression: 'zstd', mangle: (b) => b },
  ];
  for (const { name, fixture, compression, mangle } of bad) {
    const paths: [string, DecompressOptions][] =
      compression === 'gzip'
        ? [
            ['native', {}],
            ['fflate', { native: false }],
          ]
        : [['fzstd', {}]];
    for (const [path, opts] of paths) {
      test(`${name} (${path})`, async () => {
        const data = mangle(await bytes(fixture));
        const { open, stats } = source(data, 8192);
        const err = await drain(decompress(open, compression, opts)).catch((e: unknown) => e);
        expect(
          err,
          `decompress(${name}) = ${JSON.stringify(err)}, want a DecompressError`,
        ).toBeInstanceOf(DecompressError);
        expect((err as DecompressError).compressedOffset).toBeLessThanOrEqual(data.length);
        expect(stats.opens).toBeLessThanOrEqual(2);
      });
    }
  }

  test('the message says what and where', async () => {
    const data = half(await bytes('big.tar.zst'));
    const err = await drain(decompress(source(data).open, 'zstd')).catch((e: unknown) => e);
    expect(String(err)).toMatch(
      /^DecompressError: zstd layer: truncated: .* \(at compressed offset \d+, uncompressed offset \d+\)$/,
    );
  });
});

const EMPTY = new Uint8Array(0);

describe('backpressure: a bomb read for 1 MiB and dropped stops early', () => {
  const bombs: [string, string, Compression, DecompressOptions, number][] = [
    // name, fixture, compression, options, largest chunk allowed
    ['gzip, native', 'bomb.gz', 'gzip', {}, Infinity],
    ['gzip, fflate', 'bomb.gz', 'gzip', { native: false }, 4 * 1024 * 1033],
    ['zstd', 'bomb.zst', 'zstd', {}, 128 * 1024],
  ];
  for (const [name, fixture, compression, opts, maxChunk] of bombs) {
    test(name, { timeout: 5000 }, async () => {
      const data = await bytes(fixture);
      // Small input chunks, so that "did not read to the end" means something for zstd's ~7 KB.
      const { open, stats } = source(data, Math.min(16 * 1024, data.length >> 4));
      const reader = decompress(open, compression, opts).getReader();
      let out = 0;
      let largest = 0;
      while (out < 1 << 20) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the bomb ended early');
        out += value.length;
        largest = Math.max(largest, value.length);
      }
      await reader.cancel('enough');
      expect(stats.pulled, `pulled ${stats.pulled} of ${data.length}`).toBeLessThan(
        data.length / 2,
      );
      expect(largest).toBeLessThanOrEqual(maxChunk);
      expect(stats.cancels).toEqual(['enough']);
    });
  }
});

describe('abort, cancel and input errors', () => {
  const paths: [string, Compression, string, DecompressOptions][] = [
    ['gzip native', 'gzip', 'big.tar.gz', {}],
    ['gzip fflate', 'gzip', 'big.tar.gz', { native: false }],
    ['zstd', 'zstd', 'big.tar.zst', {}],
    ['none', 'none', 'big.tar', {}],
  ];
  for (const [name, compression, fixture, opts] of paths) {
    test(`${name}: an abort errors the stream with its reason and cancels the input`, async () => {
      const { open, stats } = source(await bytes(fixture), 16 * 1024);
      const ac = new AbortController();
      const reader = decompress(open, compression, { ...opts, signal: ac.signal }).getReader();
      await reader.read();
      const reason = new Error('user closed the viewer');
      ac.abort(reason);
      await expect(reader.read()).rejects.toBe(reason);
      await new Promise((r) => setTimeout(r, 10));
      expect(stats.cancels).toEqual([reason]);
      expect(stats.opens).toBe(1);
    });

    test(`${name}: an already aborted signal never opens the input`, async () => {
      const { open, stats } = source(await bytes(fixture));
      const reason = new Error('too late');
      const stream = decompress(open, compression, { ...opts, signal: AbortSignal.abort(reason) });
      await expect(drain(stream)).rejects.toBe(reason);
      expect(stats.opens).toBe(0);
    });

    test(`${name}: an input error passes through as is, without a retry`, async () => {
      const { open, stats } = source(await bytes(fixture), 16 * 1024, 200_000);
      const err = await drain(decompress(open, compression, opts)).catch((e: unknown) => e);
      expect(String(err)).toBe('Error: disk on fire at 212992');
      expect(stats.opens).toBe(1);
    });

    test(`${name}: cancelling the output cancels the input`, async () => {
      const { open, stats } = source(await bytes(fixture), 16 * 1024);
      const reader = decompress(open, compression, opts).getReader();
      await reader.read();
      await reader.cancel('bye');
      expect(stats.cancels).toEqual(['bye']);
    });
  }

  test("'unknown' throws at once and opens nothing", () => {
    let opened = false;
    const open = () => {
      opened = true;
      return new ReadableStream<Uint8Array>();
    };
    expect(() => decompress(open, 'unknown')).toThrow(UnsupportedCompressionError);
    expect(() => decompress(open, 'unknown')).toThrow(/only gzip, zstd and uncompressed tar/);
    expect(opened).toBe(false);
  });

  test('nothing is read before the consumer reads', async () => {
    const { open, stats } = source(await bytes('big.tar.gz'));
    decompress(open, 'gzip');
    await new Promise((r) => setTimeout(r, 10));
    expect(stats.opens).toBe(0);
  });
});
