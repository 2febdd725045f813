// The library and the store's edges, in real Chromium: opening and exporting stored images
// offline, persistence, a full disk (a quota shrunk through the DevTools protocol), no
// IndexedDB at all, a schema upgrade with another tab open, and abandoned pulls.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { type E2E, startE2E, storeContents } from './env.ts';

const exec = promisify(execFile);
const MiB = 1 << 20;
let env: E2E;
let stalling: Shim;
let stallArmed = false;
let app: { url: string; close(): Promise<void> };
let big: { digest: string; size: number };

beforeAll(async () => {
  env = await startE2E();
  big = env.fixtures.whiteout.layers!.reduce((a, b) => (b.size > a.size ? b : a));
  // Once armed, the next download of the whiteout image's big layer past its first MiB hangs.
  stalling = await startShim(env.registry.url, {
    stallAfter: (req) => {
      if (!stallArmed || !req.path.endsWith(big.digest)) return undefined;
      if (!req.range?.startsWith(`bytes=${MiB}-`)) return undefined;
      stallArmed = false;
      return 1000;
    },
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [env.registry.host, env.counter.host, stalling.host],
  });
});
afterAll(async () => {
  await app?.close();
  await stalling?.stop();
  await env?.stop();
});

async function pull(page: Page, ref: string) {
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
}

const summary = (page: Page) => page.getByRole('region', { name: 'Image summary' });
const library = (page: Page) => page.getByRole('region', { name: 'Library' });
/** Goes to the library the way a person does, by the header's link. */
async function showLibrary(page: Page) {
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: /^Library/ })
    .click();
  await library(page).waitFor();
}
const notice = (page: Page) => page.locator('.notice').textContent();

async function cdp(context: BrowserContext, page: Page): Promise<CDPSession> {
  return context.newCDPSession(page);
}

test('open from the library works offline; export from it gives an archive skopeo accepts', async () => {
  // OCI media types: skopeo 1.9 finds a manifest by name in an OCI layout only if it is one.
  const fx = env.fixtures.whiteout;
  const context = await env.browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await pull(page, fx.ref);
  await summary(page).waitFor();

  // A new page, then the network goes: the library still opens the image.
  const again = await context.newPage();
  await page.close();
  await again.goto(`${app.url}/?view=library`);
  await library(again).getByRole('row').filter({ hasText: fx.ref }).waitFor();
  await context.setOffline(true);
  await library(again)
    .getByRole('button', { name: `Open ${fx.ref}`, exact: true })
    .click();
  await summary(again).waitFor();
  expect(await summary(again).textContent()).toContain(fx.digest);
  expect(await again.getByRole('textbox', { name: 'Image reference' }).inputValue()).toBe(fx.ref);
  // Back in the library (still offline), it exports too.
  await showLibrary(again);

  const [download] = await Promise.all([
    again.waitForEvent('download'),
    library(again)
      .getByRole('button', { name: `Export ${fx.ref}`, exact: true })
      .click(),
  ]);
  await context.setOffline(false);
  const file = join(env.tmp, `library-${download.suggestedFilename()}`);
  await download.saveAs(file);
  const out = join(env.tmp, 'library-layout');
  await exec('skopeo', ['copy', '--preserve-digests', `oci-archive:${file}`, `oci:${out}:v1`]);
  const { stdout } = await exec('skopeo', ['inspect', '--raw', `oci:${out}:v1`]);
  expect(JSON.parse(stdout).layers).toHaveLength(fx.layers!.length);
  await context.close();
});

test('storage bar; the first pull asks for persistent storage, and the page says what it got', async () => {
  const fx = env.fixtures.dockerTypes;
  for (const grant of [false, true]) {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    let browserSession: CDPSession | undefined;
    if (grant) {
      const { targetInfo } = await (await cdp(context, page)).send('Target.getTargetInfo');
      browserSession = await env.browser.newBrowserCDPSession();
      await browserSession.send('Browser.grantPermissions', {
        permissions: ['durableStorage'],
        origin: app.url,
        browserContextId: targetInfo.browserContextId!,
      });
      // Overrides last as long as the session that made them: it stays until the context goes.
    }
    await pull(page, fx.ref);
    await summary(page).waitFor();
    await showLibrary(page);
    const meter = library(page).getByRole('meter', { name: 'Storage used' });
    await expect.poll(() => meter.getAttribute('aria-valuenow')).not.toBe('0');
    const storage = library(page).locator('.storage');
    await expect
      .poll(() => storage.textContent())
      .toContain(grant ? 'Persistent storage' : 'Best-effort storage');
    expect(await storage.textContent()).toMatch(/Berth holds \d/);
    await context.close();
    await browserSession?.detach();
  }
});

test('a full disk stops the pull with what it needs and what can be freed; after more room, it resumes', async () => {
  const small = env.fixtures.dockerTypes;
  const big = env.fixtures.whiteout;
  const bigRef = `${env.counter.host}/${big.repository}:${big.tag}`;
  const context = await env.browser.newContext();
  const page = await context.newPage();
  // Chromium reads an origin's quota when its store first opens: shrink it before that. A MiB
  // holds the small image and the big one's small blobs, not its big layers.
  const session = await cdp(context, page);
  await session.send('Storage.overrideQuotaForOrigin', { origin: app.url, quotaSize: MiB });
  await pull(page, small.ref);
  await summary(page).waitFor();
  await pull(page, bigRef);
  const alert = page.getByRole('alert');
  await alert.waitFor({ timeout: 60_000 });
  const message = (await alert.textContent())!;
  expect(message).toMatch(
    new RegExp(`^Not enough storage: free about [\\d.]+ [kMG]?B to pull ${bigRef} `),
  );
  expect(message).toContain(`Deleting images from the library frees up to`);
  expect(message).toContain(small.ref);
  expect(message).toMatch(/pull again once there is room, and it resumes/);

  // The earlier image is intact.
  await showLibrary(page);
  await library(page)
    .getByRole('button', { name: `Verify ${small.ref}`, exact: true })
    .click();
  await expect.poll(() => notice(page)).toMatch(/Verified .* all match/);
  const stored = await storeContents(page);
  expect(stored.images).toEqual([small.ref]);
  expect(stored.pulls).toEqual([bigRef]);

  // More room: Resume fetches only what was not stored yet.
  await session.send('Storage.overrideQuotaForOrigin', { origin: app.url });
  const since = env.counter.requests.length;
  await library(page)
    .getByRole('button', { name: `Resume ${bigRef}`, exact: true })
    .click();
  await summary(page).waitFor({ timeout: 60_000 });
  const blobGets = env.counter.requests
    .slice(since)
    .filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))
    .map((r) => r.path.split('/blobs/')[1]);
  const committed = stored.blobs.filter((d) => blobGets.includes(d));
  expect(committed, 'blobs stored before the disk filled are not fetched again').toEqual([]);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await expect.poll(() => notice(page)).toMatch(/Verified .* all match/);
  expect((await storeContents(page)).pulls).toEqual([]);
  await context.close();
});

test('no IndexedDB (as in some private modes): the page says so instead of failing later', async () => {
  // No service worker: its precache fetches would go through the route below too.
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  // Where site data is blocked, reading indexedDB throws a SecurityError, in the page and in
  // its workers alike.
  await context.route('**/assets/*.js', async (route) => {
    const response = await route.fetch();
    const block =
      'Object.defineProperty(globalThis,"indexedDB",{configurable:true,get(){' +
      'throw new DOMException("The operation is insecure.","SecurityError")}});\n';
    await route.fulfill({ response, body: block + (await response.text()) });
  });
  const page = await context.newPage();
  await page.goto(app.url);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  expect(await alert.textContent()).toMatch(
    /does not let Berth store anything here \(SecurityError: The operation is insecure.\).*normal window/,
  );
  expect(await page.getByRole('button', { name: 'Pull', exact: true }).isDisabled()).toBe(true);
  expect(await page.getByRole('region', { name: 'Library' }).count()).toBe(0);
  // A script still loading (the service worker's window helper) must not outlive the context.
  await context.unrouteAll({ behavior: 'ignoreErrors' });
  await context.close();
});

/** Opens the database from a page of the app's origin that is not the app, as an older or
 * newer Berth in another tab would. */
async function otherTab(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.route(`${app.url}/other-tab`, (r) =>
    r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>other tab</title>' }),
  );
  await page.goto(`${app.url}/other-tab`);
  return page;
}

test('a schema upgrade waits for an older tab, says so, and goes on when that tab lets go', async () => {
  const context = await env.browser.newContext();
  const old = await otherTab(context);
  // An old Berth (schema version 1) that keeps its connection and ignores versionchange.
  await old.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const r = indexedDB.open('berth', 1);
        r.onupgradeneeded = () => {
          const db = r.result;
          db.createObjectStore('blobs', { keyPath: 'digest' });
          db.createObjectStore('chunks', { keyPath: ['digest', 'offset'] });
          db.createObjectStore('ingests', { keyPath: 'ref' }).createIndex('digest', 'digest');
          db.createObjectStore('images', { keyPath: 'name' });
        };
        r.onsuccess = () => {
          (globalThis as unknown as { oldDb: IDBDatabase }).oldDb = r.result;
          resolve();
        };
        r.onerror = () => reject(r.error);
      }),
  );
  const page = await context.newPage();
  await page.goto(`${app.url}/?view=library`);
  const status = page.getByRole('status').filter({ hasText: 'Waiting for other Berth tabs' });
  await status.waitFor();

  await old.evaluate(() => (globalThis as unknown as { oldDb: IDBDatabase }).oldDb.close());
  await status.waitFor({ state: 'detached' });
  await expect.poll(() => library(page).textContent()).toContain('No images stored yet');
  await pull(page, env.fixtures.dockerTypes.ref);
  await summary(page).waitFor();
  await context.close();
});

test('a newer Berth in another tab upgrades the store: this one steps aside and says to reload', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.url}/?view=library`);
  await expect.poll(() => library(page).textContent()).toContain('No images stored yet');
  const newer = await otherTab(context);
  // Succeeds only because the app's worker closes its connection on versionchange.
  const version = await newer.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const r = indexedDB.open('berth', 99);
        r.onsuccess = () => {
          resolve(r.result.version);
          r.result.close();
        };
        r.onerror = () => reject(r.error);
        r.onblocked = () => reject(new Error('blocked by the app'));
      }),
  );
  expect(version).toBe(99);
  // The page stays as it was; its next use of the store tells the user what happened.
  await page.getByRole('textbox', { name: 'Image reference' }).fill(env.fixtures.dockerTypes.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  expect(await alert.textContent()).toMatch(/newer version of Berth.*Reload this page/);
  await context.close();
});

/** A pull of the whiteout image, cancelled with its big layer at 1 MiB and the rest
 * committed. */
async function interruptedPull(): Promise<{ page: Page; ref: string }> {
  const fx = env.fixtures.whiteout;
  const ref = `${stalling.host}/${fx.repository}:${fx.tag}`;
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() =>
    localStorage.setItem('berth.settings', JSON.stringify({ pieceMiB: 1 })),
  );
  stallArmed = true;
  await pull(page, ref);
  // The stall leaves the big layer at its first MiB, everything else committed.
  const bar = page.getByRole('progressbar', { name: `layer ${big.digest.slice(7, 19)}` });
  await expect.poll(() => bar.getAttribute('aria-valuenow'), { timeout: 30_000 }).toBe(String(MiB));
  await expect
    .poll(async () => (await storeContents(page)).blobs.length)
    .toBe(2 + fx.layers!.length - 1);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect.poll(() => notice(page)).toContain('Pull cancelled');
  await showLibrary(page);
  await expect
    .poll(() =>
      library(page)
        .getByRole('button', { name: `Resume ${ref}` })
        .count(),
    )
    .toBe(1);

  return { page, ref };
}

test('Discard gives up an interrupted pull and frees everything it held', async () => {
  const { page, ref } = await interruptedPull();
  expect(await library(page).locator('.pulls').textContent()).toMatch(/ of 2\.\d\d MB stored/);
  await library(page)
    .getByRole('button', { name: `Discard ${ref}`, exact: true })
    .click();
  await expect.poll(() => notice(page)).toMatch(/Discarded the pull of .*: .* freed/);
  expect(await storeContents(page)).toEqual({
    blobs: [],
    ingests: [],
    images: [],
    pulls: [],
    chunks: 0,
  });
  await expect.poll(() => library(page).textContent()).not.toContain('Interrupted pulls');
  await page.context().close();
});

test('an interrupted pull left alone past its lease is cleaned up when the app opens', async () => {
  const { page, ref } = await interruptedPull();
  // A page opened within the lease keeps it all.
  await page.goto(`${app.url}/?view=library`);
  await library(page)
    .getByRole('button', { name: `Resume ${ref}` })
    .waitFor();
  const kept = await storeContents(page);
  expect(kept.pulls).toEqual([ref]);
  expect(kept.ingests).toHaveLength(1);

  // A day and an hour later (the records are aged; the clock is not), it is all gone.
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open('berth');
      r.onsuccess = () => resolve(r.result);
    });
    const tx = db.transaction(['ingests', 'pulls'], 'readwrite');
    const age = Date.now() - 25 * 3600 * 1000;
    for (const name of ['ingests', 'pulls']) {
      const store = tx.objectStore(name);
      const all = store.getAll();
      all.onsuccess = () => {
        for (const rec of all.result as { updatedAt: number }[]) {
          store.put({ ...rec, updatedAt: age });
        }
      };
    }
    await new Promise((resolve) => (tx.oncomplete = resolve));
    db.close();
  });
  await page.reload();
  await expect
    .poll(() => storeContents(page))
    .toEqual({ blobs: [], ingests: [], images: [], pulls: [], chunks: 0 });
  await expect.poll(() => library(page).textContent()).not.toContain('Interrupted pulls');
  await page.context().close();
});
