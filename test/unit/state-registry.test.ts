// The registry browser's state over an in-memory images worker: which tags get their dates
// fetched (the rows on screen, every row when sorting by date, none on Docker Hub until the
// person agrees), how many at once, and that leaving stops them.
import { describe, expect, test } from 'vitest';
import { RegistryBrowser, browseRoute, tagRowsPerPage } from '../../src/state/registry.svelte.ts';
import type { TagDetails } from '../../src/workers/images/catalog.ts';

/** A bridge whose tagDetails calls wait until released, so a test sees what runs at once. */
function fakeImages(tags: string[]) {
  const asked: string[] = [];
  const waiting: { tag: string; release: () => void }[] = [];
  let running = 0;
  let most = 0;
  const bridge = {
    async call(method: string, arg: Record<string, unknown>, opts?: { signal?: AbortSignal }) {
      if (method === 'repositoryTags') return { tags, truncated: false };
      if (method === 'rateLimit') return null;
      if (method !== 'tagDetails') throw new Error(`unexpected ${method}`);
      const tag = String(arg.tag);
      asked.push(tag);
      running++;
      most = Math.max(most, running);
      try {
        await new Promise<void>((resolve, reject) => {
          waiting.push({ tag, release: resolve });
          opts?.signal?.addEventListener('abort', () =>
            reject(new DOMException('cancelled', 'AbortError')),
          );
        });
      } finally {
        running--;
      }
      const i = tags.indexOf(tag);
      return {
        digest: `sha256:${String(i).padStart(64, '0')}`,
        platforms: 0,
        size: 1,
        created: Date.UTC(2020, 0, 1 + i),
      } satisfies TagDetails;
    },
  };
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  /** Releases every call waiting now, then lets the state start the next ones. */
  const releaseAll = async () => {
    for (const w of waiting.splice(0)) w.release();
    await settle();
  };
  return {
    bridge,
    asked,
    releaseAll,
    settle,
    get most() {
      return most;
    },
  };
}

const tagNames = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);

function browser(images: ReturnType<typeof fakeImages>) {
  return new RegistryBrowser({
    bridge: images.bridge as never,
    connection: () => ({ kind: 'direct' }),
  });
}

describe('RepositoryState', () => {
  test('dates for the rows on screen only, four at a time; more rows, more dates', async () => {
    const images = fakeImages(tagNames(120));
    const b = browser(images);
    await b.show({ view: 'repository', repository: 'registry.example/app' });
    const repo = b.repository;
    expect(repo.rows).toHaveLength(tagRowsPerPage);
    while (images.asked.length < tagRowsPerPage || repo.fetching) await images.releaseAll();
    expect(images.most).toBe(4);
    expect(new Set(images.asked)).toEqual(new Set(repo.rows.map((r) => r.tag)));
    repo.showMore();
    await images.settle();
    while (repo.fetching) await images.releaseAll();
    expect(images.asked).toHaveLength(2 * tagRowsPerPage);
  });

  test('sorting by date dates every tag, newest first', async () => {
    const images = fakeImages(tagNames(70));
    const b = browser(images);
    await b.show({ view: 'repository', repository: 'registry.example/app', sort: 'date' });
    await images.settle();
    while (b.repository.fetching) await images.releaseAll();
    expect(images.asked).toHaveLength(70);
    expect(b.repository.rows[0]!.tag).toBe('v69');
    expect(b.route).toEqual({
      view: 'repository',
      repository: 'registry.example/app',
      sort: 'date',
    });
  });

  test('Docker Hub: no date is fetched until the person agrees it costs pulls', async () => {
    const images = fakeImages(tagNames(3));
    const b = browser(images);
    await b.show({ view: 'repository', repository: 'docker.io/library/alpine' });
    await images.settle();
    expect(b.repository.datesOn).toBe(false);
    expect(images.asked).toEqual([]);
    b.repository.acceptDates();
    await images.settle();
    expect(images.asked).toEqual(['v0', 'v1', 'v2']);
  });

  test('leaving stops what is under way; coming back asks again for what was not dated', async () => {
    const images = fakeImages(tagNames(10));
    const b = browser(images);
    await b.show({ view: 'repository', repository: 'registry.example/app' });
    await images.settle();
    expect(images.asked).toHaveLength(4);
    b.leave();
    await images.releaseAll();
    expect(images.asked).toHaveLength(4);
    expect(b.repository.fetching).toBe(false);
    await b.show({ view: 'repository', repository: 'registry.example/app' });
    await images.settle();
    while (b.repository.fetching) await images.releaseAll();
    expect(new Set(images.asked)).toEqual(new Set(tagNames(10)));
  });
});

describe('browseRoute', () => {
  test.each([
    ['registry.example:5000', { view: 'registry', registry: 'registry.example:5000' }],
    ['https://ghcr.io/', { view: 'registry', registry: 'ghcr.io' }],
    ['localhost:5000', { view: 'registry', registry: 'localhost:5000' }],
    ['docker.io', { view: 'registry', registry: 'docker.io' }],
    ['alpine', { view: 'repository', repository: 'docker.io/library/alpine' }],
    ['alpine:3.20', { view: 'repository', repository: 'docker.io/library/alpine' }],
    ['ghcr.io/owner/app:v1', { view: 'repository', repository: 'ghcr.io/owner/app' }],
    ['bitnami/redis', { view: 'repository', repository: 'docker.io/bitnami/redis' }],
    ['Not A Name', { view: 'repository', repository: 'Not A Name' }],
    ['  ', null],
  ])('browseRoute(%j)', (typed, want) => {
    expect(browseRoute(typed)).toEqual(want);
  });
});
