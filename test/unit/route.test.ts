// The URL of every view: parsed, formatted, and how the page moves through history.
import { describe, expect, test } from 'vitest';
import { formatRoute, parseRoute, type Route } from '../../src/state/route.ts';
import { addRecent, loadRecent, maxRecent, type RecentImage } from '../../src/state/recent.ts';
import { AppState } from '../../src/state/app.svelte.ts';
import { Activity } from '../../src/state/activity.svelte.ts';
import { ImageActions } from '../../src/state/actions.svelte.ts';
import { ImageState } from '../../src/state/image.svelte.ts';
import { entry, FakeImages, FakeLayers, fakeSettings, summaryOf } from './state-fakes.ts';

describe('parseRoute and formatRoute', () => {
  const cases: [string, string, Route, string][] = [
    ['home', '', { view: 'home' }, ''],
    ['home, a lone ?', '?', { view: 'home' }, ''],
    ['library', '?view=library', { view: 'library' }, '?view=library'],
    ['settings', '?view=settings', { view: 'settings' }, '?view=settings'],
    ['an unknown view is home', '?view=admin', { view: 'home' }, ''],
    [
      "a registry's catalog",
      '?registry=registry.example%3A5000',
      { view: 'registry', registry: 'registry.example:5000' },
      '?registry=registry.example:5000',
    ],
    [
      "a repository's tags",
      '?repository=ghcr.io/owner/app',
      { view: 'repository', repository: 'ghcr.io/owner/app' },
      '?repository=ghcr.io/owner/app',
    ],
    [
      "a repository's tags by date",
      '?repository=docker.io/library/alpine&sort=date',
      { view: 'repository', repository: 'docker.io/library/alpine', sort: 'date' },
      '?repository=docker.io/library/alpine&sort=date',
    ],
    [
      'an unknown sort is by name',
      '?repository=x.example/a&sort=size',
      { view: 'repository', repository: 'x.example/a' },
      '?repository=x.example/a',
    ],
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
    [
      'a comparison',
      '?image=app:v1&compare=app:v2',
      { view: 'compare', image: 'app:v1', compare: 'app:v2' },
      '?image=app:v1&compare=app:v2',
    ],
    [
      "a comparison's platforms and file, in a canonical order",
      '?path=/etc/os-release&comparePlatform=linux%2Farm64&compare=app:v2&platform=linux/amd64&image=app:v1',
      {
        view: 'compare',
        image: 'app:v1',
        platform: 'linux/amd64',
        compare: 'app:v2',
        comparePlatform: 'linux/arm64',
        path: 'etc/os-release',
      },
      '?image=app:v1&platform=linux/amd64&compare=app:v2&comparePlatform=linux/arm64&path=/etc/os-release',
    ],
    [
      'two platforms of one index',
      '?image=multi:1&platform=linux/amd64&compare=multi:1&comparePlatform=linux/arm64/v8',
      {
        view: 'compare',
        image: 'multi:1',
        platform: 'linux/amd64',
        compare: 'multi:1',
        comparePlatform: 'linux/arm64/v8',
      },
      '?image=multi:1&platform=linux/amd64&compare=multi:1&comparePlatform=linux/arm64/v8',
    ],
    [
      'a layer means nothing in a comparison and is dropped',
      '?image=a&compare=b&layer=2&path=/x',
      { view: 'compare', image: 'a', compare: 'b', path: 'x' },
      '?image=a&compare=b&path=/x',
    ],
    [
      'an empty comparison is the image alone',
      '?image=a&compare=%20&comparePlatform=linux/amd64',
      { view: 'image', image: 'a' },
      '?image=a',
    ],
    [
      'a comparison without an image is home',
      '?compare=b&comparePlatform=linux/amd64',
      { view: 'home' },
      '',
    ],
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

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

/** The page's states as wiring.ts makes them, over in-memory workers: `x:1` is a single image
 * with two layers, `multi:1` offers two platforms. */
function setup(initial = '') {
  const h = memoryHistory(initial);
  const images = new FakeImages();
  const layers = new FakeLayers();
  const x = summaryOf('reg.example/x:1', 1, 2);
  images.registry.set('x:1', { name: 'reg.example/x:1', platforms: [], summary: x });
  images.registry.set('multi:1', {
    name: 'reg.example/multi:1',
    platforms: [amd64, arm64],
    summary: { ...summaryOf('reg.example/multi:1', 2), platform: amd64 },
  });
  layers.files.set(x.layers[0]!.descriptor.digest, [
    entry('etc', 'dir'),
    entry('etc/passwd', 'file', 512),
  ]);
  layers.files.set(x.layers[1]!.descriptor.digest, [entry('app', 'dir')]);
  layers.text.set('etc/passwd', 'root:x:0:0');
  const activity = new Activity();
  const image = new ImageState({
    images: images.bridge,
    layers: layers.bridge,
    settings: fakeSettings(),
    activity,
    save: () => {},
  });
  const actions = new ImageActions({ bridge: images.bridge, activity, save: () => {} });
  const app = new AppState({ image, activity, actions, history: h.port, storage: undefined });
  return { h, images, layers, image, activity, app };
}

describe('AppState history', () => {
  test('a pull pushes its image; the platform the registry chose replaces it', async () => {
    const { h, image, app } = setup();
    image.form.edit('multi:1');
    await app.pull();
    expect(h.entries).toEqual(['', '?image=multi:1&platform=linux/amd64']);
    expect(app.view).toBe('image');
    // A platform the person picks afterwards is a step of its own.
    await app.choosePlatform('linux/arm64/v8');
    expect(h.entries).toEqual([
      '',
      '?image=multi:1&platform=linux/amd64',
      '?image=multi:1&platform=linux/arm64/v8',
    ]);
  });

  test('a reference that cannot be read starts nothing and records nothing', async () => {
    const { h, app, activity } = setup();
    await app.pull();
    expect(h.entries).toEqual(['']);
    expect(app.view).toBe('home');
    expect(activity.error).toMatch(/Type an image reference/);
  });

  test('opening a layer and a file push; nothing changes, nothing is recorded', async () => {
    const { h, image, app } = setup();
    image.form.edit('x:1');
    await app.pull();
    await app.browse({ kind: 'layer', index: 0 });
    image.files.toggle('etc');
    await app.openFile('etc/passwd');
    await app.openFile('etc/passwd');
    expect(h.entries).toEqual([
      '',
      '?image=x:1',
      '?image=x:1&layer=1',
      '?image=x:1&layer=1&path=/etc/passwd',
    ]);
    expect(new TextDecoder().decode(image.files.viewer.file?.bytes ?? undefined)).toBe(
      'root:x:0:0',
    );
    app.closeFiles();
    expect(h.entries.at(-1)).toBe('?image=x:1');
    expect(h.index).toBe(4);
  });

  test('the title follows the pull and the view', async () => {
    const { image, activity, app } = setup();
    expect(app.title).toBe('Berth');
    image.form.edit('x:1');
    const pulling = app.pull();
    expect(app.title).toBe('Pulling x:1 — Berth');
    await pulling;
    expect(activity.finished).toEqual({ ok: true });
    expect(app.title).toBe('✓ Pulled x:1 — Berth');
    await app.browse({ kind: 'merged' });
    await app.openFile('etc/passwd');
    expect(app.title).toBe('passwd · x:1 — Berth');
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

  test('a summary on screen joins the recent images', async () => {
    const { image, app } = setup();
    image.form.edit('x:1');
    await app.pull();
    expect(app.recent.map((r) => r.image)).toEqual(['x:1']);
  });
});

describe('AppState applying a URL', () => {
  test('a link to a file opens the image, the layer and the file, and keeps its URL', async () => {
    const { h, images, image, app } = setup('?image=x:1&layer=1&path=/etc/passwd');
    images.stored.set('reg.example/x:1', images.registry.get('x:1')!.summary);
    await app.apply(parseRoute(h.entries[0]!));
    expect(h.entries).toEqual(['?image=x:1&layer=1&path=/etc/passwd']);
    expect(image.files.selected).toBe('etc/passwd');
    expect(image.files.viewer.file?.path).toBe('etc/passwd');
  });

  test('a link to layers not stored asks first, and keeps its URL meanwhile', async () => {
    const { h, images, image, app } = setup('?image=lazy:1&layer=merged');
    const lazy = summaryOf('reg.example/lazy:1', 3, 2);
    lazy.layers[1]!.stored = false;
    images.registry.set('lazy:1', { name: lazy.name, platforms: [], summary: lazy });
    await app.apply(parseRoute(h.entries[0]!));
    // The link inspected the image; one layer is missing, and nothing downloads it unasked.
    expect(images.calls).toContain('pull');
    expect(app.pending).toEqual({ route: parseRoute(h.entries[0]!), layers: 1, bytes: 100 });
    expect(image.files.view).toBeNull();
    expect(h.entries).toEqual(['?image=lazy:1&layer=merged']);
  });

  test('a link whose image fails to resolve keeps its URL', async () => {
    const { h, images, app, activity } = setup('?image=wanted:1');
    images.down = 'unauthorized';
    await app.apply(parseRoute('?image=wanted:1'));
    expect(activity.errorKind).toBe('unauthorized');
    expect(app.image.signInRegistry).toBe('docker.io');
    expect(h.entries).toEqual(['?image=wanted:1']);
  });

  test('the person acting while a URL applies takes over: their step is pushed, the rest dropped', async () => {
    const { h, app } = setup('?image=x:1&layer=2');
    const applying = app.apply(parseRoute('?image=x:1&layer=2'));
    app.interrupt();
    await app.go({ view: 'library' });
    await applying;
    expect(h.entries).toEqual(['?image=x:1&layer=2', '?view=library']);
    expect(app.view).toBe('library');
    expect(app.image.files.view).toBeNull();
  });

  test('a link to files while the registry is down opens the stored copy and asks it nothing more', async () => {
    const { h, images, app, activity } = setup('?image=multi:1&platform=linux/arm64&layer=1');
    // Only linux/amd64 of the index is stored; the link asks for linux/arm64.
    images.stored.set('reg.example/multi:1', images.registry.get('multi:1')!.summary);
    images.down = 'unreachable';
    await app.apply(parseRoute(h.entries[0]!));
    expect(images.calls, 'no inspect of an unreachable registry').not.toContain('pull');
    expect(activity.notice).toMatch(/stored in this browser/);
    expect(activity.error).toBeNull();
  });

  test('after a sign-in, the URL names the platform as soon as the registry answers', async () => {
    const { h, images, image, app } = setup();
    images.down = 'unauthorized';
    image.form.edit('multi:1');
    await app.pull();
    expect(image.signInRegistry).toBe('docker.io');
    images.down = undefined;
    let release!: () => void;
    images.gates.set('pull-end', new Promise<void>((r) => (release = r)));
    const signingIn = app.signIn('me', 'secret', false);
    await expect.poll(() => h.entries.at(-1)).toBe('?image=multi:1&platform=linux/amd64');
    release();
    await signingIn;
    expect(h.entries.at(-1)).toBe('?image=multi:1&platform=linux/amd64');
  });

  test('without the person acting, what a URL application learns replaces the entry', async () => {
    const { h, app } = setup('?image=multi:1');
    await app.apply(parseRoute('?image=multi:1'));
    expect(h.entries).toEqual(['?image=multi:1&platform=linux/amd64']);
  });

  test('the URL names the platform the registry chose before the summary is read', async () => {
    const { h, images, image, app } = setup('?image=multi:1&platform=linux/arm64');
    let release!: () => void;
    images.gates.set('summary', new Promise<void>((r) => (release = r)));
    const applying = app.apply(parseRoute(h.entries[0]!));
    await expect.poll(() => image.form.platform).toBe('linux/arm64/v8');
    expect(h.entries).toEqual(['?image=multi:1&platform=linux/arm64/v8']);
    release();
    await applying;
    expect(h.entries).toEqual(['?image=multi:1&platform=linux/arm64/v8']);
  });

  test('once the person acts, their pull of another image is a step of its own', async () => {
    const { h, image, app } = setup('?image=x:1');
    const applying = app.apply(parseRoute('?image=x:1'));
    app.interrupt();
    image.form.edit('multi:1');
    const pulling = app.pull();
    await applying;
    await pulling;
    expect(h.entries).toEqual(['?image=x:1', '?image=multi:1&platform=linux/amd64']);
  });
});
