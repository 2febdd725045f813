// mcr.microsoft.com as a person meets it: in Chromium, through Berth's unchanged server, inside
// the offline internet, against the emulator (REGISTRIES.md §6). An image pulled anonymously by
// the name people type, its blobs from an Azure SAS URL on the data host with no
// Authorization, downloaded and checked by skopeo; its tags, all in one answer; its SBOM by the
// tag schema; a missing tag in ACR's words; an egress spike's 429.
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
} from '../harness/internet/common-emu-b-page.ts';
import { MCR_DATA_HOST, MCR_HOST } from '../harness/internet/mcr.ts';
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
          module: fileURLToPath(new URL('../harness/internet/mcr.ts', import.meta.url)),
          factory: 'mcrEmulator',
        },
      ],
    }),
    buildInternetImages(),
  ]);
  await pushSingleWithSbom(net, images, 'mcr/dotnet/runtime', '8.0');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'mcr/dotnet/runtime:8.0.1');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'mcr/dotnet/runtime:8.0.2');
}, 180_000);

afterAll(async () => {
  await net?.stop();
  await images?.remove();
});

describe.skipIf(skip)('mcr.microsoft.com', () => {
  test('pulls anonymously from the data host, downloads and verifies; tags and SBOM listed', async () => {
    const p = await openBerth(net);
    await pull(p, `${MCR_HOST}/dotnet/runtime:8.0`);
    await pulled(p, images.single.digest);
    expect(await downloadAndVerify(net, p, 'mcr')).toBe(images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    await offeredTags(p, `${MCR_HOST}/dotnet/runtime:8.0.`, ['8.0.1', '8.0.2']);
    const log = await net.log('mcr');
    expect(log.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    const data = log.filter((r) => r.host === MCR_DATA_HOST);
    expect(data.length).toBeGreaterThan(0);
    expect(data.every((r) => r.status === 200 || r.status === 206)).toBe(true);
    await p.context().close();
  });

  test('a missing tag says not found, in the registry words', async () => {
    const p = await openBerth(net);
    await pull(p, `${MCR_HOST}/dotnet/runtime:1.1.2`);
    const text = await alertMatching(p, /not found/i);
    expect(text).toContain('manifest tagged by "1.1.2" is not found');
    await p.context().close();
  });

  test('an egress spike: a 429 reads as a rate limit with what to do', async () => {
    await net.control('mcr', 'set', { throttle: true });
    try {
      const p = await openBerth(net);
      await pull(p, `${MCR_HOST}/dotnet/runtime:8.0.2`);
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toContain('mcr.microsoft.com');
      await p.context().close();
    } finally {
      await net.control('mcr', 'reset');
    }
  });

  test('an expired signed URL is asked for again, and the pull never notices', async () => {
    await net.control('mcr', 'set', { expireNext: 1 });
    try {
      await net.log('mcr', true);
      const p = await openBerth(net);
      await pull(p, `${MCR_HOST}/dotnet/runtime:8.0.2`);
      await pulled(p, images.multi.digest);
      expect(await p.getByRole('alert').count()).toBe(0);
      const refused = (await net.log('mcr')).filter(
        (r) => r.host === MCR_DATA_HOST && r.status >= 400,
      );
      expect(refused).toHaveLength(1);
      await p.context().close();
    } finally {
      await net.control('mcr', 'reset');
    }
  });
});
