// Faults between the proxy and a real registry. Each one ends either in a correct image or in a
// clear error with nothing stored that looks complete, and each test says which.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, type FixtureImage } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim, type ShimOptions, type ShimRequest } from '../harness/shim.ts';
import { storeContents } from './env.ts';

let registry: Registry;
let fx: FixtureImage;
let shim: Shim;
let app: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launchChromium>>;
let big: { digest: string; size: number };
/** The fault the shim applies now; each test sets its own. */
let fault: Omit<ShimOptions, 'corruptDigest'> = {};

beforeAll(async () => {
  registry = await startRegistry();
  fx = (await buildFixtures(registry)).whiteout;
  big = fx.layers!.reduce((a, b) => (b.size > a.size ? b : a));
  shim = await startShim(registry.url, {
    ignoreRange: (r) =>
      fault.ignoreRange === true ||
      (typeof fault.ignoreRange === 'function' && fault.ignoreRange(r)),
    respond: (r) => fault.respond?.(r),
    rewriteHeaders: (r, h) => (fault.rewriteHeaders ? fault.rewriteHeaders(r, h) : h),
    alterBody: (r) => fault.alterBody?.(r),
    cutAfter: (r) => fault.cutAfter?.(r),
    stallAfter: (r) => fault.stallAfter?.(r),
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [shim.host],
    // Far longer than the tests wait: a stall must be caught by the page's own watchdog.
    idleTimeoutMs: 600_000,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await shim?.stop();
  await registry?.stop();
});

const isBig = (r: ShimRequest) => r.method === 'GET' && r.path.endsWith(`/blobs/${big.digest}`);
const isManifest = (r: ShimRequest) => r.path.includes('/manifests/');

/** Applies `f` to the first request that matches, and to no other. */
function once(match: (r: ShimRequest) => boolean) {
  let used = false;
  return (r: ShimRequest) => {
    if (used || !match(r)) return false;
    used = true;
    return true;
  };
}

async function pull(settings: object = {}): Promise<{ page: Page; since: number }> {
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
  return { page, since };
}

async function expectImage(page: Page, timeout = 90_000) {
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout });
  expect(await summary.textContent()).toContain(fx.digest);
  const stored = await storeContents(page);
  for (const l of fx.layers!) expect(stored.blobs).toContain(l.digest);
  expect(stored.ingests).toEqual([]);
  await page.context().close();
}

/** The pull fails with a message matching `pattern`; the blob is not committed, and its ingest
 * is gone when the failure was its content's fault (a temporary one may leave it, resumable). */
async function expectError(
  page: Page,
  pattern: RegExp,
  notStored: string,
  ingest: 'removed' | 'resumable' = 'removed',
) {
  const alert = page.getByRole('alert');
  await alert.waitFor({ timeout: 90_000 });
  expect(await alert.textContent()).toMatch(pattern);
  const stored = await storeContents(page);
  expect(stored.images).toEqual([]);
  expect(stored.blobs).not.toContain(notStored);
  if (ingest === 'removed') {
    expect(stored.ingests.filter((r) => r.endsWith(notStored))).toEqual([]);
  }
  await page.context().close();
}

const bigRequests = (since: number) => shim.requests.slice(since).filter(isBig);

describe('faults that end in a correct image', () => {
  test('a 500, then a 200', async () => {
    const first = once(isBig);
    fault = { respond: (r) => (first(r) ? { status: 500, body: Buffer.from('oops') } : undefined) };
    const { page, since } = await pull();
    await expectImage(page);
    expect(bigRequests(since).map((r) => r.status)).toEqual([500, 200]);
  });

  test('a 429 with Retry-After', async () => {
    const first = once(isManifest);
    fault = {
      respond: (r) =>
        first(r)
          ? { status: 429, headers: { 'retry-after': '1' }, body: Buffer.from('{}') }
          : undefined,
    };
    const { page, since } = await pull();
    await expectImage(page);
    // The referrers lookup after the pull also asks for a (missing) sha256-<hex> tag: leave
    // it out.
    const manifests = shim.requests
      .slice(since)
      .filter((r) => isManifest(r) && !r.path.includes('/manifests/sha256-'));
    expect(manifests[0]!.status).toBe(429);
    expect(manifests.slice(1).every((r) => r.status === 200)).toBe(true);
  });

  test('a short body whose Content-Length agrees: only the rest is fetched', async () => {
    // Headers are written before the body: the first big GET is picked there.
    const first = once(isBig);
    const half = big.size >> 1;
    let shortened: ShimRequest | undefined;
    fault = {
      rewriteHeaders: (r, h) => {
        if (!first(r)) return h;
        shortened = r;
        return { ...h, 'content-length': String(half) };
      },
      alterBody: (r) => (r === shortened ? { truncateTo: half } : undefined),
    };
    const { page, since } = await pull();
    await expectImage(page);
    const reqs = bigRequests(since);
    expect(reqs.map((r) => r.range)).toEqual([undefined, `bytes=${half}-${big.size - 1}`]);
    expect(reqs.reduce((n, r) => n + r.bytes, 0)).toBe(big.size);
  });

  test('a Content-Length smaller than the body', async () => {
    const first = once(isBig);
    fault = {
      rewriteHeaders: (r, h) =>
        first(r) ? { ...h, 'content-length': String(big.size - 1000) } : h,
    };
    const { page, since } = await pull();
    await expectImage(page);
    // Whatever the transport made of the lie, the digest decided, and the rest was re-asked.
    expect(bigRequests(since).length).toBeGreaterThan(1);
  });

  test('a resumed request answered from the wrong offset starts the blob over', async () => {
    // The second piece's 206 claims to start at byte 1 instead of 1 MiB.
    const MiB = 1 << 20;
    const second = once((r) => isBig(r) && (r.range?.startsWith(`bytes=${MiB}-`) ?? false));
    fault = {
      rewriteHeaders: (r, h) =>
        second(r) ? { ...h, 'content-range': `bytes 1-${big.size - MiB}/${big.size}` } : h,
    };
    const { page, since } = await pull({ pieceMiB: 1 });
    await expectImage(page);
    expect(bigRequests(since).map((r) => r.range)).toEqual([
      `bytes=0-${MiB - 1}`,
      `bytes=${MiB}-${big.size - 1}`,
      `bytes=0-${MiB - 1}`,
      `bytes=${MiB}-${big.size - 1}`,
    ]);
  });

  test('a stalled connection is detected by the page and retried', async () => {
    const first = once(isBig);
    fault = { stallAfter: (r) => (first(r) ? 1000 : undefined) };
    const { page, since } = await pull({ stallSeconds: 1 });
    // The proxy would wait ten minutes: finishing within the wait below proves the page's
    // watchdog gave up on the silent connection.
    await expectImage(page, 20_000);
    const reqs = bigRequests(since);
    expect(reqs[0]!.stalled).toBe(true);
    expect(reqs.length).toBeGreaterThan(1);
  });

  test('a resume answered with the whole blob (Range ignored) starts the blob over', async () => {
    const MiB = 1 << 20;
    const second = once((r) => isBig(r) && (r.range?.startsWith(`bytes=${MiB}-`) ?? false));
    fault = { ignoreRange: (r) => second(r) };
    const { page, since } = await pull({ pieceMiB: 1 });
    await expectImage(page);
    const reqs = bigRequests(since);
    expect(reqs.map((r) => [r.range, r.status])).toEqual([
      [`bytes=0-${MiB - 1}`, 206],
      [`bytes=${MiB}-${big.size - 1}`, 200],
      [`bytes=0-${MiB - 1}`, 206],
      [`bytes=${MiB}-${big.size - 1}`, 206],
    ]);
  });

  test('a wrong Docker-Content-Digest is never trusted', async () => {
    const bogus = `sha256:${'e'.repeat(64)}`;
    fault = {
      rewriteHeaders: (r, h) => (isManifest(r) ? { ...h, 'docker-content-digest': bogus } : h),
    };
    const { page } = await pull();
    await expectImage(page);
  });
});

describe('faults that end in a clear error, with nothing complete stored', () => {
  test('a 429 asking for an hour', async () => {
    const first = once(isBig);
    fault = {
      respond: (r) =>
        first(r)
          ? { status: 429, headers: { 'retry-after': '3600' }, body: Buffer.from('{}') }
          : undefined,
    };
    const { page } = await pull();
    await expectError(
      page,
      /rate limit reached: retry in 60 min, or sign in for a higher limit/,
      big.digest,
      'resumable',
    );
  });

  test('an oversized body', async () => {
    fault = {
      alterBody: (r) => (isBig(r) ? { append: Buffer.alloc(100, 7) } : undefined),
      rewriteHeaders: (r, h) => (isBig(r) ? { ...h, 'content-length': String(big.size + 100) } : h),
    };
    const { page } = await pull();
    await expectError(page, /more bytes than the descriptor declares/, big.digest);
  });

  test('a manifest over the 4 MiB limit', async () => {
    const huge = Buffer.alloc(5 << 20, 0x20);
    fault = {
      respond: (r) =>
        isManifest(r)
          ? {
              status: 200,
              headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
              body: huge,
            }
          : undefined,
    };
    const { page } = await pull();
    await expectError(page, /over the 4194304-byte limit/, fx.digest);
  });
});
