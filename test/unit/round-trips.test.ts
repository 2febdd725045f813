// Serial round trips before the first view, counted at an in-memory registry whose answers
// each take a little while, so that requests sent together overlap as over a network. A
// request's depth is how many answers had to come, one after another, before it was sent.
// The first view is an Inspect, or a Pull whose summary is shown once the config is checked:
// the root, the platform manifest and the config. As the page does, the tag list is asked for
// at once (it needs only the repository) and the referrers as soon as the root digest is
// known, beside the config. skopeo needs 3 serial requests for a single manifest's config
// (`/v2/`, manifest, config) and 4 for an index's; Berth must not need more.
import { describe, expect, test } from 'vitest';
import type { BlobProgress } from '../../src/lib/pull/progress.ts';
import { pullImage, resolveImage, type PullContext } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import type { Transport } from '../../src/lib/registry/transport.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import type { Store } from '../../src/lib/store/store.ts';
import { noise, pushImage, pushIndex } from '../harness/images.ts';
import { MemoryRegistry, type MemoryRegistryOptions } from '../harness/memory-registry.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };
const skopeo = { single: 3, index: 4, token: 4 };

function setup(
  opts: MemoryRegistryOptions = {},
  hold?: (url: string) => Promise<void> | undefined,
) {
  const registry = new MemoryRegistry('registry.test', { latencyMs: 50, ...opts });
  // A request `hold` names is sent on only once its promise settles (a download in flight).
  const transport: Transport = async (url, init, host) => {
    await hold?.(url);
    return registry.transport(url, init, host);
  };
  const client = new RegistryClient({ transport });
  const store = memoryStore();
  const ctx = (over: Partial<PullContext> = {}): PullContext => ({
    client,
    store,
    signal: new AbortController().signal,
    onProgress: () => {},
    ...over,
  });
  return { registry, client, store, ctx };
}

/** What the page and the images worker do for a first view: the tags beside the resolve,
 * then the pull and the referrers together. Settles once the summary could be shown. */
async function firstView(
  s: { client: RegistryClient; store: Store; ctx: (o?: Partial<PullContext>) => PullContext },
  name: string,
  { lazy = true }: { lazy?: boolean } = {},
) {
  const ref = parseReference(name);
  const tags = listTags(s.client, ref);
  const resolved = await resolveImage(ref, s.ctx({ lazy }));
  const platform = resolved.index ? amd64 : undefined;
  let shown!: () => void;
  const view = new Promise<void>((r) => (shown = r));
  // The referrers once the walk's first request (the platform manifest, or the config) is
  // on its way, as the images worker asks for them.
  let referrers: Promise<unknown> | undefined;
  const onProgress = (p: BlobProgress) => {
    if ((p.role === 'manifest' || p.role === 'config') && p.state !== 'waiting') {
      referrers ??= new Promise((r) => setTimeout(r, 0)).then(() =>
        listReferrers(s.client, ref, resolved.root.digest, { tagInParallel: true }),
      );
    }
  };
  const pull = pullImage(ref, platform, s.ctx({ lazy, onConfig: shown, onProgress }), resolved);
  await Promise.all([view, tags]);
  await referrers;
  return { pull };
}

/** The depth at which the config (the last document of the view) was asked for. */
const viewDepth = (registry: MemoryRegistry, configDigest: string) =>
  registry.requests.find((r) => r.kind === 'blob' && r.id === configDigest)!.depth!;

describe('round trips before the first view', () => {
  test('a single manifest: the manifest, then the config with the extras beside it', async () => {
    const s = setup();
    const img = await pushImage(s.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(10) }],
    });
    await (
      await firstView(s, 'registry.test/library/app:v1')
    ).pull;
    expect(s.registry.timeline.sort()).toEqual([
      '1 GET manifest',
      '1 GET tags', // beside the manifest: it needs only the repository
      '2 GET blob',
      '2 GET manifest', // the referrers tag, beside the referrers API
      '2 GET referrers',
    ]);
    expect(viewDepth(s.registry, img.config.digest)).toBeLessThanOrEqual(skopeo.single);
    expect(s.registry.serialDepth, 'nothing left after the view').toBe(2);
  });

  test('a pull: the summary is ready once the config is, while a layer is still held', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let layer = '';
    const s = setup({}, (url) => (layer && url.endsWith(`/blobs/${layer}`) ? held : undefined));
    const img = await pushImage(s.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(10) }],
    });
    layer = img.layers[0]!.digest;
    const { pull } = await firstView(s, 'registry.test/library/app:v1', { lazy: false });
    // The view is ready with the layer's request sent and unanswered.
    expect(await s.store.content.info(layer), 'the layer is not stored yet').toBeUndefined();
    expect(viewDepth(s.registry, img.config.digest)).toBe(2);
    expect(s.registry.serialDepth, 'serial requests before the view').toBeLessThanOrEqual(
      skopeo.single,
    );
    release();
    await pull;
    expect(s.registry.blobRequests(layer), 'one request for the layer').toHaveLength(1);
    expect(await s.store.images.get('registry.test/library/app:v1')).toBeDefined();
  });

  test('an index: the index, the platform manifest, then the config', async () => {
    const s = setup();
    const { images } = await pushIndex(s.registry, 'library/multi', 'v1', [
      { platform: amd64, layers: [{ a: noise(10) }] },
      { platform: arm64, layers: [{ b: noise(10) }] },
    ]);
    await (
      await firstView(s, 'registry.test/library/multi:v1')
    ).pull;
    const view = viewDepth(s.registry, images[0]!.config.digest);
    expect(view).toBe(3);
    expect(view).toBeLessThanOrEqual(skopeo.index);
    // The extras ran while the platform's documents were fetched: the tags beside the index,
    // the referrers beside the platform manifest.
    const extras = s.registry.requests.filter((r) => r.kind === 'tags' || r.kind === 'referrers');
    expect(extras.map((r) => `${r.kind} ${r.depth}`).sort()).toEqual(['referrers 2', 'tags 1']);
  });

  test('token auth: the first 401 names the realm, one token serves every later request', async () => {
    const s = setup({ tokenAuth: true });
    const img = await pushImage(s.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(10) }],
    });
    await (
      await firstView(s, 'registry.test/library/app:v1')
    ).pull;
    expect(s.registry.timeline.sort()).toEqual([
      '1 GET manifest', // without a token: answered 401 with the challenge
      '1 GET tags', // the same: both wait for the one token
      '2 GET token',
      '3 GET manifest',
      '3 GET tags',
      '4 GET blob',
      '4 GET manifest', // the referrers tag
      '4 GET referrers',
    ]);
    expect(viewDepth(s.registry, img.config.digest)).toBeLessThanOrEqual(skopeo.token);
    expect(
      s.registry.requests.filter((r) => r.kind === 'ping'),
      'no /v2/ ping',
    ).toEqual([]);
    const tokens = s.registry.requests.filter((r) => r.kind === 'token');
    expect(tokens, 'one token request').toHaveLength(1);
    const unauthorised = s.registry.requests.filter((r) => r.kind !== 'token' && !r.authorized);
    expect(unauthorised, 'only the first requests go without a token').toHaveLength(2);

    // A later call (the layers of the inspected image) reuses the token: no 401, no token.
    const before = s.registry.requests.length;
    await pullImage(parseReference('registry.test/library/app:v1'), undefined, s.ctx());
    const later = s.registry.requests.slice(before);
    expect(later.filter((r) => r.kind === 'token' || !r.authorized)).toEqual([]);
  });

  test('concurrent first requests share one token request', async () => {
    const s = setup({ tokenAuth: true });
    await pushImage(s.registry, 'library/app', { tag: 'v1', layers: [{ a: noise(10) }] });
    const ref = parseReference('registry.test/library/app:v1');
    await Promise.all([listTags(s.client, ref), s.client.resolve(ref)]);
    expect(s.registry.timeline.sort()).toEqual([
      '1 GET manifest',
      '1 GET tags',
      '2 GET token',
      '3 GET manifest',
      '3 GET tags',
    ]);
  });

  test('a name with nothing stored under it is resolved with one GET; a stored one HEAD first', async () => {
    const s = setup();
    await pushImage(s.registry, 'library/app', { tag: 'v1', layers: [{ a: noise(10) }] });
    const ref = parseReference('registry.test/library/app:v1');
    await resolveImage(ref, s.ctx());
    expect(s.registry.timeline).toEqual(['1 GET manifest']);

    // Once a pull has recorded the image, a HEAD that finds the same root saves the GET.
    await pullImage(ref, undefined, s.ctx());
    s.registry.requests.length = 0;
    await resolveImage(ref, s.ctx());
    expect(s.registry.requests.map((r) => `${r.method} ${r.kind}`)).toEqual(['HEAD manifest']);

    // So does a root resolved a moment ago by this worker, before any record exists.
    const fresh = setup();
    await pushImage(fresh.registry, 'library/app', { tag: 'v1', layers: [{ a: noise(10) }] });
    await resolveImage(ref, fresh.ctx());
    fresh.registry.requests.length = 0;
    await resolveImage(
      ref,
      fresh.ctx({ resolvedNames: new Set(['registry.test/library/app:v1']) }),
    );
    expect(fresh.registry.requests.map((r) => `${r.method} ${r.kind}`)).toEqual(['HEAD manifest']);
  });
});
