// Amazon ECR Public as a person meets it: in Chromium, through Berth's unchanged server, inside
// the offline internet, against the emulator (REGISTRIES.md §5). An image pulled by the name
// people type, through the scope="aws" challenge and the global token, its blobs from
// CloudFront with no Authorization, downloaded and checked by skopeo; its SBOM through the
// referrers API; the anonymous pull throttle and the sign-in that lifts it; ECR Public down.
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import {
  alertMatching,
  downIsSaid,
  downloadAndVerify,
  emulatorSpec,
  expiredUrlIsRenewed,
  openBerth,
  pull,
  pulled,
  referrerListed,
  signIn,
  useInternet,
} from '../harness/internet/page.ts';
import { ECR_AUTH_TOKEN, ECR_CDN_HOST, ECR_PUBLIC_HOST } from '../harness/internet/ecr-public.ts';

const run = useInternet(emulatorSpec('ecr-public.ts', 'ecrPublicEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'ecrpublic/berth/app', 'latest');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'ecrpublic/berth/multi:1.0');
});

describe.skipIf(run.skip)('public.ecr.aws', () => {
  test('pulls by name, from CloudFront with no Authorization, downloads and verifies; the SBOM by the API', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${ECR_PUBLIC_HOST}/berth/app`);
    await pulled(p, run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'ecr')).toBe(run.images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    const log = await run.net.log('ecrpublic');
    expect(log.some((r) => r.url.startsWith('/v2/berth/app/referrers/'))).toBe(true);
    const cdn = log.filter((r) => r.host === ECR_CDN_HOST);
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    await p.context().close();
  });

  test('the anonymous throttle says so and offers a sign-in; signed in, it pulls', async () => {
    await run.net.control('ecrpublic', 'set', { anonymousPullsPerSecond: 0 });
    try {
      const p = await openBerth(run.net);
      await pull(p, `${ECR_PUBLIC_HOST}/berth/multi:1.0`);
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toContain('public.ecr.aws');
      expect(text).toMatch(/sign in/i);
      await signIn(p, ECR_PUBLIC_HOST, 'AWS', ECR_AUTH_TOKEN);
      await pulled(p, run.images.multi.digest);
      await p.context().close();
    } finally {
      await run.net.control('ecrpublic', 'reset');
    }
  });

  test('ECR Public down: says it cannot be reached', () =>
    downIsSaid(run, {
      host: ECR_PUBLIC_HOST,
      ref: `${ECR_PUBLIC_HOST}/berth/app:latest`,
      names: /public\.ecr\.aws/,
      says: /could not connect|unreachable|connection refused/i,
    }));

  test('an expired signed URL is asked for again, and the pull never notices', () =>
    expiredUrlIsRenewed(run, {
      emulator: 'ecrpublic',
      ref: `${ECR_PUBLIC_HOST}/berth/multi:1.0`,
      digest: (images) => images.multi.digest,
      refused: (r) => r.host === ECR_CDN_HOST && r.status >= 400,
    }));
});
