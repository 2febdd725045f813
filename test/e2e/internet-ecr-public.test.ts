// Amazon ECR Public as a person meets it: in Chromium, through Berth's unchanged server, inside
// the offline internet, against the emulator (REGISTRIES.md §5). An image pulled by the name
// people type, through the scope="aws" challenge and the global token, its blobs from
// CloudFront with no Authorization, downloaded and checked by skopeo; its SBOM through the
// referrers API; the anonymous pull throttle and the sign-in that lifts it; ECR Public down.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  buildInternetImages,
  pushSingleWithSbom,
  type InternetImages,
} from '../harness/internet/content.ts';
import {
  alertMatching,
  downloadAndVerify,
  openBerth,
  pull,
  pulled,
  referrerListed,
  signIn,
} from '../harness/internet/common-emu-b-page.ts';
import { ECR_AUTH_TOKEN, ECR_CDN_HOST, ECR_PUBLIC_HOST } from '../harness/internet/ecr-public.ts';
import { internetSkipReason, startInternet, type Internet } from '../harness/internet/internet.ts';

const skip = internetSkipReason();
if (skip) console.warn(`offline internet tier skipped: ${skip}`);

let net: Internet;
let images: InternetImages;

beforeAll(async () => {
  if (skip) return;
  [net, images] = await Promise.all([
    startInternet({
      emulators: [
        {
          module: fileURLToPath(new URL('../harness/internet/ecr-public.ts', import.meta.url)),
          factory: 'ecrPublicEmulator',
        },
      ],
    }),
    buildInternetImages(),
  ]);
  await pushSingleWithSbom(net, images, 'ecrpublic/berth/app', 'latest');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'ecrpublic/berth/multi:1.0');
}, 180_000);

afterAll(async () => {
  await net?.stop();
  await images?.remove();
});

describe.skipIf(skip)('public.ecr.aws', () => {
  test('pulls by name, from CloudFront with no Authorization, downloads and verifies; the SBOM by the API', async () => {
    const p = await openBerth(net);
    await pull(p, `${ECR_PUBLIC_HOST}/berth/app`);
    await pulled(p, images.single.digest);
    expect(await downloadAndVerify(net, p, 'ecr')).toBe(images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    const log = await net.log('ecrpublic');
    expect(log.some((r) => r.url.startsWith('/v2/berth/app/referrers/'))).toBe(true);
    const cdn = log.filter((r) => r.host === ECR_CDN_HOST);
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    await p.context().close();
  });

  test('the anonymous throttle says so and offers a sign-in; signed in, it pulls', async () => {
    await net.control('ecrpublic', 'set', { anonymousPullsPerSecond: 0 });
    try {
      const p = await openBerth(net);
      await pull(p, `${ECR_PUBLIC_HOST}/berth/multi:1.0`);
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toContain('public.ecr.aws');
      expect(text).toMatch(/sign in/i);
      await signIn(p, ECR_PUBLIC_HOST, 'AWS', ECR_AUTH_TOKEN);
      await pulled(p, images.multi.digest);
      await p.context().close();
    } finally {
      await net.control('ecrpublic', 'reset');
    }
  });

  test('ECR Public down: says it cannot be reached', async () => {
    await net.setDown(ECR_PUBLIC_HOST, true);
    try {
      const p = await openBerth(net);
      await pull(p, `${ECR_PUBLIC_HOST}/berth/app:latest`);
      const text = await alertMatching(p, /public\.ecr\.aws/);
      expect(text).toMatch(/could not connect|unreachable|connection refused/i);
      await p.context().close();
    } finally {
      await net.setDown(ECR_PUBLIC_HOST, false);
    }
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await net.control('ecrpublic', 'set', { expireNext: 1 });
    try {
      await net.log('ecrpublic', true);
      const p = await openBerth(net);
      await pull(p, `${ECR_PUBLIC_HOST}/berth/multi:1.0`);
      await pulled(p, images.multi.digest);
      expect(await p.getByRole('alert').count()).toBe(0);
      const refused = (await net.log('ecrpublic')).filter(
        (r) => r.host === ECR_CDN_HOST && r.status >= 400,
      );
      expect(refused).toHaveLength(1);
      await p.context().close();
    } finally {
      await net.control('ecrpublic', 'reset');
    }
  });
});
