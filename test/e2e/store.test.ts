// The store across schema versions: a database written by version 1 of the schema is
// upgraded in place, and every image in it is still there, complete, without a download.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { copyImage } from '../harness/fixtures.ts';
import { type E2E, startE2E, storeContents } from './env.ts';

let env: E2E;
beforeAll(async () => {
  env = await startE2E();
});
afterAll(async () => {
  await env?.stop();
});

test('a v1 database is upgraded to the current schema with its images intact', async () => {
  const fx = env.fixtures.whiteout;
  const ref = `${env.counter.host}/${fx.repository}:${fx.tag}`;
  const page = await env.page();
  await page.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();

  // Rewrite the same records (chunk Blobs included) into a database of schema version 1.
  const copied = await page.evaluate(async () => {
    const open = (version?: number, upgrade?: (db: IDBDatabase) => void) =>
      new Promise<IDBDatabase>((resolve, reject) => {
        const r = version ? indexedDB.open('berth', version) : indexedDB.open('berth');
        r.onupgradeneeded = () => upgrade?.(r.result);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const all = (db: IDBDatabase, store: string) =>
      new Promise<unknown[]>((resolve) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => resolve(r.result);
      });
    const current = await open();
    const data: Record<string, unknown[]> = {};
    for (const s of ['blobs', 'chunks', 'ingests', 'images']) data[s] = await all(current, s);
    const version = current.version;
    current.close();
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase('berth');
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
    });
    const v1 = await open(1, (db) => {
      db.createObjectStore('blobs', { keyPath: 'digest' });
      db.createObjectStore('chunks', { keyPath: ['digest', 'offset'] });
      db.createObjectStore('ingests', { keyPath: 'ref' }).createIndex('digest', 'digest');
      db.createObjectStore('images', { keyPath: 'name' });
    });
    const tx = v1.transaction(['blobs', 'chunks', 'ingests', 'images'], 'readwrite');
    for (const [s, rows] of Object.entries(data))
      for (const row of rows) tx.objectStore(s).put(row);
    await new Promise((resolve) => (tx.oncomplete = resolve));
    v1.close();
    return { version, images: data.images!.length, blobs: data.blobs!.length };
  });
  expect(copied.version).toBe(5);
  expect(copied.images).toBe(1);

  // Open the app again: the worker upgrades the database and finds the image complete.
  const before = env.counter.requests.filter((r) => r.path.includes('/blobs/')).length;
  const again = await page.context().newPage();
  await page.close();
  await again.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  const summary = again.getByRole('region', { name: 'Image summary' });
  await summary.waitFor();
  expect(await summary.textContent()).toContain(fx.digest);
  const after = await again.evaluate(
    () =>
      new Promise<{ version: number; stores: string[] }>((resolve) => {
        const r = indexedDB.open('berth');
        r.onsuccess = () => {
          resolve({ version: r.result.version, stores: [...r.result.objectStoreNames] });
          r.result.close();
        };
      }),
  );
  expect(after.version).toBe(5);
  expect(after.stores).toEqual(
    expect.arrayContaining([
      'credentials',
      'pulls',
      'layerIndexes',
      'layerEntries',
      'layerCheckpoints',
    ]),
  );
  expect(env.counter.requests.filter((r) => r.path.includes('/blobs/')).length).toBe(before);
  await again.context().close();
});

test('two pages pull the same image at once: each blob is fetched once, both show it', async () => {
  const fx = env.fixtures.dockerTypes;
  const ref = `${env.counter.host}/${fx.repository}:${fx.tag}`;
  const since = env.counter.requests.length;
  const context = await env.browser.newContext();
  const pages = await Promise.all([context.newPage(), context.newPage()]);
  for (const p of pages) await p.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await Promise.all(pages.map((p) => p.getByRole('button', { name: 'Pull' }).click()));
  for (const p of pages) {
    const summary = p.getByRole('region', { name: 'Image summary' });
    await summary.waitFor();
    expect(await summary.textContent()).toContain(fx.digest);
  }
  const blobGets = env.counter.requests
    .slice(since)
    .filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))
    .map((r) => r.path.split('/blobs/')[1]);
  const wanted = [fx.configDigest!, ...fx.layers!.map((l) => l.digest)];
  expect([...blobGets].sort()).toEqual([...wanted].sort());
  await context.close();
});

test('delete: shared blobs stay with the image that still needs them; the last delete empties the store', async () => {
  // Two images sharing a base layer: the amd64 and arm64 manifests of the index, each pulled
  // by digest (so no index ties them together), from two repositories.
  const fx = env.fixtures.multiArch;
  await copyImage(fx.ref, `${env.registry.host}/test/multicopy:v1`, { all: true });
  const amd = fx.manifests!.find((m) => m.platform.architecture === 'amd64')!;
  const arm = fx.manifests!.find((m) => m.platform.architecture === 'arm64')!;
  const a = `${env.registry.host}/test/multiarch@${amd.digest}`;
  const b = `${env.registry.host}/test/multicopy@${arm.digest}`;
  const shared = amd.layers
    .map((l) => l.digest)
    .filter((d) => arm.layers.some((l) => l.digest === d));
  expect(shared.length).toBeGreaterThan(0);
  const own = (m: typeof amd) =>
    [m.digest, m.configDigest, ...m.layers.map((l) => l.digest)].filter((d) => !shared.includes(d));

  const page = await env.page();
  const pull = async (ref: string) => {
    await page.goto(`${env.app.url}/?${new URLSearchParams({ image: ref })}`);
    await page.getByRole('button', { name: 'Pull' }).click();
    await page.getByRole('region', { name: 'Image summary' }).waitFor();
  };
  await pull(a);
  await pull(b);

  // The library lists both, with the bytes they share.
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: /^Library/ })
    .click();
  const library = page.getByRole('region', { name: 'Library' });
  const row = (name: string) => library.getByRole('row').filter({ hasText: name });
  await expect.poll(() => row(a).count()).toBe(1);
  await expect.poll(() => row(b).count()).toBe(1);
  const sharedBytes = amd.layers
    .filter((l) => shared.includes(l.digest))
    .reduce((n, l) => n + l.size, 0);
  for (const [name, m] of [
    [a, amd],
    [b, arm],
  ] as const) {
    const text = await row(name).textContent();
    expect(text).toContain(m.digest.slice(7, 19));
    expect(text).toContain(`${m.platform.os}/${m.platform.architecture}`);
    expect(text).toContain('just now');
    const [size, sharedCell] = await row(name).locator('td.num').all();
    const total = m.size + m.layers.reduce((n, l) => n + l.size, 0); // + the config
    expect(Number((await size!.getAttribute('title'))!.split(' ')[0])).toBeGreaterThan(total);
    expect(await sharedCell!.getAttribute('title')).toBe(`${sharedBytes} bytes`);
  }

  await library.getByRole('button', { name: `Delete ${a}`, exact: true }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toMatch(/Deleted .*multiarch/);
  await expect.poll(() => row(a).count()).toBe(0);
  let stored = await storeContents(page);
  expect(stored.images).toEqual([b]);
  for (const d of shared) expect(stored.blobs, `shared ${d}`).toContain(d);
  for (const d of own(arm)) expect(stored.blobs, `arm64's ${d}`).toContain(d);
  for (const d of own(amd)) expect(stored.blobs, `amd64's ${d}`).not.toContain(d);
  // Nothing is shared any more.
  expect(await row(b).locator('td.num').nth(1).getAttribute('title')).toBe('0 bytes');

  await library.getByRole('button', { name: `Delete ${b}`, exact: true }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toMatch(/Deleted .*multicopy/);
  stored = await storeContents(page);
  expect(stored).toEqual({ blobs: [], ingests: [], images: [], pulls: [], chunks: 0 });
  await expect.poll(() => library.textContent()).toContain('No images stored yet');
  await page.context().close();
});

test('verify re-hashes every blob, and names a corrupted chunk', async () => {
  const fx = env.fixtures.whiteout;
  const page = await env.page();
  await page.goto(`${env.app.url}/?${new URLSearchParams({ image: fx.ref })}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();

  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await expect
    .poll(() => page.locator('.notice').textContent())
    .toMatch(new RegExp(`Verified .*: ${fx.layers!.length + 2} blobs, .* all match`));

  // Flip one byte of a layer's stored chunk, keeping its size.
  const bad = fx.layers![1]!.digest;
  await page.evaluate(async (digest) => {
    const db = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open('berth');
      r.onsuccess = () => resolve(r.result);
    });
    const chunk = await new Promise<{ digest: string; offset: number; data: Blob }>((resolve) => {
      const r = db.transaction('chunks').objectStore('chunks').get([digest, 0]);
      r.onsuccess = () => resolve(r.result);
    });
    const bytes = new Uint8Array(await chunk.data.arrayBuffer());
    bytes[100] = bytes[100]! ^ 0xff;
    await new Promise((resolve) => {
      const tx = db.transaction('chunks', 'readwrite');
      tx.objectStore('chunks').put({ ...chunk, data: new Blob([bytes]) });
      tx.oncomplete = resolve;
    });
    db.close();
  }, bad);

  // From the library this time.
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: /^Library/ })
    .click();
  await page.getByRole('button', { name: `Verify ${fx.ref}`, exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  expect(await alert.textContent()).toContain(bad);
  expect(await alert.textContent()).toMatch(/damaged/);
  await page.context().close();
});
