// fetchDescriptor against an in-memory registry and store: one blob, its lock, its sources, and
// a registry that fails for a moment.
import { describe, expect, test } from 'vitest';
import { Documents } from '../../src/lib/images/documents.ts';
import { fetchDescriptor } from '../../src/lib/pull/fetch.ts';
import type { ContentStore } from '../../src/lib/store/store.ts';
import { berth, digestOf, testPieceSize } from '../harness/berth.ts';
import { noise, pushImage } from '../harness/images.ts';

const name = 'registry.test/library/app:v1';
const signal = () => new AbortController().signal;

describe('fetchDescriptor', () => {
  test('two writers of one digest at once: the lock serialises them, the bytes are fetched once', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', {
      layers: [{ big: noise(3 * testPieceSize) }],
    });
    const layer = img.layers[0]!;
    const [one, two] = [b.fetchContext(name), b.fetchContext(name)];
    await Promise.all([
      fetchDescriptor(one, layer, signal()),
      fetchDescriptor(two, layer, signal()),
    ]);
    const starts = b.registry.blobRequests(layer.digest).map((r) => r.start ?? 0);
    expect(
      starts.filter((s) => s === 0),
      'blob GETs from byte 0',
    ).toHaveLength(1);
    expect(await digestOf(await b.store.content.read(layer.digest))).toBe(layer.digest);
    const final = b.progress.filter((p) => p.digest === layer.digest).map((p) => p.state);
    expect(final.filter((s) => s === 'done' || s === 'exists').sort()).toEqual(['done', 'exists']);
  });

  test('a stored blob is not fetched; its new repository is remembered as a source', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { layers: [{ a: noise(100) }] });
    const layer = img.layers[0]!;
    await fetchDescriptor(b.fetchContext(name), layer, signal());
    const before = b.registry.requests.length;
    await fetchDescriptor(b.fetchContext('registry.test/other/app:v1'), layer, signal());
    expect(b.registry.requests.length).toBe(before);
    expect((await b.store.content.info(layer.digest))?.sources).toEqual([
      'registry.test/library/app',
      'registry.test/other/app',
    ]);
  });

  test('a 503 in the middle: the blob resumes after it', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', {
      layers: [{ big: noise(3 * testPieceSize) }],
    });
    const layer = img.layers[0]!;
    b.registry.fault({
      when: (r) => r.id === layer.digest && r.start === testPieceSize,
      fault: { kind: 'unavailable' },
    });
    await fetchDescriptor(b.fetchContext(name), layer, signal());
    expect(await digestOf(await b.store.content.read(layer.digest))).toBe(layer.digest);
    const starts = b.registry.blobRequests(layer.digest).map((r) => r.start ?? 0);
    expect(starts.filter((s) => s === testPieceSize)).toHaveLength(2);
  }, 20_000);

  test('the next piece is asked for before the current one is stored, and each piece once', async () => {
    // When a piece is durable, was the request for the bytes after it already sent?
    const askedBeforeStored: [number, boolean][] = [];
    const b = berth({
      afterWrite: (i) => {
        if (i.offset < i.size) {
          const sent = b.registry.blobRequests(layer.digest).some((r) => r.start === i.offset);
          askedBeforeStored.push([i.offset / testPieceSize, sent]);
        }
      },
    });
    const img = await pushImage(b.registry, 'library/app', {
      layers: [{ big: noise(4 * testPieceSize) }],
    });
    const layer = img.layers[0]!;
    await fetchDescriptor(b.fetchContext(name), layer, signal());
    expect(await digestOf(await b.store.content.read(layer.digest))).toBe(layer.digest);
    // The first piece is streamed (its rate is not known yet): the next waits for it.
    expect(askedBeforeStored).toEqual([
      [1, false],
      [2, true],
      [3, true],
      [4, true],
    ]);
    const starts = b.registry.blobRequests(layer.digest).map((r) => r.start ?? 0);
    expect(starts).toEqual([...new Set(starts)]);
  });

  test('a piece asked for ahead that arrives short: the blob resumes from it', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', {
      layers: [{ big: noise(5 * testPieceSize) }],
    });
    const layer = img.layers[0]!;
    b.registry.fault({
      when: (r) => r.id === layer.digest && r.start === 2 * testPieceSize,
      fault: { kind: 'short', keep: 100 },
    });
    await fetchDescriptor(b.fetchContext(name), layer, signal());
    expect(await digestOf(await b.store.content.read(layer.digest))).toBe(layer.digest);
  }, 20_000);

  test('a fetched manifest is kept parsed: the walk does not read it back from the store', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', { layers: [{ a: noise(100) }] });
    let reads = 0;
    const content = b.store.content;
    const docs = new Documents({
      info: (d) => content.info(d),
      readBytes: (d) => (reads++, content.readBytes(d)),
    } satisfies Pick<ContentStore, 'info' | 'readBytes'>);
    await fetchDescriptor(b.fetchContext(name, { docs }), img.manifest, signal());
    expect(await docs.children(img.manifest)).toEqual([img.config, ...img.layers]);
    expect(reads).toBe(0);
  });
});
