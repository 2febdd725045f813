// Layers read through their table of contents, never downloaded: eStargz (built to the
// published format by test/harness/estargz.ts) and zstd:chunked (made by skopeo). The
// in-memory registry records every Range it serves, so each case states the bytes fetched.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { readChunks, readToc, type RemoteLayer } from '../../src/lib/layers/toc/remote.ts';
import { parseToc, TocError, type TocLayout } from '../../src/lib/layers/toc/toc.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { buildEstargz, type EstargzLayer } from '../harness/estargz.ts';
import { MemoryRegistry, type Request } from '../harness/memory-registry.ts';
import { buildImage, OciLayout, skopeo } from '../harness/oci.ts';

const gzipType = 'application/vnd.oci.image.layer.v1.tar+gzip';
const zstdType = 'application/vnd.oci.image.layer.v1.tar+zstd';
const repo = 'lazy/app';

/** Deterministic bytes that do not compress much, so chunks have real compressed sizes. */
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

function setup(bytes: Uint8Array, mediaType: string, annotations?: Record<string, string>) {
  const registry = new MemoryRegistry();
  const d = registry.blob(repo, bytes, mediaType);
  const desc: Descriptor = { ...d, ...(annotations ? { annotations } : {}) };
  const client = new RegistryClient({ transport: registry.transport, retry: { attempts: 1 } });
  const layer: RemoteLayer = { client, ref: parseReference(`${registry.host}/${repo}`), desc };
  return { registry, layer, blobRequests: () => registry.blobRequests(desc.digest) };
}

async function read(
  layer: RemoteLayer,
  toc: NonNullable<Awaited<ReturnType<typeof readToc>>>,
  e: IndexEntry,
  limit = Infinity,
) {
  const parts: Uint8Array[] = [];
  await readChunks(layer, toc, e.offset, e.path, limit, (p) => void parts.push(p));
  return Buffer.concat(parts);
}

const file = (entries: IndexEntry[], path: string) => {
  const e = entries.find((x) => x.path === path);
  if (!e) throw new Error(`${path} not listed`);
  return e;
};

describe('eStargz', () => {
  const big = noise(300_000, 7);
  let es: EstargzLayer;
  beforeAll(async () => {
    es = await buildEstargz({
      entries: [
        { type: 'file', path: 'etc/hello', content: 'hello\n' },
        { type: 'file', path: 'usr/bin/big', content: big },
        { type: 'file', path: 'usr/share/empty', content: '' },
        { type: 'symlink', path: 'etc/link', target: 'hello' },
      ],
      chunkSize: 64 << 10,
    });
  });

  test('lists the layer from the footer and the TOC alone, verified against the annotation', async () => {
    const { layer, blobRequests } = setup(es.blob, gzipType, {
      'containerd.io/snapshot/stargz/toc.digest': es.tocDigest,
    });
    const toc = (await readToc(layer))!;
    expect(toc.verified).toBe(true);
    expect(toc.entries.map((e) => `${e.type} ${e.path}`)).toEqual([
      'dir etc',
      'file etc/hello',
      'symlink etc/link',
      'dir usr',
      'dir usr/bin',
      'file usr/bin/big',
      'dir usr/share',
      'file usr/share/empty',
    ]);
    expect(file(toc.entries, 'usr/bin/big').size).toBe(big.length);
    expect(file(toc.entries, 'etc/link').linkname).toBe('hello');
    // Two requests: the 51-byte footer, then the TOC member up to the footer.
    const reqs = blobRequests();
    expect(reqs.map((r) => [r.start, r.end])).toEqual([
      [es.blob.length - 51, es.blob.length - 1],
      [es.tocOffset, es.blob.length - 52],
    ]);
    expect(served(reqs)).toBe(es.blob.length - es.tocOffset);
  });

  test('opens a file fetching only its chunks, each checked', { timeout: 60_000 }, async () => {
    const { layer, blobRequests } = setup(es.blob, gzipType, {
      'containerd.io/snapshot/stargz/toc.digest': es.tocDigest,
    });
    const toc = (await readToc(layer))!;
    const before = blobRequests().length;
    const e = file(toc.entries, 'usr/bin/big');
    expect(await read(layer, toc, e)).toEqual(big);
    const chunks = toc.chunks[e.offset]!;
    expect(chunks).toHaveLength(5);
    // Its members follow each other in the blob: one request fetches them all.
    const reqs = blobRequests().slice(before);
    expect(reqs.map((r) => [r.start, r.end])).toEqual([[chunks[0]!.start, chunks[4]!.end - 1]]);
    // Exactly the file's gzip members: its first starts at its offset, its last ends at the
    // next member (the TOC's, here).
    expect(served(reqs)).toBe(es.tocOffset - chunks[0]!.start);
    expect((await read(layer, toc, file(toc.entries, 'etc/hello'))).toString()).toBe('hello\n');
  });

  test("the viewer's first megabyte fetches only the chunks that hold it", async () => {
    const { layer, blobRequests } = setup(es.blob, gzipType);
    const toc = (await readToc(layer))!;
    expect(toc.verified).toBe(false);
    const before = blobRequests().length;
    const e = file(toc.entries, 'usr/bin/big');
    expect(await read(layer, toc, e, 70_000)).toEqual(big.subarray(0, 70_000));
    const [first, second] = toc.chunks[e.offset]!;
    expect(served(blobRequests().slice(before))).toBe(second!.end - first!.start);
  });

  test('a corrupted chunk is refused, naming the file and the chunk', async () => {
    const { registry, layer } = setup(es.blob, gzipType);
    const toc = (await readToc(layer))!;
    const e = file(toc.entries, 'usr/bin/big');
    const third = toc.chunks[e.offset]![2]!;
    registry.fault({
      when: (r) => r.start !== undefined && r.start <= third.start,
      fault: { kind: 'flip', at: third.start + 40 },
    });
    await expect(read(layer, toc, e)).rejects.toThrow(
      /^usr\/bin\/big: chunk 3 of 5 \(file bytes 131072-196607, .*refused$/,
    );
  });

  test('a chunk that does not match its digest is refused', async () => {
    const lying = await buildEstargz({
      entries: [{ type: 'file', path: 'etc/hello', content: 'hello\n' }],
      lieAbout: 'etc/hello',
    });
    const { layer } = setup(lying.blob, gzipType, {
      'containerd.io/snapshot/stargz/toc.digest': lying.tocDigest,
    });
    const toc = (await readToc(layer))!;
    await expect(read(layer, toc, file(toc.entries, 'etc/hello'))).rejects.toThrow(
      /^etc\/hello: chunk 1 of 1 .* does not match its digest in the table of contents: got sha256:5891b5b5.*refused$/,
    );
  });

  test('a TOC that does not match the annotation is refused', async () => {
    const { layer } = setup(es.blob, gzipType, {
      'containerd.io/snapshot/stargz/toc.digest': `sha256:${'0'.repeat(64)}`,
    });
    await expect(readToc(layer)).rejects.toThrow(
      /eStargz table of contents does not match the digest the manifest gives/,
    );
  });

  test('a registry that ignores Range is named, so the layer is downloaded instead', async () => {
    const { layer } = setup(es.blob, gzipType, {
      'containerd.io/snapshot/stargz/toc.digest': es.tocDigest,
    });
    const registry = new MemoryRegistry();
    registry.blob(repo, es.blob, gzipType);
    const ignoring = new RegistryClient({
      transport: (url, init, host) => {
        const headers = new Headers(init.headers);
        headers.delete('Range');
        return registry.transport(url, { ...init, headers }, host);
      },
      retry: { attempts: 1 },
    });
    await expect(readToc({ ...layer, client: ignoring })).rejects.toMatchObject({
      name: 'RangeRefusedError',
      message: expect.stringMatching(/answered a request for bytes \d+-\d+ .* with status 200/),
    });
  });

  test('a plain gzip layer has no TOC: one 51-byte request says so', async () => {
    const plain = await buildEstargz({ entries: [{ type: 'file', path: 'a', content: 'a' }] });
    // Drop the footer: what is left is an ordinary multi-member gzip.
    const { layer, blobRequests } = setup(plain.blob.subarray(0, plain.blob.length - 51), gzipType);
    expect(await readToc(layer)).toBeUndefined();
    expect(served(blobRequests())).toBe(51);
    // Without probing, a layer whose annotations say nothing costs no request.
    const { layer: quiet, blobRequests: none } = setup(plain.blob, gzipType);
    expect(await readToc(quiet, { probe: false })).toBeUndefined();
    expect(none()).toHaveLength(0);
  });
});

describe('zstd:chunked made by skopeo', () => {
  const big = noise(300_000, 11);
  const numbers = Buffer.from(Array.from({ length: 20000 }, (_, i) => `${i}\n`).join(''));
  let blob: Buffer;
  let annotations: Record<string, string>;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-zstd-chunked-'));
    const layout = await OciLayout.create(join(work, 'src'));
    const img = await buildImage({
      layout,
      layers: [
        {
          entries: [
            { type: 'file', path: 'etc/hello', content: 'hello\n' },
            { type: 'file', path: 'etc/numbers', content: numbers },
            { type: 'file', path: 'usr/bin/big', content: big },
            { type: 'symlink', path: 'etc/link', target: 'hello' },
          ],
        },
      ],
    });
    await layout.tag(img.descriptor, 't');
    await skopeo([
      'copy',
      '--quiet',
      '--dest-compress-format',
      'zstd:chunked',
      `oci:${join(work, 'src')}:t`,
      `oci:${join(work, 'dst')}:t`,
    ]);
    const dst = await OciLayout.open(join(work, 'dst'));
    const root = await dst.resolve('t');
    const manifest = JSON.parse(await readFile(dst.blobPath(root.digest), 'utf8')) as {
      layers: Descriptor[];
    };
    const layerDesc = manifest.layers[0]!;
    blob = await readFile(dst.blobPath(layerDesc.digest));
    annotations = layerDesc.annotations ?? {};
  }, 120_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  test('lists the layer with one Range request at the annotated position', async () => {
    const { layer, blobRequests } = setup(blob, zstdType, annotations);
    const toc = (await readToc(layer))!;
    expect(toc.format).toBe('zstd:chunked');
    expect(toc.verified).toBe(true);
    const position = Object.entries(annotations).find(([k]) => k.endsWith('manifest-position'))!;
    const [offset, length] = position[1].split(':').map(Number) as [number, number];
    expect(blobRequests().map((r) => [r.start, r.end])).toEqual([[offset, offset + length - 1]]);
    expect(toc.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size])).toEqual([
      ['etc/hello', 6],
      ['etc/numbers', numbers.length],
      ['usr/bin/big', big.length],
    ]);
  });

  test('opens each file fetching only its chunks', { timeout: 60_000 }, async () => {
    const { layer, blobRequests } = setup(blob, zstdType, annotations);
    const toc = (await readToc(layer))!;
    for (const [path, want] of [
      ['usr/bin/big', big],
      ['etc/numbers', numbers],
      ['etc/hello', Buffer.from('hello\n')],
    ] as const) {
      const before = blobRequests().length;
      const e = file(toc.entries, path);
      expect(await read(layer, toc, e)).toEqual(want);
      const chunks = toc.chunks[e.offset]!;
      const chunkBytes = chunks.reduce((n, c) => n + (c.end - c.start), 0);
      expect(served(blobRequests().slice(before)), path).toBe(chunkBytes);
    }
    // Far less than the layer.
    expect(served(blobRequests())).toBeLessThan(blob.length);
  });

  test('a flipped byte in a chunk is refused, naming the file and the chunk', async () => {
    const { registry, layer } = setup(blob, zstdType, annotations);
    const toc = (await readToc(layer))!;
    const e = file(toc.entries, 'usr/bin/big');
    const chunks = toc.chunks[e.offset]!;
    const last = chunks[chunks.length - 1]!;
    registry.fault({
      when: (r) => r.start !== undefined && r.start <= last.start && last.start <= (r.end ?? 0),
      fault: { kind: 'flip', at: last.end - 20 },
    });
    await expect(read(layer, toc, e)).rejects.toThrow(
      new RegExp(`^usr/bin/big: chunk ${chunks.length} of ${chunks.length} .*refused$`),
    );
  });

  test('without annotations, the footer locates the TOC (two requests, unverified)', async () => {
    const { layer, blobRequests } = setup(blob, zstdType);
    const toc = (await readToc(layer))!;
    expect(toc.verified).toBe(false);
    expect(blobRequests()).toHaveLength(2);
    expect(blobRequests()[0]!.start).toBe(blob.length - 72);
    expect(toc.entries.some((e) => e.path === 'usr/bin/big')).toBe(true);
  });

  test('a TOC that does not match its checksum annotation is refused', async () => {
    const wrong = Object.fromEntries(
      Object.entries(annotations).map(([k, v]) => [
        k,
        k.endsWith('checksum') ? `sha256:${'1'.repeat(64)}` : v,
      ]),
    );
    const { layer } = setup(blob, zstdType, wrong);
    await expect(readToc(layer)).rejects.toThrow(/zstd:chunked table of contents does not match/);
  });
});

describe('hostile tables of contents', () => {
  const layout: TocLayout = {
    format: 'zstd:chunked',
    blobSize: 10_000,
    dataEnd: 9_000,
    verified: true,
  };
  const d = `sha256:${'a'.repeat(64)}`;
  const parse = (entries: unknown[], l = layout) =>
    parseToc(new TextEncoder().encode(JSON.stringify({ version: 1, entries })), l);
  const reg = (extra: object) => ({
    type: 'reg',
    name: 'f',
    size: 10,
    digest: d,
    offset: 0,
    endOffset: 100,
    ...extra,
  });

  test.each([
    ['a version other than 1', { version: 2, entries: [] }, /has version 2/],
    ['no entries', { version: 1 }, /has no entries list/],
    ['an entry that is not an object', { version: 1, entries: [7] }, /entry 0 is not an object/],
    ['an unknown type', { version: 1, entries: [{ type: 'socket', name: 's' }] }, /type "socket"/],
    [
      'a fractional size',
      { version: 1, entries: [reg({ size: 1.5 })] },
      /size is 1.5, not a non-negative integer/,
    ],
    ['a negative offset', { version: 1, entries: [reg({ offset: -1 })] }, /offset is -1/],
    [
      'data past the TOC',
      { version: 1, entries: [reg({ offset: 9_000 })] },
      /at or past the table of contents/,
    ],
    [
      'an end past the TOC',
      { version: 1, entries: [reg({ endOffset: 9_500 })] },
      /spans 0 to 9500, outside the file data \(0 to 9000\)/,
    ],
    ['a bad digest', { version: 1, entries: [reg({ digest: 'md5:x' })] }, /not a sha256 digest/],
    [
      'overlapping chunks',
      {
        version: 1,
        entries: [
          reg({ chunkSize: 6, chunkDigest: d }),
          { type: 'chunk', name: 'f', offset: 50, chunkOffset: 4, chunkSize: 6, chunkDigest: d },
        ],
      },
      /chunks of "f" overlap at byte 4/,
    ],
    [
      'chunks that go backwards in the blob',
      {
        version: 1,
        entries: [
          reg({ offset: 60, chunkSize: 5, chunkDigest: d }),
          { type: 'chunk', name: 'f', offset: 10, chunkOffset: 5, chunkSize: 5, chunkDigest: d },
        ],
      },
      /go backwards in the blob/,
    ],
    [
      'a chunk of another file',
      {
        version: 1,
        entries: [reg({}), { type: 'chunk', name: 'g', offset: 50, chunkOffset: 10, chunkSize: 1 }],
      },
      /chunk of a file that does not come just before it/,
    ],
    [
      'deep nesting',
      { version: 1, entries: [{ name: [[[[[[[[[]]]]]]]]] }] },
      /nests 12 levels deep; Berth reads at most 8/,
    ],
  ])('%s is refused', (_name, doc, want) => {
    expect(() => parseToc(new TextEncoder().encode(JSON.stringify(doc)), layout)).toThrow(TocError);
    expect(() => parseToc(new TextEncoder().encode(JSON.stringify(doc)), layout)).toThrow(want);
  });

  test('names are shown as stored: "..", absolute and control characters kept', () => {
    const toc = parse([
      { type: 'reg', name: '../../etc/passwd', size: 0 },
      { type: 'reg', name: '/abs\u0007bell', size: 0 },
      { type: 'dir', name: './usr/' },
      { type: 'hardlink', name: 'h', linkName: './usr/x' },
    ]);
    expect(toc.entries.map((e) => e.path)).toEqual([
      '../../etc/passwd',
      '/abs\u0007bell',
      'usr',
      'h',
    ]);
    expect(toc.entries[3]!.linkname).toBe('usr/x');
  });

  test('a TOC of over a million entries is refused before any is read', () => {
    const many = `{"version":1,"entries":[${'{},'.repeat(1_000_000)}{}]}`;
    expect(() => parseToc(new TextEncoder().encode(many), layout)).toThrow(
      /has 1000001 entries; Berth reads at most 1000000/,
    );
  });

  test('a TOC over the size bound is refused before it is parsed', () => {
    const huge = new Uint8Array((64 << 20) + 1).fill(0x20);
    expect(() => parseToc(huge, layout)).toThrow(/Berth reads at most 67108864 bytes/);
  });
});
