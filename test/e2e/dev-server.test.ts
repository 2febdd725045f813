// `npm run dev`: Vite's dev server with the proxy mounted as middleware pulls like `npm start`.
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, type FixtureImage } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

let registry: Registry;
let whiteout: FixtureImage;
let vite: ViteDevServer;
let browser: Awaited<ReturnType<typeof launchChromium>>;
const saved = process.env.BERTH_INSECURE_REGISTRIES;

beforeAll(async () => {
  registry = await startRegistry();
  whiteout = (await buildFixtures(registry)).whiteout;
  process.env.BERTH_INSECURE_REGISTRIES = registry.host;
  vite = await createServer({
    configFile: 'vite.config.ts',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    logLevel: 'silent',
  });
  await vite.listen();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  await registry?.stop();
  if (saved === undefined) delete process.env.BERTH_INSECURE_REGISTRIES;
  else process.env.BERTH_INSECURE_REGISTRIES = saved;
});

test('pull through the dev server and its proxy middleware', async () => {
  const url = vite.resolvedUrls!.local[0]!;
  const page = await newPage(browser);
  await page.goto(`${url}?image=${encodeURIComponent(whiteout.ref)}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  expect(await summary.textContent()).toContain(whiteout.digest);
  await page.context().close();
});
