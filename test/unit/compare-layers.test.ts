// Layers of two images matched by digest (the same blob) and by diffID (the same tar,
// compressed differently), and the base the two share from the bottom.
import { describe, expect, test } from 'vitest';
import { type LayerIds, matchLayers, sharedBase } from '../../src/lib/compare/layers.ts';

/** A layer whose blob is `digest` and whose tar is `diffID` (names stand for digests). */
const L = (digest: string, diffID?: string): LayerIds => ({
  digest: `sha256:${digest}`,
  ...(diffID !== undefined ? { diffID: `sha256:${diffID}` } : {}),
});

/** Matches as `a/b by`, to read a failure at a glance. */
const pairs = (a: LayerIds[], b: LayerIds[]) =>
  matchLayers(a, b).map((m) => `${m.a ?? '-'}/${m.b ?? '-'} ${m.by}`);

describe('matchLayers', () => {
  test('the same blob, the same tar recompressed, and layers of one image only', () => {
    const a = [L('base', 't-base'), L('gz9', 't-tool'), L('app1', 't-app1')];
    const b = [L('base', 't-base'), L('gz1', 't-tool'), L('app2', 't-app2'), L('x', 't-x')];
    expect(pairs(a, b)).toEqual(['0/0 digest', '1/1 diffID', '2/- none', '-/2 none', '-/3 none']);
  });

  test('matches wherever the layer is, not by position', () => {
    const a = [L('one', '1'), L('two', '2'), L('three', '3')];
    const b = [L('three', '3'), L('zwei', '2'), L('one', '1')];
    expect(pairs(a, b)).toEqual(['0/2 digest', '1/1 diffID', '2/0 digest']);
  });

  test('digest first: a blob elsewhere wins over a recompressed copy in place', () => {
    // a's layer 0 is b's layer 1 as a blob, and b's layer 0 as a tar: the blob wins.
    const a = [L('blob', 't')];
    const b = [L('other', 't'), L('blob', 't')];
    expect(pairs(a, b)).toEqual(['0/1 digest', '-/0 none']);
  });

  test('a layer repeated is matched once each time, in order', () => {
    const a = [L('empty', 'e'), L('x', 'x'), L('empty', 'e')];
    const b = [L('empty', 'e'), L('empty', 'e'), L('empty', 'e')];
    expect(pairs(a, b)).toEqual(['0/0 digest', '1/- none', '2/1 digest', '-/2 none']);
  });

  test('a layer matched by digest is not matched again by diffID', () => {
    // b's layer 0 is a's layer 0 as a blob; a's layer 1, the same tar, takes b's layer 1.
    const a = [L('x', 't'), L('y', 't')];
    const b = [L('x', 't'), L('z', 't'), L('w', 't')];
    expect(pairs(a, b)).toEqual(['0/0 digest', '1/1 diffID', '-/2 none']);
  });

  test('a layer without a diffID matches by digest only', () => {
    const a = [L('gz9'), L('same')];
    const b = [L('gz1', 't'), L('same')];
    expect(pairs(a, b)).toEqual(['0/- none', '1/1 digest', '-/0 none']);
  });

  test('no layers', () => {
    expect(matchLayers([], [])).toEqual([]);
    expect(pairs([], [L('a', 'a')])).toEqual(['-/0 none']);
  });

  test('every layer of both appears exactly once', () => {
    const a = [L('a', '1'), L('b', '2'), L('c', '1'), L('d', '4')];
    const b = [L('c', '1'), L('e', '1'), L('f', '9'), L('b', '2'), L('a', '1')];
    const got = matchLayers(a, b);
    expect(got.flatMap((m) => (m.a === undefined ? [] : [m.a])).sort()).toEqual([0, 1, 2, 3]);
    expect(got.flatMap((m) => (m.b === undefined ? [] : [m.b])).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const m of got) {
      if (m.by === 'digest') expect(a[m.a!]!.digest).toBe(b[m.b!]!.digest);
      if (m.by === 'diffID') expect(a[m.a!]!.diffID).toBe(b[m.b!]!.diffID);
    }
  });
});

describe('sharedBase', () => {
  const base = [L('b1', 't1'), L('b2', 't2')];
  const cases: {
    name: string;
    a: LayerIds[];
    b: LayerIds[];
    want: ReturnType<typeof sharedBase>;
  }[] = [
    {
      name: 'b built on a',
      a: base,
      b: [...base, L('app', 'tapp')],
      want: { layers: 2, aIsBaseOfB: true, bIsBaseOfA: false },
    },
    {
      name: 'a built on b',
      a: [...base, L('app', 'tapp')],
      b: base,
      want: { layers: 2, aIsBaseOfB: false, bIsBaseOfA: true },
    },
    {
      name: 'a shared base, then each its own',
      a: [...base, L('x', 'tx')],
      b: [...base, L('y', 'ty')],
      want: { layers: 2, aIsBaseOfB: false, bIsBaseOfA: false },
    },
    {
      name: 'recompressed layers are still the base (by diffID)',
      a: [L('gz9-1', 't1'), L('gz9-2', 't2')],
      b: [L('gz1-1', 't1'), L('gz1-2', 't2'), L('app', 'tapp')],
      want: { layers: 2, aIsBaseOfB: true, bIsBaseOfA: false },
    },
    {
      name: 'the same layers: each is the base of the other',
      a: base,
      b: base,
      want: { layers: 2, aIsBaseOfB: true, bIsBaseOfA: true },
    },
    {
      name: 'the first layers differ',
      a: [L('x', 'tx'), ...base],
      b: base,
      want: { layers: 0, aIsBaseOfB: false, bIsBaseOfA: false },
    },
    {
      name: 'the same layers in another order share only what is in place',
      a: [L('b1', 't1'), L('b2', 't2'), L('b3', 't3')],
      b: [L('b1', 't1'), L('b3', 't3'), L('b2', 't2')],
      want: { layers: 1, aIsBaseOfB: false, bIsBaseOfA: false },
    },
    {
      name: 'without diffIDs the blobs decide',
      a: [L('b1'), L('b2')],
      b: [L('b1', 't1'), L('b2x')],
      want: { layers: 1, aIsBaseOfB: false, bIsBaseOfA: false },
    },
    {
      name: 'an image without layers is the base of none',
      a: [],
      b: base,
      want: { layers: 0, aIsBaseOfB: false, bIsBaseOfA: false },
    },
    {
      name: 'two images without layers are the same',
      a: [],
      b: [],
      want: { layers: 0, aIsBaseOfB: true, bIsBaseOfA: true },
    },
  ];
  test.each(cases)('$name', ({ a, b, want }) => {
    expect(sharedBase(a, b), 'sharedBase(a, b)').toEqual(want);
  });
});
