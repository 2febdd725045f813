// Garbage collection, image deletion and discarding an interrupted pull, over images pulled
// from the in-memory registry into the in-memory store.
import { describe, expect, test } from 'vitest';
import { collectGarbage, deleteImage, discardPull, ingestLease } from '../../src/lib/images/gc.ts';
import { readLibrary } from '../../src/lib/images/library.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { gcLock, withLock } from '../../src/lib/store/locks.ts';
import { berth, rejection, testPieceSize } from '../harness/berth.ts';
import { noise, pushImage } from '../harness/images.ts';
import { toColumns } from '../../src/lib/layers/columns.ts';

const A = 'registry.test/team/a:v1';
const B = 'registry.test/team/b:v1';

/** Two pulled images that share their first layer. */
async function twoImages(b: ReturnType<typeof berth>) {
  const shared = { 'shared.bin': noise(2000) };
  const a = await pushImage(b.registry, 'team/a', {
    tag: 'v1',
    layers: [shared, { 'a.bin': noise(3000) }],
  });
  const bb = await pushImage(b.registry, 'team/b', {
    tag: 'v1',
    layers: [shared, { 'b.bin': noise(4000) }],
  });
  await pullImage(parseReference(A), undefined, b.pullContext());
  await pullImage(parseReference(B), undefined, b.pullContext());
  return { a, b: bb, shared: a.layers[0]!.digest };
}

const stored = async (b: ReturnType<typeof berth>) =>
  new Set((await b.store.content.list()).map((x) => x.digest));

const blobsOf = (img: Awaited<ReturnType<typeof pushImage>>) => [
  img.manifest.digest,
  img.config.digest,
  ...img.layers.map((l) => l.digest),
];

describe('collectGarbage', () => {
  test('keeps what images reach; removes the rest with its layer index', async () => {
    const b = berth();
    const imgs = await twoImages(b);
    // An image whose record went without a collection: its blobs, and a layer index
    // derived from one, are garbage.
    const orphan = await pushImage(b.registry, 'team/c', { tag: 'v1', layers: [{ c: noise(10) }] });
    await pullImage(parseReference('registry.test/team/c:v1'), undefined, b.pullContext());
    await b.store.layerIndexes.put(orphan.layers[0]!.digest, {
      diffID: orphan.diffIDs[0]!,
      uncompressedSize: 10,
      files: toColumns([]),
    });
    await b.store.images.delete('registry.test/team/c:v1');

    const r = await collectGarbage(b.store);
    expect(r).toMatchObject({ blobs: 3, ingests: 0, pulls: 0 });
    const left = await stored(b);
    for (const d of [...blobsOf(imgs.a), ...blobsOf(imgs.b)]) expect(left).toContain(d);
    for (const d of blobsOf(orphan)) expect(left).not.toContain(d);
    expect(await b.store.layerIndexes.get(orphan.layers[0]!.digest)).toBeUndefined();
    expect(b.store.chunkCount(orphan.layers[0]!.digest)).toBe(0);
  });

  test('a pull within its lease keeps what it committed; past it, the pull and its blobs go', async () => {
    const b = berth();
    // A pull that stopped after its manifest and config: it fails on its layer.
    const img = await pushImage(b.registry, 'team/a', { tag: 'v1', layers: [{ a: noise(5000) }] });
    b.registry.fault({
      when: (r) => r.id === img.layers[0]!.digest,
      fault: { kind: 'wrong' },
    });
    await rejection(pullImage(parseReference(A), undefined, b.pullContext()));
    expect(await collectGarbage(b.store)).toMatchObject({ blobs: 0, pulls: 0 });
    expect(await stored(b)).toEqual(new Set([img.manifest.digest, img.config.digest]));

    const later = Date.now() + ingestLease + 1000;
    expect(await collectGarbage(b.store, { now: later })).toMatchObject({ blobs: 2, pulls: 1 });
    expect(await stored(b)).toEqual(new Set());
    expect(await b.store.images.listPulls()).toEqual([]);
  }, 20_000);

  test('an ingest left alone past the lease goes with its chunks; a recent one stays', async () => {
    let crashed = false;
    const b = berth({
      afterWrite: () => {
        if (!crashed) {
          crashed = true;
          b.store.crash();
        }
      },
    });
    const img = await pushImage(b.registry, 'team/a', {
      tag: 'v1',
      layers: [{ a: noise(3 * testPieceSize) }],
    });
    await rejection(pullImage(parseReference(A), undefined, b.pullContext()));
    const ingests = await b.store.content.listIngests();
    expect(ingests.length).toBeGreaterThan(0);
    expect((await collectGarbage(b.store))?.ingests).toBe(0);
    const later = Date.now() + ingestLease + 1000;
    expect((await collectGarbage(b.store, { now: later }))?.ingests).toBe(ingests.length);
    expect(await b.store.content.listIngests()).toEqual([]);
    for (const d of blobsOf(img)) expect(b.store.chunkCount(d)).toBe(0);
  });

  test('ifIdle: a collection does not wait for a pull holding the lock', async () => {
    const b = berth();
    const result = await withLock(gcLock, () => collectGarbage(b.store, { ifIdle: true }), {
      mode: 'shared',
    });
    expect(result).toBeUndefined();
  });
});

describe('deleteImage', () => {
  test('frees what only that image reached; a shared layer stays', async () => {
    const b = berth();
    const imgs = await twoImages(b);
    const before = await readLibrary(b.store);
    const a = before.images.find((i) => i.name === A)!;
    expect(a.shared).toBe(imgs.a.layers[0]!.size);

    const r = await deleteImage(b.store, A);
    expect(r.blobs).toBe(3); // manifest, config and its own layer
    const left = await stored(b);
    expect(left).toContain(imgs.shared);
    for (const d of blobsOf(imgs.b)) expect(left).toContain(d);
    for (const d of [imgs.a.manifest.digest, imgs.a.config.digest, imgs.a.layers[1]!.digest]) {
      expect(left).not.toContain(d);
    }
    expect(r.bytes).toBe(a.size - a.shared);
  });
});

describe('discardPull', () => {
  test('drops the pull, its ingests and the blobs only it committed', async () => {
    let crashed = false;
    let big = '';
    const b = berth({
      afterWrite: (w) => {
        if (w.digest === big && !crashed) {
          crashed = true;
          b.store.crash();
        }
      },
    });
    const imgs = await twoImages(b);
    const img = await pushImage(b.registry, 'team/c', {
      tag: 'v1',
      layers: [{ 'shared.bin': new Uint8Array(0) }, { big: noise(3 * testPieceSize) }],
    });
    big = img.layers[1]!.digest;
    const C = 'registry.test/team/c:v1';
    await rejection(pullImage(parseReference(C), undefined, b.pullContext()));
    expect((await b.store.images.listPulls()).map((p) => p.name)).toEqual([C]);
    expect((await b.store.content.listIngests()).map((i) => i.digest)).toContain(big);

    const r = await discardPull(b.store, C);
    expect(r.pulls).toBe(1);
    expect(await b.store.images.listPulls()).toEqual([]);
    expect(await b.store.content.listIngests()).toEqual([]);
    expect(b.store.chunkCount(big)).toBe(0);
    const left = await stored(b);
    expect(left).not.toContain(img.manifest.digest);
    for (const d of [...blobsOf(imgs.a), ...blobsOf(imgs.b)]) expect(left).toContain(d);
    expect(await discardPull(b.store, C)).toEqual({ blobs: 0, bytes: 0, ingests: 0, pulls: 0 });
  });
});
