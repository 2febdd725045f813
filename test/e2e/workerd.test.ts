// Berth in Chromium with its proxy on workerd (Cloudflare's open-source Workers runtime) instead
// of the Node server's own: the page, served by `npm start`'s server, is pointed at the workerd
// proxy through its `proxy` setting, pulls an image across origins, and exports an archive
// that skopeo re-verifies.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startWorkerdProxy, type WorkerdProxy } from '../harness/workerd.ts';
import { type E2E, startE2E } from './env.ts';

const exec = promisify(execFile);
let env: E2E;
let proxy: WorkerdProxy;

beforeAll(async () => {
  env = await startE2E();
  proxy = await startWorkerdProxy({
    insecureRegistries: [env.registry.host],
    allowedOrigins: [env.app.url],
    log: true,
  });
});
afterAll(async () => {
  await proxy?.stop();
  await env?.stop();
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('pull and export through the proxy on workerd, from another origin', async () => {
  const fx = env.fixtures.whiteout;
  const page = await env.page();
  const urls: string[] = [];
  page.context().on('request', (r) => urls.push(r.url()));
  await page.addInitScript(
    (p) => localStorage.setItem('berth.settings', JSON.stringify({ proxy: p })),
    proxy.proxyUrl,
  );
  await page.goto(env.app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  const heading = summary.getByRole('heading', { level: 2 });
  await expect.poll(async () => (await heading.textContent())?.trim()).toBe(fx.ref);
  await expect
    .poll(async () => (await summary.textContent()) ?? '', { timeout: 60_000 })
    .toContain(fx.digest);
  // Every blob pulled: one finished progress bar per layer.
  for (const l of fx.layers!) {
    const bar = page.getByRole('progressbar', { name: `layer ${l.digest.slice(7, 19)}` });
    await expect
      .poll(() => bar.getAttribute('aria-valuetext'), { timeout: 60_000 })
      .toMatch(/done$/);
  }

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  const file = join(env.tmp, `workerd-${download.suggestedFilename()}`);
  await download.saveAs(file);
  const layout = join(env.tmp, 'workerd-layout');
  // skopeo re-hashes every blob of the archive.
  await exec('skopeo', ['copy', '--preserve-digests', `oci-archive:${file}`, `oci:${layout}:tag`]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  expect(index.manifests[0]!.digest).toBe(fx.digest);

  // Everything came through workerd: its log has the manifest and every layer, and the page
  // never asked the app server's own proxy.
  const log = proxy.output().filter((l) => / proxy /.test(l));
  const repo = `${escape(env.registry.host)} /v2/${escape(fx.repository)}`;
  expect(log.some((l) => new RegExp(`GET ${repo}/manifests/\\S+ 200 `).test(l))).toBe(true);
  for (const layer of fx.layers!) {
    const fetched = new RegExp(`GET ${repo}/blobs/${layer.digest} 20[06] `);
    expect(
      log.some((l) => fetched.test(l)),
      `${layer.digest} in\n${log.join('\n')}`,
    ).toBe(true);
  }
  expect(urls.filter((u) => u.startsWith(`${env.app.url}/proxy/`))).toEqual([]);
  expect(urls.some((u) => u.startsWith(`${proxy.proxyUrl}/`))).toBe(true);
  await page.context().close();
});
