// quay.io as a person meets it: in Chromium, through Berth's unchanged server, inside the
// offline internet, against the Quay emulator (test/harness/internet/quay.ts). Public content
// with no token at all, 302 FOUND with HTML bodies to the CDN, tags in pages of 100 whatever is
// asked, referrers through the tag schema, a robot account's sign-in, and the errors.
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import {
  alertMatching,
  downIsSaid,
  downloadAndVerify,
  emulatorSpec,
  offeredTags,
  openBerth,
  pull,
  putManyTags,
  signIn,
  summaryOf,
  useInternet,
} from '../harness/internet/page.ts';
import { QUAY_CDN_HOSTS, QUAY_CLOUDFRONT_HOST } from '../harness/internet/quay.ts';

const ROBOT = { username: 'berth+robot', password: 'ROBOTTOKEN0123456789' };
const cdnHosts: string[] = [QUAY_CLOUDFRONT_HOST, ...QUAY_CDN_HOSTS];

const run = useInternet(emulatorSpec('quay.ts', 'quayEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'quay/berth/app', 'latest');
  // 105 more tags: more than one of Quay's pages of 100.
  await putManyTags(net, images, 'quay/berth/app', 105);
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'quay/berth/private:2.0');
});

describe.skipIf(run.skip)('quay.io', () => {
  test('`quay.io/berth/app` pulls anonymously with no token, downloads and verifies; blobs come from the CDN without Authorization', async () => {
    await run.net.log('quay', true);
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/app');
    const summary = summaryOf(p);
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.textContent()).toContain(run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'quay-app')).toBe(run.images.single.digest);
    const referrers = summary.getByRole('list', { name: 'Referrers' });
    await expect.poll(() => referrers.textContent(), { timeout: 30_000 }).toContain('SBOM (SPDX)');

    const log = await run.net.log('quay');
    expect(log.filter((r) => r.url.startsWith('/v2/auth'))).toEqual([]);
    const cdn = log.filter((r) => cdnHosts.includes(r.host));
    expect(cdn.filter((r) => r.status < 300).length).toBeGreaterThan(0);
    expect(cdn.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    const blobGets = log.filter(
      (r) => r.host === 'quay.io' && r.method === 'GET' && /\/blobs\//.test(r.url),
    );
    expect(blobGets.every((r) => r.status === 302)).toBe(true);
    await p.context().close();
  });

  test('tags come in pages of 100: those of the second page are offered', async () => {
    await run.net.log('quay', true);
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/app:p000');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    await offeredTags(p, 'quay.io/berth/app:p10', ['p100', 'p101', 'p102', 'p103', 'p104']);
    const pages = (await run.net.log('quay')).filter((r) => r.url.includes('/tags/list'));
    expect(pages.some((r) => /[?&]n=100&last=/.test(r.url))).toBe(true);
    await p.context().close();
  });

  test('a private repository: the alert says to sign in; a robot account pulls it', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/private:2.0');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toContain('access to the requested resource is not authorized');
    await signIn(p, 'quay.io', ROBOT.username, ROBOT.password);
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await summaryOf(p).textContent()).toContain(run.images.multi.digest);
    await p.context().close();
  });

  test('a repository that does not exist reads as one to sign in for, as quay.io answers it', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/nothing:1.0');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toContain('quay.io/berth/nothing:1.0');
    await p.context().close();
  });

  test('signed in, a repository that does not exist: "not found, or private to another account", never "refused"', async () => {
    await run.net.log('quay', true);
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/nothing:1.0');
    await alertMatching(p, /sign in/i);
    await signIn(p, 'quay.io', ROBOT.username, ROBOT.password);
    // quay.io grants the robot a token with no access to it, then refuses it with a plain 401.
    const text = await alertMatching(p, /private to another account/);
    expect(text).toContain('quay.io/berth/nothing:1.0: not found, or private to another account');
    expect(text).not.toMatch(/refused/);
    const tokens = (await run.net.log('quay')).filter((r) => r.url.includes('/v2/auth'));
    expect(tokens.some((r) => r.status === 200 && r.headers.authorization !== undefined)).toBe(
      true,
    );
    await p.context().close();
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await run.net.log('quay', true);
    await run.net.control('quay', 'expire-next', { count: 1 });
    const p = await openBerth(run.net);
    await pull(p, 'quay.io/berth/app:latest');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await p.getByRole('alert').count()).toBe(0);
    const cdn = (await run.net.log('quay')).filter((r) => cdnHosts.includes(r.host));
    expect(cdn.filter((r) => r.status === 403)).toHaveLength(1);
    await p.context().close();
  });

  test('the registry down: says quay.io cannot be reached', () =>
    downIsSaid(run, {
      host: 'quay.io',
      ref: 'quay.io/berth/app:latest',
      names: /quay\.io/,
      says: /could not connect|unreachable|down/i,
    }));
});
