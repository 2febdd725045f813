// Plain gzip layers read through a SOCI index attached as a referrer, never downloaded: the
// layer is made by GNU tar and gzip, its zTOC built to the published format by
// test/harness/soci.ts. The in-memory registry records every Range it serves, so each case
// states the bytes fetched.
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, test } from 'vitest';
import { TocError } from '../../src/lib/layers/toc/toc.ts';
import type { RemoteLayer } from '../../src/lib/layers/toc/remote.ts';
import { parseZtoc, type SociIndex } from '../../src/lib/layers/toc/soci.ts';
import { readSoci, readSociFile, sociZtocs } from '../../src/lib/layers/toc/soci-remote.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { MemoryRegistry, type Request } from '../harness/memory-registry.ts';
import {
  buildZtoc,
  gzipLayer,
  gzipMembers,
  sociIndex,
  sociIndexV2,
  type Ztoc,
} from '../harness/soci.ts';

const gzipType = 'application/vnd.oci.image.layer.v1.tar+gzip';
const repo = 'soci/app';

function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const served = (reqs: Request[]) =>
  reqs.reduce((n, r) => n + (r.end !== undefined ? r.end - (r.start ?? 0) + 1 : 0), 0);

const lines = Array.from({ length: 30000 }, (_, i) => `line ${i}\n`).join('');
const big = noise(400_000, 7);
let blob: Buffer;
let tar: Buffer;
let ztoc: Ztoc;

beforeAll(async () => {
  blob = await gzipLayer([
    { path: 'etc/hello', content: 'hello\n' },
    { path: 'usr/bin/big', content: big },
    { path: 'usr/share/numbers', content: lines },
  ]);
  tar = gunzipSync(blob);
  ztoc = await buildZtoc(blob);
}, 60_000);

function setup(z: Buffer = ztoc.bytes) {
  const registry = new MemoryRegistry();
  // A copy: a fault may flip bytes of what it serves.
  const desc: Descriptor = registry.blob(repo, Buffer.from(blob), gzipType);
  const config = registry.blob(repo, Buffer.from('{}'), 'application/vnd.oci.image.config.v1+json');
  const image = registry.manifest(
    repo,
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [desc],
    } as { mediaType: string },
    'v1',
  );
  const soci = sociIndex(desc, z, image);
  registry.blob(repo, z, 'application/octet-stream');
  registry.blob(repo, Buffer.from('{}'), soci.manifest.config.mediaType);
  const sociDesc = registry.manifest(repo, soci.manifest);
  expect(sociDesc.digest).toBe(soci.referrers.manifests[0]!.digest);
  registry.manifest(repo, soci.referrers, soci.tag);
  const client = new RegistryClient({ transport: registry.transport, retry: { attempts: 1 } });
  const ref = parseReference(`${registry.host}/${repo}`);
  const layer: RemoteLayer = { client, ref, desc };
  return { registry, layer, image, blobRequests: () => registry.blobRequests(desc.digest) };
}

async function open(s: ReturnType<typeof setup>): Promise<SociIndex> {
  const ztocs = await sociZtocs(s.layer.client, s.layer.ref, s.image.digest);
  const z = ztocs.get(s.layer.desc.digest);
  expect(z).toBeDefined();
  return readSoci(s.layer, z!);
}

async function read(layer: RemoteLayer, index: SociIndex, path: string, limit = Infinity) {
  const e = index.entries.find((x) => x.path === path)!;
  const parts: Uint8Array[] = [];
  await readSociFile(
    layer,
    index,
    e.offset,
    Math.min(e.size, limit),
    path,
    (p) => void parts.push(p),
  );
  return Buffer.concat(parts);
}

describe('SOCI', () => {
  test('lists the layer from the zTOC found among the referrers, with one byte of the layer', async () => {
    const s = setup();
    const index = await open(s);
    expect(index.entries.map((e) => `${e.type} ${e.path} ${e.size}`)).toEqual([
      'file etc/hello 6',
      `file usr/bin/big ${big.length}`,
      `file usr/share/numbers ${lines.length}`,
    ]);
    expect(index.spans.length).toBeGreaterThan(6);
    expect(index.spanDigests).toBe(true);
    // The one byte proves that the registry serves ranges.
    expect(s.blobRequests().map((r) => [r.start, r.end])).toEqual([[0, 0]]);
  });

  test('a registry that ignores Range is found out at listing, so the layer is downloaded instead', async () => {
    const s = setup();
    const ztocs = await sociZtocs(s.layer.client, s.layer.ref, s.image.digest);
    const ignoring = new RegistryClient({
      transport: (url, init, host) => {
        const headers = new Headers(init.headers);
        headers.delete('Range');
        return s.registry.transport(url, { ...init, headers }, host);
      },
      retry: { attempts: 1 },
    });
    await expect(
      readSoci({ ...s.layer, client: ignoring }, ztocs.get(s.layer.desc.digest)!),
    ).rejects.toMatchObject({
      name: 'RangeRefusedError',
      message: expect.stringMatching(/answered a request for bytes 0-0 .* with status 200/),
    });
  });

  test('opens a file fetching only the spans that hold it', { timeout: 60_000 }, async () => {
    const s = setup();
    const index = await open(s);
    const e = index.entries.find((x) => x.path === 'usr/share/numbers')!;
    expect((await read(s.layer, index, 'usr/share/numbers')).toString()).toBe(lines);
    // Exactly the compressed bytes of the spans covering the file's tar bytes.
    const need = ztoc.spans.filter((sp) => sp.outEnd > e.offset && sp.out < e.offset + e.size);
    // After the listing's one-byte probe.
    const reqs = s.blobRequests().slice(1);
    expect(reqs.map((r) => [r.start, r.end])).toEqual([[need[0]!.start, need.at(-1)!.end - 1]]);
    expect(served(reqs)).toBeLessThan(blob.length / 2);
    // A file in the middle, and its first bytes only.
    expect(await read(s.layer, index, 'usr/bin/big')).toEqual(big);
    expect(await read(s.layer, index, 'usr/bin/big', 1000)).toEqual(big.subarray(0, 1000));
    expect((await read(s.layer, index, 'etc/hello')).toString()).toBe('hello\n');
    // etc/hello is in the first span: from the first block, just past the gzip header.
    expect(s.blobRequests().at(-1)).toMatchObject({ start: 10 });
  });

  test('a span that does not match its digest is refused', { timeout: 60_000 }, async () => {
    const s = setup();
    const index = await open(s);
    const e = index.entries.find((x) => x.path === 'usr/share/numbers')!;
    const span = ztoc.spans.find((sp) => sp.outEnd > e.offset)!;
    s.registry.fault({
      when: (r) => r.kind === 'blob' && r.id === s.layer.desc.digest,
      fault: { kind: 'flip', at: span.start + 5 },
    });
    await expect(read(s.layer, index, 'usr/share/numbers')).rejects.toThrow(
      new RegExp(
        `usr/share/numbers: span at blob bytes ${span.start}-${span.end - 1} does not match its digest in the zTOC: got sha256:[0-9a-f]{64}, want sha256:[0-9a-f]{64}; refused`,
      ),
    );
  });

  test(
    'without span digests, a file still reads from its checkpoint',
    { timeout: 60_000 },
    async () => {
      const z = await buildZtoc(blob, { noDigests: true, spacing: 100_000 });
      const s = setup(z.bytes);
      const index = await open(s);
      expect(index.spanDigests).toBe(false);
      expect((await read(s.layer, index, 'usr/share/numbers')).toString()).toBe(lines);
    },
  );

  test('the tar bytes read are the tar itself, at every span', { timeout: 60_000 }, async () => {
    const s = setup();
    const index = await open(s);
    for (const sp of index.spans) {
      const parts: Uint8Array[] = [];
      const n = Math.min(5000, sp.outEnd - sp.out);
      await readSociFile(s.layer, index, sp.out, n, 'span', (p) => void parts.push(p));
      expect(Buffer.concat(parts).equals(tar.subarray(sp.out, sp.out + n))).toBe(true);
    }
  });
});

test('a multi-member gzip layer: a span that runs into the next member reads on', async () => {
  const cut = 250_000;
  const multi = await gzipMembers(tar, [cut]);
  const z = await buildZtoc(multi);
  const registry = new MemoryRegistry();
  const desc: Descriptor = registry.blob(repo, multi, gzipType);
  const client = new RegistryClient({ transport: registry.transport, retry: { attempts: 1 } });
  const layer: RemoteLayer = { client, ref: parseReference(`${registry.host}/${repo}`), desc };
  const index = parseZtoc(z.bytes, multi.length);
  const across = index.spans.find((s) => s.out < cut && s.outEnd > cut)!;
  expect(across).toBeDefined();
  const parts: Uint8Array[] = [];
  await readSociFile(layer, index, across.out, across.outEnd - across.out, 'span', (p) =>
    parts.push(p.slice()),
  );
  expect(Buffer.concat(parts).equals(tar.subarray(across.out, across.outEnd))).toBe(true);
  expect((await read(layer, index, 'usr/bin/big')).equals(big)).toBe(true);
});

test('a SOCI-enabled image (index manifest v2) names its SOCI index in its manifest', async () => {
  const registry = new MemoryRegistry();
  const desc: Descriptor = registry.blob(repo, Buffer.from(blob), gzipType);
  registry.blob(repo, ztoc.bytes, 'application/octet-stream');
  registry.blob(repo, Buffer.from('{}'), sociIndexV2);
  const soci = sociIndex(desc, ztoc.bytes);
  expect(soci.manifest.config.mediaType).toBe(sociIndexV2);
  const sociDesc = registry.manifest(repo, soci.manifest);
  const image = registry.manifest(repo, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    layers: [desc],
    annotations: { 'com.amazon.soci.index-digest': sociDesc.digest },
  } as { mediaType: string });
  const client = new RegistryClient({ transport: registry.transport, retry: { attempts: 1 } });
  const ref = parseReference(`${registry.host}/${repo}`);
  // No referrers at all: the annotation alone finds it.
  const ztocs = await sociZtocs(client, ref, image.digest, { sociIndex: sociDesc.digest });
  const index = await readSoci({ client, ref, desc }, ztocs.get(desc.digest)!);
  expect(index.entries.map((e) => e.path)).toEqual([
    'etc/hello',
    'usr/bin/big',
    'usr/share/numbers',
  ]);
  // Without it, and with no referrers, there is none.
  expect((await sociZtocs(client, ref, image.digest)).size).toBe(0);
});

describe('hostile zTOCs', () => {
  /** The zTOC with the 8 bytes of the int64 whose value is `from` replaced by `to`. */
  function patchLong(bytes: Buffer, from: number, to: bigint) {
    const b = Buffer.from(bytes);
    const at = b.indexOf(Buffer.from(new BigInt64Array([BigInt(from)]).buffer));
    expect(at).toBeGreaterThan(0);
    b.writeBigInt64LE(to, at);
    return b;
  }

  test('a layer of another size', () => {
    expect(() => parseZtoc(ztoc.bytes, blob.length + 1)).toThrow(
      new TocError(
        `the SOCI zTOC describes a layer of ${blob.length} compressed bytes, but the layer is ${blob.length + 1}`,
      ),
    );
  });

  test('a negative or huge size', () => {
    const bad = patchLong(ztoc.bytes, tar.length, -5n);
    expect(() => parseZtoc(bad, blob.length)).toThrow(
      /uncompressed_archive_size is -5, not an offset or size/,
    );
    const huge = patchLong(ztoc.bytes, blob.length, 1n << 60n);
    expect(() => parseZtoc(huge, blob.length)).toThrow(
      /compressed_archive_size is \d+, not an offset or size/,
    );
  });

  test('a file past the end of the tar', () => {
    const e = ztoc.entries.find((x) => x.path === 'usr/bin/big')!;
    const bad = patchLong(ztoc.bytes, e.size, BigInt(tar.length));
    expect(() => parseZtoc(bad, blob.length)).toThrow(
      /toc.metadata\[1\] \("usr\/bin\/big"\) ends at byte \d+, past the tar's \d+ bytes/,
    );
  });

  test('checkpoints out of order, or a count that the bytes cannot hold', () => {
    const second = ztoc.spans[2]!.out;
    const bad = patchLong(ztoc.bytes, second, 1n);
    expect(() => parseZtoc(bad, blob.length)).toThrow(
      /checkpoint 2 does not follow the one before it/,
    );
    const b = Buffer.from(ztoc.bytes);
    // The checkpoint count is the int32 just before the span size (64 KiB).
    const at = b.indexOf(Buffer.from(new BigInt64Array([65536n]).buffer)) - 4;
    b.writeInt32LE(1_000_000, at);
    expect(() => parseZtoc(b, blob.length)).toThrow(
      /bytes of checkpoints cannot hold the 1000000 they announce/,
    );
  });

  test('any byte changed: parsed, or refused with a TocError, never another error', () => {
    // Seeded, so a failure repeats. The windows (most of the document) are plain data; the
    // flatbuffers tables and the checkpoint headers around them are what a mutation can break.
    let x = 12345;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const b = Buffer.from(ztoc.bytes);
    const tail = b.length - 4096;
    for (let i = 0; i < 3000; i++) {
      const at = i % 2 ? next() % 4096 : tail + (next() % 4096);
      const was = b[at]!;
      b[at] = next() & 0xff;
      try {
        parseZtoc(b, blob.length);
      } catch (e) {
        if (!(e instanceof TocError)) throw new Error(`byte ${at}: ${String(e)}`, { cause: e });
      }
      b[at] = was;
    }
  });

  test('offsets that point outside the document', () => {
    const b = Buffer.from(ztoc.bytes);
    b.writeUInt32LE(b.length + 100, 0);
    expect(() => parseZtoc(b, blob.length)).toThrow(/the root table points outside the document/);
    expect(() => parseZtoc(ztoc.bytes.subarray(0, 3), blob.length)).toThrow(TocError);
    // Truncated anywhere: a clear TocError, never a RangeError or a wrong listing.
    for (const n of [16, 100, 1000, ztoc.bytes.length >> 1, ztoc.bytes.length - 10]) {
      expect(() => parseZtoc(ztoc.bytes.subarray(0, n), blob.length)).toThrow(TocError);
    }
  });
});
