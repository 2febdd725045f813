// compareImages over image summaries as the store gives them: images pulled from the in-memory
// registry (real tars, real configs), and summaries of shapes a pull can produce (artifacts,
// recompressed layers, platforms).
import { describe, expect, test } from 'vitest';
import { compareImages } from '../../src/lib/compare/meta.ts';
import { StoredImage } from '../../src/lib/images/image.ts';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import { alignHistory } from '../../src/lib/images/summary.ts';
import type { Descriptor, HistoryEntry, ImageConfig } from '../../src/lib/oci/types.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { berth } from '../harness/berth.ts';
import { noise, pushImage } from '../harness/images.ts';

/** Pulls `name` (manifests and config only) and reads its summary back from the store. */
async function summaryOf(b: ReturnType<typeof berth>, name: string): Promise<ImageSummary> {
  await pullImage(parseReference(name), undefined, b.pullContext({ lazy: true }));
  const image = (await StoredImage.open(b.store, name))!;
  const digest = (await image.manifestFor(undefined))!;
  return image.summary(digest);
}

const hex = (c: string) => c.repeat(64).slice(0, 64);
const layer = (c: string, size = 100): Descriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${hex(c)}`,
  size,
});

/** A summary as lib/images/summary.ts makes it, from a config and layer descriptors. */
function summary(
  name: string,
  manifestChar: string,
  layers: Descriptor[],
  config?: Partial<ImageConfig> & { history?: HistoryEntry[] },
  diffIDs: string[] = layers.map((l) => l.digest.replace('sha256:', 'sha256:d')),
): ImageSummary {
  const full: ImageConfig | undefined = config && {
    architecture: 'amd64',
    os: 'linux',
    ...config,
    rootfs: { type: 'layers', diff_ids: diffIDs },
  };
  const manifest: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${hex(manifestChar)}`,
    size: 500,
  };
  return {
    name,
    rootDigest: manifest.digest,
    rootMediaType: manifest.mediaType,
    manifest,
    ...(full ? { config: full } : { artifactType: 'application/vnd.example+json' }),
    layers: layers.map((descriptor, i) => ({
      descriptor,
      ...(full && diffIDs[i] ? { diffID: diffIDs[i] } : {}),
      stored: false,
      foreign: false,
    })),
    history: alignHistory(full?.history ?? [], layers),
    totalSize: manifest.size + 200 + layers.reduce((n, l) => n + l.size, 0),
    pulledAt: 0,
  };
}

describe('compareImages', () => {
  test('two pulled images, the second built on the first', async () => {
    const b = berth();
    const base = { 'etc/os-release': noise(300) };
    const v1 = await pushImage(b.registry, 'library/app', { tag: 'v1', layers: [base] });
    const v2 = await pushImage(b.registry, 'library/app', {
      tag: 'v2',
      layers: [base, { 'app/bin': noise(500) }],
    });
    const a = await summaryOf(b, 'registry.test/library/app:v1');
    const c = await summaryOf(b, 'registry.test/library/app:v2');

    const got = compareImages(a, c);
    expect(got.identical).toBe(false);
    expect(got.a).toEqual({
      name: 'registry.test/library/app:v1',
      manifestDigest: v1.manifest.digest,
      // A pull names the manifest's platform as its config says.
      platform: { os: 'linux', architecture: 'amd64' },
      size: v1.config.size + v1.layers[0]!.size,
      layers: 1,
    });
    expect(got.b.manifestDigest).toBe(v2.manifest.digest);
    expect(got.b.size).toBe(v2.config.size + v2.layers[0]!.size + v2.layers[1]!.size);
    expect(got.layers).toEqual([
      { a: 0, b: 0, by: 'digest' },
      { b: 1, by: 'none' },
    ]);
    expect(got.base).toEqual({ layers: 1, aIsBaseOfB: true, bIsBaseOfA: false });
    expect(got.history).toEqual({
      steps: [
        { difference: 'unchanged', a: 0, b: 0, createdBy: 'step 0' },
        { difference: 'added', b: 1, createdBy: 'step 1' },
      ],
      divergesAt: 1,
    });
    expect(got.config).toEqual([]);
  });

  test('an image compared with itself is identical, and nothing differs', async () => {
    const b = berth();
    await pushImage(b.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(10) }, { b: noise(10) }],
    });
    const a = await summaryOf(b, 'registry.test/library/app:v1');
    const got = compareImages(a, a);
    expect(got.identical).toBe(true);
    expect(got.config).toEqual([]);
    expect(got.history.divergesAt).toBe(-1);
    expect(got.layers.every((l) => l.by === 'digest' && l.a === l.b)).toBe(true);
    expect(got.base).toEqual({ layers: 2, aIsBaseOfB: true, bIsBaseOfA: true });
  });

  test('identical means the same manifest, whatever the names', () => {
    const one = summary('x:latest', '1', [layer('a')], {});
    expect(compareImages(one, { ...one, name: 'x:1.0' }).identical).toBe(true);
    // The same tag pulled again after it moved: another manifest.
    const moved = summary('x:latest', '2', [layer('a')], {});
    expect(compareImages(one, moved).identical).toBe(false);
  });

  test('the same image rebuilt: new manifest and times, the same layers and steps', () => {
    const history = [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD / ' },
      { created: '2024-01-01T00:00:00Z', created_by: 'CMD ["sh"]', empty_layer: true },
    ];
    const later = history.map((h) => ({ ...h, created: '2025-06-01T00:00:00Z' }));
    const a = summary('x:1', '1', [layer('a')], { created: '2024-01-01T00:00:00Z', history });
    const c = summary('x:2', '2', [layer('a')], {
      created: '2025-06-01T00:00:00Z',
      history: later,
    });
    const got = compareImages(a, c);
    expect(got.identical).toBe(false);
    expect(got.config).toEqual([
      {
        field: 'created',
        difference: 'changed',
        before: '2024-01-01T00:00:00Z',
        after: '2025-06-01T00:00:00Z',
      },
    ]);
    expect(got.history.divergesAt).toBe(-1);
  });

  test('layers recompressed: matched by diffID, and still the shared base', () => {
    const diffIDs = [`sha256:${hex('e')}`, `sha256:${hex('f')}`];
    const a = summary('x:gzip', '1', [layer('1'), layer('2')], {}, diffIDs);
    const c = summary('x:zstd', '2', [layer('3'), layer('4'), layer('5')], {}, [
      ...diffIDs,
      `sha256:${hex('9')}`,
    ]);
    const got = compareImages(a, c);
    expect(got.layers).toEqual([
      { a: 0, b: 0, by: 'diffID' },
      { a: 1, b: 1, by: 'diffID' },
      { b: 2, by: 'none' },
    ]);
    expect(got.base).toEqual({ layers: 2, aIsBaseOfB: true, bIsBaseOfA: false });
  });

  test('two platforms of one index: named by platform, architecture differs', () => {
    const a = {
      ...summary('x:1', '1', [layer('a')], { architecture: 'amd64' }),
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const c = {
      ...summary('x:1', '2', [layer('b')], { architecture: 'arm64', variant: 'v8' }),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    };
    const got = compareImages(a, c);
    expect(got.a.platform).toEqual(a.platform);
    expect(got.b.platform).toEqual(c.platform);
    expect(got.config.map((d) => d.field)).toEqual(['architecture', 'variant']);
    expect(got.base.layers).toBe(0);
  });

  test('artifacts (no config) compare without throwing: no config, no history', () => {
    const a = summary('art:1', '1', [layer('a')]);
    const c = summary('art:2', '2', [layer('a')]);
    const got = compareImages(a, c);
    expect(got.config).toEqual([]);
    expect(got.history).toEqual({ steps: [], divergesAt: -1 });
    // Without diffIDs the blob decides.
    expect(got.layers).toEqual([{ a: 0, b: 0, by: 'digest' }]);
    expect(got.base).toEqual({ layers: 1, aIsBaseOfB: true, bIsBaseOfA: true });
  });

  test('a hostile config does not throw', () => {
    const a = summary('x:1', '1', [layer('a')], {
      config: { Env: 5, Labels: 'x', Healthcheck: [[[]]] } as unknown as ImageConfig['config'],
    });
    const c = summary('x:2', '2', [layer('a')], {
      config: 'nope' as unknown as ImageConfig['config'],
    });
    const got = compareImages(a, c);
    expect(got.config.map((d) => `${d.field} ${d.difference}`)).toEqual([
      'Env removed',
      'Labels removed',
      'Healthcheck removed',
    ]);
  });
});
