// gcr.io as a person meets it: in Chromium, through Berth's unchanged server, inside the
// offline internet, against the gcr.io emulator (REGISTRIES.md §4). A public image pulled by the
// name people type with no token at all, its blobs from signed Cloud Storage URLs, downloaded
// and checked by skopeo; its tags; its SBOM through the tag schema (no referrers API); a private
// repository and its sign-in; a missing repository; gcr.io down.
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
import { GCR_HOST, GCR_USERS, GCS_HOST } from '../harness/internet/gcr.ts';

const run = useInternet(emulatorSpec('gcr.ts', 'gcrEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'gcr/berth-proj/app', 'latest');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'gcr/berth-proj/app:v1.0');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'gcr/berth-proj/private/app:v1');
});

describe.skipIf(run.skip)('gcr.io', () => {
  test('a public image pulls with no token, from Cloud Storage, downloads and verifies; tags and SBOM listed', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${GCR_HOST}/berth-proj/app`);
    await pulled(p, run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'gcr')).toBe(run.images.single.digest);
    // No referrers API on gcr.io: the SBOM comes from the tag schema.
    await referrerListed(p, 'SBOM (SPDX)');
    await offeredTags(p, `${GCR_HOST}/berth-proj/app:v`, ['v1.0']);
    const log = await run.net.log('gcr');
    expect(log.some((r) => r.url.startsWith('/v2/token'))).toBe(false);
    const storage = log.filter((r) => r.host === GCS_HOST);
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    await p.context().close();
  });

  test('a private repository asks for a sign-in; with Google credentials it pulls', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${GCR_HOST}/berth-proj/private/app:v1`);
    await alertMatching(p, /sign in/i);
    await signIn(p, GCR_HOST, 'oauth2accesstoken', GCR_USERS.oauth2accesstoken!);
    await pulled(p, run.images.multi.digest);
    await p.context().close();
  });

  test('a repository that does not exist says not found', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${GCR_HOST}/berth-proj/nothing:v1`);
    const text = await alertMatching(p, /not found/i);
    expect(text).toContain('berth-proj/nothing');
    await p.context().close();
  });

  test('gcr.io down: says it cannot be reached', () =>
    downIsSaid(run, {
      host: GCR_HOST,
      ref: `${GCR_HOST}/berth-proj/app:v1.0`,
      names: /gcr\.io/,
      says: /could not connect|unreachable|connection refused/i,
    }));

  test('an expired signed URL is asked for again, and the pull never notices', () =>
    expiredUrlIsRenewed(run, {
      emulator: 'gcr',
      ref: `${GCR_HOST}/berth-proj/app:latest`,
      digest: (images) => images.single.digest,
      refused: (r) => r.host === GCS_HOST && r.status >= 400,
    }));
});
