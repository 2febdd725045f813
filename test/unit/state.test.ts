// The page's state classes over in-memory workers (state-fakes.ts): what each job decides,
// apart from the DOM.
import { describe, expect, test, vi } from 'vitest';
import { Activity } from '../../src/state/activity.svelte.ts';
import { ImageActions } from '../../src/state/actions.svelte.ts';
import { nextActions, retryableKinds, unavailableKinds } from '../../src/state/errors.ts';
import { ImageState } from '../../src/state/image.svelte.ts';
import { formatBytes } from '../../src/state/format.ts';
import { nextRow, PullProgress } from '../../src/state/pull.svelte.ts';
import {
  exportsOf,
  latestPlatform,
  platformsOf,
  type LibraryImage,
} from '../../src/state/library.svelte.ts';
import { closestOption, ReferenceState } from '../../src/state/reference.svelte.ts';
import { allDirs, findNode, flattenRows } from './reference/treemodel.ts';
import { windowOf } from './reference/window.ts';
import { buildTree, sortTree } from './reference/tree.ts';
import { entry, FakeImages, FakeLayers, fakeSettings, summaryOf } from './state-fakes.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const armv6 = { os: 'linux', architecture: 'arm', variant: 'v6' };
const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' };

describe('errors: what to offer next', () => {
  const cases: [string | null, ReturnType<typeof nextActions>][] = [
    [null, { retry: false, settings: false, library: false }],
    ['unreachable', { retry: true, settings: true, library: false }],
    ['server', { retry: true, settings: false, library: false }],
    ['rate-limited', { retry: true, settings: false, library: false }],
    ['protocol', { retry: true, settings: false, library: false }],
    ['proxy-denied', { retry: false, settings: true, library: false }],
    ['storage-full', { retry: false, settings: false, library: true }],
    ['not-found', { retry: false, settings: false, library: false }],
  ];
  for (const [kind, want] of cases) {
    test(`nextActions(${kind})`, () =>
      expect(nextActions(kind), `nextActions(${kind})`).toEqual(want));
  }
  test('a registry that cannot answer now is retryable', () => {
    for (const k of unavailableKinds) expect(retryableKinds, k).toContain(k);
  });
});

describe('ReferenceState', () => {
  function form(tags: string[], text: string) {
    const f = new ReferenceState({
      bridge: new FakeImages().bridge,
      connection: () => ({ kind: 'direct' }),
    });
    f.tags = tags;
    f.text = text;
    return f;
  }
  const tags = ['alpine:3.19', 'alpine:3.20', 'alpine:3.21', 'alpine:edge'];
  const cases: [string, string, string[]][] = [
    ['a tag being typed: those it starts', 'alpine:3.2', ['alpine:3.20', 'alpine:3.21']],
    ['a real tag: the others', 'alpine:3.20', ['alpine:3.19', 'alpine:3.21', 'alpine:edge']],
    ['no tag yet: all', 'alpine', tags],
    ['another repository: none', 'busybox:1', []],
  ];
  for (const [name, text, want] of cases) {
    test(`suggestions: ${name}`, () => expect(form(tags, text).suggestions, text).toEqual(want));
  }

  test('editing the reference drops the platforms of the image before', () => {
    const f = form([], 'multi:1');
    f.offer([amd64, arm64], '');
    expect(f.platformChoices.map((c) => c.value)).toEqual(['linux/amd64', 'linux/arm64/v8', 'all']);
    f.edit('other:2');
    expect([f.platforms, f.platform]).toEqual([[], '']);
  });

  const closest: [string, string, string, string][] = [
    ['the same string', 'linux/arm64/v8', '', 'linux/arm64/v8'],
    ['a variant left out', 'linux/arm64', '', 'linux/arm64/v8'],
    ['all platforms', 'all', '', 'all'],
    ['nothing asked: the preferred one', '', 'linux/arm/v7', 'linux/arm/v7'],
    ['nothing asked or preferred: linux/amd64', '', '', 'linux/amd64'],
    ['an unreadable platform: the default', 'no/such/thing/here', '', 'linux/amd64'],
  ];
  for (const [name, wanted, preferred, want] of closest) {
    test(`closestOption: ${name}`, () => {
      const got = closestOption([amd64, arm64, armv6, armv7], wanted, preferred);
      expect(got, `closestOption(${wanted}, ${preferred})`).toBe(want);
    });
  }
});

describe('PullProgress', () => {
  const blob = (state: 'downloading' | 'done' | 'exists' | 'waiting', offset: number) => ({
    ref: 'l1',
    role: 'layer' as const,
    digest: 'sha256:1',
    mediaType: 'm',
    size: 1000,
    offset,
    state,
  });

  test('speed is averaged from where the download started (a resumed one starts past 0)', () => {
    const first = nextRow(undefined, blob('downloading', 200), 1000);
    expect([first.speed, first.base, first.startedAt]).toEqual([0, 200, 1000]);
    const later = nextRow(first, blob('downloading', 700), 2000);
    expect(later.speed).toBe(500);
  });

  test('totals count stored blobs whole and the others by offset; a stopped pull marks what ran', async () => {
    const p = new PullProgress();
    const batch = p.batch();
    batch.add(blob('downloading', 250));
    batch.add({ ...blob('exists', 0), ref: 'c', size: 300 });
    await Promise.resolve();
    expect(p.totals).toEqual({ done: 550, total: 1300 });
    expect(p.fraction).toBeCloseTo(550 / 1300);
    batch.stop();
    expect(p.rows.map((r) => r.state)).toEqual(['cancelled', 'exists']);
  });
});

describe('ImageState', () => {
  function setup() {
    const images = new FakeImages();
    const activity = new Activity();
    const settings = fakeSettings();
    const image = new ImageState({
      images: images.bridge,
      layers: new FakeLayers().bridge,
      settings,
      activity,
      save: () => {},
    });
    return { images, activity, settings, image };
  }

  test('offline, a stored copy opens, and the page says so', async () => {
    const { images, activity, image } = setup();
    images.stored.set('reg.example/x:1', summaryOf('reg.example/x:1', 1));
    images.registry.set('reg.example/x:1', {
      name: 'reg.example/x:1',
      platforms: [],
      summary: summaryOf('reg.example/x:1', 1),
    });
    images.down = 'unreachable';
    await image.show('reg.example/x:1');
    expect(image.summary?.name).toBe('reg.example/x:1');
    expect(activity.error).toBeNull();
    expect(activity.notice).toMatch(
      /cannot be reached: showing the copy of reg.example\/x:1 stored/,
    );
  });

  test('a registry that asks for credentials offers a sign-in; signing in pulls again', async () => {
    const { images, activity, settings, image } = setup();
    images.down = 'unauthorized';
    image.form.edit('ghcr.io/o/app:1');
    await image.pull();
    expect([activity.errorKind, image.signInRegistry, activity.finished]).toEqual([
      'unauthorized',
      'ghcr.io',
      { ok: false },
    ]);
    images.down = undefined;
    images.registry.set('ghcr.io/o/app:1', {
      name: 'ghcr.io/o/app:1',
      platforms: [],
      summary: summaryOf('ghcr.io/o/app:1', 4),
    });
    await image.signIn('me', 'secret');
    expect(settings.signIns).toEqual(['ghcr.io']);
    expect(image.summary?.name).toBe('ghcr.io/o/app:1');
    expect(image.signInRegistry).toBeNull();
  });

  test('the tag list is asked for beside the pull, and the referrers come with it', async () => {
    const { images, image } = setup();
    images.registry.set('a:1', { name: 'a:1', platforms: [], summary: summaryOf('a:1', 7) });
    let endPull!: () => void;
    images.gates.set('pull-end', new Promise<void>((r) => (endPull = r)));
    image.form.edit('a:1');
    const work = image.inspect()!;
    await work.named;
    // The tags need only the repository: asked for before the registry has answered anything.
    expect(images.calls, 'asked for while the pull runs').toEqual(['listTags', 'pull']);
    await vi.waitFor(() => expect(image.referrers, 'told by the pull').toEqual([]));
    endPull();
    await work;
    // No referrers call of their own; once the image is stored, the Referrers card asks for
    // what is attached to it (fetched, checked and stored with the image).
    expect(images.calls, 'no call of their own').toEqual(['listTags', 'pull', 'attached']);
  });

  test('a pull shows the summary as soon as the config is checked, the stored one at its end', async () => {
    const { images, image } = setup();
    images.registry.set('a:1', { name: 'a:1', platforms: [], summary: summaryOf('a:1', 7, 2) });
    let endPull!: () => void;
    images.gates.set('pull-end', new Promise<void>((r) => (endPull = r)));
    image.form.edit('a:1');
    const work = image.pull()!;
    await vi.waitFor(() => expect(image.summary?.partial).toBe(true));
    expect(image.exportTarget, 'nothing to export yet').toBeNull();
    // The first layer was stored by the pull after the summary was read: marked so.
    expect(image.summary!.layers.map((l) => l.stored)).toEqual([true, false]);
    // The second one opened meanwhile: fetched, it is marked too, and the summary stays (no
    // stored image to read back yet); its progress joins the pull's rows.
    await image.fetchLayer(image.summary!.layers[1]!.descriptor);
    expect(image.summary?.partial).toBe(true);
    expect(image.summary!.layers.map((l) => l.stored)).toEqual([true, true]);
    await vi.waitFor(() => expect(image.progress.rows.map((r) => r.role)).toContain('layer'));
    endPull();
    await work;
    expect(image.summary?.partial).toBeUndefined();
    expect(image.exportTarget).toEqual({
      name: 'a:1',
      manifestDigest: image.summary!.manifest.digest,
    });
  });

  test('a pull that fails after the config keeps the partial summary, said to be incomplete', async () => {
    const { images, image, activity } = setup();
    images.registry.set('a:1', { name: 'a:1', platforms: [], summary: summaryOf('a:1', 7, 1) });
    images.gates.set('pull-fails', Promise.resolve());
    image.form.edit('a:1');
    await image.pull();
    expect(activity.error).toBe('layer: 500');
    expect(image.summary?.partial).toBe(true);
    expect(image.exportTarget).toBeNull();
  });

  test('a resolve asks for the extras with the digest the registry gave', async () => {
    const { images, image } = setup();
    images.registry.set('a:1', { name: 'a:1', platforms: [], summary: summaryOf('a:1', 8) });
    let endSummary!: () => void;
    images.gates.set('summary', new Promise<void>((r) => (endSummary = r)));
    const work = image.show('a:1');
    await vi.waitFor(() => expect(images.calls).toContain('referrers'));
    expect(images.calls, 'asked for before the stored summary is read').toEqual([
      'listTags', // the tags need only the repository: beside the resolve
      'resolve',
      'referrers',
      'summary',
    ]);
    endSummary();
    await work;
  });

  test('a later action owns the page: the earlier pull does not show its image', async () => {
    const { images, image } = setup();
    images.registry.set('a:1', { name: 'a:1', platforms: [], summary: summaryOf('a:1', 5) });
    images.registry.set('b:1', { name: 'b:1', platforms: [], summary: summaryOf('b:1', 6) });
    image.form.edit('a:1');
    const first = image.pull();
    image.form.edit('b:1');
    const second = image.pull();
    await Promise.all([first, second]);
    expect(image.summary?.name).toBe('b:1');
    expect(image.shown?.image).toBe('b:1');
  });
});

describe('ImageActions', () => {
  function setup() {
    const images = new FakeImages();
    const activity = new Activity();
    const deleted: string[] = [];
    const saved: string[] = [];
    const actions = new ImageActions({
      bridge: images.bridge,
      activity,
      save: (_blob, name) => saved.push(name),
      onDeleted: (name) => deleted.push(name),
    });
    return { images, activity, deleted, saved, actions };
  }

  test('delete says what it freed and tells the image', async () => {
    const { images, activity, deleted, actions } = setup();
    images.stored.set('x', summaryOf('x', 1));
    await actions.deleteImage('x');
    expect(deleted).toEqual(['x']);
    expect(activity.notice).toBe(`Deleted x: 3 blobs removed, ${formatBytes(2048)} freed.`);
    expect(activity.phase).toBe('idle');
  });

  test('verify names each damaged blob', async () => {
    const { activity, actions } = setup();
    await actions.verify('gone');
    expect(activity.error).toBe(
      "gone is damaged in this browser's storage: sha256:x (m): missing. Delete the image and pull it again.",
    );
  });

  test('export hands the archive over; import reports what it stored', async () => {
    const { images, activity, saved, actions } = setup();
    await actions.exportImage({ name: 'x', all: true });
    expect([saved, activity.notice]).toEqual([['x.tar'], 'Saved x.tar.']);
    images.registry.set('y', { name: 'y', platforms: [], summary: summaryOf('y', 2) });
    const r = await actions.importArchive(new File(['t'], 'y.tar'));
    expect(r).toEqual({
      names: ['y'],
      notice: `Imported y from y.tar: 4 blobs stored, ${formatBytes(4096)}.`,
    });
    expect(actions.importProgress).toBeNull();
  });
});

describe('library: what each stored image offers', () => {
  const d = (n: number) => `sha256:${String(n).repeat(64)}`;
  const image = (
    manifests: { n: number; platform?: typeof amd64; pulledAt: number }[],
    complete = false,
  ): LibraryImage => ({
    name: 'x:1',
    target: { digest: d(9), mediaType: 'index', size: 1 },
    manifests: manifests.map((m) => ({
      digest: d(m.n),
      pulledAt: m.pulledAt,
      ...(m.platform ? { platform: m.platform } : {}),
    })),
    complete,
    size: 1,
    shared: 0,
    pulledAt: 1,
  });
  const cases: [string, LibraryImage, string[], string, string][] = [
    [
      'a complete index: one archive, all platforms',
      image(
        [
          { n: 1, platform: amd64, pulledAt: 1 },
          { n: 2, platform: arm64, pulledAt: 2 },
        ],
        true,
      ),
      ['Export'],
      'all',
      'all',
    ],
    [
      'two platforms of many: one archive each, the last pulled opens',
      image([
        { n: 1, platform: amd64, pulledAt: 5 },
        { n: 2, platform: arm64, pulledAt: 2 },
      ]),
      ['Export linux/amd64', 'Export linux/arm64/v8'],
      'single',
      'linux/amd64',
    ],
    ['one manifest without a platform', image([{ n: 3, pulledAt: 1 }]), ['Export'], 'single', ''],
  ];
  for (const [name, i, labels, kind, open] of cases) {
    test(name, () => {
      const exports = exportsOf(i);
      expect(
        exports.map((e) => e.label),
        'exportsOf labels',
      ).toEqual(labels);
      expect(
        exports.every((e) => (kind === 'all') === !!e.target.all),
        'whole index',
      ).toBe(true);
      expect(latestPlatform(i), 'latestPlatform').toBe(open);
    });
  }
  test('platformsOf lists the pulled platforms', () => {
    expect(
      platformsOf(
        image([
          { n: 1, platform: amd64, pulledAt: 1 },
          { n: 2, pulledAt: 1 },
        ]),
      ),
    ).toEqual(['linux/amd64']);
  });
  test('platformsOf and exportsOf show a spoofed platform with its invisible characters escaped', () => {
    const spoofed = { os: 'linux', architecture: 'amd\u202E46', variant: 'v\n1' };
    const i = image([
      { n: 1, platform: spoofed, pulledAt: 1 },
      { n: 2, platform: amd64, pulledAt: 1 },
    ]);
    expect(platformsOf(i)).toEqual(['linux/amd\\u202E46/v\\n1', 'linux/amd64']);
    expect(exportsOf(i).map((e) => e.label)).toContain('Export linux/amd\\u202E46/v\\n1');
  });
});

describe('tree rows', () => {
  const tree = buildTree(
    ['etc', 'etc/passwd', 'etc/hosts', 'bin', 'bin/sh'].map((path) => ({
      path,
      entry: entry(path, path.includes('/') ? 'file' : 'dir'),
      layer: 0,
    })),
  );
  sortTree(tree, 'name');
  const cases: [string, string[], string[]][] = [
    ['all closed: the top level', [], ['bin', 'etc']],
    ['one open: its children follow it', ['etc'], ['bin', 'etc', 'etc/hosts', 'etc/passwd']],
    ['every directory', [...allDirs(tree)], ['bin', 'bin/sh', 'etc', 'etc/hosts', 'etc/passwd']],
  ];
  for (const [name, open, want] of cases) {
    test(name, () => {
      const rows = flattenRows(tree, new Set(open));
      expect(
        rows.map((r) => r.path),
        `flattenRows(${open})`,
      ).toEqual(want);
    });
  }
  test('aria positions count siblings; a window answers by index and path', () => {
    const rows = flattenRows(tree, new Set(['etc']));
    const w = windowOf(() => rows);
    expect(rows.map((r) => `${r.posInSet}/${r.setSize}@${r.depth}`)).toEqual([
      '1/2@0',
      '2/2@0',
      '1/2@1',
      '2/2@1',
    ]);
    expect([w.count, w.indexOf('etc/passwd'), w.at(1)?.name]).toEqual([4, 3, 'etc']);
    expect(w.slice(2, 10).map((r) => r.name)).toEqual(['hosts', 'passwd']);
    expect(findNode(tree, 'etc/hosts')?.entry?.type).toBe('file');
    expect(findNode(tree, 'etc/nope')).toBeUndefined();
  });
});
