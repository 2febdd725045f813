// Parallel blob downloads: every blob of a small image at once by default (up to six), as
// skopeo starts every layer, and the setting is obeyed.
// Every blob download stalls after its first byte, so the page's in-flight count can be read
// at the registry.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, type FixtureImage } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim } from '../harness/shim.ts';

let registry: Registry;
let fx: FixtureImage;
let shim: Shim;
let app: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  registry = await startRegistry();
  fx = (await buildFixtures(registry)).whiteout; // a config and three layers: four blobs
  shim = await startShim(registry.url, {
    stallAfter: (r) => (r.method === 'GET' && r.path.includes('/blobs/') ? 1 : undefined),
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [shim.host],
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await shim?.stop();
  await registry?.stop();
});

async function inFlight(settings: object): Promise<number> {
  const since = shim.requests.length;
  const page = await newPage(browser);
  await page.addInitScript(
    (s) => localStorage.setItem('berth.settings', JSON.stringify(s)),
    settings,
  );
  await page.goto(app.url);
  await page
    .getByRole('textbox', { name: 'Image reference' })
    .fill(`${shim.host}/${fx.repository}:${fx.tag}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  const blobs = () => shim.requests.slice(since).filter((r) => r.path.includes('/blobs/')).length;
  await expect.poll(blobs).toBeGreaterThan(0);
  // Give the page time to start more than it may; then count.
  await new Promise((r) => setTimeout(r, 1500));
  const n = blobs();
  await page.context().close();
  return n;
}

test('every blob of a four-blob image at once by default', async () => {
  expect(await inFlight({})).toBe(4);
});

test('the parallel setting is obeyed', async () => {
  expect(await inFlight({ parallel: 1 })).toBe(1);
});
