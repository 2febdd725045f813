// Docker Hub as a new user meets it: in Chromium, through Berth's unchanged server, inside the
// offline internet (test/harness/internet), against the Docker Hub emulator. The short names
// people type, both CDNs, tags over pages, referrers, a private repository, and every error
// in words that say what to do.
import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom, type InternetImages } from '../harness/internet/content.ts';
import { CDN_HOSTS } from '../harness/internet/dockerhub.ts';
import type { Internet } from '../harness/internet/internet.ts';
import {
  alertMatching,
  downloadAndVerify,
  emulatorSpec,
  openBerth,
  pull,
  summaryOf,
  useInternet,
} from '../harness/internet/page.ts';
import { MT } from '../harness/oci.ts';
import { PASSED_RESPONSE_HEADERS } from '../../proxy/headers.ts';

const OWNER = { username: 'janedoe', password: 'pw-hub-5f1c-never-log-me' };
let net: Internet;
let images: InternetImages;

const { skip } = useInternet(emulatorSpec('dockerhub.ts', 'dockerHub'), async (n, i) => {
  [net, images] = [n, i];
  await pushSingleWithSbom(net, images, 'dockerhub/library/alpine', 'latest');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'dockerhub/library/nginx:1.27');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'dockerhub/janedoe/secret:v1');
  // 105 more tags of one manifest: more than one of Docker Hub's pages of 100.
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'dockerhub/library/nginx:p000');
  const single = await readFile(images.layout.blobPath(images.single.digest));
  const tags = Array.from({ length: 104 }, (_, i) => `p${String(i + 1).padStart(3, '0')}`);
  await net.put(
    'dockerhub/library/nginx',
    [],
    tags.map((reference) => ({ reference, mediaType: MT.ociManifest, bytes: single })),
  );
  await net.control('dockerhub', 'user', OWNER);
  await net.control('dockerhub', 'private', {
    repository: 'janedoe/secret',
    owner: OWNER.username,
  });
});

const page = () => openBerth(net);

const cdnHosts: string[] = Object.values(CDN_HOSTS);

describe.skipIf(skip)('Docker Hub', () => {
  test('`alpine` pulls through both CDNs, downloads, and verifies; no Authorization reaches a CDN', async () => {
    await net.control('dockerhub', 'cdn', { use: ['cloudflare', 'r2'] });
    const p = await page();
    await pull(p, 'alpine');
    const summary = summaryOf(p);
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.textContent()).toContain(images.single.digest);
    expect(await downloadAndVerify(net, p, 'alpine')).toBe(images.single.digest);
    // The SBOM is listed, through the referrers API Docker Hub has had since 2025.
    const referrers = summary.getByRole('list', { name: 'Referrers' });
    await expect.poll(() => referrers.textContent(), { timeout: 30_000 }).toContain('SBOM (SPDX)');

    const log = await net.log('dockerhub');
    const cdn = log.filter((r) => cdnHosts.includes(r.host));
    expect(new Set(cdn.filter((r) => r.status < 300).map((r) => r.host))).toEqual(
      new Set([CDN_HOSTS.cloudflare, CDN_HOSTS.r2]),
    );
    expect(cdn.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    // Only manifest GETs count against the pull limit; HEADs do not.
    const state = (await net.control('dockerhub', 'state')) as { remaining: number };
    const counted = log.filter(
      (r) => r.method === 'GET' && r.status === 200 && r.url.includes('/manifests/'),
    );
    expect(state.remaining).toBe(100 - counted.length);
    // The short name went to library/alpine, and blobs were redirected, never served directly.
    expect(log.some((r) => r.url.startsWith('/v2/library/alpine/manifests/'))).toBe(true);
    expect(
      log
        .filter((r) => /\/blobs\//.test(r.url) && r.host.endsWith('docker.io'))
        .every((r) => r.status === 307),
    ).toBe(true);
    await p.context().close();
  });

  test('`nginx:1.27`, a multi-platform index, pulls and verifies; its tags come over pages', async () => {
    await net.control('dockerhub', 'cdn', { use: ['cloudfront'] });
    await net.log('dockerhub', true);
    const p = await page();
    await pull(p, 'nginx:1.27');
    const summary = summaryOf(p);
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.textContent()).toContain(images.multi.digest);
    const digest = await downloadAndVerify(net, p, 'nginx');
    expect([
      images.multi.digest,
      ...images.multi.built.manifests.map((m) => m.descriptor.digest),
    ]).toContain(digest);

    // p104 is on the second page: offered only if the Link was followed.
    await p.getByRole('textbox', { name: 'Image reference' }).fill('nginx:p10');
    const others = p.getByRole('list', { name: 'Other tags' });
    await expect
      .poll(() => others.getByRole('button').allTextContents(), { timeout: 30_000 })
      .toEqual(['p100', 'p101', 'p102', 'p103', 'p104']);
    const pages = (await net.log('dockerhub')).filter((r) => r.url.includes('/tags/list'));
    expect(pages.map((r) => r.url)).toContain('/v2/library/nginx/tags/list?n=100&last=p098');
    await p.context().close();
  });

  test("a token expired by the registry's clock is renewed without the person noticing", async () => {
    const p = await page();
    await pull(p, 'alpine');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    // Docker Hub's tokens live 300 s: ten minutes on, the page's cached one is refused.
    await net.advanceClock(10 * 60_000);
    await net.log('dockerhub', true);
    await p.getByRole('button', { name: 'Inspect' }).click();
    await expect
      .poll(async () => (await net.log('dockerhub')).map((r) => `${r.host} ${r.status}`), {
        timeout: 60_000,
      })
      .toEqual(expect.arrayContaining(['registry-1.docker.io 401', 'auth.docker.io 200']));
    // The stale token was sent, refused, renewed, and the request then answered.
    const log = await net.log('dockerhub');
    const refused = log.findIndex((r) => r.status === 401 && r.headers.authorization);
    expect(refused).toBeGreaterThanOrEqual(0);
    expect(log.slice(refused + 1).some((r) => r.host === 'auth.docker.io')).toBe(true);
    await expect
      .poll(() =>
        net
          .log('dockerhub')
          .then((l) =>
            l.some(
              (r) =>
                r.host === 'registry-1.docker.io' &&
                r.status === 200 &&
                r.url.includes('/manifests/'),
            ),
          ),
      )
      .toBe(true);
    expect(await p.getByRole('alert').count()).toBe(0);
    await p.context().close();
  });

  test('referrers through the tag schema when the registry has no referrers API', async () => {
    await net.control('dockerhub', 'referrers-api', { on: false });
    try {
      const p = await page();
      await pull(p, 'docker.io/library/alpine:latest');
      const referrers = summaryOf(p).getByRole('list', { name: 'Referrers' });
      await expect
        .poll(() => referrers.textContent(), { timeout: 60_000 })
        .toContain('SBOM (SPDX)');
      await p.context().close();
    } finally {
      await net.control('dockerhub', 'referrers-api', { on: true });
    }
  });

  test('a private repository: sign in, and it pulls', async () => {
    const p = await page();
    await pull(p, 'janedoe/secret:v1');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toMatch(/not found, or private/i);
    const form = p.getByRole('form', { name: /^Sign in to / });
    await form.getByRole('textbox', { name: 'Username' }).fill(OWNER.username);
    await form.getByLabel('Password or token').fill(OWNER.password);
    await form.getByRole('button', { name: 'Sign in and pull' }).click();
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await summaryOf(p).textContent()).toContain(images.single.digest);
    await p.context().close();
  });

  test('a repository that does not exist: "not found, or private", before and after signing in', async () => {
    const p = await page();
    await pull(p, 'nonexistent');
    const before = await alertMatching(p, /not found, or private/i);
    expect(before).toMatch(/Docker Hub does not say which/);
    expect(before).not.toMatch(/refused/);
    const form = p.getByRole('form', { name: /^Sign in to / });
    await form.getByRole('textbox', { name: 'Username' }).fill(OWNER.username);
    await form.getByLabel('Password or token').fill(OWNER.password);
    await form.getByRole('button', { name: 'Sign in and pull' }).click();
    // The same answer, now for a signed-in user: never "refused the credentials".
    await expect
      .poll(
        () =>
          net
            .log('dockerhub')
            .then((l) =>
              l.some((r) => r.host === 'auth.docker.io' && r.headers.authorization !== undefined),
            ),
        { timeout: 30_000 },
      )
      .toBe(true);
    const after = await alertMatching(p, /not found, or private/i);
    expect(after).not.toMatch(/refused/);
    await p.context().close();
  });

  test('the pull limit spent: says so, with the limit', async () => {
    await net.control('dockerhub', 'rate-limit', { remaining: 0, style: 'json' });
    try {
      const p = await page();
      await pull(p, 'nginx:1.27');
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toMatch(/Docker Hub/);
      // The limit reaches the page only once the proxy passes Docker Hub's ratelimit-* on.
      if (PASSED_RESPONSE_HEADERS.some((h) => h.toLowerCase() === 'ratelimit-limit')) {
        expect(text).toMatch(/100 pulls per 6 h/);
      }
      expect(text).toMatch(/sign in/i);
      await p.context().close();
    } finally {
      await net.control('dockerhub', 'rate-limit', { remaining: 100 });
    }
  });

  test('the abuse limiter (plain-text 429): says how long to wait', async () => {
    await net.control('dockerhub', 'rate-limit', {
      remaining: 0,
      style: 'hap429',
      retryAfter: 600,
    });
    try {
      const p = await page();
      await pull(p, 'alpine');
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toMatch(/retry in 10 min/);
      await p.context().close();
    } finally {
      await net.control('dockerhub', 'rate-limit', { remaining: 100, style: 'json' });
    }
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await net.control('dockerhub', 'cdn', { use: ['r2', 'cloudflare'] });
    await net.log('dockerhub', true);
    await net.control('dockerhub', 'expire-next', { count: 1 });
    const p = await page();
    await pull(p, 'alpine');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await p.getByRole('alert').count()).toBe(0);
    const cdn = (await net.log('dockerhub')).filter((r) => cdnHosts.includes(r.host));
    expect(cdn.filter((r) => r.status === 403)).toHaveLength(1);
    await p.context().close();
  });

  test('a CDN that refuses: says the download was refused, and what to do', async () => {
    await net.control('dockerhub', 'cdn', { refuse: true });
    try {
      const p = await page();
      await pull(p, 'alpine');
      const text = await alertMatching(p, /storage|download server|CDN/i);
      expect(text).toMatch(/try again later/i);
      await p.context().close();
    } finally {
      await net.control('dockerhub', 'cdn', { refuse: false });
    }
  });

  test('the registry down: says it cannot be reached', async () => {
    await net.setDown('registry-1.docker.io', true);
    try {
      const p = await page();
      await pull(p, 'alpine');
      const text = await alertMatching(p, /registry-1\.docker\.io/);
      expect(text).toMatch(/could not connect|unreachable|down/i);
      expect(text).toMatch(/try again|is up/i);
      await p.context().close();
    } finally {
      await net.setDown('registry-1.docker.io', false);
    }
  });

  test('the registry unavailable behind its load balancer (503): says so', async () => {
    await net.control('dockerhub', 'unavailable', { on: true });
    try {
      const p = await page();
      await pull(p, 'alpine');
      const text = await alertMatching(p, /HTTP 503/);
      expect(text).toMatch(/unavailable \(down or overloaded\); try again later/);
      await p.context().close();
    } finally {
      await net.control('dockerhub', 'unavailable', { on: false });
    }
  });
});
