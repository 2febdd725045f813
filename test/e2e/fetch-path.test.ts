// The layer fetch path against a real registry: Range pieces, a registry that ignores Range,
// and a connection cut in the middle of a piece, which must resume instead of starting over.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, type FixtureImage } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim } from '../harness/shim.ts';

const MiB = 1 << 20;
let registry: Registry;
let fx: FixtureImage;
let ranged: Shim;
let noRange: Shim;
let cutting: Shim;
let app: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launchChromium>>;
let big: { digest: string; size: number };

beforeAll(async () => {
  registry = await startRegistry();
  fx = (await buildFixtures(registry)).whiteout;
  big = fx.layers!.reduce((a, b) => (b.size > a.size ? b : a));
  expect(big.size).toBeGreaterThan(MiB); // at least two 1 MiB pieces
  ranged = await startShim(registry.url);
  noRange = await startShim(registry.url, { ignoreRange: true });
  let cut = false;
  cutting = await startShim(registry.url, {
    // Cut the second piece of the big layer once, half way through.
    cutAfter: (req) => {
      if (cut || !req.path.endsWith(big.digest)) return undefined;
      if (!req.range?.startsWith(`bytes=${MiB}-`)) return undefined;
      cut = true;
      return (big.size - MiB) >> 1;
    },
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [ranged.host, noRange.host, cutting.host],
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  for (const s of [ranged, noRange, cutting]) await s?.stop();
  await registry?.stop();
});

async function pullWithPieces(host: string): Promise<Page> {
  const page = await newPage(browser);
  await page.addInitScript(() =>
    localStorage.setItem('berth.settings', JSON.stringify({ pieceMiB: 1 })),
  );
  await page.goto(app.url);
  await page
    .getByRole('textbox', { name: 'Image reference' })
    .fill(`${host}/${fx.repository}:${fx.tag}`);
  await page.getByRole('button', { name: 'Pull' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  expect(await summary.textContent()).toContain(fx.digest);
  return page;
}

const gets = (shim: Shim) =>
  shim.requests.filter((r) => r.method === 'GET' && r.path.endsWith(big.digest));

describe('layer fetch path', () => {
  test('a layer larger than a piece comes in Range pieces', async () => {
    const page = await pullWithPieces(ranged.host);
    expect(gets(ranged).map((r) => r.range)).toEqual([
      `bytes=0-${MiB - 1}`,
      `bytes=${MiB}-${big.size - 1}`,
    ]);
    expect(gets(ranged).reduce((n, r) => n + r.bytes, 0)).toBe(big.size);
    await page.context().close();
  });

  test('a registry that ignores Range is streamed whole, once', async () => {
    const page = await pullWithPieces(noRange.host);
    expect(gets(noRange)).toHaveLength(1);
    expect(gets(noRange)[0]!.status).toBe(200);
    expect(gets(noRange)[0]!.bytes).toBe(big.size);
    await page.context().close();
  });

  test('a connection cut mid-piece resumes from the last piece, and the blob verifies', async () => {
    const page = await pullWithPieces(cutting.host);
    const requests = gets(cutting);
    expect(requests.map((r) => [r.range, r.cut ?? false])).toEqual([
      [`bytes=0-${MiB - 1}`, false],
      [`bytes=${MiB}-${big.size - 1}`, true],
      [`bytes=${MiB}-${big.size - 1}`, false],
    ]);
    const served = requests.reduce((n, r) => n + r.bytes, 0);
    expect(served).toBeLessThan(big.size * 1.5); // the first piece was not fetched again
    await page.context().close();
  });
});
