// A plain gzip image (GNU tar + gzip) with a SOCI index attached as a referrer, pushed to the
// real registry and inspected (not pulled) in real Chromium: its layer is listed from the zTOC
// alone and a file opens fetching only the spans that hold it. distribution 2.8 has no referrers
// API, so the SOCI index is listed under the sha256-<hex> tag, as the referrers tag schema says.
// A shim in front of the registry counts the bytes it serves per request.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { buildZtoc, gzipLayer, sociIndex, type Ztoc } from '../harness/soci.ts';

const repo = 'soci/app';
const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let registry: Registry;
let shim: Shim;
let browser: Browser;
let app: { url: string; close(): Promise<void> };
let blob: Buffer;
let layerDigest: string;
let ztoc: Ztoc;
let ztocDigest: string;
const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');

/** A monolithic blob upload (POST, then PUT with the digest), as distribution takes it. */
async function pushBlob(bytes: Uint8Array) {
  const digest = sha256(bytes);
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('Location')!, registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  expect(put.status).toBe(201);
  return { digest, size: bytes.byteLength };
}

async function pushManifest(doc: { mediaType: string }, tag: string) {
  const bytes = Buffer.from(JSON.stringify(doc));
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': doc.mediaType },
    body: bytes,
  });
  expect(res.status, await res.text()).toBe(201);
  return { mediaType: doc.mediaType, digest: sha256(bytes), size: bytes.length };
}

beforeAll(async () => {
  registry = await startRegistry();
  // Bytes that do not compress (xorshift), so downloading the layer would cost megabytes.
  const noise = Buffer.alloc(2 << 20);
  let x = 7;
  for (let i = 0; i < noise.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    noise[i] = x & 0xff;
  }
  blob = await gzipLayer([
    { path: 'etc/hello', content: 'hello\n' },
    { path: 'usr/lib/big.bin', content: noise },
    { path: 'etc/numbers', content: lines },
  ]);
  ztoc = await buildZtoc(blob, { spacing: 256 << 10 });
  const layer = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    ...(await pushBlob(blob)),
  };
  layerDigest = layer.digest;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256(gunzipSync(blob))] },
    }),
  );
  const image = await pushManifest(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        ...(await pushBlob(config)),
      },
      layers: [layer],
    } as { mediaType: string },
    'v1',
  );
  const soci = sociIndex(layer, ztoc.bytes, image);
  ztocDigest = (await pushBlob(ztoc.bytes)).digest;
  await pushBlob(Buffer.from('{}'));
  const sociDesc = await pushManifest(soci.manifest, 'soci');
  expect(sociDesc.digest).toBe(soci.referrers.manifests[0]!.digest);
  await pushManifest(soci.referrers, soci.tag);
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
});

const files = (page: Page) => page.getByRole('region', { name: 'Files', exact: true });

test('an inspected gzip layer with a SOCI index is listed from its zTOC and a file opens fetching only its spans', async () => {
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(`${shim.host}/${repo}:v1`);
  await page.getByRole('button', { name: 'Inspect' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  const gets = (digest: string) =>
    shim.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`));

  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await files(page).getByRole('treeitem', { name: 'etc', exact: true }).waitFor();
  await expect.poll(() => gets(ztocDigest).every((r) => r.done)).toBe(true);
  // The zTOC, whole, and one byte of the layer: the proof that the registry serves ranges.
  expect(gets(ztocDigest).map((r) => r.bytes)).toEqual([ztoc.bytes.length]);
  await expect.poll(() => gets(layerDigest).every((r) => r.done)).toBe(true);
  expect(gets(layerDigest).map((r) => [r.range, r.bytes])).toEqual([['bytes=0-0', 1]]);

  await files(page).getByRole('searchbox', { name: 'Search files' }).fill('numbers');
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
  await files(page).getByRole('treeitem', { name: 'numbers', exact: true }).click();
  await files(page).getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: 60_000 }).toContain('line 40');
  await expect.poll(() => gets(layerDigest).every((r) => r.done)).toBe(true);
  // Exactly the spans that hold etc/numbers' tar bytes, with one request.
  const e = ztoc.entries.find((x) => x.path === 'etc/numbers')!;
  const need = ztoc.spans.filter((s) => s.outEnd > e.offset && s.out < e.offset + e.size);
  expect(gets(layerDigest).map((r) => [r.range, r.bytes])).toEqual([
    ['bytes=0-0', 1],
    [`bytes=${need[0]!.start}-${need.at(-1)!.end - 1}`, need.at(-1)!.end - need[0]!.start],
  ]);
  expect(need.at(-1)!.end - need[0]!.start).toBeLessThan(blob.length / 4);
  expect(await summary.textContent()).toContain('not downloaded');
  await page.context().close();
});
