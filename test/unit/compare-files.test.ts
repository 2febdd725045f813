// The files part of a comparison (lib/compare/files.ts) over real tars: the layers of the
// compare fixtures (test/harness/compare-fixtures.ts) tarred by GNU tar and listed by the real
// lister, then compared, their pending files hashed from the same tars, and the tree's rows,
// filters, sorts and export read back.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareFiles, type FilesComparison, type FilesSide } from '../../src/lib/compare/files.ts';
import { hashFiles } from '../../src/lib/compare/files-hash.ts';
import type { CompareRow, PathDiff } from '../../src/lib/compare/types.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import {
  buildTar,
  COMPARE_EXPECTED,
  COMPARE_LAYERS,
  type OwnedEntry,
} from '../harness/compare-fixtures.ts';

const streamOf = (path: string, start = 0) =>
  Readable.toWeb(createReadStream(path, { start })) as ReadableStream<Uint8Array>;

interface Listed {
  index: ColumnIndex;
  diffID: string;
  tar: string;
}

let work: string;

async function layer(entries: readonly OwnedEntry[]): Promise<Listed> {
  const tar = await buildTar(work, [...entries]);
  const listing = await listLayer(streamOf(tar));
  return { index: listing.files, diffID: listing.diffID, tar };
}

const side = (layers: Listed[]): FilesSide => ({
  layers: layers.map((l) => l.index),
  ids: layers.map((l) => l.diffID),
});

/** Hashes what the comparison asks for from the tars, one pass per layer, into `cache`. */
async function decide(c: FilesComparison, paths?: string[]) {
  let files = 0;
  for (const reads of c.pendingReads(paths)) {
    const tar = (reads.side === 'a' ? a : b)[reads.layer]!.tar;
    const digests = await hashFiles(streamOf(tar), reads.files);
    reads.files.forEach((f, i) => c.digests.set(c.keyOf(reads, f), digests[i]!));
    files += reads.files.length;
  }
  await c.decide();
  return files;
}

/** Every row with every directory open. */
function allRows(c: FilesComparison): CompareRow[] {
  for (let i = 0; i < c.count; i++) {
    const [row] = c.rows(i, i + 1);
    if (row!.dir && !row!.expanded) c.toggle(row!.path, true);
  }
  return c.rows(0, c.count);
}

/** What a row says differs, as the expectations name it; directories only for their own. */
function differing(rows: PathDiff[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) {
    if (r.difference === 'unchanged') continue;
    if (r.difference === 'changed' && r.aspects.length === 0 && (r.a?.type ?? r.b?.type) === 'dir')
      continue;
    out[r.path] = [r.difference, r.aspects.join(','), r.pending ? 'pending' : '']
      .filter(Boolean)
      .join(' ');
  }
  return out;
}

let a: Listed[];
let b: Listed[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-compare-unit-'));
  a = await Promise.all(COMPARE_LAYERS.a.map((l) => layer(l)));
  b = await Promise.all(COMPARE_LAYERS.b.map((l) => layer(l)));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('comparing two merged filesystems', () => {
  test('every kind of difference, the pending ones decided by hashing', async () => {
    const c = await compareFiles(side(a), side(b));
    const expected: Record<string, string> = {};
    for (const [path, e] of Object.entries(COMPARE_EXPECTED.paths)) {
      expected[path] = `${e.difference} ${e.aspects.join(',')}`.trim();
    }
    // Before hashing: same-size files from different layers are pending, never unchanged.
    const before = differing(allRows(c));
    for (const path of COMPARE_EXPECTED.unchangedInOtherLayer) {
      expect(before[path], path).toBe('changed pending');
    }
    for (const path of ['app/config.txt', 'app/data.bin', 'app/hard.txt', 'app/hardlink']) {
      expect(before[path], path).toBe('changed pending');
    }
    expect(before['app/run.sh']).toBe('changed mode pending');
    expect(before['app/owned.txt']).toBe('changed owner pending');
    // The same tar (the recompressed layer) decides by offset: nothing to hash.
    for (const path of COMPARE_EXPECTED.unchangedSameDiffID) expect(before[path]).toBeUndefined();
    expect(c.summary.pending).toBe(10);

    const hashed = await decide(c);
    // Each file once: 10 pending paths, the hard link sharing its target's bytes.
    expect(hashed).toBe(18);
    expect(differing(allRows(c))).toEqual(expected);
    expect(c.summary).toEqual({
      added: { count: 3, bytes: 10 + 16 + 33 },
      removed: { count: 5, bytes: 10 + 32 + 11 + 11 + 13 },
      changed: {
        count: 8,
        // A symlink's tar entry has no bytes; app/thing was a file of 32.
        bytesBefore: 20 + 24576 + 19 + 14 + 0 + 32 + 8 + 8,
        bytesAfter: 20 + 24576 + 19 + 14 + 0 + 0 + 8 + 8,
      },
      unchanged: 8,
      pending: 0,
      bytesBefore: expect.any(Number),
      bytesAfter: expect.any(Number),
    });
    const root = c.rows(0, c.count);
    const total = root.filter((r) => r.depth === 0).reduce((n, r) => n + r.delta, 0);
    expect(total).toBe(c.summary.bytesAfter - c.summary.bytesBefore);
  });

  test('each side of a path: its entry, its layer, the hashed digest, a hard link as its target', async () => {
    const c = await compareFiles(side(a), side(b));
    await decide(c);
    const moved = c.path('app/moved.bin')!;
    expect(moved).toMatchObject({ difference: 'unchanged', aspects: [], delta: 0 });
    expect(moved.a).toMatchObject({ type: 'file', size: 8192, layer: 2 });
    expect(moved.b).toMatchObject({ type: 'file', size: 8192, layer: 3 });
    expect(moved.a!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(moved.a!.digest).toBe(moved.b!.digest);
    const link = c.path('app/hardlink')!;
    expect(link.a).toMatchObject({ type: 'hardlink', linkname: 'app/hard.txt', size: 8 });
    expect(link.a!.offset).toBe(c.path('app/hard.txt')!.a!.offset);
    expect(link.a!.digest).not.toBe(link.b!.digest);
    expect(c.path('app/current')!.b).toMatchObject({ type: 'symlink', linkname: 'v2' });
    expect(c.path('app/thing')).toMatchObject({ difference: 'changed', aspects: ['type'] });
    expect(c.path('app/thing')!.delta).toBe(16 - 32);
    expect(c.path('etc/motd')).toMatchObject({ difference: 'removed' });
    expect(c.path('etc/motd')!.b).toBeUndefined();
    expect(c.path('cache')).toMatchObject({ difference: 'changed', aspects: [] });
    expect(c.path('opt/tool/README')).toMatchObject({ difference: 'unchanged' });
    expect(c.path('opt/tool/README')!.a!.digest).toBeUndefined();
    expect(c.path('nowhere')).toBeUndefined();
  });

  test('digests already cached decide at once, and deciding under a path hashes only there', async () => {
    const cache = new Map<string, string>();
    const first = await compareFiles(side(a), side(b), { digests: cache });
    expect(await decide(first, ['app/v1'])).toBe(2);
    expect(first.summary.pending).toBe(9);
    expect(first.path('app/v1/lib.txt')).toMatchObject({ difference: 'unchanged' });
    expect(first.path('app/v2/lib.txt')).toMatchObject({ pending: true });
    const second = await compareFiles(side(a), side(b), { digests: cache });
    expect(second.summary.pending).toBe(9);
    expect(second.path('app/v1/lib.txt')).toMatchObject({ difference: 'unchanged' });
  });

  test('without diffIDs, even the same tar is hashed: the rule needs the identity', async () => {
    const noIds = (s: FilesSide): FilesSide => ({ ...s, ids: s.ids.map(() => undefined) });
    const c = await compareFiles(noIds(side(a)), noIds(side(b)));
    expect(c.path('opt/tool/README')).toMatchObject({ difference: 'changed', pending: true });
    // Hashing still decides them, its digests kept under this comparison's own names.
    await decide(c);
    expect(c.path('opt/tool/README')).toMatchObject({ difference: 'unchanged' });
    expect(c.summary.pending).toBe(0);
  });

  test('an image compared with itself: everything unchanged, nothing pending', async () => {
    const c = await compareFiles(side(a), side(a));
    expect(c.summary).toMatchObject({ pending: 0, added: { count: 0 }, removed: { count: 0 } });
    expect(c.summary.changed.count).toBe(0);
    expect(differing(allRows(c))).toEqual({});
  });
});

describe('the comparison as a tree of rows', () => {
  let c: FilesComparison;
  beforeAll(async () => {
    c = await compareFiles(side(a), side(b));
    await decide(c);
  });

  test('windows, toggling and positions', async () => {
    await c.setFilter({ differences: [], aspects: [], query: '' });
    for (const r of c.rows(0, c.count)) if (r.expanded) c.toggle(r.path, false);
    await c.sort('name');
    const top = c.rows(0, c.count);
    expect(top.map((r) => r.name)).toEqual(['app', 'cache', 'etc', 'opt']);
    expect(top.map((r) => r.posInSet)).toEqual([1, 2, 3, 4]);
    expect(top.every((r) => r.setSize === 4 && r.depth === 0 && r.dir)).toBe(true);
    c.toggle('app');
    const rows = c.rows(0, c.count);
    expect(rows[1]).toMatchObject({ path: 'app/added.txt', depth: 1, difference: 'added' });
    expect(c.rows(2, 4).map((r) => r.path)).toEqual(['app/config.txt', 'app/current']);
    expect(c.indexOf('app/config.txt')).toBe(2);
    expect(c.indexOf('cache/one.txt')).toBe(-1);
    c.toggle('app');
    expect(c.count).toBe(4);
  });

  test('filters: by difference keeping what is open, by aspect, by glob opening all', async () => {
    await c.setFilter({ differences: [], aspects: [], query: '' });
    for (const r of c.rows(0, c.count)) if (r.expanded) c.toggle(r.path, false);
    c.toggle('app', true);
    await c.setFilter({ differences: ['added'], aspects: [], query: '' });
    expect(c.rows(0, c.count).map((r) => r.path)).toEqual([
      'app',
      'app/added.txt',
      'app/thing',
      'cache',
    ]);
    c.toggle('cache');
    expect(c.rows(0, c.count).map((r) => r.path)).toContain('cache/fresh.txt');
    await c.setFilter({ differences: ['changed'], aspects: ['mode', 'owner'], query: '' });
    expect(c.rows(0, c.count).map((r) => r.path)).toEqual(['app', 'app/owned.txt', 'app/run.sh']);
    await c.setFilter({ differences: [], aspects: [], query: '*.txt' });
    const txt = c.rows(0, c.count).filter((r) => !r.dir);
    expect(txt.every((r) => r.path.endsWith('.txt'))).toBe(true);
    expect(txt.map((r) => r.path)).toContain('cache/sub/three.txt');
    await c.setFilter({ differences: ['removed'], aspects: [], query: 'cache/**' });
    expect(c.rows(0, c.count).map((r) => r.path)).toEqual([
      'cache',
      'cache/one.txt',
      'cache/sub',
      'cache/sub/three.txt',
      'cache/two.txt',
    ]);
    await c.setFilter({ differences: [], aspects: [], query: '' });
    // Back to the whole tree, with what was opened during the filter still open.
    expect(c.rows(0, c.count).map((r) => r.path)).toContain('cache/fresh.txt');
  });

  test('sorted by |delta|, largest first, ties by name', async () => {
    await c.setFilter({ differences: [], aspects: [], query: '' });
    await c.sort('delta');
    const rows = allRows(c);
    const siblings = new Map<string, CompareRow[]>();
    for (const r of rows) {
      const parent = r.path.slice(0, Math.max(0, r.path.lastIndexOf('/')));
      siblings.set(parent, [...(siblings.get(parent) ?? []), r]);
    }
    for (const [, group] of siblings) {
      for (let i = 1; i < group.length; i++) {
        const x = Math.abs(group[i - 1]!.delta);
        const y = Math.abs(group[i]!.delta);
        expect(x > y || (x === y && group[i - 1]!.name < group[i]!.name)).toBe(true);
      }
    }
    expect(siblings.get('')!.map((r) => r.name)).toEqual(['etc', 'app', 'cache', 'opt']);
    await c.sort('name');
  });

  test('the export lists every path that differs, as JSON in pieces', async () => {
    const pieces: string[] = [];
    for await (const piece of c.exportPaths(200)) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(3);
    const paths = JSON.parse(`[${pieces.join('')}]`) as PathDiff[];
    // Depth first by name, as find lists them.
    expect(paths.map((p) => p.path)).toEqual(
      Object.keys(COMPARE_EXPECTED.paths).sort((x, y) => {
        const [px, py] = [x.split('/'), y.split('/')];
        for (let i = 0; i < Math.min(px.length, py.length); i++) {
          if (px[i] !== py[i]) return px[i]! < py[i]! ? -1 : 1;
        }
        return px.length - py.length;
      }),
    );
    expect(differing(paths)).toEqual(
      Object.fromEntries(
        Object.entries(COMPARE_EXPECTED.paths).map(([p, e]) => [
          p,
          `${e.difference} ${e.aspects.join(',')}`.trim(),
        ]),
      ),
    );
  });
});

test('hashFiles reads files at their offsets in one pass, empty ones too, from a later start', async () => {
  const [base] = a;
  const c = await compareFiles(side([base!]), side([base!]), {});
  const reads = ['etc/passwd', 'etc/motd', 'cache/two.txt']
    .map((p) => c.path(p)!.a!)
    .sort((x, y) => x.offset - y.offset)
    .map((s) => ({ offset: s.offset, size: s.size }));
  const start = reads[0]!.offset - 100;
  const digests = await hashFiles(
    streamOf(base!.tar, start),
    [...reads, { offset: reads[2]!.offset, size: 0 }].sort((x, y) => x.offset - y.offset),
    { start },
  );
  const { createHash } = await import('node:crypto');
  const { readFile } = await import('node:fs/promises');
  const tar = await readFile(base!.tar);
  const want = [...reads, { offset: reads[2]!.offset, size: 0 }]
    .sort((x, y) => x.offset - y.offset)
    .map(
      (r) =>
        'sha256:' +
        createHash('sha256')
          .update(tar.subarray(r.offset, r.offset + r.size))
          .digest('hex'),
    );
  expect(digests).toEqual(want);
});
