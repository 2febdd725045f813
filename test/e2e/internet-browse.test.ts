// The registry and repository views as a person meets them on the registries people use: in
// Chromium, through Berth's unchanged server, inside one offline internet holding the Docker
// Hub, MCR, GHCR and Harbor emulators. MCR lists its catalog; GHCR, Docker Hub and (to a
// person not signed in) Harbor refuse it, and the view says so plainly; Docker Hub's
// `library/alpine` shows its tags with the referrer tag hidden and the pulls left from the
// ratelimit-* headers, read with HEADs only, no pull spent; a GHCR repository's tags come over
// its pages of 10.
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import type { Internet } from '../harness/internet/internet.ts';
import { emulatorSpec, openBerth, putManyTags, useInternet } from '../harness/internet/page.ts';
import { HARBOR_HOST } from '../harness/internet/harbor.ts';
import { MCR_HOST } from '../harness/internet/mcr.ts';

let net: Internet;

const { skip } = useInternet(
  [
    emulatorSpec('dockerhub.ts', 'dockerHub'),
    emulatorSpec('mcr.ts', 'mcrEmulator'),
    emulatorSpec('ghcr.ts', 'ghcrEmulator'),
    emulatorSpec('harbor.ts', 'harborEmulator'),
  ],
  async (n, imgs) => {
    net = n;
    await Promise.all([
      (async () => {
        await pushSingleWithSbom(net, imgs, 'dockerhub/library/alpine', 'latest');
        await net.copyImage(imgs.layout.dir, imgs.multi.layoutTag, 'dockerhub/library/alpine:3.20');
      })(),
      net.copyImage(imgs.layout.dir, imgs.single.layoutTag, 'mcr/dotnet/runtime:8.0'),
      net.copyImage(imgs.layout.dir, imgs.single.layoutTag, 'mcr/dotnet/sdk:8.0'),
      net.copyImage(imgs.layout.dir, imgs.single.layoutTag, 'harbor/library/app:1.0'),
      (async () => {
        await pushSingleWithSbom(net, imgs, 'ghcr/berth-org/app', 'latest');
        await putManyTags(net, imgs, 'ghcr/berth-org/app', 25);
      })(),
    ]);
    // Pages of 10 whatever Berth asks: GHCR's tags below come over several Link pages.
    await net.control('ghcr', 'set', { maxPageSize: 10 });
  },
);

async function open(path: string): Promise<Page> {
  const p = await openBerth(net);
  await p.goto(`${net.app.url}/${path}`);
  return p;
}

/** The tag table's first column once it holds `last`. */
async function tagsOnceListed(p: Page, last: string): Promise<string[]> {
  const tags = p.getByRole('table').locator('tbody th');
  await expect.poll(() => tags.allTextContents(), { timeout: 60_000 }).toContain(last);
  return (await tags.allTextContents()).map((t) => t.trim());
}

describe.skipIf(skip)('browsing the registries people use', () => {
  test('MCR lists its catalog: the repositories seeded there are links', async () => {
    const p = await open(`?registry=${MCR_HOST}`);
    const list = p.getByRole('region', { name: `Repositories on ${MCR_HOST}` });
    await list.getByRole('link', { name: 'dotnet/sdk' }).waitFor({ timeout: 60_000 });
    expect(await list.getByRole('listitem').allTextContents()).toEqual([
      'dotnet/runtime',
      'dotnet/sdk',
    ]);
    await expect.poll(() => list.getByRole('status').textContent()).toBe('2 repositories.');
    await p.context().close();
  });

  test('GHCR, Docker Hub and (to a person not signed in) Harbor refuse the catalog: the view says so plainly', async () => {
    // Each answers 401 to a person not signed in, so the view adds that signing in may help.
    const words = (host: string) =>
      `${host === 'docker.io' ? 'Docker Hub' : host} does not list its repositories; type a repository name. Some registries list them to a signed-in user only.`;
    for (const host of ['ghcr.io', 'docker.io', HARBOR_HOST]) {
      const p = await open(`?registry=${host}`);
      const status = p.getByRole('region').getByRole('status').first();
      await expect
        .poll(async () => (await status.textContent())?.replace(/\s+/g, ' ').trim(), {
          timeout: 60_000,
        })
        .toBe(words(host));
      expect(await p.getByRole('alert').count()).toBe(0);
      await p.context().close();
    }
  });

  test("Docker Hub's library/alpine: tags and counts, the referrer tag hidden, the pulls left, no pull spent", async () => {
    await net.control('dockerhub', 'rate-limit', { remaining: 37 });
    await net.log('dockerhub', true);
    const p = await open('?repository=docker.io/library/alpine');
    const view = p.getByRole('region', { name: 'docker.io/library/alpine' });
    expect(await tagsOnceListed(p, 'latest')).toEqual(['3.20', 'latest']);
    await expect
      .poll(() => view.locator('.tag-counts').textContent(), { timeout: 30_000 })
      .toBe('2 tags; 1 signature and attestation tag (sha256-…) hidden.');
    const note = view.getByLabel('Pull rate limit');
    await expect
      .poll(() => note.textContent(), { timeout: 30_000 })
      .toMatch(/^Docker Hub: 37 of 100 pulls left per 6 hours/);
    const manifests = (await net.log('dockerhub')).filter((r) => r.url.includes('/manifests/'));
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.filter((r) => r.method !== 'HEAD')).toEqual([]);
    const state = (await net.control('dockerhub', 'state')) as { remaining: number };
    expect(state.remaining, 'no pull spent').toBe(37);
    // The referrer tag is there behind the toggle.
    await view.getByRole('button', { name: 'Show signature and attestation tags' }).click();
    await expect
      .poll(async () => (await tagsOnceListed(p, 'latest')).some((t) => t.startsWith('sha256-')))
      .toBe(true);
    await p.context().close();
  });

  test('a GHCR repository: every tag over its pages of 10', async () => {
    await net.log('ghcr', true);
    const p = await open('?repository=ghcr.io/berth-org/app');
    const view = p.getByRole('region', { name: 'ghcr.io/berth-org/app' });
    const tags = await tagsOnceListed(p, 'p024');
    expect(tags).toHaveLength(26);
    expect(tags).toContain('latest');
    await expect
      .poll(() => view.locator('.tag-counts').textContent(), { timeout: 30_000 })
      .toBe('26 tags; 1 signature and attestation tag (sha256-…) hidden.');
    const pages = (await net.log('ghcr')).filter((r) => r.url.includes('/tags/list'));
    expect(pages.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(3);
    await p.context().close();
  });

  test('Docker Hub is named so wherever the views name the registry; routes keep docker.io', async () => {
    const p = await open('?registry=docker.io');
    const view = p.getByRole('region', { name: 'Repositories on Docker Hub' });
    await view.getByRole('status').first().waitFor({ timeout: 60_000 });
    const box = view.getByRole('textbox', { name: 'Repository name on Docker Hub' });
    await box.fill('library/alpine');
    await view.getByRole('button', { name: 'Show tags' }).click();
    await expect
      .poll(() => new URL(p.url()).searchParams.get('repository'))
      .toBe('docker.io/library/alpine');
    // The repository keeps its reference as its name; the way back names Docker Hub.
    const repo = p.getByRole('region', { name: 'docker.io/library/alpine' });
    await repo.getByRole('link', { name: 'Other repositories on Docker Hub' }).click();
    await expect.poll(() => new URL(p.url()).searchParams.get('registry')).toBe('docker.io');
    await p.getByRole('region', { name: 'Repositories on Docker Hub' }).waitFor();
    await p.context().close();
  });
});
