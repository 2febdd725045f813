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
  expect(copied.version).toBe(6);
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
  expect(after.version).toBe(6);
  expect(after.stores).toEqual(
    expect.arrayContaining([
      'credentials',
      'pulls',
      'layerIndexes',
      'layerEntries',
      'layerCheckpoints',
      'tagDetails',
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

test('layer indexes are stored in columns; one stored the old way (objects) is read and stored again in columns', async () => {
  const fx = env.fixtures.whiteout;
  const ref = `${env.counter.host}/${fx.repository}:${fx.tag}`;
  const page = await env.page();
  await page.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();
  const files = (p: typeof page) => p.getByRole('region', { name: 'Files', exact: true });
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await files(page).getByRole('treeitem', { name: 'etc', exact: true }).waitFor();

  /** The stored indexes: each header's layout, and what its batch records hold. */
  const indexes = (p: typeof page) =>
    p.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve) => {
        const r = indexedDB.open('berth');
        r.onsuccess = () => resolve(r.result);
      });
      const all = (store: string) =>
        new Promise<Record<string, unknown>[]>((resolve) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => resolve(r.result as Record<string, unknown>[]);
        });
      const headers = await all('layerIndexes');
      const batches = await all('layerEntries');
      db.close();
      return headers.map((h) => ({
        layout: h.layout,
        entries: h.entries,
        held: batches
          .filter((b) => b.digest === h.digest)
          .map((b) => {
            const c = b.columns as { count: number; pathEnds: unknown } | undefined;
            return c
              ? { count: c.count, typed: c.pathEnds instanceof Uint32Array }
              : { objects: (b.entries as unknown[]).length };
          }),
      }));
    });
  const stored = await indexes(page);
  expect(stored).toHaveLength(fx.layers!.length);
  for (const s of stored) {
    expect(s.layout).toBe('columns');
    expect(s.held).toEqual([{ count: s.entries, typed: true }]);
  }

  // Rewrite every index as an earlier version stored it: entry objects, no layout. One name
  // is changed, so that the tree shows whether the old records were read or the layer was
  // listed again.
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open('berth');
      r.onsuccess = () => resolve(r.result);
    });
    const types = ['file', 'hardlink', 'dir', 'symlink', 'char', 'block', 'fifo', 'other'];
    const tx = db.transaction(['layerIndexes', 'layerEntries'], 'readwrite');
    const headers = tx.objectStore('layerIndexes');
    const batches = tx.objectStore('layerEntries');
    const all = <T>(r: IDBRequest<T>) =>
      new Promise<T>((resolve) => (r.onsuccess = () => resolve(r.result)));
    for (const h of await all(headers.getAll())) {
      type Columns = {
        count: number;
        paths: string;
        pathEnds: Uint32Array;
        links: string;
        linkEnds: Uint32Array;
        types: Uint8Array;
        sizes: Float64Array;
        offsets: Float64Array;
        mtimes: Float64Array;
        modes: Uint32Array;
        uids: Uint32Array;
        gids: Uint32Array;
      };
      const range = IDBKeyRange.bound([h.digest, 0], [h.digest, Infinity]);
      const recs = (await all(batches.getAll(range))) as { columns: Columns }[];
      const entries = recs.flatMap(({ columns: c }) =>
        Array.from({ length: c.count }, (_, j) => {
          const path = c.paths.slice(j ? c.pathEnds[j - 1] : 0, c.pathEnds[j]);
          const link = c.links.slice(j ? c.linkEnds[j - 1] : 0, c.linkEnds[j]);
          const type = types[c.types[j]! & 15];
          return {
            path: path === 'etc/passwd' ? 'etc/passwd-from-old-record' : path,
            type,
            size: c.sizes[j],
            mode: c.modes[j],
            uid: c.uids[j],
            gid: c.gids[j],
            mtime: c.mtimes[j],
            offset: c.offsets[j],
            ...(link || type === 'symlink' || type === 'hardlink' ? { linkname: link } : {}),
          };
        }),
      );
      batches.delete(range);
      for (let b = 0; b * 5000 < entries.length; b++)
        batches.put({
          digest: h.digest,
          batch: b,
          entries: entries.slice(b * 5000, (b + 1) * 5000),
        });
      const { layout: _, ...old } = h;
      headers.put({ ...old, batches: Math.ceil(entries.length / 5000) });
    }
    await new Promise((resolve) => (tx.oncomplete = resolve));
    db.close();
  });
  expect((await indexes(page)).map((s) => s.layout)).toEqual(stored.map(() => undefined));

  const again = await page.context().newPage();
  await page.close();
  await again.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await again.getByRole('region', { name: 'Image summary' }).waitFor();
  await again.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await files(again).getByRole('searchbox', { name: 'Search files' }).fill('passwd*');
  await files(again)
    .getByRole('treeitem', { name: 'passwd-from-old-record', exact: true })
    .waitFor();
  await expect
    .poll(async () => (await indexes(again)).map((s) => s.layout))
    .toEqual(stored.map(() => 'columns'));
  expect(await indexes(again)).toEqual(stored);
  await again.context().close();
});

test('a v5 database is upgraded to v6 with every record of every store kept', async () => {
  const fx = env.fixtures.whiteout;
  const ref = `${env.counter.host}/${fx.repository}:${fx.tag}`;
  const page = await env.page();
  await page.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();

  // Every store of version 5, with its keys and indexes, and its records as they are now; a
  // remembered credential too, so that no store is empty.
  const v5: Record<string, { keyPath: string | string[]; index?: string }> = {
    blobs: { keyPath: 'digest' },
    chunks: { keyPath: ['digest', 'offset'] },
    ingests: { keyPath: 'ref', index: 'digest' },
    images: { keyPath: 'name' },
    credentials: { keyPath: 'registry' },
    pulls: { keyPath: 'name' },
    layerIndexes: { keyPath: 'digest' },
    layerEntries: { keyPath: ['digest', 'batch'] },
    layerCheckpoints: { keyPath: 'digest' },
  };
  const counts = (p: typeof page) =>
    p.evaluate(
      (names) =>
        new Promise<Record<string, number>>((resolve, reject) => {
          const r = indexedDB.open('berth');
          r.onerror = () => reject(r.error);
          r.onsuccess = async () => {
            const db = r.result;
            const out: Record<string, number> = {};
            for (const n of names) {
              out[n] = await new Promise<number>((res) => {
                const c = db.transaction(n).objectStore(n).count();
                c.onsuccess = () => res(c.result);
              });
            }
            db.close();
            resolve(out);
          };
        }),
      Object.keys(v5),
    );
  const written = await page.evaluate(async (stores) => {
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
    for (const s of Object.keys(stores)) data[s] = await all(current, s);
    current.close();
    data.credentials!.push({ registry: 'kept.example', username: 'u', password: 'p', savedAt: 1 });
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase('berth');
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
    });
    const old = await open(5, (db) => {
      for (const [name, { keyPath, index }] of Object.entries(stores)) {
        const s = db.createObjectStore(name, { keyPath });
        if (index) s.createIndex(index, index);
      }
    });
    const tx = old.transaction(Object.keys(stores), 'readwrite');
    for (const [s, rows] of Object.entries(data))
      for (const row of rows) tx.objectStore(s).put(row);
    await new Promise((resolve) => (tx.oncomplete = resolve));
    old.close();
    return Object.fromEntries(Object.entries(data).map(([s, rows]) => [s, rows.length]));
  }, v5);
  expect(written.images).toBe(1);
  expect(written.credentials).toBeGreaterThan(0);

  // Open the app again: the worker upgrades the database to version 6.
  const again = await page.context().newPage();
  await page.close();
  await again.goto(`${env.app.url}/?image=${encodeURIComponent(ref)}`);
  await again.getByRole('region', { name: 'Image summary' }).waitFor();
  await expect
    .poll(() =>
      again.evaluate(
        () =>
          new Promise<number>((resolve) => {
            const r = indexedDB.open('berth');
            r.onsuccess = () => {
              resolve(r.result.version);
              r.result.close();
            };
          }),
      ),
    )
    .toBe(6);
  expect(await counts(again)).toEqual(written);
  await again.context().close();
});
