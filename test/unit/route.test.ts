// The URL of every view: parsed, formatted, and how the page moves through history.
import { describe, expect, test } from 'vitest';
import { formatRoute, parseRoute, type Route } from '../../src/state/route.ts';
import { addRecent, loadRecent, maxRecent, type RecentImage } from '../../src/state/recent.ts';
import { AppState } from '../../src/state/app.svelte.ts';
import type { PullState, ImageLocation } from '../../src/state/pull.svelte.ts';
import type { LayerState } from '../../src/state/layers.svelte.ts';

describe('parseRoute and formatRoute', () => {
  const cases: [string, string, Route, string][] = [
    ['home', '', { view: 'home' }, ''],
    ['home, a lone ?', '?', { view: 'home' }, ''],
    ['library', '?view=library', { view: 'library' }, '?view=library'],
    ['settings', '?view=settings', { view: 'settings' }, '?view=settings'],
    ['an unknown view is home', '?view=admin', { view: 'home' }, ''],
    [
      'an image',
      '?image=alpine:3.20',
      { view: 'image', image: 'alpine:3.20' },
      '?image=alpine:3.20',
    ],
    [
      'an image wins over a view',
      '?view=library&image=alpine',
      { view: 'image', image: 'alpine' },
      '?image=alpine',
    ],
    [
      'escaped slashes and colons read back',
      '?image=ghcr.io%2Fowner%2Fapp%3Av1&platform=linux%2Farm64%2Fv8',
      { view: 'image', image: 'ghcr.io/owner/app:v1', platform: 'linux/arm64/v8' },
      '?image=ghcr.io/owner/app:v1&platform=linux/arm64/v8',
    ],
    [
      'a digest reference',
      '?image=alpine@sha256:' + 'a'.repeat(64),
      { view: 'image', image: 'alpine@sha256:' + 'a'.repeat(64) },
      '?image=alpine@sha256:' + 'a'.repeat(64),
    ],
    [
      'a layer is 1-based in the URL',
      '?image=alpine&layer=2',
      { view: 'image', image: 'alpine', layer: 1 },
      '?image=alpine&layer=2',
    ],
    [
      'the merged view and a file',
      '?image=alpine&layer=merged&path=/etc/os-release',
      { view: 'image', image: 'alpine', layer: 'merged', path: 'etc/os-release' },
      '?image=alpine&layer=merged&path=/etc/os-release',
    ],
    [
      'all layers',
      '?image=alpine&layer=all&path=/Layer%201/bin',
      { view: 'image', image: 'alpine', layer: 'all', path: 'Layer 1/bin' },
      '?image=alpine&layer=all&path=/Layer%201/bin',
    ],
    [
      'layer 0 is not a layer',
      '?image=alpine&layer=0',
      { view: 'image', image: 'alpine' },
      '?image=alpine',
    ],
    [
      'a word is not a layer',
      '?image=alpine&layer=top',
      { view: 'image', image: 'alpine' },
      '?image=alpine',
    ],
    [
      'a path without a layer is dropped',
      '?image=alpine&path=/etc/passwd',
      { view: 'image', image: 'alpine' },
      '?image=alpine',
    ],
    [
      'a path with & and # stays one value',
      '?image=x&layer=1&path=/a%26b%23c',
      { view: 'image', image: 'x', layer: 0, path: 'a&b#c' },
      '?image=x&layer=1&path=/a%26b%23c',
    ],
    ['an empty image is home', '?image=%20', { view: 'home' }, ''],
  ];
  for (const [name, search, route, canonical] of cases) {
    test(name, () => {
      const got = parseRoute(search);
      expect(got, `parseRoute(${search})`).toEqual(route);
      expect(formatRoute(got), `formatRoute(parseRoute(${search}))`).toBe(canonical);
      expect(parseRoute(formatRoute(got)), 'round trip').toEqual(route);
    });
  }
});

describe('recent images', () => {
  const at = (image: string, openedAt: number, platform = ''): RecentImage => ({
    image,
    platform,
    openedAt,
  });

  test('newest first, one entry per image, at most maxRecent', () => {
    let list: RecentImage[] = [];
    for (let i = 0; i < maxRecent + 5; i++) list = addRecent(list, at(`img${i}`, i));
    list = addRecent(list, at('img14', 99, 'linux/arm64'));
    expect(list).toHaveLength(maxRecent);
    expect(list[0]).toEqual(at('img14', 99, 'linux/arm64'));
    expect(list.filter((r) => r.image === 'img14')).toHaveLength(1);
  });

  test('what localStorage holds is checked, never trusted', () => {
    const load = (raw: string | null) => loadRecent({ getItem: () => raw });
    expect(load(null)).toEqual([]);
    expect(load('{bad')).toEqual([]);
    expect(load('{"image":"x"}')).toEqual([]);
    expect(
      load(
        JSON.stringify([
          at('ok', 1),
          { image: 7, platform: '', openedAt: 1 },
          { image: 'no-time', platform: '' },
          { ...at('extra', 2), html: '<b>' },
        ]),
      ),
    ).toEqual([at('ok', 1), at('extra', 2)]);
  });
});

/** A page's history, kept in memory. */
function memoryHistory(initial = '') {
  const entries = [initial];
  let index = 0;
  return {
    entries,
    get index() {
      return index;
    },
    port: {
      read: () => entries[index]!,
      push: (q: string) => {
        entries.splice(index + 1, Infinity, q);
        index++;
      },
      replace: (q: string) => {
        entries[index] = q;
      },
    },
  };
}

/** Just what AppState reads of the pull and layer states. */
function fakes() {
  const pull = {
    location: null as ImageLocation | null,
    phase: 'idle',
    progress: null as number | null,
    finished: null,
    summary: null,
  };
  const layers = {
    location: undefined as { layer: 'merged' | 'all' | number; path?: string } | undefined,
    viewer: null as { path: string } | null,
  };
  return { pull, layers };
}

describe('AppState history', () => {
  function setup() {
    const h = memoryHistory();
    const { pull, layers } = fakes();
    const app = new AppState({
      pull: pull as unknown as PullState,
      layers: layers as unknown as LayerState,
      history: h.port,
      storage: undefined,
    });
    return { h, pull, layers, app };
  }

  test('a new image pushes; the platform the registry chose replaces', () => {
    const { h, pull, app } = setup();
    pull.location = { image: 'alpine:3.20', platform: '' };
    app.imageShown();
    pull.location = { image: 'alpine:3.20', platform: 'linux/amd64' };
    app.imageShown();
    expect(h.entries).toEqual(['', '?image=alpine:3.20&platform=linux/amd64']);
    // A platform the user picks afterwards is a step of its own.
    pull.location = { image: 'alpine:3.20', platform: 'linux/arm64' };
    app.imageShown();
    expect(h.entries).toHaveLength(3);
  });

  test('opening a layer and a file push; nothing changes, nothing is recorded', () => {
    const { h, pull, layers, app } = setup();
    pull.location = { image: 'x', platform: '' };
    app.imageShown();
    layers.location = { layer: 'merged' };
    app.record();
    layers.location = { layer: 'merged', path: 'etc/passwd' };
    app.record();
    app.record();
    expect(h.entries).toEqual([
      '',
      '?image=x',
      '?image=x&layer=merged',
      '?image=x&layer=merged&path=/etc/passwd',
    ]);
  });

  test('the title follows the pull and the view', () => {
    const { pull, layers, app } = setup();
    expect(app.title).toBe('Berth');
    pull.location = { image: 'alpine', platform: '' };
    app.imageShown();
    pull.phase = 'pulling';
    pull.progress = 0.427;
    expect(app.title).toBe('42% · Pulling alpine — Berth');
    pull.phase = 'idle';
    (pull as { finished: unknown }).finished = { ok: true };
    expect(app.title).toBe('✓ Pulled alpine — Berth');
    (pull as { finished: unknown }).finished = null;
    layers.viewer = { path: 'etc/os-release' };
    expect(app.title).toBe('os-release · alpine — Berth');
  });

  test('going to a view pushes once; applying a URL never pushes', async () => {
    const { h, app } = setup();
    await app.go({ view: 'library' });
    await app.go({ view: 'library' });
    expect(h.entries).toEqual(['', '?view=library']);
    await app.apply({ view: 'settings' });
    expect(h.entries).toEqual(['', '?view=settings']);
    expect(app.view).toBe('settings');
  });
});

describe('AppState applying a URL', () => {
  /** A pull state whose show() resolves when the test says, and can fail. */
  function slowPull() {
    const { pull, layers } = fakes();
    let release!: () => void;
    const shown: string[] = [];
    const fake = Object.assign(pull, {
      error: null as string | null,
      show: (image: string) => {
        shown.push(image);
        // As PullState.show does: the URL names the image while it resolves.
        pull.location = { image, platform: '' };
        onLocation();
        return new Promise<void>((r) => (release = r));
      },
      inspect: async () => {},
    });
    let onLocation = () => {};
    return {
      pull: fake,
      layers,
      shown,
      release: () => release(),
      setOnLocation: (f: () => void) => (onLocation = f),
    };
  }

  function setupSlow() {
    const h = memoryHistory('?image=wanted:1');
    const s = slowPull();
    const layerFake = Object.assign(s.layers, {
      close: () => {},
      downloadsFor: () => ({ layers: 0, bytes: 0 }),
    });
    const app = new AppState({
      pull: s.pull as unknown as PullState,
      layers: layerFake as unknown as LayerState,
      history: h.port,
      storage: undefined,
    });
    s.setOnLocation(() => app.record());
    return { h, s, app };
  }

  test('a link whose image fails to resolve keeps its URL', async () => {
    const { h, s, app } = setupSlow();
    const applying = app.apply(parseRoute('?image=wanted:1'));
    s.pull.error = 'unauthorized';
    s.release();
    await applying;
    expect(h.entries).toEqual(['?image=wanted:1']);
  });

  test('the person acting while a URL applies takes over: their step is pushed, the rest dropped', async () => {
    const { h, s, app } = setupSlow();
    const applying = app.apply(parseRoute('?image=wanted:1&layer=2'));
    app.interrupt();
    // The person goes to the library meanwhile.
    await app.go({ view: 'library' });
    s.release();
    await applying;
    expect(h.entries).toEqual(['?image=wanted:1', '?view=library']);
    expect(app.view).toBe('library');
  });

  test('without the person acting, what a URL application does replaces the entry', async () => {
    const { h, s, app } = setupSlow();
    const applying = app.apply(parseRoute('?image=wanted:1'));
    s.pull.location = { image: 'wanted:1', platform: 'linux/amd64' };
    app.record();
    s.release();
    await applying;
    expect(h.entries).toEqual(['?image=wanted:1&platform=linux/amd64']);
  });

  test('once the person acts, their pull of another image is a step of its own', async () => {
    const { h, s, app } = setupSlow();
    const applying = app.apply(parseRoute('?image=wanted:1'));
    app.interrupt();
    s.pull.location = { image: 'other:2', platform: '' };
    app.imageShown();
    s.release();
    await applying;
    expect(h.entries).toEqual(['?image=wanted:1', '?image=other:2']);
  });
});
