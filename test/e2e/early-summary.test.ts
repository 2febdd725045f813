// The config on screen as soon as it is known: a pull whose largest layer the shim holds back
// (it forwards that blob's request only when the test says so) shows the image's config,
// history and layers while the layer is still downloading, and becomes the normal stored image
// once the layer is released.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildWhiteout, push, type FixtureImage } from '../harness/fixtures.ts';
import { OciLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim, type ShimRequest } from '../harness/shim.ts';
import { storeContents } from './env.ts';

let registry: Registry;
let fx: FixtureImage;
/** The image through the shim. */
let ref: string;
let shim: Shim;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let held: { digest: string; size: number };
/** Releases the held layer; replaced for each pull. */
let release: () => void = () => {};
let holding: Promise<void> | undefined;

beforeAll(async () => {
  registry = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), 'berth-early-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    fx = await push(layout, registry, 'test/early', 'v1', await buildWhiteout(layout));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  held = fx.layers!.reduce((a, b) => (b.size > a.size ? b : a));
  const isHeld = (r: ShimRequest) =>
    r.method === 'GET' && (r.path.split('?')[0] ?? '').endsWith(`/blobs/${held.digest}`);
  shim = await startShim(registry.url, { hold: (r) => (isHeld(r) ? holding : undefined) });
  ref = `${shim.host}/${fx.repository}:${fx.tag}`;
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [shim.host],
  });
  browser = await launchChromium();
});

afterAll(async () => {
  release();
  await browser?.close();
  await app?.close();
  await shim?.stop();
  await registry?.stop();
});

async function pull(): Promise<Page> {
  holding = new Promise<void>((r) => (release = r));
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await page.getByRole('button', { name: 'Pull' }).click();
  return page;
}

type Built = {
  config: { config: Record<string, unknown>; history: unknown[] };
};

/** The config facts and history the summary shows, against the fixture's config. */
async function expectConfig(summary: Locator) {
  const built = fx.built as unknown as Built;
  const config = built.config.config;
  const fact = async (name: string) =>
    (await summary.locator(`dl.config dt:text-is("${name}") + dd`).textContent())?.trim();
  expect(await fact('Entrypoint')).toBe(JSON.stringify(config.Entrypoint));
  expect(await fact('Cmd')).toBe(JSON.stringify(config.Cmd));
  expect(await fact('Working dir')).toBe(config.WorkingDir);
  for (const e of config.Env as string[]) expect(await fact('Env')).toContain(e);
  const text = (await summary.textContent()) ?? '';
  expect(text).toContain(fx.digest);
  expect(text).toContain('linux/amd64');
  // Every history step, and every layer.
  expect(await summary.getByRole('table').getByRole('row').count()).toBe(
    built.config.history.length + 1,
  );
  expect(await summary.getByRole('list', { name: 'Layers' }).getByRole('listitem').count()).toBe(
    fx.layers!.length,
  );
}

describe('the summary during a pull', () => {
  test('config and history are shown while a layer downloads; then the stored image', async () => {
    const page = await pull();
    const early = page.getByRole('region', { name: 'Summary of the image being pulled' });
    await early.waitFor({ timeout: 60_000 });
    // The layer has not been answered: whatever is on screen now was shown without it.
    const blob = page.getByRole('progressbar', { name: `layer ${held.digest.slice(7, 19)}` });
    expect(await blob.getAttribute('aria-valuetext')).not.toMatch(/done$/);
    expect(await blob.getAttribute('aria-valuenow')).toBe('0');
    await expectConfig(early);

    // The held layer says what it is doing; nothing can be exported before the image is.
    const layers = early.getByRole('list', { name: 'Layers' }).getByRole('listitem');
    const index = fx.layers!.findIndex((l) => l.digest === held.digest);
    expect(await layers.nth(index).textContent()).toMatch(/(downloading \d+ %|waiting)/);
    expect(await early.getByRole('button', { name: 'Download OCI archive' }).count()).toBe(0);
    expect(await early.getByRole('status').textContent()).toContain('still downloading');
    // The pull goes on, and nothing is recorded as an image yet.
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(1);
    expect((await storeContents(page)).images).toEqual([]);
    expect(await page.getByRole('region', { name: 'Image summary' }).count()).toBe(0);

    release();
    const summary = page.getByRole('region', { name: 'Image summary' });
    await summary.waitFor({ timeout: 60_000 });
    await expect.poll(() => blob.getAttribute('aria-valuetext')).toMatch(/done$/);
    await expectConfig(summary);
    expect(await summary.getByText(/not downloaded|downloading|waiting/).count()).toBe(0);
    await summary.getByRole('button', { name: 'Download OCI archive' }).waitFor();
    const stored = await storeContents(page);
    expect(stored.images).toEqual([ref]);
    for (const l of fx.layers!) expect(stored.blobs).toContain(l.digest);
    expect(stored.ingests).toEqual([]);
    await page.context().close();
  });

  test('a pull cancelled while a layer is held keeps the summary, said to be incomplete', async () => {
    const page = await pull();
    const early = page.getByRole('region', { name: 'Summary of the image being pulled' });
    await early.waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    const stopped = page.getByRole('region', { name: 'Summary of an image not pulled completely' });
    await stopped.waitFor({ timeout: 60_000 });
    await expectConfig(stopped);
    expect(await stopped.getByRole('status').textContent()).toContain('not pulled completely');
    expect(await stopped.getByRole('button', { name: 'Download OCI archive' }).count()).toBe(0);
    expect((await storeContents(page)).images).toEqual([]);
    release();
    await page.context().close();
  });
});
