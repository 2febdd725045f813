// The inventory engine (src/lib/packages/inventory.ts) over real tars made by GNU tar: which
// files it reads, that each layer is read once in offset order, and what it says each layer did
// to each package. The catalogers here are real implementations of the Cataloger interface
// for a tiny `name=version[:arch]` format, so that the engine is tested apart from the dpkg
// and npm readers (which have their own tests).
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import {
  inventory,
  planLayer,
  planSize,
  type InventoryLayer,
} from '../../src/lib/packages/inventory.ts';
import type {
  CatalogResult,
  Cataloger,
  Ecosystem,
  InventoryPackage,
  PackageFacts,
} from '../../src/lib/packages/types.ts';
import { buildTar, pseudoRandomBytes, type OwnedEntry } from '../harness/compare-fixtures.ts';

const text = new TextDecoder();

/** `name=version[:arch]` lines; anything else is a problem. */
function parseKv(ecosystem: Ecosystem, path: string, bytes: Uint8Array): CatalogResult {
  const packages: PackageFacts[] = [];
  const problems: string[] = [];
  text
    .decode(bytes)
    .split('\n')
    .forEach((line, n) => {
      if (line === '') return;
      const m = /^([a-z0-9.-]+)=([^:]+)(?::(.+))?$/.exec(line);
      if (!m) return problems.push(`${path}: line ${n + 1} is not name=version`);
      packages.push({ ecosystem, name: m[1]!, version: m[2]!, ...(m[3] ? { arch: m[3] } : {}) });
    });
  return { packages, problems };
}

/** An OS database: var/lib/kv/status (or usr/lib/kv/status) and distroless-style
 * var/lib/kv/status.d/<name>. */
const osKv: Cataloger = {
  id: 'oskv',
  maxBytes: 1024 * 1024,
  wants: (path) =>
    path === 'var/lib/kv/status' ||
    path === 'usr/lib/kv/status' ||
    (path.startsWith('var/lib/kv/status.d/') && !path.includes('/', 20)),
  read: (f) => parseKv('deb', f.path, f.bytes),
};

/** A language manifest: app/<name>/pkg.txt. */
const langKv: Cataloger = {
  id: 'langkv',
  maxBytes: 64,
  wants: (path) => path.startsWith('app/') && path.endsWith('/pkg.txt'),
  read: (f) => parseKv('npm', f.path, f.bytes),
};

/** A binary whose first line names it: streamed, and only its first line kept. */
const scanKv: Cataloger = {
  id: 'scankv',
  maxBytes: 0,
  wants: (path) => path.startsWith('opt/bin/'),
  scan: (f) => {
    const seen: number[] = [];
    let chunks = 0;
    return {
      push(chunk) {
        chunks++;
        for (const b of chunk) {
          if (b === 0x0a) return false;
          seen.push(b);
        }
        return true;
      },
      finish: () => {
        const r = parseKv('golang', f.path, new Uint8Array(seen));
        if (chunks > 1) r.problems.push(`${f.path}: read ${chunks} chunks for one line`);
        return r;
      },
    };
  },
};

const catalogers = [osKv, langKv, scanKv];

/** Dotted numbers, for upgrade and downgrade. */
function dotted(_e: Ecosystem, a: string, b: string): number | undefined {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  if ([...x, ...y].some(Number.isNaN)) return undefined;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const file = (path: string, content: string | Buffer): OwnedEntry => ({
  type: 'file',
  path,
  content,
});

/** The image: each layer one step of a package's life. */
const LAYERS: OwnedEntry[][] = [
  // 0: the base.
  [
    file(
      'etc/os-release',
      'PRETTY_NAME="Kv Linux 12"\nID=kvlinux\nVERSION_ID="12"\nID_LIKE=debian\n',
    ),
    file('var/lib/kv/status', 'a=1:amd64\nb=1:amd64\nc=1:amd64\nd=1:amd64\n'),
    file('app/x/pkg.txt', 'x=1\n'),
    file('app/y/pkg.txt', 'y=1\n'),
    file(
      'opt/bin/tool',
      Buffer.concat([Buffer.from('tool=3.1\n'), pseudoRandomBytes('tool', 300_000)]),
    ),
  ],
  // 1: a upgraded, d downgraded, c gone from the database, e added; the same arch twice.
  [file('var/lib/kv/status', 'a=2:amd64\nb=1:amd64\nd=0.5:amd64\ne=1:amd64\ne=1:arm64\n')],
  // 2: app/x deleted by a whiteout on its directory; a file that is not what its name says.
  [{ type: 'whiteout', path: 'app/x' }, file('app/bad/pkg.txt', 'this is not a manifest\n')],
  // 3: app emptied by an opaque marker, then z put there.
  [{ type: 'opaque', path: 'app' }, file('app/z/pkg.txt', 'z=1\n')],
  // 4: the database moved, e on arm64 left behind; b changed to a version dotted cannot order.
  [
    { type: 'whiteout', path: 'var/lib/kv/status' },
    file('usr/lib/kv/status', 'a=2:amd64\nb=1~rc:amd64\nd=0.5:amd64\ne=1:amd64\n'),
  ],
  // 5: distroless: one file per package; a hard link; a file too big for its cataloger.
  [
    file('var/lib/kv/status.d/f', 'f=1:amd64\n'),
    file('var/lib/kv/status.d/g', 'g=1:amd64\n'),
    file('app/h/orig.txt', 'h=7\n'),
    { type: 'hardlink', path: 'app/h/pkg.txt', target: 'app/h/orig.txt' },
    file('app/big/pkg.txt', 'big=1\n' + '#'.repeat(100)),
  ],
  // 6: f upgraded in its own file, g's file deleted, z re-added at a new version after removal.
  [
    file('var/lib/kv/status.d/f', 'f=2:amd64\n'),
    { type: 'whiteout', path: 'var/lib/kv/status.d/g' },
  ],
];

let work: string;
const tars: string[] = [];
const indexes: ColumnIndex[] = [];
/** tarFrom calls by layer, and the bytes each stream handed out. */
let opened: number[];
let streamed: number[];

const streamOf = (path: string, start = 0) =>
  Readable.toWeb(createReadStream(path, { start })) as ReadableStream<Uint8Array>;

function layersOf(paths: string[], idx: ColumnIndex[], at: 'start' | 'offset' = 'start') {
  opened = paths.map(() => 0);
  streamed = paths.map(() => 0);
  return paths.map((tar, i): InventoryLayer => ({
    index: idx[i],
    tarFrom: async (offset) => {
      opened[i]!++;
      const start = at === 'offset' ? offset : 0;
      const counted = streamOf(tar, start).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            streamed[i]! += chunk.byteLength;
            c.enqueue(chunk);
          },
        }),
      );
      return { tar: counted, start };
    },
  }));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-inventory-'));
  for (const entries of LAYERS) {
    const tar = await buildTar(work, entries);
    tars.push(tar);
    indexes.push((await listLayer(streamOf(tar))).files);
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const byName = (list: InventoryPackage[], name: string, arch?: string) =>
  list.filter((p) => p.name === name && (arch === undefined || p.arch === arch));

describe('inventory over a seven-layer image', () => {
  let inv: Awaited<ReturnType<typeof inventory>>;
  const progress: number[] = [];
  beforeAll(async () => {
    inv = await inventory(layersOf(tars, indexes), {
      catalogers,
      compare: dotted,
      onProgress: (p) => progress.push(p.filesRead),
    });
  });

  test('the merged filesystem has the last layer’s packages', () => {
    const names = inv.packages.map(
      (p) => `${p.ecosystem}/${p.name}@${p.version}${p.arch ? ':' + p.arch : ''}`,
    );
    expect(names).toEqual([
      'deb/a@2:amd64',
      'deb/b@1~rc:amd64',
      'deb/d@0.5:amd64',
      'deb/e@1:amd64',
      'deb/f@2:amd64',
      'golang/tool@3.1',
      'npm/h@7',
      'npm/z@1',
    ]);
  });

  test('each package’s events say which layer did what', () => {
    const ev = (name: string, arch?: string, list = inv.packages) =>
      byName(list, name, arch)[0]?.events;
    expect(ev('a')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 1, kind: 'upgraded', from: '1', to: '2' },
    ]);
    expect(ev('d')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 1, kind: 'downgraded', from: '1', to: '0.5' },
    ]);
    // The move to usr/lib/kv/status is no event; the version dotted cannot read is a change.
    expect(ev('b')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 4, kind: 'changed', from: '1', to: '1~rc' },
    ]);
    expect(byName(inv.packages, 'a')[0]!.location).toBe('usr/lib/kv/status');
    expect(ev('e', 'amd64')).toEqual([{ layer: 1, kind: 'added', to: '1' }]);
    expect(ev('f')).toEqual([
      { layer: 5, kind: 'added', to: '1' },
      { layer: 6, kind: 'upgraded', from: '1', to: '2' },
    ]);
    expect(byName(inv.packages, 'f')[0]!.location).toBe('var/lib/kv/status.d/f');
    expect(ev('h')).toEqual([{ layer: 5, kind: 'added', to: '7' }]);
    expect(ev('tool')).toEqual([{ layer: 0, kind: 'added', to: '3.1' }]);
  });

  test('removed packages: by a later database without them, whiteouts and opaque directories', () => {
    const removed = (name: string, arch?: string) => byName(inv.removed, name, arch)[0]?.events;
    // Left out of layer 1's copy of the database.
    expect(removed('c')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 1, kind: 'removed', from: '1' },
    ]);
    // app/x's directory whited out.
    expect(removed('x')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 2, kind: 'removed', from: '1' },
    ]);
    // app made opaque.
    expect(removed('y')).toEqual([
      { layer: 0, kind: 'added', to: '1' },
      { layer: 3, kind: 'removed', from: '1' },
    ]);
    // Not in the moved database.
    expect(removed('e', 'arm64')).toEqual([
      { layer: 1, kind: 'added', to: '1' },
      { layer: 4, kind: 'removed', from: '1' },
    ]);
    // Its status.d file whited out.
    expect(removed('g')).toEqual([
      { layer: 5, kind: 'added', to: '1' },
      { layer: 6, kind: 'removed', from: '1' },
    ]);
    expect(inv.removed.map((p) => p.name).sort()).toEqual(['c', 'e', 'g', 'x', 'y']);
  });

  test('os-release, purls, sources and problems', () => {
    expect(inv.os).toEqual({
      id: 'kvlinux',
      versionId: '12',
      prettyName: 'Kv Linux 12',
      like: ['debian'],
    });
    expect(inv.packages.every((p) => p.purl.startsWith(`pkg:${p.ecosystem}/`))).toBe(true);
    expect(inv.problems).toEqual([
      { layer: 2, path: 'app/bad/pkg.txt', message: 'app/bad/pkg.txt: line 1 is not name=version' },
      {
        layer: 5,
        path: 'app/big/pkg.txt',
        message: 'langkv: 106 bytes, more than the 64 it reads; not read',
      },
    ]);
    expect(inv.sources.filter((s) => s.layer === 1)).toEqual([
      { layer: 1, path: 'var/lib/kv/status', cataloger: 'oskv', packages: 5 },
    ]);
    expect(progress.at(-1)).toBe(planSize(indexes.map((i) => planLayer(i, catalogers))).files);
  });

  test('each layer with wanted files is opened once and read no further than its last file', () => {
    const plans = indexes.map((i) => planLayer(i, catalogers));
    expect(opened).toEqual(plans.map((p) => (p.files.length > 0 ? 1 : 0)));
    // Layer 0's last wanted file is the tool, whose first line is all the scan wants; the
    // stream still goes on to the file's end, and is cancelled there.
    const tool = plans[0]!.files.find((f) => f.path === 'opt/bin/tool')!;
    expect(streamed[0]).toBeLessThan(tool.offset + tool.size + 128 * 1024);
  });
});

describe('reading a layer', () => {
  test('a gap longer than the checkpoint spacing starts again nearer the next file', async () => {
    const gap = pseudoRandomBytes('gap', 3 * 1024 * 1024);
    const tar = await buildTar(work, [
      file('app/a/pkg.txt', 'a=1\n'),
      file('app/m/filler.bin', gap),
      file('app/z/pkg.txt', 'z=1\n'),
    ]);
    const index = (await listLayer(streamOf(tar))).files;
    const inv = await inventory(layersOf([tar], [index], 'offset'), {
      catalogers,
      spacing: 256 * 1024,
    });
    expect(inv.packages.map((p) => p.name)).toEqual(['a', 'z']);
    expect(opened[0]).toBe(2);
    expect(streamed[0]).toBeLessThan(gap.length);
  });

  test('a layer with no checkpoints is read once, the gap decoded', async () => {
    const gap = pseudoRandomBytes('gap', 1024 * 1024);
    const tar = await buildTar(work, [
      file('app/a/pkg.txt', 'a=1\n'),
      file('app/m/filler.bin', gap),
      file('app/z/pkg.txt', 'z=1\n'),
    ]);
    const index = (await listLayer(streamOf(tar))).files;
    const inv = await inventory(layersOf([tar], [index], 'start'), {
      catalogers,
      spacing: 64 * 1024,
    });
    expect(inv.packages.map((p) => p.name)).toEqual(['a', 'z']);
    // One more call to learn there is no checkpoint; its stream is cancelled unread.
    expect(opened[0]).toBe(2);
    expect(streamed[0]).toBeLessThan(gap.length + 256 * 1024);
  });

  test('cancelling stops the read', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      inventory(layersOf(tars, indexes), { catalogers, signal: ac.signal }),
    ).rejects.toThrow();
  });
});
