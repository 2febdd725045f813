// A zstd:chunked image made by skopeo, pushed to the real registry, inspected (not pulled) in
// real Chromium: its layer is listed from the table of contents alone and a file opens fetching
// only its chunks. A shim in front of the registry counts the bytes it serves per request.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildImage, fetchManifest, OciLayout, skopeo, type Descriptor } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim } from '../harness/shim.ts';

let registry: Registry;
let shim: Shim;
let browser: Browser;
let app: { url: string; close(): Promise<void> };
let work: string;
let layer: Descriptor;
let blobSize: number;
/** The TOC's compressed length, and where etc/numbers' frames lie, from the blob itself. */
let tocLength: number;
let numbers: { offset: number; endOffset: number };
const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-lazy-e2e-'));
  registry = await startRegistry();
  const layout = await OciLayout.create(join(work, 'src'));
  const big = Buffer.alloc(2 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const img = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/hello', content: 'hello\n' },
          { type: 'file', path: 'etc/numbers', content: lines },
          { type: 'file', path: 'usr/lib/big.bin', content: big },
        ],
      },
    ],
  });
  await layout.tag(img.descriptor, 't');
  await skopeo([
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-compress-format',
    'zstd:chunked',
    `oci:${join(work, 'src')}:t`,
    `docker://${registry.host}/lazy/chunked:v1`,
  ]);
  const manifest = (await fetchManifest(registry, 'lazy/chunked', 'v1')).json as {
    layers: Descriptor[];
  };
  layer = manifest.layers[0]!;
  const position = Object.entries(layer.annotations ?? {}).find(([k]) =>
    k.endsWith('zstd-chunked.manifest-position'),
  )![1];
  const [offset, length] = position.split(':').map(Number) as [number, number];
  tocLength = length;
  blobSize = layer.size;
  // The expected ranges come from the TOC as zstd itself decodes it.
  const blob = Buffer.from(
    await (await fetch(`${registry.url}/v2/lazy/chunked/blobs/${layer.digest}`)).arrayBuffer(),
  );
  const toc = JSON.parse(
    execFileSync('zstd', ['-dc'], { input: blob.subarray(offset, offset + length) }).toString(),
  ) as { entries: { name: string; type: string; offset?: number; endOffset?: number }[] };
  const e = toc.entries.find((x) => x.name === 'etc/numbers' && x.type === 'reg')!;
  numbers = { offset: e.offset!, endOffset: e.endOffset! };
  shim = await startShim(registry.url);
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [shim.host],
  });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await shim?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const files = (page: Page) => page.getByRole('region', { name: 'Files', exact: true });

test('an inspected zstd:chunked layer is listed from its TOC and a file opens fetching only its chunks', async () => {
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(`${shim.host}/lazy/chunked:v1`);
  await page.getByRole('button', { name: 'Inspect' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  const layerGets = () =>
    shim.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`));

  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await files(page).getByRole('treeitem', { name: 'etc', exact: true }).waitFor();
  await expect.poll(() => layerGets().every((r) => r.done)).toBe(true);
  // One Range request: the TOC at its annotated position.
  expect(layerGets().map((r) => [r.range, r.bytes])).toEqual([
    [expect.stringMatching(/^bytes=\d+-\d+$/), tocLength],
  ]);

  await files(page).getByRole('searchbox', { name: 'Search files' }).fill('numbers');
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
  await files(page).getByRole('treeitem', { name: 'numbers', exact: true }).click();
  await files(page).getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: 60_000 }).toContain('line 40');
  await expect.poll(() => layerGets().every((r) => r.done)).toBe(true);
  const served = layerGets().reduce((n, r) => n + r.bytes, 0);
  // The TOC plus the file's chunks, nothing else of the layer.
  expect(served).toBe(tocLength + numbers.endOffset - numbers.offset);
  expect(served).toBeLessThan(blobSize / 4);
  expect(await summary.textContent()).toContain('not downloaded');
  await page.context().close();
});
