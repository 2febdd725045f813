// gcr.io as a person meets it: in Chromium, through Berth's unchanged server, inside the
// offline internet, against the gcr.io emulator (REGISTRIES.md §4). A public image pulled by the
// name people type with no token at all, its blobs from signed Cloud Storage URLs, downloaded
// and checked by skopeo; its tags; its SBOM through the tag schema (no referrers API); a private
// repository and its sign-in; a missing repository; gcr.io down.
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
  offeredTags,
  openBerth,
  pull,
  pulled,
  referrerListed,
  signIn,
} from '../harness/internet/common-emu-b-page.ts';
import { GCR_HOST, GCR_USERS, GCS_HOST } from '../harness/internet/gcr.ts';
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
          module: fileURLToPath(new URL('../harness/internet/gcr.ts', import.meta.url)),
          factory: 'gcrEmulator',
        },
      ],
    }),
    buildInternetImages(),
  ]);
  await pushSingleWithSbom(net, images, 'gcr/berth-proj/app', 'latest');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'gcr/berth-proj/app:v1.0');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'gcr/berth-proj/private/app:v1');
}, 180_000);

afterAll(async () => {
  await net?.stop();
  await images?.remove();
});

describe.skipIf(skip)('gcr.io', () => {
  test('a public image pulls with no token, from Cloud Storage, downloads and verifies; tags and SBOM listed', async () => {
    const p = await openBerth(net);
    await pull(p, `${GCR_HOST}/berth-proj/app`);
    await pulled(p, images.single.digest);
    expect(await downloadAndVerify(net, p, 'gcr')).toBe(images.single.digest);
    // No referrers API on gcr.io: the SBOM comes from the tag schema.
    await referrerListed(p, 'SBOM (SPDX)');
    await offeredTags(p, `${GCR_HOST}/berth-proj/app:v`, ['v1.0']);
    const log = await net.log('gcr');
    expect(log.some((r) => r.url.startsWith('/v2/token'))).toBe(false);
    const storage = log.filter((r) => r.host === GCS_HOST);
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    await p.context().close();
  });

  test('a private repository asks for a sign-in; with Google credentials it pulls', async () => {
    const p = await openBerth(net);
    await pull(p, `${GCR_HOST}/berth-proj/private/app:v1`);
    await alertMatching(p, /sign in/i);
    await signIn(p, GCR_HOST, 'oauth2accesstoken', GCR_USERS.oauth2accesstoken!);
    await pulled(p, images.multi.digest);
    await p.context().close();
  });

  test('a repository that does not exist says not found', async () => {
    const p = await openBerth(net);
    await pull(p, `${GCR_HOST}/berth-proj/nothing:v1`);
    const text = await alertMatching(p, /not found/i);
    expect(text).toContain('berth-proj/nothing');
    await p.context().close();
  });

  test('gcr.io down: says it cannot be reached', async () => {
    await net.setDown(GCR_HOST, true);
    try {
      const p = await openBerth(net);
      await pull(p, `${GCR_HOST}/berth-proj/app:v1.0`);
      const text = await alertMatching(p, /gcr\.io/);
      expect(text).toMatch(/could not connect|unreachable|connection refused/i);
      await p.context().close();
    } finally {
      await net.setDown(GCR_HOST, false);
    }
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await net.control('gcr', 'set', { expireNext: 1 });
    try {
      await net.log('gcr', true);
      const p = await openBerth(net);
      await pull(p, `${GCR_HOST}/berth-proj/app:latest`);
      await pulled(p, images.single.digest);
      expect(await p.getByRole('alert').count()).toBe(0);
      const refused = (await net.log('gcr')).filter((r) => r.host === GCS_HOST && r.status >= 400);
      expect(refused).toHaveLength(1);
      await p.context().close();
    } finally {
      await net.control('gcr', 'reset');
    }
  });
});
