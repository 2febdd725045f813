// Resolve and pull against an in-memory registry into the in-memory store: what is fetched,
// what is stored, what the record says, and how a pull survives the faults a network and a
// browser's storage produce.
import { describe, expect, test } from 'vitest';
import { StoredImage } from '../../src/lib/images/image.ts';
import { whenFull } from '../../src/lib/images/space.ts';
import { DigestMismatchError } from '../../src/lib/oci/errors.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { allPlatforms } from '../../src/lib/oci/platform.ts';
import { pullImage, resolveImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { StoreCrashedError } from '../../src/lib/store/memory.ts';
import type { ContentStore } from '../../src/lib/store/store.ts';
import { berth, digestOf, rejection, testPieceSize } from '../harness/berth.ts';
import { noise, pushImage, pushIndex } from '../harness/images.ts';

const name = 'registry.test/library/app:v1';
const ref = parseReference(name);
const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

/** Two layers: a big one (several pieces) and a small one. */
const layers = (): Record<string, Uint8Array>[] => [
  { 'big.bin': noise(5 * testPieceSize + 123) },
  { 'etc/hello': noise(100) },
];

/** Every blob of the image is stored and its bytes hash to its digest. */
async function expectStored(content: ContentStore, digests: string[]) {
  for (const d of digests) {
    expect(await content.info(d), `info(${d})`).toBeDefined();
    expect(await digestOf(await content.read(d)), `read(${d}) hashes to`).toBe(d);
  }
}

describe('pull', () => {
  test('a tagged image: every blob stored under its digest, the record names its platform', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const pulled = await pullImage(ref, undefined, b.pullContext());
    await expectStored(b.store.content, [
      img.manifest.digest,
      img.config.digest,
      ...img.layers.map((l) => l.digest),
    ]);
    expect(pulled.image.name).toBe(name);
    expect(pulled.image.target.digest).toBe(img.manifest.digest);
    expect(pulled.image.manifests.map((m) => m.descriptor.platform)).toEqual([amd64]);
    expect(await b.store.images.listPulls(), 'the lease ends with the record').toEqual([]);
    expect((await b.store.content.info(img.layers[0]!.digest))?.sources).toEqual([
      'registry.test/library/app',
    ]);
  });

  test('the summary reads the documents the pull parsed, not the store', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const pulled = await pullImage(ref, undefined, b.pullContext());
    const reads: string[] = [];
    const content = b.store.content;
    const counting = {
      ...b.store,
      content: Object.assign(Object.create(content) as ContentStore, {
        readBytes: (d: string) => (reads.push(d), content.readBytes(d)),
        info: (d: string) => content.info(d),
      }),
    };
    const summary = await new StoredImage(counting, pulled.image, pulled.docs).summary(
      pulled.manifest.digest,
    );
    expect(reads, 'documents read back from the store').toEqual([]);
    expect(summary.layers.map((l) => [l.descriptor.digest, l.diffID, l.stored])).toEqual(
      img.layers.map((l, i) => [l.digest, img.diffIDs[i], true]),
    );
    // A summary of a stored image opened later reads them once.
    const later = await StoredImage.open(counting, name);
    await later!.summary(pulled.manifest.digest);
    expect(reads.sort()).toEqual([img.manifest.digest, img.config.digest].sort());
  });

  test('a root already stored is not fetched again: HEAD only', async () => {
    const b = berth();
    await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    await pullImage(ref, undefined, b.pullContext());
    b.registry.requests.length = 0;
    await pullImage(ref, undefined, b.pullContext());
    const asked = b.registry.requests.filter((r) => r.kind !== 'ping');
    expect(asked.map((r) => `${r.method} ${r.kind}`)).toEqual(['HEAD manifest']);
  });

  test('an index: one platform pulls its own manifest only; All platforms pulls every one', async () => {
    const b = berth();
    const { index, images } = await pushIndex(b.registry, 'library/app', 'v1', [
      { platform: amd64, layers: [{ a: noise(1000) }] },
      { platform: arm64, layers: [{ b: noise(1000) }] },
    ]);
    const resolved = await resolveImage(ref, b.pullContext());
    expect(resolved.platforms).toEqual([amd64, arm64]);
    const one = await pullImage(ref, arm64, b.pullContext(), resolved);
    expect(one.manifest.digest).toBe(images[1]!.manifest.digest);
    expect(await b.store.content.info(images[0]!.layers[0]!.digest)).toBeUndefined();
    const all = await pullImage(ref, allPlatforms, b.pullContext());
    expect(all.image.complete).toBe(true);
    expect(all.image.target.digest).toBe(index.digest);
    expect(all.manifest.digest, 'the default platform is shown').toBe(images[0]!.manifest.digest);
    await expectStored(
      b.store.content,
      images.flatMap((i) => [i.manifest.digest, i.config.digest, ...i.layers.map((l) => l.digest)]),
    );
  });

  test('a manifest an index lists twice, under two media types, is checked against each', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { layers: layers().slice(1) });
    b.registry.manifest(
      'library/app',
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...img.manifest, platform: amd64 },
          { ...img.manifest, mediaType: MediaType.DockerManifest, platform: arm64 },
        ],
      } as { mediaType: string },
      'v1',
    );
    await expect(pullImage(ref, allPlatforms, b.pullContext())).rejects.toThrow(
      /descriptor media type is application\/vnd\.docker/,
    );
  });

  test('inspect (lazy) stores manifests and config, no layer', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const pulled = await pullImage(ref, undefined, b.pullContext({ lazy: true }));
    expect(pulled.image.manifests[0]!.lazy).toBe(true);
    expect(await b.store.content.info(img.config.digest)).toBeDefined();
    for (const l of img.layers) expect(await b.store.content.info(l.digest)).toBeUndefined();
    expect(b.registry.requests.filter((r) => r.kind === 'blob').map((r) => r.id)).toEqual([
      img.config.digest,
    ]);
  });
});

describe('pull faults', () => {
  test('a short body: the piece is fetched again from the last durable byte, not from 0', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const big = img.layers[0]!;
    const at = 2 * testPieceSize;
    b.registry.fault({
      when: (r) => r.id === big.digest && r.start === at,
      fault: { kind: 'short', keep: 1000 },
    });
    await pullImage(ref, undefined, b.pullContext());
    await expectStored(b.store.content, [big.digest]);
    const starts = b.registry.blobRequests(big.digest).map((r) => r.start ?? 0);
    expect(
      starts.filter((s) => s === at),
      'the short piece asked for twice',
    ).toHaveLength(2);
    expect(
      starts.filter((s) => s === 0),
      'never started over',
    ).toHaveLength(1);
  }, 20_000);

  test('a crash between the last write and the commit: a new writer resumes, the commit verifies', async () => {
    let crashed = false;
    const b = berth({
      afterWrite: (w) => {
        if (w.digest === bigDigest && w.offset === w.size && !crashed) {
          crashed = true;
          b.store.crash();
        }
      },
    });
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const bigDigest = img.layers[0]!.digest;
    expect(await rejection(pullImage(ref, undefined, b.pullContext()))).toBeInstanceOf(
      StoreCrashedError,
    );
    expect(await b.store.content.info(bigDigest), 'not visible before its commit').toBeUndefined();
    const ingest = (await b.store.content.listIngests()).find((i) => i.digest === bigDigest);
    expect(ingest?.offset, 'every byte durable').toBe(img.layers[0]!.size);
    const before = b.registry.blobRequests(bigDigest).length;

    await pullImage(ref, undefined, b.pullContext());
    expect(b.registry.blobRequests(bigDigest).length, 'no byte fetched again').toBe(before);
    await expectStored(b.store.content, [bigDigest]);
    expect(await b.store.content.listIngests()).toEqual([]);
  }, 20_000);

  test('a crash mid-blob: the next pull resumes from the saved offset and hash state', async () => {
    let crashed = false;
    const b = berth({
      afterWrite: (w) => {
        if (w.digest === bigDigest && w.offset >= 2 * testPieceSize && !crashed) {
          crashed = true;
          b.store.crash();
        }
      },
    });
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const bigDigest = img.layers[0]!.digest;
    await rejection(pullImage(ref, undefined, b.pullContext()));
    const saved = (await b.store.content.listIngests()).find((i) => i.digest === bigDigest)!;
    expect(saved.offset).toBeGreaterThan(0);
    const before = b.registry.blobRequests(bigDigest).length;
    await pullImage(ref, undefined, b.pullContext());
    const resumed = b.registry.blobRequests(bigDigest).slice(before);
    expect(resumed[0]?.start, 'the first request resumes at the saved offset').toBe(saved.offset);
    await expectStored(b.store.content, [bigDigest]);
  }, 20_000);

  test('a quota error on commit: the pull fails as storage-full, nothing half-written is committed', async () => {
    let full = true;
    const b = berth({ quotaOnCommit: (d) => full && d === bigDigest });
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const bigDigest = img.layers[0]!.digest;
    const err = await rejection(pullImage(ref, undefined, b.pullContext()));
    const said = await whenFull(err, name, b.store);
    expect(said).toMatchObject({ name: 'StorageFullError', kind: 'storage-full' });
    expect((said as Error).message).toContain(name);
    expect(await b.store.content.info(bigDigest)).toBeUndefined();
    expect((await b.store.content.list()).map((x) => x.digest)).not.toContain(bigDigest);
    expect(await b.store.images.get(name), 'no image record').toBeUndefined();
    expect(
      (await b.store.images.listPulls()).map((p) => p.name),
      'the lease stays',
    ).toEqual([name]);
    // Room again: what was downloaded is kept, and the pull completes without fetching it.
    full = false;
    const before = b.registry.blobRequests(bigDigest).length;
    await pullImage(ref, undefined, b.pullContext());
    expect(b.registry.blobRequests(bigDigest).length).toBe(before);
    await expectStored(b.store.content, [bigDigest]);
  }, 20_000);

  test('a digest mismatch after a resume: fetched once more from the start, then stored', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const big = img.layers[0]!;
    b.registry.fault({
      when: (r) => r.id === big.digest && r.start === testPieceSize,
      fault: { kind: 'short', keep: 10 },
    });
    // The resumed request gets bytes from some other blob of the same length.
    b.registry.fault({
      when: (r) => r.id === big.digest && r.start === testPieceSize,
      fault: { kind: 'wrong' },
    });
    await pullImage(ref, undefined, b.pullContext());
    await expectStored(b.store.content, [big.digest]);
    const starts = b.registry.blobRequests(big.digest).map((r) => r.start ?? 0);
    expect(
      starts.filter((s) => s === 0),
      'fetched from the start twice in all',
    ).toHaveLength(2);
  }, 20_000);

  test('a digest mismatch again after the fresh start is final', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: layers() });
    const big = img.layers[0]!;
    // Every attempt is cut short once, so the fresh start is resumed too: only the rule, not
    // the lack of a resume, can stop it.
    let cut = false;
    b.registry.fault({
      when: (r) => {
        if (r.id !== big.digest) return false;
        if ((r.start ?? 0) === 0) cut = false;
        if (r.start !== testPieceSize || cut) return false;
        cut = true;
        return true;
      },
      fault: { kind: 'short', keep: 10 },
      times: Infinity,
    });
    b.registry.fault({
      when: (r) => r.id === big.digest && (r.start ?? 0) > testPieceSize,
      fault: { kind: 'wrong' },
      times: Infinity,
    });
    const err = await rejection(pullImage(ref, undefined, b.pullContext()));
    expect(err).toBeInstanceOf(DigestMismatchError);
    const starts = b.registry.blobRequests(big.digest).map((r) => r.start ?? 0);
    expect(
      starts.filter((s) => s === 0),
      'one fresh start, no more',
    ).toHaveLength(2);
    expect(await b.store.content.info(big.digest)).toBeUndefined();
    expect(b.store.chunkCount(big.digest), 'no chunk of the bad bytes kept').toBe(0);
    expect((await b.store.content.listIngests()).map((i) => i.digest)).not.toContain(big.digest);
  }, 20_000);
});
