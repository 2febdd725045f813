// Opening a file near the end of a stored gzip layer in real Chromium: the listing records
// checkpoints, and the read starts at the last one before the file instead of decompressing the
// layer from its start. The layers worker counts what its reads decoded before reaching a file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { newPage } from '../harness/chromium.ts';
import { push, type FixtureImage } from '../harness/fixtures.ts';
import { buildImage, OciLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { CHECKPOINT_SPACING } from '../../src/lib/layers/checkpoints.ts';
import { startBerth } from './env.ts';

/** Incompressible, so the layer's gzip is this big too: above CHECKPOINT_MIN_LAYER. */
const NOISE_SIZE = 12 << 20;
const LAST_TEXT = 'the last file of a big layer\n';

let registry: Registry;
let browser: Browser;
let app: { url: string; close(): Promise<void> };
let image: FixtureImage;
let work: string;

/** Bytes from a seeded xorshift32: incompressible, and the same on every run. */
function prng(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-random-access-'));
  await writeFile(join(work, 'noise'), prng(NOISE_SIZE, 7));
  registry = await startRegistry();
  const layout = await OciLayout.create(join(work, 'layout'));
  const built = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'copy', path: 'data/noise.bin', from: join(work, 'noise') },
          { type: 'file', path: 'zz/last.txt', content: LAST_TEXT },
        ],
      },
    ],
  });
  image = await push(layout, registry, 'random/access', 'v1', built);
  ({ app, browser } = await startBerth(registry));
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const files = (page: Page) => page.getByRole('region', { name: 'Files', exact: true });

interface ReadStats {
  reads: number;
  fromCheckpoint: number;
  skippedBytes: number;
}

/** The layers worker's read counters (undefined until it has started). */
async function readStats(page: Page): Promise<ReadStats | undefined> {
  const worker = page.workers().find((w) => w.url().includes('layers.worker'));
  return worker?.evaluate(() => (self as unknown as { berthReadStats?: ReadStats }).berthReadStats);
}

/** The digests the layerCheckpoints store holds. */
function checkpointKeys(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open('berth');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const keys = await new Promise<IDBValidKey[]>((resolve) => {
      const req = db.transaction('layerCheckpoints').objectStore('layerCheckpoints').getAllKeys();
      req.onsuccess = () => resolve(req.result);
    });
    db.close();
    return keys.map(String);
  });
}

test('a file at the end of a stored gzip layer is read from a checkpoint, not from the start', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: image.ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await expect.poll(() => files(page).locator('.reading').count(), { timeout: 60_000 }).toBe(0);

  // The checkpoint pass that follows the listing stored checkpoints for the layer.
  const stored = () =>
    page.evaluate(async (digest) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('berth');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const rec = await new Promise<{ points: { out: number }[] } | undefined>((resolve) => {
        const req = db.transaction('layerCheckpoints').objectStore('layerCheckpoints').get(digest);
        req.onsuccess = () => resolve(req.result);
      });
      db.close();
      return rec?.points.map((p) => p.out);
    }, image.layers![0]!.digest);
  await expect
    .poll(async () => (await stored())?.length ?? 0, { timeout: 60_000 })
    .toBeGreaterThanOrEqual(2);

  await files(page).getByRole('searchbox', { name: 'Search files' }).fill('last.txt');
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
  await files(page).getByRole('treeitem', { name: 'last.txt', exact: true }).click();
  await files(page).getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: 60_000 }).toContain(LAST_TEXT.trim());

  const stats = await readStats(page);
  expect(stats?.reads).toBe(1);
  expect(stats?.fromCheckpoint).toBe(1);
  // The file sits past 12 MiB of noise; the read decoded less than one spacing before it.
  expect(stats!.skippedBytes).toBeLessThan(CHECKPOINT_SPACING + 64 * 1024);

  // Deleting the image deletes the layer's blob, and its checkpoints with it.
  expect(await checkpointKeys(page)).toEqual([image.layers![0]!.digest]);
  await page
    .getByRole('region', { name: 'Image summary' })
    .getByRole('button', { name: 'Delete from this browser' })
    .click();
  await expect.poll(() => checkpointKeys(page), { timeout: 30_000 }).toEqual([]);
  await page.context().close();
});
