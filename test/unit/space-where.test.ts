// Where the space goes, over real layers: GNU tar archives of directories written here, listed
// by our own reader. Directory totals are checked against `du --apparent-size -b` of the
// extracted tree, duplicates against `sha256sum` of the files, the wasted space's layers and
// steps against what the layers were built to do, and the treemap's rectangles against the
// geometry they must have.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { wastedSpaceOf } from '../../src/lib/layers/treemodel-wasted.ts';
import { duplicateCandidates, hashDuplicates } from '../../src/lib/space/duplicates.ts';
import {
  buildSizeTree,
  largestFiles,
  layoutTreemap,
  type SpaceRect,
} from '../../src/lib/space/sizes.ts';
import { wastedSteps } from '../../src/lib/space/wasted-steps.ts';
import { SpaceService, type SpaceLayer } from '../../src/workers/space-service.ts';
import { run } from './layers-tar-helpers.ts';

let work: string;
/** Each layer's tar bytes and its index. */
const layers: { tar: Uint8Array<ArrayBuffer>; index: ColumnIndex }[] = [];

/** Deterministic bytes: the same seed gives the same content. */
function bytesOf(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

async function put(root: string, files: Record<string, Buffer | string>) {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function layer(name: string, files: Record<string, Buffer | string>) {
  const root = join(work, name);
  await mkdir(root, { recursive: true });
  await put(root, files);
  const file = join(work, `${name}.tar`);
  await run(
    'tar',
    [
      '--create',
      `--file=${file}`,
      `--directory=${root}`,
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=posix',
      '.',
    ],
    work,
  );
  const tar = new Uint8Array(await readFile(file));
  const listing = await listLayer(new Blob([tar]).stream());
  layers.push({ tar, index: listing.files });
  return root;
}

const shared = bytesOf('shared', 70_000);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-space-'));
  // Layer 1: a base with a few directories.
  await layer('l1', {
    'usr/bin/tool': bytesOf('tool', 120_000),
    'usr/lib/libx.so': bytesOf('libx', 300_000),
    'usr/lib/liby.so': bytesOf('liby', 50_000),
    'usr/share/doc/readme': 'hello\n',
    'etc/config': bytesOf('config', 1234),
    'var/cache/apt/pkgcache.bin': bytesOf('cache', 200_000),
    'opt/a/copy.bin': shared,
    // Same size as copy.bin, other bytes: a candidate that is no duplicate.
    'opt/a/other.bin': bytesOf('other', 70_000),
  });
  // Layer 2: replaces libx (a new version), deletes the apt cache, and copies shared bytes.
  await layer('l2', {
    'usr/lib/libx.so': bytesOf('libx-2', 310_000),
    'srv/copy-again.bin': shared,
    'var/.wh.cache': '',
  });
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const indexes = () => layers.map((l) => l.index);

describe('directory totals', () => {
  test('match du --apparent-size of each layer extracted', async () => {
    for (const [i, name] of ['l1', 'l2'].entries()) {
      const tree = await buildSizeTree(indexes(), { kind: 'layer', index: i });
      const out = await run(
        'find',
        [join(work, name), '-mindepth', '1', '-type', 'd', '-not', '-name', '.'],
        work,
      );
      const dirs = out.toString().trim().split('\n').filter(Boolean);
      expect(dirs.length).toBeGreaterThan(0);
      for (const dir of dirs) {
        // Files only: du counts directories' own blocks too, which a tar's sizes do not.
        const sum = await run(
          'sh',
          [
            '-c',
            `find "$1" -type f -exec du --apparent-size -b {} + | awk '{s+=$1} END {print s+0}'`,
            'sh',
            dir,
          ],
          work,
        );
        const rel = dir.slice(join(work, name).length + 1);
        const k = tree.nodes.find(rel);
        expect(k, rel).toBeGreaterThanOrEqual(0);
        expect(tree.nodes.size[k], rel).toBe(Number(sum.toString().trim()));
      }
    }
  });

  test('the merged view applies the whiteout and the replacement', async () => {
    const tree = await buildSizeTree(indexes(), { kind: 'merged' });
    expect(tree.nodes.find('var/cache')).toBe(-1);
    const lib = tree.nodes.find('usr/lib');
    expect(tree.nodes.size[lib]).toBe(310_000 + 50_000);
    const largest = await largestFiles(tree, 5);
    expect(largest.map((f) => [f.path, f.size, f.layer])).toEqual([
      ['usr/lib/libx.so', 310_000, 1],
      ['usr/bin/tool', 120_000, 0],
      ['opt/a/copy.bin', 70_000, 0],
      ['opt/a/other.bin', 70_000, 0],
      ['srv/copy-again.bin', 70_000, 1],
    ]);
  });
});

describe('duplicates', () => {
  test('groups by size, hashes only those, and agree with sha256sum', async () => {
    const plan = await duplicateCandidates(indexes());
    // copy.bin, other.bin (layer 1) and copy-again.bin (layer 2) share a size; nothing else does.
    expect(plan.files).toBe(3);
    expect(plan.groups).toBe(1);
    const groups = await hashDuplicates(plan, [0, 1], {
      signal: new AbortController().signal,
      tarFrom: async (l) => ({ tar: new Blob([layers[l]!.tar]).stream(), start: 0 }),
    });
    const sums = await run(
      'sha256sum',
      [join(work, 'l1/opt/a/copy.bin'), join(work, 'l2/srv/copy-again.bin')],
      work,
    );
    const [a, b] = sums
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]);
    expect(a).toBe(b);
    expect(groups).toEqual([
      {
        digest: `sha256:${a}`,
        size: 70_000,
        files: [
          { path: 'opt/a/copy.bin', layer: 0 },
          { path: 'srv/copy-again.bin', layer: 1 },
        ],
        saved: 70_000,
      },
    ]);
  });
});

describe('wasted space by step', () => {
  test('each wasted path names its layers, each layer what it hid', async () => {
    const w = await wastedSpaceOf(indexes(), { trace: true });
    const libx = w.files.find((f) => f.path === 'usr/lib/libx.so')!;
    expect(libx.occurrences).toEqual([
      { layer: 0, size: 300_000, deleted: false },
      { layer: 1, size: 310_000, deleted: false },
    ]);
    const cache = w.files.find((f) => f.path === 'var/cache/apt/pkgcache.bin');
    // The whiteout of a directory is an occurrence of the directory, not of its files.
    expect(cache).toBeUndefined();
    const steps = wastedSteps(w);
    expect(steps).toEqual([
      {
        layer: 1,
        bytes: 300_000,
        paths: 1,
        replaced: [{ layer: 0, bytes: 300_000 }],
        deleted: [],
      },
    ]);
  });

  test('a deleted file is traced to the layer that deleted it', async () => {
    // The two layers again, then a third that deletes libx.so.
    const root = join(work, 'l3');
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    await writeFile(join(root, 'usr/lib/.wh.libx.so'), '');
    const file = join(work, 'l3.tar');
    await run('tar', ['--create', `--file=${file}`, `--directory=${root}`, '.'], work);
    const tar = new Uint8Array(await readFile(file));
    const third = (await listLayer(new Blob([tar]).stream())).files;
    const w = await wastedSpaceOf([...indexes(), third], { trace: true });
    const steps = wastedSteps(w);
    expect(steps.find((s) => s.layer === 2)).toEqual({
      layer: 2,
      bytes: 310_000,
      paths: 1,
      replaced: [],
      deleted: [{ layer: 1, bytes: 310_000 }],
    });
    // Without the trace, the numbers are the same and no occurrences are listed.
    const plain = await wastedSpaceOf([...indexes(), third]);
    expect(plain.wastedBytes).toBe(w.wastedBytes);
    expect(plain.files.every((f) => f.occurrences === undefined)).toBe(true);
  });
});

describe('treemap layout', () => {
  const W = 640;
  const H = 400;
  const inside = (c: SpaceRect, p: SpaceRect) =>
    c.x >= p.x - 1e-6 &&
    c.y >= p.y - 1e-6 &&
    c.x + c.w <= p.x + p.w + 1e-6 &&
    c.y + c.h <= p.y + p.h + 1e-6;
  const overlap = (a: SpaceRect, b: SpaceRect) =>
    Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x) > 1e-6 &&
    Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y) > 1e-6;

  test('children tile their parent exactly, none overlap, areas follow sizes', async () => {
    const tree = await buildSizeTree(indexes(), { kind: 'merged' });
    const map = layoutTreemap(tree, { path: '', width: W, height: H, minArea: 1 });
    expect(map.found).toBe(true);
    const rects = map.rects;
    const root = rects.find((r) => r.depth === 0)!;
    expect(root).toMatchObject({ x: 0, y: 0, w: W, h: H, size: tree.nodes.size[0] });
    // Parents: a rectangle is the parent of those one deeper inside it with its path as prefix.
    const byDepth = (d: number) => rects.filter((r) => r.depth === d);
    for (let d = 0; d < 3; d++) {
      for (const p of byDepth(d)) {
        const kids = byDepth(d + 1).filter(
          (c) =>
            (c.kind === 'rest'
              ? c.path === p.path
              : c.path.startsWith(p.path ? `${p.path}/` : '')) && inside(c, p),
        );
        if (kids.length === 0) continue;
        const area = kids.reduce((n, c) => n + c.w * c.h, 0);
        expect(area / (p.w * p.h)).toBeCloseTo(1, 6);
        for (const c of kids) {
          expect((c.w * c.h) / (p.w * p.h)).toBeCloseTo(c.size / p.size, 6);
        }
        for (let i = 0; i < kids.length; i++)
          for (let j = i + 1; j < kids.length; j++) expect(overlap(kids[i]!, kids[j]!)).toBe(false);
      }
    }
    expect(map.children.map((c) => c.name)).toEqual(['usr', 'opt', 'srv', 'etc', 'var']);
  });

  test('a zoomed directory fills the map; small entries join one rest; the cap holds', async () => {
    const tree = await buildSizeTree(indexes(), { kind: 'merged' });
    const map = layoutTreemap(tree, { path: 'usr', width: W, height: H, minArea: 1 });
    expect(map.size).toBe(310_000 + 50_000 + 120_000 + 6);
    expect(map.rects.find((r) => r.path === 'usr/lib/libx.so')!.size).toBe(310_000);
    // So small a readme cannot be seen at this size: it is part of a rest rectangle.
    const tiny = layoutTreemap(tree, { path: 'usr', width: 40, height: 40, minArea: 4 });
    expect(tiny.rects.some((r) => r.path.includes('readme'))).toBe(false);
    expect(tiny.rects.some((r) => r.kind === 'rest')).toBe(true);
    const capped = layoutTreemap(tree, { path: '', width: W, height: H, minArea: 1, cap: 4 });
    expect(capped.rects.length).toBeLessThanOrEqual(4);
    expect(layoutTreemap(tree, { path: 'nowhere', width: W, height: H }).found).toBe(false);
  });
});

describe('the layers worker service', () => {
  const refs = (): SpaceLayer[] =>
    layers.map((l, i) => ({
      digest: `sha256:${String(i).repeat(64)}`,
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      size: l.tar.length,
    }));
  const service = (stored: (i: number) => boolean) => {
    const r = refs();
    const at = (digest: string) => r.findIndex((l) => l?.digest === digest);
    return new SpaceService({
      index: async (digest) => layers[at(digest)]?.index,
      stored: async (digest) => stored(at(digest)),
      tarFrom: async (layer) => ({
        tar: new Blob([layers[at(layer.digest)]!.tar]).stream(),
        start: 0,
      }),
    }).api;
  };
  const ctx = () => ({ signal: new AbortController().signal, emit: () => undefined });

  test('a layer not stored: the plan says what to download, and hashing leaves it out', async () => {
    const api = service((i) => i === 0);
    const plan = await api.spaceDuplicatesPlan({ layers: refs() }, ctx());
    expect(plan).toEqual({
      files: 3,
      groups: 1,
      bytes: 210_000,
      notStored: [1],
      download: layers[1]!.tar.length,
      missing: [],
    });
    const found = await api.spaceDuplicates({ layers: refs() }, ctx());
    // Only layer 1 is read: copy.bin and other.bin differ, so nothing is duplicated yet.
    expect(found).toMatchObject({ groups: [], totalGroups: 0, saved: 0, skipped: [1] });
    const all = await service(() => true).spaceDuplicates({ layers: refs() }, ctx());
    expect(all).toMatchObject({ totalGroups: 1, saved: 70_000, skipped: [] });
  });

  test('the treemap of a view is built once and laid out per zoom; a layer view needs its layer only', async () => {
    const api = service(() => true);
    const merged = await api.spaceTreemap(
      { layers: refs(), view: { kind: 'merged' }, map: { path: 'usr', width: 300, height: 200 } },
      ctx(),
    );
    expect(merged).toMatchObject({ path: 'usr', found: true, missing: [] });
    const one = await api.spaceTreemap(
      {
        layers: [null, refs()[1]!],
        view: { kind: 'layer', index: 1 },
        map: { path: '', width: 300, height: 200 },
      },
      ctx(),
    );
    expect(one.children.map((c) => c.name)).toEqual(['usr', 'srv', 'var']);
    const largest = await api.spaceLargest(
      { layers: refs(), view: { kind: 'layer', index: 1 }, count: 1 },
      ctx(),
    );
    expect(largest.files.map((f) => f.path)).toEqual(['usr/lib/libx.so']);
    const wasted = await api.spaceWasted({ layers: refs() }, ctx());
    expect(wasted.steps.map((s) => [s.layer, s.bytes])).toEqual([[1, 300_000]]);
  });
});
