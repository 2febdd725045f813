// Hosting for a team, as the README says to do it: the site built with VITE_BERTH_PROXY and put
// in a directory of a plain static web server (busybox httpd: no headers of Berth's, no
// rewrites), the proxy run alone with `--proxy-only` on another origin. The page pulls through
// that proxy, a deep link opens a file, and after one visit the site works offline.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { freePort, spawnService, type Service } from '../harness/process.ts';
import { type E2E, startE2E } from './env.ts';

const exec = promisify(execFile);
let env: E2E;
let proxy: { url: string; close(): Promise<void> };
let httpd: Service;
/** The site's URL: a directory of the static host. */
let site: string;

beforeAll(async () => {
  env = await startE2E();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  proxy = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: '',
    proxyOnly: true,
    insecureRegistries: [env.registry.host],
    allowedOrigins: [origin],
  });
  const root = join(env.tmp, 'static-root');
  const dir = join(root, 'tools', 'berth');
  await mkdir(dir, { recursive: true });
  await exec('npx', ['vite', 'build', '--outDir', dir, '--emptyOutDir', '--logLevel', 'error'], {
    // As a team would build it; vitest's NODE_ENV=test would make a build without the
    // service worker's registration (import.meta.env.PROD false).
    env: { ...process.env, NODE_ENV: 'production', VITE_BERTH_PROXY: `${proxy.url}/proxy` },
  });
  httpd = await spawnService('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root], {
    readyUrl: `${origin}/tools/berth/`,
  });
  site = `${origin}/tools/berth/`;
}, 180_000);
afterAll(async () => {
  await httpd?.stop();
  await proxy?.close();
  await env?.stop();
});

test('a static host in a subdirectory, the proxy on another origin, offline after one visit', async () => {
  const fx = env.fixtures.whiteout;
  const context = await env.browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const urls: string[] = [];
  context.on('request', (r) => urls.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(site);
  await page.getByRole('heading', { name: 'Try an image' }).waitFor();
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  expect(await summary.textContent()).toContain(fx.digest);
  const proxied = urls.filter((u) => u.includes('/proxy/'));
  expect(proxied.length).toBeGreaterThan(4);
  expect(proxied.every((u) => u.startsWith(`${proxy.url}/proxy/`))).toBe(true);
  // The URL stays in the site's directory.
  expect(page.url()).toBe(`${site}?image=${fx.ref}`);

  // A deep link opens a file; the app shell comes from the service worker once it controls
  // the page, and the image from the store: the network can go.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  await context.setOffline(true);
  const response = await page.goto(`${site}?image=${fx.ref}&layer=merged&path=/etc/passwd`);
  expect(response?.fromServiceWorker()).toBe(true);
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: 30_000 }).toContain('root:x:0:0');
  await context.setOffline(false);
  expect(errors).toEqual([]);
  await context.close();
});
