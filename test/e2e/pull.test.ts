// The whole path in real Chromium: type a reference, pull through Berth's proxy from a real
// registry, read the summary, download the archive, and have skopeo re-verify it.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { copyImage } from '../harness/fixtures.ts';
import { type E2E, startE2E, storeContents } from './env.ts';

const exec = promisify(execFile);
let env: E2E;

beforeAll(async () => {
  env = await startE2E();
});
afterAll(async () => {
  await env?.stop();
});

async function pull(page: Page, ref: string) {
  await page.goto(env.app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await page.getByRole('button', { name: 'Pull' }).click();
}

async function waitForSummary(page: Page) {
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  return summary;
}

/** Downloads the archive and copies it with skopeo, which re-verifies every blob. Returns the
 * manifest digest skopeo wrote and the archive's file name. */
async function downloadAndVerify(page: Page, name: string) {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  const file = join(env.tmp, `${name}-${download.suggestedFilename()}`);
  await download.saveAs(file);
  const listing = (await exec('tar', ['-tf', file])).stdout.split('\n');
  expect(listing).toContain('oci-layout');
  expect(listing).toContain('index.json');
  expect(listing).toContain('manifest.json');
  const out = join(env.tmp, `${name}-layout`);
  await exec('skopeo', ['copy', '--preserve-digests', `oci-archive:${file}`, `oci:${out}:copied`]);
  // docker load reads manifest.json; skopeo's docker-archive transport reads it the same way.
  await exec('skopeo', ['copy', `docker-archive:${file}`, `oci:${out}-docker:copied`]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return { digest: index.manifests[0]!.digest, fileName: download.suggestedFilename(), file };
}

describe('pull and export', () => {
  test('multi-layer OCI image with whiteouts', async () => {
    const fx = env.fixtures.whiteout;
    const page = await env.page();
    await pull(page, fx.ref);
    const summary = await waitForSummary(page);

    // One progress bar per blob: manifest, config and each layer, all finished.
    const bars = page.getByRole('progressbar');
    await expect.poll(() => bars.count()).toBe(2 + fx.layers!.length);
    for (const l of fx.layers!) {
      const bar = page.getByRole('progressbar', { name: `layer ${l.digest.slice(7, 19)}` });
      expect(await bar.getAttribute('aria-valuenow')).toBe(String(l.size));
      expect(await bar.getAttribute('aria-valuetext')).toMatch(/done$/);
    }

    await expect
      .poll(() => summary.getByRole('heading', { level: 2 }).textContent())
      .toBe(`${fx.ref}`);
    const text = (await summary.textContent()) ?? '';
    expect(text).toContain(fx.digest);
    expect(text).toContain('linux/amd64');
    const config = (fx.built as { config: { config: Record<string, unknown> } }).config.config;
    const facts = summary.locator('dl.config');
    const fact = async (name: string) =>
      (await facts.locator(`dt:text-is("${name}") + dd`).textContent())?.trim();
    expect(await fact('Entrypoint')).toBe(JSON.stringify(config.Entrypoint));
    expect(await fact('Cmd')).toBe(JSON.stringify(config.Cmd));
    expect(await fact('Working dir')).toBe(config.WorkingDir);
    expect(await fact('User')).toBe(config.User);
    expect(await fact('Exposed ports')).toBe(Object.keys(config.ExposedPorts as object).join(', '));
    for (const e of config.Env as string[]) expect(await fact('Env')).toContain(e);
    for (const [k, v] of Object.entries(config.Labels as Record<string, string>)) {
      expect(await fact('Labels')).toContain(`${k}=${v}`);
    }
    // History lines up with layers, empty_layer steps included.
    const rows = summary.getByRole('table').getByRole('row');
    const history = (fx.built as { config: { history: unknown[] } }).config.history;
    expect(await rows.count()).toBe(history.length + 1);
    expect(await summary.getByRole('list', { name: 'Layers' }).getByRole('listitem').count()).toBe(
      fx.layers!.length,
    );

    const { digest, fileName, file } = await downloadAndVerify(page, 'whiteout');
    expect(fileName).toBe('whiteout_v1.tar');
    expect(digest).toBe(fx.digest);
    // umoci applies the layers, whiteouts included: the deleted file must be gone.
    const bundle = join(env.tmp, 'whiteout-bundle');
    const layout = join(env.tmp, 'whiteout-umoci');
    await exec('skopeo', ['copy', `oci-archive:${file}`, `oci:${layout}:v1`]);
    await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, bundle]);
    await expect(readFile(join(bundle, 'rootfs/etc/motd'))).rejects.toThrow();
    expect(await readFile(join(bundle, 'rootfs/app/new.txt'), 'utf8')).toContain('layer 3');
    await page.context().close();
  });

  test("the repository's tags are offered as suggestions; referrers are listed", async () => {
    const fx = env.fixtures.whiteout;
    await copyImage(fx.ref, `${env.registry.host}/${fx.repository}:v2`);
    const page = await env.page();
    await pull(page, fx.ref);
    const summary = await waitForSummary(page);
    // The other tag is offered; choosing it fills the reference box.
    const others = page.getByRole('list', { name: 'Other tags' });
    await expect.poll(() => others.getByRole('button').allTextContents()).toEqual(['v2']);
    await others.getByRole('button', { name: 'v2' }).click();
    expect(await page.getByRole('textbox', { name: 'Image reference' }).inputValue()).toBe(
      `${env.registry.host}/${fx.repository}:v2`,
    );
    await expect
      .poll(async () => (await summary.textContent()) ?? '')
      .toContain('No signatures, SBOMs or attestations are attached to this image.');
    await page.context().close();
  });

  test('image with Docker media types', async () => {
    const fx = env.fixtures.dockerTypes;
    const page = await env.page();
    await pull(page, fx.ref);
    const summary = await waitForSummary(page);
    expect(await summary.textContent()).toContain(
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    );
    const { digest, fileName } = await downloadAndVerify(page, 'docker');
    expect(fileName).toBe(`${fx.repository.split('/').pop()}_${fx.tag}.tar`);
    expect(digest).toBe(fx.digest);
    await page.context().close();
  });

  test('multi-platform index: platform combobox, attestations hidden, chosen platform pulled', async () => {
    const fx = env.fixtures.multiArch;
    const arm = fx.manifests!.find((m) => m.platform.architecture === 'arm64')!;
    const page = await env.page();
    await pull(page, fx.ref);
    const combo = page.getByRole('combobox', { name: 'Platform', exact: true });
    await combo.waitFor();
    const options = await combo.locator('option').allTextContents();
    expect(options).toEqual(['linux/amd64', 'linux/arm64/v8', 'All platforms']);
    expect(await combo.inputValue()).toBe('linux/amd64');
    await waitForSummary(page);
    // Only the chosen platform's blobs are fetched: index, one manifest, its config and layers.
    const amd = fx.manifests!.find((m) => m.platform.architecture === 'amd64')!;
    const bars = page.getByRole('progressbar');
    expect(await bars.count()).toBe(3 + amd.layers.length);
    for (const text of await bars.evaluateAll((els) =>
      els.map((e) => e.getAttribute('aria-valuetext')),
    )) {
      expect(text).toMatch(/(done|already stored)$/);
    }

    await combo.selectOption('linux/arm64/v8');
    await page.getByRole('button', { name: 'Pull' }).click();
    const summary = await waitForSummary(page);
    await expect.poll(async () => (await summary.textContent()) ?? '').toContain(arm.digest);
    const { digest } = await downloadAndVerify(page, 'multiarch-arm64');
    expect(digest).toBe(arm.digest);

    // Back to amd64: it is stored, so its summary shows without pulling again.
    await combo.selectOption('linux/amd64');
    await expect.poll(async () => (await summary.textContent()) ?? '').toContain(amd.digest);
    // Download exports the image on screen, whatever the box says by now.
    await page.getByRole('textbox', { name: 'Image reference' }).fill('something/else:1');
    const again = await downloadAndVerify(page, 'multiarch-amd64');
    expect(again.digest).toBe(amd.digest);
    await page.context().close();
  });

  test('All platforms: the whole index is pulled and exported as one index', async () => {
    const fx = env.fixtures.multiArch;
    const page = await env.page();
    await page.goto(`${env.app.url}/?image=${encodeURIComponent(fx.ref)}&platform=all`);
    const combo = page.getByRole('combobox', { name: 'Platform', exact: true });
    await combo.waitFor();
    expect(await combo.inputValue()).toBe('all');
    await page.getByRole('button', { name: 'Pull' }).click();
    await waitForSummary(page);
    // Every manifest of the index was fetched, the attestation's too.
    for (const m of fx.manifests!) {
      const bar = page.getByRole('progressbar', { name: `manifest ${m.digest.slice(7, 19)}` });
      expect(await bar.getAttribute('aria-valuetext'), m.digest).toMatch(/done$/);
    }
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download OCI archive' }).click(),
    ]);
    const file = join(env.tmp, `all-${download.suggestedFilename()}`);
    await download.saveAs(file);
    const out = join(env.tmp, 'all-layout');
    await exec('skopeo', [
      'copy',
      '--all',
      '--preserve-digests',
      `oci-archive:${file}`,
      `oci:${out}:all`,
    ]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]!.digest).toBe(fx.digest);
    const blobs = (await exec('ls', [join(out, 'blobs/sha256')])).stdout.split('\n');
    for (const m of fx.manifests!) expect(blobs, m.digest).toContain(m.digest.slice(7));
    await page.context().close();
  });

  test('each blob is fetched once, and a stored blob is never fetched again', async () => {
    const fx = env.fixtures.whiteout;
    const ref = `${env.counter.host}/${fx.repository}:${fx.tag}`;
    const blobGets = () =>
      env.counter.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
    const page = await env.page();
    await pull(page, ref);
    await waitForSummary(page);
    for (const text of await page
      .getByRole('progressbar')
      .evaluateAll((els) => els.map((e) => e.getAttribute('aria-valuetext')))) {
      expect(text).toMatch(/, done$/);
    }
    const first = blobGets();
    const wanted = [fx.configDigest!, ...fx.layers!.map((l) => l.digest)];
    expect(first.map((r) => r.path.split('/blobs/')[1]).sort()).toEqual([...wanted].sort());
    const served = first.reduce((n, r) => n + r.bytes, 0);
    const sizes = fx.layers!.reduce((n, l) => n + l.size, 0);
    expect(served - sizes).toBeLessThan(10_000); // layers plus the small config, nothing twice

    await page.getByRole('button', { name: 'Pull' }).click();
    await expect
      .poll(() => page.locator('.notice').textContent())
      .toMatch(/is up to date: every blob was already stored/);
    expect(blobGets().length).toBe(first.length);
    for (const text of await page
      .getByRole('progressbar')
      .evaluateAll((els) => els.map((e) => e.getAttribute('aria-valuetext')))) {
      expect(text).toMatch(/already stored$/);
    }
    await page.context().close();
  });

  test('/?image= opens resolved, with &platform= preselected', async () => {
    const fx = env.fixtures.multiArch;
    const page = await env.page();
    await page.goto(`${env.app.url}/?image=${encodeURIComponent(fx.ref)}&platform=linux/arm64/v8`);
    expect(await page.getByRole('textbox', { name: 'Image reference' }).inputValue()).toBe(fx.ref);
    const combo = page.getByRole('combobox', { name: 'Platform', exact: true });
    await combo.waitFor();
    expect(await combo.inputValue()).toBe('linux/arm64/v8');
    // Resolving stores only the index; nothing is pulled until the user asks.
    expect((await storeContents(page)).images).toEqual([]);
    await page.getByRole('button', { name: 'Pull' }).click();
    const summary = await waitForSummary(page);
    expect(await summary.textContent()).toContain('linux/arm64/v8');
    await page.context().close();
  });
});

describe('bad input gets a specific error and stores nothing that looks complete', () => {
  async function expectError(ref: string, pattern: RegExp) {
    const page = await env.page();
    await pull(page, ref);
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(pattern);
    const stored = await storeContents(page);
    expect(stored.images).toEqual([]);
    return { page, stored };
  }

  test('malformed reference', async () => {
    const { page } = await expectError('Alpine:3.20', /lowercase/i);
    await page.context().close();
  });

  test('unknown repository', async () => {
    const { page } = await expectError(`${env.registry.host}/test/nope:v1`, /not found|unknown/i);
    await page.context().close();
  });

  test('unknown tag', async () => {
    const { page } = await expectError(
      `${env.registry.host}/test/whiteout:nope`,
      /unknown|not found/i,
    );
    await page.context().close();
  });

  test('unreachable registry', async () => {
    const host = env.closedHost.replace(/[.]/g, '\\.');
    const { page } = await expectError(
      `${env.closedHost}/test/whiteout:v1`,
      new RegExp(`${host}.*(refused|could not connect)`, 'i'),
    );
    await page.context().close();
  });

  test('registry the proxy may not reach', async () => {
    // An IP literal is refused by the proxy before any connection is tried.
    const { page } = await expectError(
      '10.0.0.1:5000/test/whiteout:v1',
      /BERTH_INSECURE_REGISTRIES/,
    );
    await page.context().close();
  });

  test('a blob whose bytes do not match its digest', async () => {
    const fx = env.fixtures.whiteout;
    const bad = fx.layers![1]!.digest;
    const ref = `${env.shim.host}/${fx.repository}:${fx.tag}`;
    const { page, stored } = await expectError(ref, /does not match its digest/);
    expect(stored.blobs).not.toContain(bad);
    // A mismatch of a download that was not resumed is final: the blob was asked for once.
    const asked = env.shim.requests.filter((r) => r.method === 'GET' && r.path.endsWith(bad));
    expect(asked).toHaveLength(1);
    // The failed ingest is gone; siblings cancelled mid-way may stay, resumable but invisible.
    expect(stored.ingests.filter((r) => r.endsWith(bad))).toEqual([]);
    // The blobs that did verify are kept, and a clean source pulls the image afterwards.
    await pull(page, fx.ref);
    await waitForSummary(page);
    expect((await storeContents(page)).blobs).toContain(bad);
    await page.context().close();
  });
});
