// The in-memory store keeps the IndexedDB store's contract: an ingest is invisible until a
// commit verifies it, resumes from its saved hash state, is stored as chunk slices, can be
// followed while written; image records merge and end their pull's lease; a blob's deletion
// takes its layer index.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { DigestMismatchError, SizeMismatchError } from '../../src/lib/oci/errors.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { chunkSize } from '../../src/lib/store/store.ts';
import { digestOf, rejection } from '../harness/berth.ts';
import { noise } from '../harness/images.ts';
import { toColumns } from '../../src/lib/layers/columns.ts';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const opts = (bytes: Uint8Array) => ({
  ref: `layer-${sha(bytes)}`,
  digest: sha(bytes),
  size: bytes.byteLength,
  mediaType: MediaType.OciLayerGzip,
  source: 'registry.test/a/b',
});

describe('ingest', () => {
  test('invisible until commit; commit verifies, then the bytes read back', async () => {
    const s = memoryStore();
    const bytes = noise(1000);
    const w = await s.content.writer(opts(bytes));
    await w.write(new Blob([bytes.subarray(0, 400)]));
    await w.write(new Blob([bytes.subarray(400)]));
    expect(await s.content.info(sha(bytes))).toBeUndefined();
    expect(await rejection(s.content.read(sha(bytes)))).toMatchObject({
      name: 'BlobNotFoundError',
    });
    const rec = await w.commit();
    expect(rec).toMatchObject({ digest: sha(bytes), size: 1000, sources: ['registry.test/a/b'] });
    expect(await digestOf(await s.content.read(sha(bytes)))).toBe(sha(bytes));
    expect(await s.content.listIngests()).toEqual([]);
  });

  test('a commit of the wrong bytes or too few is refused and leaves nothing', async () => {
    const s = memoryStore();
    const bytes = noise(100);
    const wrong = await s.content.writer(opts(bytes));
    await wrong.write(new Blob([noise(100)]));
    expect(await rejection(wrong.commit())).toBeInstanceOf(DigestMismatchError);
    const short = await s.content.writer(opts(bytes));
    await short.write(new Blob([bytes.subarray(0, 50)]));
    expect(await rejection(short.commit())).toBeInstanceOf(SizeMismatchError);
    const long = await s.content.writer(opts(bytes));
    expect(await rejection(long.write(new Blob([noise(101)])))).toBeInstanceOf(SizeMismatchError);
    expect(await s.content.list()).toEqual([]);
    expect(await s.content.listIngests()).toEqual([]);
    expect(s.chunkCount(sha(bytes))).toBe(0);
  });

  test('a new writer resumes from the saved offset and hash state', async () => {
    const s = memoryStore();
    const bytes = noise(3000);
    const first = await s.content.writer(opts(bytes));
    await first.write(new Blob([bytes.subarray(0, 1200)]));
    s.crash();
    expect(await rejection(first.write(new Blob([bytes.subarray(1200)])))).toMatchObject({
      name: 'StoreCrashedError',
    });
    const next = await s.content.writer(opts(bytes));
    expect(next.offset).toBe(1200);
    await next.write(new Blob([bytes.subarray(1200)]));
    expect((await next.commit()).digest).toBe(sha(bytes));
  });

  test('a piece is stored as chunk slices of chunkSize', async () => {
    const s = memoryStore();
    const bytes = noise(chunkSize + 10);
    const w = await s.content.writer(opts(bytes));
    await w.write(new Blob([bytes]));
    await w.commit();
    expect(s.chunkCount(sha(bytes))).toBe(2);
    expect(await digestOf(await s.content.read(sha(bytes)))).toBe(sha(bytes));
  });

  test('a quota error on a put stores nothing of that write; the durable offset stays', async () => {
    const s = memoryStore({ quotaOnPut: 2 });
    const bytes = noise(200);
    const w = await s.content.writer(opts(bytes));
    await w.write(new Blob([bytes.subarray(0, 100)]));
    expect(await rejection(w.write(new Blob([bytes.subarray(100)])))).toMatchObject({
      name: 'QuotaExceededError',
    });
    expect(s.chunkCount(sha(bytes))).toBe(1);
    expect((await s.content.listIngests())[0]?.offset).toBe(100);
  });

  test('follow reads an ingest while it is written, then the committed blob', async () => {
    const s = memoryStore();
    const bytes = noise(300);
    const w = await s.content.writer(opts(bytes));
    const reading = new Response(
      s.content.follow(sha(bytes), bytes.byteLength, { pollMs: 5 }),
    ).arrayBuffer();
    for (let at = 0; at < 300; at += 100) {
      await w.write(new Blob([bytes.subarray(at, at + 100)]));
      await new Promise((r) => setTimeout(r, 10));
    }
    await w.commit();
    expect(new Uint8Array(await reading)).toEqual(bytes);
  });
});

describe('images and layer indexes', () => {
  const target = { mediaType: MediaType.OciIndex, digest: sha(noise(1)), size: 10 };
  const manifest = (n: number) => ({
    descriptor: { mediaType: MediaType.OciManifest, digest: sha(new Uint8Array([n])), size: n },
    pulledAt: n,
  });

  test('put merges manifests of the same target, keeps a pulled one pulled, ends the lease', async () => {
    const s = memoryStore();
    await s.images.startPull({ name: 'x', target });
    const started = (await s.images.getPull('x'))!.startedAt;
    await s.images.startPull({ name: 'x', target });
    expect((await s.images.getPull('x'))!.startedAt, 'a restart keeps its start').toBe(started);
    await s.images.put({ name: 'x', target, manifests: [manifest(1)], complete: true });
    expect(await s.images.listPulls()).toEqual([]);
    const rec = await s.images.put({
      name: 'x',
      target,
      manifests: [{ ...manifest(1), lazy: true }, manifest(2)],
    });
    expect(rec.manifests.map((m) => [m.pulledAt, m.lazy ?? false])).toEqual([
      [1, false],
      [2, false],
    ]);
    expect(rec.complete).toBe(true);
    const other = { ...target, digest: sha(noise(2)) };
    const moved = await s.images.put({ name: 'x', target: other, manifests: [manifest(3)] });
    expect(moved.manifests.map((m) => m.pulledAt)).toEqual([3]);
    expect(moved.complete).toBeUndefined();
  });

  test("a blob's deletion takes its layer index", async () => {
    const s = memoryStore();
    const bytes = noise(10);
    const w = await s.content.writer(opts(bytes));
    await w.write(new Blob([bytes]));
    await w.commit();
    await s.layerIndexes.put(sha(bytes), {
      diffID: sha(bytes),
      uncompressedSize: 10,
      files: toColumns([]),
    });
    expect(await s.layerIndexes.get(sha(bytes))).toMatchObject({ entries: 0, batches: 0 });
    await s.content.delete(sha(bytes));
    expect(await s.layerIndexes.get(sha(bytes))).toBeUndefined();
    expect(s.chunkCount(sha(bytes))).toBe(0);
  });
});
