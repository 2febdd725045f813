// A Harbor at harbor.berth.test as a person meets it: in Chromium, through Berth's unchanged
// server, inside the offline internet, against the Harbor emulator (REGISTRIES.md §8). A public
// project pulled by the name people type, downloaded and checked by skopeo, its tags and its
// SBOM through the referrers API; a private project and the sign-in it needs; blobs from S3;
// a missing tag; and Harbor down.
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import {
  alertMatching,
  downIsSaid,
  downloadAndVerify,
  emulatorSpec,
  expiredUrlIsRenewed,
  offeredTags,
  openBerth,
  pull,
  pulled,
  referrerListed,
  signIn,
  useInternet,
} from '../harness/internet/page.ts';
import { HARBOR_HOST, HARBOR_S3_HOST, HARBOR_USERS } from '../harness/internet/harbor.ts';

const run = useInternet(emulatorSpec('harbor.ts', 'harborEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'harbor/library/app', 'latest');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'harbor/library/app:1.0');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'harbor/team/secret:v1');
});

describe.skipIf(run.skip)('Harbor', () => {
  test('a public project pulls by name, downloads and verifies; tags and the SBOM are listed', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${HARBOR_HOST}/library/app`);
    await pulled(p, run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'harbor')).toBe(run.images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    // The referrers API answered, so the tag schema's sha256-… tag is not among the tags.
    await offeredTags(p, `${HARBOR_HOST}/library/app:latest`, ['1.0']);
    const log = await run.net.log('harbor');
    expect(log.some((r) => r.url.startsWith('/v2/library/app/referrers/'))).toBe(true);
    expect(log.some((r) => r.url.startsWith('/service/token?'))).toBe(true);
    await p.context().close();
  });

  test('a private project asks for a sign-in; a member signs in and it pulls from S3, with no Authorization there', async () => {
    await run.net.control('harbor', 'set', { blobs: 's3' });
    try {
      const p = await openBerth(run.net);
      await pull(p, `${HARBOR_HOST}/team/secret:v1`);
      await alertMatching(p, /sign in/i);
      await signIn(p, HARBOR_HOST, 'alice', HARBOR_USERS.alice!.password);
      await pulled(p, run.images.multi.digest);
      const s3 = (await run.net.log('harbor')).filter((r) => r.host === HARBOR_S3_HOST);
      expect(s3.length).toBeGreaterThan(0);
      expect(s3.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
      expect(s3.every((r) => r.status === 200 || r.status === 206)).toBe(true);
      await p.context().close();
    } finally {
      await run.net.control('harbor', 'reset');
    }
  });

  test('a missing tag says not found and what to check', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${HARBOR_HOST}/library/app:nope`);
    const text = await alertMatching(p, /not found/i);
    expect(text).toContain('library/app:nope');
    expect(text).toMatch(/check the repository name/i);
    await p.context().close();
  });

  test('Harbor down: says it cannot be reached', () =>
    downIsSaid(run, {
      host: HARBOR_HOST,
      ref: `${HARBOR_HOST}/library/app:1.0`,
      names: /harbor\.berth\.test/,
      says: /could not connect|unreachable|connection refused/i,
    }));

  test('an expired signed URL is asked for again, and the pull never notices', () =>
    expiredUrlIsRenewed(run, {
      emulator: 'harbor',
      set: { blobs: 's3' },
      ref: `${HARBOR_HOST}/library/app:1.0`,
      digest: (images) => images.single.digest,
      refused: (r) => r.host === HARBOR_S3_HOST && r.status >= 400,
    }));
});
