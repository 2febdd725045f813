// registry.gitlab.com as a person meets it: in Chromium, through Berth's unchanged server,
// inside the offline internet, against the GitLab emulator (test/harness/internet/gitlab.ts).
// The token realm on gitlab.com with service=container_registry, 307s to the CDN or to GCS,
// referrers through the tag schema, a personal access token's sign-in, and the errors.
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
import { GCS_HOST, GITLAB_CDN_HOST, GITLAB_HOST } from '../harness/internet/gitlab.ts';

const USER = { username: 'berth-user', password: 'glpat-berthtesttoken' };

const run = useInternet(emulatorSpec('gitlab.ts', 'gitlabEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'gitlab/berth-group/app', 'latest');
  await putManyTags(net, images, 'gitlab/berth-group/app', 12);
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'gitlab/berth-group/private:main');
});

describe.skipIf(run.skip)('registry.gitlab.com', () => {
  for (const blobHost of ['cdn', 'gcs'] as const) {
    test(`\`registry.gitlab.com/berth-group/app\` pulls with a token from gitlab.com, downloads and verifies; blobs from ${blobHost} without Authorization`, async () => {
      await run.net.control('gitlab', 'set', { blobHost });
      await run.net.log('gitlab', true);
      const p = await openBerth(run.net);
      await pull(p, 'registry.gitlab.com/berth-group/app');
      const summary = summaryOf(p);
      await summary.waitFor({ timeout: 60_000 });
      expect(await summary.textContent()).toContain(run.images.single.digest);
      expect(await downloadAndVerify(run.net, p, `gitlab-${blobHost}`)).toBe(
        run.images.single.digest,
      );
      const referrers = summary.getByRole('list', { name: 'Referrers' });
      await expect
        .poll(() => referrers.textContent(), { timeout: 30_000 })
        .toContain('SBOM (SPDX)');

      const log = await run.net.log('gitlab');
      const tokens = log.filter((r) => r.host === GITLAB_HOST);
      expect(tokens.length).toBeGreaterThan(0);
      expect(tokens.every((r) => r.url.includes('service=container_registry'))).toBe(true);
      const blobs = log.filter((r) => r.host === (blobHost === 'cdn' ? GITLAB_CDN_HOST : GCS_HOST));
      expect(blobs.filter((r) => r.status < 300).length).toBeGreaterThan(0);
      expect(blobs.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
      await p.context().close();
    });
  }

  test('tags are listed and offered', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'registry.gitlab.com/berth-group/app:p000');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    await offeredTags(p, 'registry.gitlab.com/berth-group/app:p01', ['p010', 'p011']);
    await p.context().close();
  });

  test('a private project: the alert says to sign in; a personal access token pulls it', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'registry.gitlab.com/berth-group/private:main');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toMatch(/credentials/);
    await signIn(p, 'registry.gitlab.com', USER.username, USER.password);
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await summaryOf(p).textContent()).toContain(run.images.multi.digest);
    await p.context().close();
  });

  test('a project that does not exist reads as one to sign in for: the realm answers 403 either way', async () => {
    const p = await openBerth(run.net);
    await pull(p, 'registry.gitlab.com/berth-group/nothing:main');
    const text = await alertMatching(p, /sign in/i);
    expect(text).toContain('registry.gitlab.com');
    expect(text).not.toMatch(/refused/);
    await p.context().close();
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await run.net.control('gitlab', 'set', { blobHost: 'cdn' });
    await run.net.log('gitlab', true);
    await run.net.control('gitlab', 'expire-next', { count: 1 });
    const p = await openBerth(run.net);
    await pull(p, 'registry.gitlab.com/berth-group/app:latest');
    await summaryOf(p).waitFor({ timeout: 60_000 });
    expect(await p.getByRole('alert').count()).toBe(0);
    const cdn = (await run.net.log('gitlab')).filter((r) => r.host === GITLAB_CDN_HOST);
    expect(cdn.filter((r) => r.status === 403)).toHaveLength(1);
    await p.context().close();
  });

  test('gitlab.com down (the token realm): says it cannot be reached', () =>
    downIsSaid(run, {
      host: GITLAB_HOST,
      ref: 'registry.gitlab.com/berth-group/app:latest',
      names: /gitlab\.com/,
      says: /could not connect|unreachable|down/i,
    }));
});
