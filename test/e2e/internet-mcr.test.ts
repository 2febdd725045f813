// mcr.microsoft.com as a person meets it: in Chromium, through Berth's unchanged server, inside
// the offline internet, against the emulator (REGISTRIES.md §6). An image pulled anonymously by
// the name people type, its blobs from an Azure SAS URL on the data host with no
// Authorization, downloaded and checked by skopeo; its tags, all in one answer; its SBOM by the
// tag schema; a missing tag in ACR's words; an egress spike's 429.
import { describe, expect, test } from 'vitest';
import { pushSingleWithSbom } from '../harness/internet/content.ts';
import {
  alertMatching,
  downloadAndVerify,
  emulatorSpec,
  expiredUrlIsRenewed,
  offeredTags,
  openBerth,
  pull,
  pulled,
  referrerListed,
  useInternet,
} from '../harness/internet/page.ts';
import { MCR_DATA_HOST, MCR_HOST } from '../harness/internet/mcr.ts';

const run = useInternet(emulatorSpec('mcr.ts', 'mcrEmulator'), async (net, images) => {
  await pushSingleWithSbom(net, images, 'mcr/dotnet/runtime', '8.0');
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'mcr/dotnet/runtime:8.0.1');
  await net.copyImage(images.layout.dir, images.multi.layoutTag, 'mcr/dotnet/runtime:8.0.2');
});

describe.skipIf(run.skip)('mcr.microsoft.com', () => {
  test('pulls anonymously from the data host, downloads and verifies; tags and SBOM listed', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${MCR_HOST}/dotnet/runtime:8.0`);
    await pulled(p, run.images.single.digest);
    expect(await downloadAndVerify(run.net, p, 'mcr')).toBe(run.images.single.digest);
    await referrerListed(p, 'SBOM (SPDX)');
    await offeredTags(p, `${MCR_HOST}/dotnet/runtime:8.0.`, ['8.0.1', '8.0.2']);
    const log = await run.net.log('mcr');
    expect(log.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    const data = log.filter((r) => r.host === MCR_DATA_HOST);
    expect(data.length).toBeGreaterThan(0);
    expect(data.every((r) => r.status === 200 || r.status === 206)).toBe(true);
    await p.context().close();
  });

  test('a missing tag says not found, in the registry words', async () => {
    const p = await openBerth(run.net);
    await pull(p, `${MCR_HOST}/dotnet/runtime:1.1.2`);
    const text = await alertMatching(p, /not found/i);
    expect(text).toContain('manifest tagged by "1.1.2" is not found');
    await p.context().close();
  });

  test('an egress spike: a 429 reads as a rate limit with what to do', async () => {
    await run.net.control('mcr', 'set', { throttle: true });
    try {
      const p = await openBerth(run.net);
      await pull(p, `${MCR_HOST}/dotnet/runtime:8.0.2`);
      const text = await alertMatching(p, /rate limit/i);
      expect(text).toContain('mcr.microsoft.com');
      await p.context().close();
    } finally {
      await run.net.control('mcr', 'reset');
    }
  });

  test('an expired signed URL is asked for again, and the pull never notices', () =>
    expiredUrlIsRenewed(run, {
      emulator: 'mcr',
      ref: `${MCR_HOST}/dotnet/runtime:8.0.2`,
      digest: (images) => images.multi.digest,
      refused: (r) => r.host === MCR_DATA_HOST && r.status >= 400,
    }));
});
