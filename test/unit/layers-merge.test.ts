import { describe, expect, test } from 'vitest';
import {
  buildTree,
  flattenVisible,
  formatMode,
  globMatcher,
  layerChanges,
  mergeLayers,
  sortTree,
  wastedSpace,
  whiteoutTarget,
  type EntryType,
  type IndexEntry,
  type TreeNode,
} from '../../src/lib/layers/merge.ts';

let offset = 0;
const entry = (path: string, type: EntryType, size: number, extra: Partial<IndexEntry> = {}) => ({
  path,
  type,
  size,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  offset: (offset += 512),
  ...extra,
});
const f = (path: string, size = 0, extra: Partial<IndexEntry> = {}) =>
  entry(path, 'file', size, extra);
const d = (path: string, extra: Partial<IndexEntry> = {}) => entry(path, 'dir', 0, extra);

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
});

describe('wastedSpace', () => {
  test('three layers, checked by hand', () => {
    const layers = [
      [
        d('etc'),
        d('etc/nginx'),
        f('etc/nginx/nginx.conf', 2000),
        f('etc/nginx/public', 3000),
        f('big', 100),
      ],
      [d('etc'), d('etc/nginx'), f('etc/nginx/nginx.conf', 5000), f('etc/athing', 10000)],
      [d('etc'), f('etc/.wh.nginx'), f('.wh.big')],
    ];
    // Occurrences (leaves, plus whiteouts sized as dive sizes them):
    //   etc/nginx/nginx.conf 2000 + 5000   min 2000
    //   etc/nginx/public     3000          min 3000
    //   big                  100 + 0       min 0     (deleted file: a 0-byte whiteout)
    //   etc/athing           10000         min 10000
    //   etc/nginx            8000          min 8000  (whiteout of a dir: 5000 + 3000 below it)
    // efficiency = (2000 + 3000 + 0 + 10000 + 8000) / (7000 + 3000 + 100 + 10000 + 8000)
    const got = wastedSpace(layers);
    expect(got.efficiency).toBeCloseTo(23000 / 28100, 12);
    expect(got.wastedBytes).toBe(5100);
    expect(got.totalBytes).toBe(2000 + 3000 + 100 + 5000 + 10000);
    expect(got.files).toEqual([
      { path: 'etc/nginx/nginx.conf', count: 2, wasted: 5000, total: 7000 },
      { path: 'big', count: 2, wasted: 100, total: 100 },
    ]);
  });

  test('an opaque directory counts as the whiteouts it stands for', () => {
    const layers = [[d('cache'), f('cache/a', 40), f('cache/b', 60)], [f('cache/.wh..wh..opq')]];
    expect(wastedSpace(layers)).toEqual({
      files: [
        { path: 'cache/b', count: 2, wasted: 60, total: 60 },
        { path: 'cache/a', count: 2, wasted: 40, total: 40 },
      ],
      wastedBytes: 100,
      efficiency: 0,
      totalBytes: 100,
    });
  });

  test('a dangling whiteout does not stop the analysis of its layer (dive#715)', () => {
    const layers = [[f('data.bin', 4096)], [f('.wh.never-existed'), f('data.bin', 4096)]];
    const got = wastedSpace(layers);
    expect(got.efficiency).toBe(0.5);
    expect(got.files).toEqual([{ path: 'data.bin', count: 2, wasted: 4096, total: 8192 }]);
  });

  test('an image without repeated bytes scores 1', () => {
    expect(wastedSpace([[f('nothing', 0)], [], [d('empty')], [d('empty')]])).toEqual({
      files: [],
      wastedBytes: 0,
      efficiency: 1,
      totalBytes: 0,
    });
    expect(wastedSpace([[f('a', 1)], [f('b', 2)]]).efficiency).toBe(1);
  });
});

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
  });
});

describe('globMatcher', () => {
  const cases: [string, string, boolean][] = [
    ['**/*.so', 'lib/x.so', true],
    ['**/*.so', 'x.so', true],
    ['**/*.so', 'usr/lib/a/b.so', true],
    ['**/*.so', 'usr/lib/x.so.6', false],
    ['*.so', 'usr/lib/libc.so', true],
    ['*.so', 'libc.so', true],
    ['*.so', 'libc.sox', false],
    ['*.so', 'lib.so/x', false],
    ['/etc/*', 'etc/passwd', true],
    ['/etc/*', '/etc/passwd', true],
    ['/etc/*', 'etc/ssl/certs', false],
    ['/etc/*', 'usr/etc/passwd', false],
    ['usr/**/bin', 'usr/bin', true],
    ['usr/**/bin', 'usr/local/bin', true],
    ['usr/**/bin', 'usr/a/b/bin', true],
    ['usr/**/bin', 'opt/usr/bin', false],
    ['usr/**/bin', 'usr/binx', false],
    ['usr/**', 'usr/a/b', true],
    ['usr/**', 'usr', false],
    ['**', 'any/thing\n', true],
    ['a?c', 'x/abc', true],
    ['a?c', 'a/c', false],
    ['lib[0-9].so', 'lib7.so', true],
    ['lib[0-9].so', 'libx.so', false],
    ['[!a]bc', 'xbc', true],
    ['[!a]bc', 'abc', false],
    ['[]]x', ']x', true],
    ['f[.]txt', 'f.txt', true],
    ['f[.]txt', 'fxtxt', false],
    ['*(1).txt', 'a+b(1).txt', true],
    ['*(1).txt', 'a+b1.txt', false],
    ['$*^', '$x^', true],
    ['*.TXT', 'a.txt', false],
    ['*\n*', 'ctl\nname', true],
    // No wildcards: a case-insensitive substring.
    ['[', 'a[b', true],
    ['[', 'ab', false],
    ['lib[', 'usr/lib[x', true],
    ['PASSWD', 'etc/passwd', true],
    ['c/pa', 'etc/passwd', true],
    ['a\\*b', 'xa*by', true],
    ['a\\*b', 'axb', false],
    ['/etc', 'etc/passwd', true],
    ['/etc', 'usr/etc', false],
    ['', 'anything', true],
    // A range the regex engine rejects is taken literally instead of throwing.
    ['*[z-a]', 'x[z-a]', true],
    ['*[z-a]', 'xb', false],
  ];
  test.each(cases)('globMatcher(%j)(%j) = %s', (pattern, path, want) => {
    expect(globMatcher(pattern)(path), `globMatcher(${pattern})(${path})`).toBe(want);
  });
});

describe('formatMode', () => {
  const cases: [EntryType, number, string][] = [
    ['file', 0o755, '-rwxr-xr-x'],
    ['file', 0o644, '-rw-r--r--'],
    ['file', 0o100644, '-rw-r--r--'],
    ['dir', 0o1777, 'drwxrwxrwt'],
    ['dir', 0o1776, 'drwxrwxrwT'],
    ['symlink', 0o777, 'lrwxrwxrwx'],
    ['file', 0o4755, '-rwsr-xr-x'],
    ['file', 0o4644, '-rwSr--r--'],
    ['file', 0o2755, '-rwxr-sr-x'],
    ['file', 0o2745, '-rwxr-Sr-x'],
    ['hardlink', 0o644, '-rw-r--r--'],
    ['char', 0o620, 'crw--w----'],
    ['block', 0o660, 'brw-rw----'],
    ['fifo', 0o600, 'prw-------'],
    ['other', 0, '?---------'],
  ];
  test.each(cases)('formatMode(%s, %o) = %s', (type, mode, want) => {
    expect(formatMode(type, mode), `formatMode(${type}, ${mode.toString(8)})`).toBe(want);
  });
});
