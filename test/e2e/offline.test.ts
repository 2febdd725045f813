// Offline support in real Chromium: the service worker precaches the app shell, the app loads
// and opens stored images with the network off, proxy traffic never touches Cache Storage, and
// a new build is offered ("Update available") instead of being forced on the page.
import { execFile } from 'node:child_process';
import { cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { FIXTURE_TEXT } from '../harness/fixtures.ts';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { type E2E, startE2E } from './env.ts';

const exec = promisify(execFile);
let env: E2E;
let stalling: Shim;

beforeAll(async () => {
  env = await startE2E();
  // Holds the whiteout image's biggest layer after its first KiB: a pull that stays busy.
  const big = env.fixtures.whiteout.layers!.reduce((a, b) => (b.size > a.size ? b : a));
  stalling = await startShim(env.registry.url, {
    stallAfter: (req) => (req.path.endsWith(big.digest) ? 1024 : undefined),
  });
});
afterAll(async () => {
  await stalling?.stop();
  await env?.stop();
});

const summary = (page: Page) => page.getByRole('region', { name: 'Image summary' });
const library = (page: Page) => page.getByRole('region', { name: 'Library' });

/** Resolves once a service worker is active and controls the page (clientsClaim). */
async function serviceWorkerControls(page: Page) {
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

/** Every cache in Cache Storage with the URLs it holds. */
function cacheStorage(page: Page) {
  return page.evaluate(async () => {
    const out: { name: string; urls: string[] }[] = [];
    for (const name of await caches.keys()) {
      const keys = await (await caches.open(name)).keys();
      out.push({ name, urls: keys.map((r) => new URL(r.url).pathname) });
    }
    return out;
  });
}

/** Content Security Policy violations the page reports on its console. */
function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(m.text());
  });
  return seen;
}

test('after one visit the app loads offline, and a stored image opens from the library', async () => {
  const fx = env.fixtures.whiteout;
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const violations = cspViolations(page);
  const proxied: { url: string; fromServiceWorker: boolean }[] = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/proxy/')) {
      proxied.push({ url: r.url(), fromServiceWorker: r.fromServiceWorker() });
    }
  });
  await page.goto(env.app.url);
  await serviceWorkerControls(page);

  // A pull with the service worker in control goes to the proxy and the network as before.
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await summary(page).waitFor();
  expect(await summary(page).textContent()).toContain(fx.digest);
  expect(proxied.length, 'proxy responses seen').toBeGreaterThan(0);
  expect(proxied.filter((r) => r.fromServiceWorker)).toEqual([]);

  // Cache Storage holds the precached shell, the images worker included, and nothing else.
  const built = await readFile('dist/sw.js', 'utf8');
  const caches = await cacheStorage(page);
  expect(caches.map((c) => c.name)).toEqual([expect.stringMatching(/^workbox-precache-v2-/)]);
  const urls = caches[0]!.urls;
  expect(urls.filter((u) => u.startsWith('/proxy/'))).toEqual([]);
  expect(urls).toContain('/index.html');
  expect(urls.some((u) => /^\/assets\/images\.worker-.*\.js$/.test(u))).toBe(true);
  for (const u of urls) expect(built, `${u} is in the precache manifest`).toContain(u.slice(1));

  await context.setOffline(true);
  // A link to the image opens the stored copy at once: the registry cannot be reached.
  const link = `/?${new URLSearchParams({ image: fx.ref })}`;
  let response = await page.goto(`${env.app.url}${link}`);
  expect(response?.fromServiceWorker(), `${link} served by the service worker`).toBe(true);
  await summary(page).waitFor();
  expect(await summary(page).textContent()).toContain(fx.digest);
  await expect
    .poll(() => page.locator('p.notice').textContent())
    .toMatch(/registry cannot be reached: showing the copy of .* stored in this browser/);
  // And the library opens it too.
  response = await page.goto(`${env.app.url}/?view=library`);
  expect(response?.fromServiceWorker(), 'the library served by the service worker').toBe(true);
  await library(page).getByRole('row').filter({ hasText: fx.ref }).waitFor();
  await library(page)
    .getByRole('button', { name: `Open ${fx.ref}`, exact: true })
    .click();
  await summary(page).waitFor();
  expect(await summary(page).textContent()).toContain(fx.digest);
  expect(urls.some((u) => /^\/assets\/layers\.worker-.*\.js$/.test(u))).toBe(true);
  // Still offline: the merged tree and a file's content come from the store.
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  const files = page.getByRole('region', { name: 'Files', exact: true });
  await files.getByRole('searchbox', { name: 'Search files' }).fill('passwd');
  await files.getByRole('treeitem', { name: 'passwd', exact: true }).click();
  await files.getByRole('button', { name: 'View file' }).click();
  await expect
    .poll(() => page.getByRole('region', { name: 'File viewer' }).textContent())
    .toContain(FIXTURE_TEXT.passwd.split('\n')[0]);
  // The proxy is never answered from a cache: offline, it fails like the network does.
  const offline = await page.evaluate(
    (url) =>
      fetch(url).then(
        (r) => r.status,
        (e: unknown) => String(e),
      ),
    `${env.app.url}/proxy/${env.registry.host}/v2/`,
  );
  expect(offline).toMatch(/TypeError/);
  await context.setOffline(false);

  expect(violations).toEqual([]);
  await context.close();
});

test('the service worker, its runtime and the manifest are revalidated; hashed assets are not', async () => {
  const built = await readFile('dist/sw.js', 'utf8');
  const runtime = /workbox-[0-9a-f]+/.exec(built)![0];
  const script = /"(assets\/index-[^"]+\.js)"/.exec(built)![1]!;
  const cases = [
    { path: '/sw.js', want: 'no-cache' },
    { path: `/${runtime}.js`, want: 'no-cache' },
    { path: '/manifest.webmanifest', want: 'no-cache' },
    { path: '/index.html', want: 'no-cache' },
    { path: `/${script}`, want: 'public, max-age=31536000, immutable' },
  ];
  for (const { path, want } of cases) {
    const res = await fetch(`${env.app.url}${path}`);
    expect(res.status, `GET ${path}`).toBe(200);
    expect(res.headers.get('cache-control'), `Cache-Control of ${path}`).toBe(want);
    expect(res.headers.get('content-security-policy'), `CSP of ${path}`).toContain(
      "script-src 'self'",
    );
  }
  const manifest = (await (await fetch(`${env.app.url}/manifest.webmanifest`)).json()) as {
    name: string;
    start_url: string;
    display: string;
  };
  expect(manifest).toMatchObject({ name: 'Berth', start_url: './', display: 'standalone' });
});

/** The build id the page runs (vite.config.ts's define, shown as the banner's title). */
const buildId = (page: Page) =>
  page.evaluate(() => document.querySelector<HTMLElement>('#updates div')?.title);

test('a new build is offered in every tab, waits for a running pull, and reloads only when asked', async () => {
  const served = join(env.tmp, 'update-served');
  const next = join(env.tmp, 'update-next');
  await cp('dist', served, { recursive: true });
  const app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: served,
    insecureRegistries: [env.registry.host, stalling.host],
  });
  const context = await env.browser.newContext();
  try {
    // Two tabs: one idle, one pulling an image whose big layer stalls.
    const idle = await context.newPage();
    const pulling = await context.newPage();
    const violations = [idle, pulling].map(cspViolations);
    await idle.goto(app.url);
    await serviceWorkerControls(idle);
    await pulling.goto(app.url);
    await serviceWorkerControls(pulling);
    const fx = env.fixtures.whiteout;
    await pulling
      .getByRole('textbox', { name: 'Image reference' })
      .fill(`${stalling.host}/${fx.repository}:${fx.tag}`);
    await pulling.getByRole('button', { name: 'Pull', exact: true }).click();
    await pulling.getByRole('button', { name: 'Cancel' }).waitFor();
    // Gone after any reload: tells whether the page was reloaded under the user.
    await pulling.evaluate(() => Object.assign(window, { notReloaded: true }));

    // The same app with another build id, in place of the served one; then an update check.
    await exec('npx', ['vite', 'build', '--outDir', next, '--emptyOutDir', '--logLevel', 'error'], {
      env: { ...process.env, BERTH_BUILD_ID: 'offline-test-next' },
    });
    await rm(served, { recursive: true, force: true });
    await cp(next, served, { recursive: true });
    await idle.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration();
      await registration!.update();
    });

    const status = (page: Page) => page.getByRole('status').filter({ hasText: 'Update available' });
    const reload = (page: Page) =>
      page.getByRole('button', { name: 'Reload to update', exact: true });
    await status(idle).waitFor();
    await status(pulling).waitFor();
    expect(await reload(idle).isDisabled(), 'reload in the idle tab').toBe(false);
    expect(await reload(pulling).isDisabled(), 'reload in the pulling tab').toBe(true);
    expect(await pulling.locator('#update-waits').textContent()).toMatch(/waits until the pull/);

    // "Later" hides it; the next load of the old version asks again.
    await idle.getByRole('button', { name: 'Later', exact: true }).click();
    await status(idle).waitFor({ state: 'detached' });
    await idle.reload();
    await status(idle).waitFor();
    expect(await buildId(idle)).toBe('');

    await pulling.evaluate(() =>
      navigator.serviceWorker.addEventListener('controllerchange', () =>
        Object.assign(window, { controllerChanged: true }),
      ),
    );
    await Promise.all([idle.waitForEvent('load'), reload(idle).click()]);
    await idle.waitForFunction(() => navigator.serviceWorker.controller !== null);
    // The build's URLs are relative (./assets/…).
    const want = /src="\.(\/assets\/index-[^"]+\.js)"/.exec(
      await readFile(join(next, 'index.html'), 'utf8'),
    )![1];
    expect(
      await idle.evaluate(() => document.querySelector<HTMLScriptElement>('script[src]')!.src),
    ).toBe(`${app.url}${want}`);
    expect(await buildId(idle)).toBe('offline-test-next');
    expect(await status(idle).count()).toBe(0);
    expect(
      await idle.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting),
    ).toBeNull();

    // The new version now controls the pulling tab too, which is not reloaded under its pull.
    await pulling.waitForFunction(() => 'controllerChanged' in window);
    await status(pulling).waitFor();
    expect(await reload(pulling).isDisabled(), 'reload while still pulling').toBe(true);
    await pulling.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => reload(pulling).isDisabled(), { message: 'once idle' }).toBe(false);
    expect(await pulling.evaluate(() => 'notReloaded' in window), 'pulling tab kept').toBe(true);
    expect(await buildId(pulling)).toBe('');
    await Promise.all([pulling.waitForEvent('load'), reload(pulling).click()]);
    expect(await buildId(pulling)).toBe('offline-test-next');

    expect(violations.flat()).toEqual([]);
  } finally {
    await context.close();
    await app.close();
  }
});
