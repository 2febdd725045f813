import { describe, expect, test } from 'vitest';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { layerChanges, mergeLayers, whiteoutTarget } from '../../src/lib/layers/filesystem.ts';
import { d, entry, f } from './layers-entry-helpers.ts';

/** The merged filesystem as sorted "path" strings, directories with a trailing "/". */
function merged(layers: IndexEntry[][]): string[] {
  return mergeLayers(layers)
    .map((m) => (m.entry.type === 'dir' ? `${m.path}/` : m.path))
    .sort();
}

/** What layers[i] changes, as sorted "kind path" strings; deletions also give their bytes. */
function changes(layers: IndexEntry[][], i: number): string[] {
  const layer = layerChanges(layers)[i]!;
  return layer
    .map((c) => `${c.change} ${c.path}${c.change === 'deleted' ? ` ${c.size}` : ''}`)
    .sort();
}

describe('whiteoutTarget', () => {
  const cases: [string, ReturnType<typeof whiteoutTarget>][] = [
    ['etc/.wh.my-app-config', { kind: 'whiteout', target: 'etc/my-app-config' }],
    ['.wh.top', { kind: 'whiteout', target: 'top' }],
    ['/etc//.wh.x', { kind: 'whiteout', target: 'etc/x' }],
    ['a/.wh..wh..opq', { kind: 'opaque', dir: 'a' }],
    ['.wh..wh..opq', { kind: 'opaque', dir: '' }],
    ['.wh..wh.plnk', { kind: 'hidden' }],
    ['.wh..wh.plnk/1234.5678', { kind: 'hidden' }],
    ['.wh..wh.aufs', { kind: 'hidden' }],
    ['a/.wh.', { kind: 'hidden' }],
    ['a/.wh..', { kind: 'hidden' }],
    // ".." is a name like any other.
    ['a/.wh...', { kind: 'whiteout', target: 'a/..' }],
    ['a/x.wh.y', undefined],
    ['.wh.dir/file', undefined],
    ['etc/passwd', undefined],
  ];
  test.each(cases)('whiteoutTarget(%j)', (path, want) => {
    expect(whiteoutTarget(path), `whiteoutTarget(${path})`).toEqual(want);
  });
});

describe('OCI image-spec examples (layer.md)', () => {
  const base = [
    d('etc'),
    f('etc/my-app-config', 10),
    d('bin'),
    f('bin/my-app-binary', 100),
    f('bin/my-app-tools', 20),
  ];

  test('the changeset example: its tar gives exactly the changes the spec lists', () => {
    const layers = [
      base,
      [
        d('etc/my-app.d'),
        f('etc/my-app.d/default.cfg', 5),
        f('bin/my-app-tools', 25),
        f('etc/.wh.my-app-config'),
      ],
    ];
    expect(changes(layers, 1)).toEqual([
      'added etc/my-app.d',
      'added etc/my-app.d/default.cfg',
      'deleted etc/my-app-config 10',
      'modified bin/my-app-tools',
    ]);
    expect(merged(layers)).toEqual([
      'bin/',
      'bin/my-app-binary',
      'bin/my-app-tools',
      'etc/',
      'etc/my-app.d/',
      'etc/my-app.d/default.cfg',
    ]);
  });

  test('opaque whiteout applies before the layer recreates a/b, wherever the marker is', () => {
    const lower = [d('a'), d('a/b'), d('a/b/c'), f('a/b/c/bar', 3)];
    const upper = [d('a'), d('a/b'), d('a/b/c'), f('a/b/c/foo', 4)];
    for (const layer of [
      [upper[0]!, f('a/.wh..wh..opq'), ...upper.slice(1)],
      [...upper, f('a/.wh..wh..opq')],
    ]) {
      const layers = [lower, layer];
      expect(merged(layers)).toEqual(['a/', 'a/b/', 'a/b/c/', 'a/b/c/foo']);
      // a keeps its attributes: not reported. a/b was hidden and recreated: modified.
      expect(changes(layers, 1)).toEqual([
        'added a/b/c/foo',
        'deleted a/b/c/bar 3',
        'modified a/b',
        'modified a/b/c',
      ]);
    }
  });

  test('an opaque directory equals explicit whiteouts of each child', () => {
    const lower = [...base, d('bin/tools'), f('bin/tools/my-app-tool-one', 7)];
    const opaque = [lower, [d('bin'), f('bin/.wh..wh..opq')]];
    const explicit = [
      lower,
      [d('bin'), f('bin/.wh.my-app-binary'), f('bin/.wh.my-app-tools'), f('bin/.wh.tools')],
    ];
    expect(merged(opaque)).toEqual(['bin/', 'etc/', 'etc/my-app-config']);
    expect(merged(explicit)).toEqual(merged(opaque));
    const want = [
      'deleted bin/my-app-binary 100',
      'deleted bin/my-app-tools 20',
      'deleted bin/tools 7',
    ];
    expect(changes(opaque, 1)).toEqual(want);
    expect(changes(explicit, 1)).toEqual(want);
  });

  test('a whiteout hides only lower layers, not an entry of its own layer', () => {
    const layers = [[f('x', 1)], [f('x', 2), f('.wh.x'), f('.wh.y'), f('y', 3)]];
    expect(mergeLayers(layers).map((m) => [m.path, m.entry.size, m.layer])).toEqual([
      ['x', 2, 1],
      ['y', 3, 1],
    ]);
    expect(changes(layers, 1)).toEqual(['added y', 'modified x']);
  });
});

describe('mergeLayers and layerChanges', () => {
  test('an opaque dir with a new file in the same layer keeps only the new file', () => {
    const layers = [
      [d('app'), f('app/a', 1), f('app/b', 2)],
      [f('app/.wh..wh..opq'), f('app/c', 3)],
    ];
    expect(merged(layers)).toEqual(['app/', 'app/c']);
    expect(changes(layers, 1)).toEqual(['added app/c', 'deleted app/a 1', 'deleted app/b 2']);
  });

  test('a whiteout of a directory removes its subtree, reported once with its bytes', () => {
    const layers = [
      [d('d'), f('d/x', 5), d('d/y'), f('d/y/z', 7), f('keep', 1)],
      [f('.wh.d')],
      [f('d/x', 9)],
    ];
    expect(merged(layers.slice(0, 2))).toEqual(['keep']);
    expect(changes(layers, 1)).toEqual(['deleted d 12']);
    // Recreated later: a new path, with an implicit parent, not the old directory.
    expect(merged(layers)).toEqual(['d/', 'd/x', 'keep']);
    expect(changes(layers, 2)).toEqual(['added d', 'added d/x']);
    expect(mergeLayers(layers).find((m) => m.path === 'd')?.implicit).toBe(true);
  });

  test('a whiteout of a path that does not exist is harmless', () => {
    const layers = [[f('a', 1)], [f('.wh.nothing'), f('no/such/.wh.dir'), f('x/.wh..wh..opq')]];
    expect(merged(layers)).toEqual(['a']);
    expect(changes(layers, 1)).toEqual([]);
  });

  test('an opaque marker at the root hides every lower path', () => {
    const layers = [
      [f('a', 1), d('b'), f('b/c', 2)],
      [f('.wh..wh..opq'), f('c', 3)],
    ];
    expect(merged(layers)).toEqual(['c']);
    expect(changes(layers, 1)).toEqual(['added c', 'deleted a 1', 'deleted b 2']);
  });

  test('a file replaced by a directory, and a directory by a file', () => {
    const layers = [
      [f('a', 10), d('d'), f('d/x', 5), d('d/y'), f('d/y/z', 7)],
      [d('a'), f('a/new', 1), f('d', 3)],
    ];
    expect(merged(layers)).toEqual(['a/', 'a/new', 'd']);
    expect(changes(layers, 1)).toEqual([
      'added a/new',
      'deleted d/x 5',
      'deleted d/y 7',
      'modified a',
      'modified d',
    ]);
    // A path below a file makes the file an implicit directory; a symlink becomes a file.
    const implied = [[f('a', 10), entry('l', 'symlink', 0, { linkname: 'a' })], [f('a/b', 1)]];
    expect(merged(implied)).toEqual(['a/', 'a/b', 'l']);
    expect(changes(implied, 1)).toEqual(['added a/b', 'modified a']);
  });

  test('implicit parent directories are synthesised and marked', () => {
    const layers = [[f('a/b/c', 4)], [d('a', { mode: 0o700 })]];
    const first = mergeLayers(layers.slice(0, 1));
    expect(first.map((m) => [m.path, m.entry.type, m.implicit ?? false])).toEqual([
      ['a', 'dir', true],
      ['a/b', 'dir', true],
      ['a/b/c', 'file', false],
    ]);
    expect(first[0]!.entry).toEqual({
      path: 'a',
      type: 'dir',
      size: 0,
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: 0,
      offset: -1,
    });
    expect(changes(layers, 0)).toEqual(['added a', 'added a/b', 'added a/b/c']);
    expect(
      layerChanges(layers)[0]!
        .filter((c) => c.implicit)
        .map((c) => c.path),
    ).toEqual(['a', 'a/b']);
    const after = mergeLayers(layers);
    expect(after[0]).toMatchObject({ path: 'a', layer: 1 });
    expect(after[0]!.implicit).toBeUndefined();
    expect(after.map((m) => m.path)).toEqual(['a', 'a/b', 'a/b/c']);
    expect(changes(layers, 1)).toEqual(['modified a']);
  });

  test('a re-declared directory is modified only when owner or permissions change', () => {
    const layers = [
      [d('etc'), f('etc/a', 1), d('var')],
      [d('etc', { mtime: 99 }), f('etc/b', 2), d('var', { uid: 1000 })],
    ];
    expect(changes(layers, 1)).toEqual(['added etc/b', 'modified var']);
  });

  test('within one layer a later duplicate wins, as tar extraction does', () => {
    const layers = [[f('x', 1), f('x', 2), d('a'), f('a/b', 3), f('a', 4), f('/abs', 5)]];
    expect(mergeLayers(layers).map((m) => [m.path, m.entry.size])).toEqual([
      ['x', 2],
      ['a', 4],
      ['abs', 5],
    ]);
    expect(changes(layers, 0)).toEqual(['added a', 'added abs', 'added x']);
    const again = [[f('x', 1)], [f('x', 2), f('x', 3)]];
    expect(layerChanges(again)[1]).toMatchObject([{ path: 'x', change: 'modified', size: 3 }]);
  });

  test('hostile names are data: control characters, "..", absolute and doubled slashes', () => {
    const layers = [
      [f('ctl\u0001\n\u001b[31m', 1), f('../x', 2), f('/etc/x', 3), f('a//b', 4), f('./c', 5)],
      [f('etc/x', 6), f('../.wh.x')],
    ];
    expect(merged(layers)).toEqual([
      '../',
      'a/',
      'a/b',
      'c',
      'ctl\u0001\n\u001b[31m',
      'etc/',
      'etc/x',
    ]);
    expect(mergeLayers(layers).find((m) => m.path === 'etc/x')?.entry.size).toBe(6);
    expect(changes(layers, 1)).toEqual(['deleted ../x 2', 'modified etc/x']);
  });

  test('a path deleted and recreated in one layer reports what it lost below', () => {
    // rm -rf /srv && mkdir -p /srv/new as one layer, written as a whiteout plus entries.
    const layers = [
      [d('srv'), d('srv/old'), f('srv/old/f', 8), f('srv/keep', 1)],
      [f('.wh.srv'), d('srv'), d('srv/old'), f('srv/new', 2)],
    ];
    expect(merged(layers)).toEqual(['srv/', 'srv/new', 'srv/old/']);
    expect(changes(layers, 1)).toEqual([
      'added srv/new',
      'deleted srv/keep 1',
      'deleted srv/old/f 8',
      'modified srv',
      'modified srv/old',
    ]);
  });

  test('whiteouts named like prototype keys, "." and newlines, in a 5 KB list (issue 13)', () => {
    // The kind of list that did not merge in 5 s: whiteouts of "__proto__", an opaque marker
    // that is a character device, ".wh...", and prototype keys, "." and "\n" as components.
    const lower = [d('__proto__'), f('__proto__/x', 5), d('constructor'), f('constructor/y', 7)];
    lower.push(d('dir'), f('dir/a', 1), f('dir/\n', 2), f('./dir/./b', 3), f('..', 4));
    const upper = [
      f('.wh.__proto__/'),
      entry('dir/.wh..wh..opq', 'char', 0),
      f('.wh...'),
      f('dir/c', 4),
      f('constructor/./z', 9),
      f('./__proto__/./constructor/.wh.toString', 0),
    ];
    const names = ['__proto__', 'constructor', '.', '\n', 'prototype', 'toString'];
    for (let k = 0; upper.reduce((n, e) => n + e.path.length, 0) < 5000; k++) {
      upper.push(f(`pad/${names[k % 6]}/./${names[(k >> 3) % 6]}/${k}`, 1));
    }
    const out = mergeLayers([lower, upper]);
    const paths = merged([lower, upper]);
    // ".wh..wh..opq" is opaque whatever its type, as containerd reads it: dir keeps only "c".
    expect(paths.filter((p) => p.startsWith('dir/') && p !== 'dir/')).toEqual(['dir/c']);
    expect(paths).not.toContain('__proto__/');
    expect(paths).not.toContain('__proto__/x');
    // ".wh..." deletes the entry named ".." (a name, never resolved).
    expect(paths).not.toContain('..');
    expect(paths).toEqual(expect.arrayContaining(['constructor/y', 'constructor/z', 'dir/']));
    const files = new Set(out.filter((m) => m.entry.type === 'file').map((m) => m.path));
    for (const e of upper.filter((e) => e.path.startsWith('pad/'))) {
      expect(
        files.has(e.path.replaceAll('/./', '/').replaceAll('/./', '/')),
        JSON.stringify(e.path),
      ).toBe(true);
    }
    expect(Object.prototype).not.toHaveProperty('x');
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(changes([lower, upper], 1)).toEqual(
      expect.arrayContaining(['deleted .. 4', 'deleted __proto__ 5', 'deleted dir/a 1']),
    );
  });
});
