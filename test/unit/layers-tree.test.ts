import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { layerChanges, mergeLayers } from '../../src/lib/layers/filesystem.ts';
import { MAX_DEPTH } from '../../src/lib/layers/paths.ts';
import {
  buildTree,
  flattenVisible,
  sortTree,
  type TreeItem,
  type TreeNode,
} from './reference/tree.ts';
import { d, f } from './layers-entry-helpers.ts';

function names(nodes: TreeNode[] | undefined): string[] {
  return (nodes ?? []).map((n) => n.name);
}

describe('buildTree, sortTree and flattenVisible', () => {
  const layers = [
    [d('usr'), d('usr/lib'), f('usr/lib/libc.so', 700), f('usr/lib/b.so', 50), f('a', 10)],
    [f('usr/bin/tool', 300), f('usr/lib/.wh.b.so'), f('Z', 1)],
  ];

  test('merged tree: directory sizes sum the files below, implicit parents are marked', () => {
    const root = buildTree(mergeLayers(layers));
    expect(root.size).toBe(700 + 300 + 10 + 1);
    sortTree(root, 'name');
    expect(names(root.children)).toEqual(['Z', 'a', 'usr']);
    const usr = root.children![2]!;
    expect(usr).toMatchObject({ path: 'usr', size: 1000, layer: 0 });
    expect(names(usr.children)).toEqual(['bin', 'lib']);
    expect(usr.children![0]).toMatchObject({
      path: 'usr/bin',
      implicit: true,
      layer: 1,
      size: 300,
    });
    expect(usr.children![1]!.implicit).toBeUndefined();
    sortTree(root, 'size');
    expect(names(root.children)).toEqual(['usr', 'a', 'Z']);
    expect(names(usr.children)).toEqual(['lib', 'bin']);
  });

  test("a layer's changes: deletions keep their size but are not counted in their parent", () => {
    const root = buildTree(layerChanges(layers)[1]!);
    sortTree(root, 'name');
    expect(names(root.children)).toEqual(['Z', 'usr']);
    const usr = root.children![1]!;
    // usr and usr/lib are unchanged context: no item, so implicit.
    expect(usr).toMatchObject({ implicit: true, size: 300 });
    expect(usr.entry).toBeUndefined();
    const lib = usr.children![1]!;
    expect(lib).toMatchObject({ path: 'usr/lib', implicit: true, size: 0 });
    expect(lib.children).toEqual([
      { name: 'b.so', path: 'usr/lib/b.so', change: 'deleted', layer: 1, size: 50 },
    ]);
    expect(usr.children![0]).toMatchObject({ change: 'added', implicit: true, size: 300 });
  });

  test('flattenVisible shows the children of expanded directories only', () => {
    const root = buildTree(mergeLayers(layers));
    sortTree(root, 'name');
    const rows = (expanded: string[]) =>
      flattenVisible(root, new Set(expanded)).map((r) => `${r.depth}:${r.node.path}`);
    expect(rows([])).toEqual(['0:Z', '0:a', '0:usr']);
    expect(rows(['usr', 'usr/lib'])).toEqual([
      '0:Z',
      '0:a',
      '0:usr',
      '1:usr/bin',
      '1:usr/lib',
      '2:usr/lib/libc.so',
    ]);
    // An expanded directory under a collapsed one stays hidden; a file is never expanded.
    expect(rows(['usr/lib', 'a'])).toEqual(['0:Z', '0:a', '0:usr']);
  });

  test('items given twice, with and without a leading slash: the later one wins', () => {
    const later = f('/x/y', 2);
    const root = buildTree([
      { path: 'x/y', entry: f('x/y', 1) },
      { path: '/x/y', entry: later, layer: 3 },
    ]);
    expect(root.children).toEqual([
      {
        name: 'x',
        path: 'x',
        size: 2,
        implicit: true,
        children: [{ name: 'y', path: 'x/y', size: 2, entry: later, layer: 3 }],
      },
    ]);
  });

  test('200,000 entries: merge, build, sort and flatten', () => {
    const files = 200_000;
    const layer0: IndexEntry[] = [];
    const layer1: IndexEntry[] = [];
    let bytes = 0;
    for (let i = 0; i < files; i++) {
      const size = (i * 7919) % 10_000;
      const e = f(`d${i % 400}/s${i % 23}/file-${i}`, size);
      // A quarter of the files are overwritten by the second layer, with the same size.
      (i % 4 === 0 ? layer1 : layer0).push(e);
      bytes += size;
    }
    layer1.push(...layer0.filter((_, k) => k % 3 === 0).map((e) => ({ ...e })));

    const t0 = performance.now();
    const m = mergeLayers([layer0, layer1]);
    const t1 = performance.now();
    const root = buildTree(m);
    const t2 = performance.now();
    sortTree(root, 'size');
    const t3 = performance.now();
    const dirs = new Set(m.filter((e) => e.entry.type === 'dir').map((e) => e.path));
    const rows = flattenVisible(root, dirs);
    const t4 = performance.now();
    console.log(
      `200k entries: merge ${(t1 - t0).toFixed(0)} ms, build ${(t2 - t1).toFixed(0)} ms, ` +
        `sort ${(t3 - t2).toFixed(0)} ms, flatten ${(t4 - t3).toFixed(0)} ms`,
    );

    expect(m.length).toBe(files + 400 + 400 * 23);
    expect(root.size).toBe(bytes);
    expect(rows.length).toBe(m.length);
    for (let k = 1; k < root.children!.length; k++) {
      expect(root.children![k - 1]!.size >= root.children![k]!.size).toBe(true);
    }
    const top = root.children![0]!;
    expect(top.size).toBe(top.children!.reduce((s, c) => s + c.size, 0));
  }, 60_000);
});

describe('directory sizes', () => {
  // Read without the module's helper, so that the test means the same before and after it.
  const exact = (n: TreeNode) => (n as { exactSize?: bigint }).exactSize ?? BigInt(n.size);
  const MAX = Number.MAX_SAFE_INTEGER;

  /** Every directory's exact size is the sum of its children that are not deletions. */
  function checkSums(root: TreeNode) {
    const stack = [root];
    for (let n = stack.pop(); n; n = stack.pop()) {
      if (!n.children || n.change === 'deleted') continue;
      const sum = n.children
        .filter((c) => c.change !== 'deleted')
        .reduce((s, c) => s + exact(c), 0n);
      expect(exact(n), `size of ${JSON.stringify(n.path)}`).toBe(sum);
      expect(n.size, `${JSON.stringify(n.path)} shows the nearest double`).toBe(Number(sum));
      stack.push(...n.children);
    }
  }

  test('sums past 2^53 are exact', () => {
    const files = [f('d/a', MAX), f('d/b', MAX), f('d/c', 1), f('e', 2 ** 52)];
    const root = buildTree(files.map((entry) => ({ path: entry.path, entry })));
    checkSums(root);
    expect(exact(root)).toBe(2n * BigInt(MAX) + 1n + 2n ** 52n);
    expect(exact(root.children![0]!)).toBe(2n * BigInt(MAX) + 1n);
  });

  test('sizes that are not byte counts count as 0 in the sums', () => {
    const files = [f('d/a', NaN), f('d/b', -5), f('d/c', 1.5), f('d/e', Infinity)];
    const root = buildTree(files.map((entry) => ({ path: entry.path, entry })));
    expect(root.size).toBe(0);
    expect(root.children![0]!.size).toBe(0);
  });

  test('a parent is the sum of its children, for random trees with huge sizes', () => {
    const size = fc.oneof(fc.nat(1000), fc.constant(MAX), fc.integer({ min: 2 ** 52, max: MAX }));
    const item = fc
      .record({
        parts: fc.array(fc.constantFrom('a', 'b', 'c', '__proto__'), {
          minLength: 1,
          maxLength: 4,
        }),
        size,
        dir: fc.boolean(),
        deleted: fc.boolean(),
      })
      .map(({ parts, size, dir, deleted }): TreeItem => {
        const path = parts.join('/');
        if (deleted) return { path, change: 'deleted', size };
        return { path, entry: dir ? d(path) : f(path, size) };
      });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const root = buildTree(items);
        checkSums(root);
        sortTree(root, 'size');
        checkSums(root);
      }),
      { seed: 13, numRuns: 1000 },
    );
  });
});

describe('deep paths', () => {
  test(`paths deeper than ${MAX_DEPTH} components are left out of the tree and the merge`, () => {
    // Issue 13: about 5 KB of "\n/" components, with whiteouts and prototype keys around them,
    // made every view of the layers take seconds: each level of a path is a node that holds
    // its full path, so a path cost its depth times its length.
    const deep = `${'\n/'.repeat(2400)}__proto__`;
    const layers = [
      [f(deep, 1), f(`${'./\n/'.repeat(MAX_DEPTH - 1)}ok`, 2), d('__proto__')],
      [f('.wh.__proto__'), f(`${deep}/.wh..wh..opq`), f(`constructor/${deep}`, 3)],
    ];
    const merged = mergeLayers(layers);
    expect(merged.map((m) => m.path.split('/').length).every((n) => n <= MAX_DEPTH)).toBe(true);
    expect(merged.some((m) => m.path.endsWith('/ok'))).toBe(true);
    expect(merged.some((m) => m.path === '__proto__')).toBe(false);
    const changes = layerChanges(layers)[1]!;
    expect(changes.map((c) => `${c.change} ${c.path}`)).toEqual(['deleted __proto__']);
    const root = buildTree(layers.flat().map((entry) => ({ path: entry.path, entry })));
    // The raw listing shows its markers; "constructor/…" is too deep to be there at all.
    expect(names(root.children).sort()).toEqual(['\n', '.wh.__proto__', '__proto__']);
    let depth = 0;
    for (let n = root.children![0]; n; n = n.children?.[0]) depth++;
    expect(depth).toBe(MAX_DEPTH);
  });
});
