// A stored image opened from the store alone: its platforms, the manifest a platform selects,
// and whether that one was pulled (what the page's summary and openStored ask).
import { describe, expect, test } from 'vitest';
import { StoredImage } from '../../src/lib/images/image.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { berth } from '../harness/berth.ts';
import { noise, pushIndex, pushImage } from '../harness/images.ts';

const name = 'registry.test/library/app:v1';
const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

describe('StoredImage', () => {
  test('an index with one platform pulled', async () => {
    const b = berth();
    const { images } = await pushIndex(b.registry, 'library/app', 'v1', [
      { platform: amd64, layers: [{ a: noise(100) }] },
      { platform: arm64, layers: [{ b: noise(100) }] },
    ]);
    await pullImage(parseReference(name), arm64, b.pullContext());
    const image = (await StoredImage.open(b.store, name))!;
    expect(await image.platforms()).toEqual([amd64, arm64]);
    const [amd, arm] = images.map((i) => i.manifest.digest) as [string, string];
    for (const [platform, preferred, want, pulled] of [
      ['linux/arm64', undefined, arm, true],
      ['linux/amd64', undefined, amd, false],
      ['linux/s390x', undefined, undefined, false],
      [undefined, undefined, amd, false],
      [undefined, arm64, arm, true],
      ['all', arm64, arm, true],
    ] as const) {
      const got = await image.manifestFor(platform, preferred);
      expect(got, `manifestFor(${platform}, ${preferred?.architecture})`).toBe(want);
      expect(got !== undefined && image.pulled(got)).toBe(pulled);
    }
    const summary = await image.summary(arm);
    expect(summary.platform).toEqual(arm64);
    expect(summary.layers.map((l) => l.descriptor.digest)).toEqual([images[1]!.layers[0]!.digest]);
  });

  test('a single manifest is its own platform manifest', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(9) }],
    });
    await pullImage(parseReference(name), undefined, b.pullContext());
    const image = (await StoredImage.open(b.store, name))!;
    expect(await image.platforms()).toEqual([]);
    expect(await image.manifestFor('linux/arm64')).toBe(img.manifest.digest);
    expect(await StoredImage.open(b.store, 'registry.test/library/app:v2')).toBeUndefined();
  });
});
