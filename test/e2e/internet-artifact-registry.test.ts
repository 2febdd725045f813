// Artifact Registry (us-docker.pkg.dev) as a person meets it: in Chromium, through Berth's
// unchanged server, inside the offline internet, against the emulator (REGISTRIES.md §4). A
// public image pulled by the name people type, its blobs by a relative redirect on the same
// host, downloaded and checked by skopeo; its SBOM, although the referrers path leads to
// Google's sign-in page; a private repository's "(or it may not exist)" and the sign-in.
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import {
  alertMatching,
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
import { AR_HOST, AR_USERS, GOOGLE_SIGNIN_HOST } from '../harness/internet/artifact-registry.ts';

const run = useInternet(
  emulatorSpec('artifact-registry.ts', 'artifactRegistryEmulator'),
  async (net, images) => {
    await pushSingleWithSbom(net, images, 'artifactregistry/berth-proj/containers/app', 'v1');
    await net.copyImage(
      images.layout.dir,
      images.single.layoutTag,
      'artifactregistry/berth-proj/private/app:v1',
    );
  },
);

describe.skipIf(run.skip)('Artifact Registry', () => {
  test('a public image pulls, downloads and verifies; its SBOM is found past the sign-in page', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${AR_HOST}/berth-proj/containers/app:v1`);
    await pulled(p, run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'ar')).toBe(run.images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    const log = await run.net.log('artifactregistry');
    expect(log.some((r) => r.host === GOOGLE_SIGNIN_HOST)).toBe(true);
    const downloads = log.filter((r) => r.url.startsWith('/artifacts-downloads/'));
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.status === 200 || r.status === 206)).toBe(true);
    await p.context().close();
  });

  test('a private repository is refused "(or it may not exist)"; signed in, it pulls', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${AR_HOST}/berth-proj/private/app:v1`);
    const text = await alertMatching(p, /or it may not exist/);
    expect(text).toContain('downloadArtifacts');
    await signIn(p, AR_HOST, 'oauth2accesstoken', AR_USERS.oauth2accesstoken!);
    await pulled(p, run.images.single.digest);
    await p.context().close();
  });

  test('an expired signed URL is asked for again, and the pull never notices', () =>
    expiredUrlIsRenewed(run, {
      emulator: 'artifactregistry',
      ref: `${AR_HOST}/berth-proj/containers/app:v1`,
      digest: (images) => images.single.digest,
      refused: (r) => r.url.startsWith('/artifacts-downloads/') && r.status === 403,
    }));
});
