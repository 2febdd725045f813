// ghcr.io as a person meets it: in Chromium, through Berth's unchanged server, inside the
// offline internet, against the GHCR emulator (test/harness/internet/ghcr.ts). The short name
// people type, the blob host's signed URLs, tags over pages, referrers through the tag schema
// (GHCR has no referrers API), a private package, and the errors, in words that say what to do.
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
import { GHCR_BLOB_HOST } from '../harness/internet/ghcr.ts';

const USER = { username: 'berth-user', password: 'ghp_berthtesttoken' };

const run = useInternet(emulatorSpec('ghcr.ts', 'ghcrEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'ghcr/berth-org/app', 'latest');
  await putManyTags(net, images, 'ghcr/berth-org/app', 25);
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'ghcr/berth-org/multi:1.0');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'ghcr/berth-org/private:v1');
  // Pages of 10, whatever Berth asks: the tags below come from several Link pages.
  await net.control('ghcr', 'set', { maxPageSize: 10 });
});

describe.skipIf(run.skip)('ghcr.io', () => {
  test('`ghcr.io/berth-org/app` pulls, downloads and verifies; the SBOM comes from the tag schema; no Authorization reaches the blob host', async () => {
    await run.net.log('ghcr', true);
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/app');
    const summary = summaryOf(p);
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.textContent()).toContain(run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'ghcr-app')).toBe(run.images.single.digest);
    const referrers = summary.getByRole('list', { name: 'Referrers' });
    await expect.poll(() => referrers.textContent(), { timeout: 30_000 }).toContain('SBOM (SPDX)');

    const log = await run.net.log('ghcr');
    const blobHost = log.filter((r) => r.host === GHCR_BLOB_HOST);
    expect(blobHost.filter((r) => r.status < 300).length).toBeGreaterThan(0);
    expect(blobHost.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    expect(
      log
        .filter((r) => r.host === 'ghcr.io' && /\/blobs\//.test(r.url))
        .every((r) => r.status === 307),
    ).toBe(true);
    // The tag schema was read, since the referrers API path is not found on GHCR.
    expect(log.some((r) => r.url.includes(`/manifests/${run.images.sbom.referrersTag}`))).toBe(
      true,
    );
    await p.context().close();
  });

  test('a multi-platform image pulls and verifies', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/multi:1.0');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await summaryOf(p).textContent()).toContain(run.images.multi.digest);
    const digest = await downloadAndVerify(run.net, p, 'ghcr-multi');
    expect([
      run.images.multi.digest,
      ...run.images.multi.built.manifests.map((m) => m.descriptor.digest),
    ]).toContain(digest);
    await p.context().close();
  });

  test('tags come over relative Link pages: those of the last pages are offered', async () => {
    await run.net.log('ghcr', true);
    const p = await openBerth(run.net);
    // A pull loads the repository's tags; typing a tag then offers the matching ones.
    await pull(p, 'ghcr.io/berth-org/app:p000');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    await offeredTags(p, 'ghcr.io/berth-org/app:p02', ['p020', 'p021', 'p022', 'p023', 'p024']);
    const pages = (await run.net.log('ghcr')).filter(
      (r) => r.url.includes('/tags/list') && r.status === 200,
    );
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.some((r) => r.url.includes('last='))).toBe(true);
    await p.context().close();
  });

  test('a private package: the alert says to sign in; signed in, it pulls', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/private:v1');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toMatch(/credentials/);
    await signIn(p, 'ghcr.io', USER.username, USER.password);
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await summaryOf(p).textContent()).toContain(run.images.single.digest);
    await p.context().close();
  });

  test('a package that does not exist reads as one to sign in for: GHCR cannot tell absent from private', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/nothing:v1');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toContain('ghcr.io');
    expect(text).not.toMatch(/refused/);
    await p.context().close();
  });

  test('signed in, a package that does not exist: "not found, or private to another account"; a wrong password is "refused"', async () => {
    await run.net.log('ghcr', true);
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/nothing:v1');
    await alertMatching(p, /sign in/i);
    // GHCR refuses the package's scope at its token server, signed in or not; the same
    // credentials asked for no scope, as docker login does, are granted.
    await signIn(p, 'ghcr.io', USER.username, USER.password);
    const text = await alertMatching(p, /private to another account/);
    expect(text).toContain(
      'ghcr.io/berth-org/nothing:v1: not found, or private to another account',
    );
    expect(text).not.toMatch(/refused/);
    const logins = (await run.net.log('ghcr')).filter(
      (r) => r.url.includes('/token') && !r.url.includes('scope='),
    );
    expect(logins.map((r) => r.status)).toContain(200);
    await p.context().close();
    const q = await openBerth(run.net);
    await pull(q, 'ghcr.io/berth-org/nothing:v1');
    await alertMatching(q, /sign in/i);
    await signIn(q, 'ghcr.io', USER.username, 'wrong');
    expect(await alertMatching(q, /refused these credentials/)).toContain('ghcr.io');
    await q.context().close();
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await run.net.log('ghcr', true);
    await run.net.control('ghcr', 'expire-next', { count: 1 });
    const p = await openBerth(run.net);
    await pull(p, 'ghcr.io/berth-org/multi:1.0');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await p.getByRole('alert').count()).toBe(0);
    const blobHost = (await run.net.log('ghcr')).filter((r) => r.host === GHCR_BLOB_HOST);
    expect(blobHost.filter((r) => r.status === 403)).toHaveLength(1);
    await p.context().close();
  });

  test('the registry down: says ghcr.io cannot be reached', () =>
    downIsSaid(run, {
      host: 'ghcr.io',
      ref: 'ghcr.io/berth-org/app:latest',
      names: /ghcr\.io/,
      says: /could not connect|unreachable|down/i,
    }));
});
