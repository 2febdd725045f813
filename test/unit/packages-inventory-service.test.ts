// The layers worker's packages service (src/workers/packages-service.ts) over real tars made by
// GNU tar and the real dpkg and npm catalogers: what a run would read, layers not listed or not
// stored, the table's windows (filter, sort, removed), one read per image however often it
// is opened, and the diff of two images.
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { dpkgCataloger } from '../../src/lib/packages/dpkg.ts';
import { npmCataloger } from '../../src/lib/packages/npm.ts';
import {
  PackagesService,
  type PackagesLayer,
  type PackagesQuery,
} from '../../src/workers/packages-service.ts';
import type { CallContext } from '../../src/workers/rpc.ts';
import { buildTar, type OwnedEntry } from '../harness/compare-fixtures.ts';

let work: string;
const indexes = new Map<string, ColumnIndex>();
const tars = new Map<string, string>();
const notStored = new Set<string>();
/** tarFrom calls, by layer digest. */
const reads: string[] = [];
/** Installed stanzas of this machine's dpkg status. */
let stanzas: { name: string; text: string }[];
const events: unknown[] = [];

const ctx = (): CallContext<never> => ({
  signal: new AbortController().signal,
  emit: (e: unknown) => void events.push(e),
});

const streamOf = (path: string) =>
  Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

function service() {
  return new PackagesService({
    index: async (digest) => indexes.get(digest),
    stored: async (digest) => !notStored.has(digest),
    tarFrom: async (layer) => {
      reads.push(layer.digest);
      return { tar: streamOf(tars.get(layer.digest)!), start: 0 };
    },
    catalogers: [dpkgCataloger, npmCataloger],
  });
}

async function layer(name: string, entries: OwnedEntry[]): Promise<PackagesLayer> {
  const tar = await buildTar(work, entries);
  const digest = `sha256:${name.padEnd(64, '0')}`;
  indexes.set(digest, (await listLayer(streamOf(tar))).files);
  tars.set(digest, tar);
  return { digest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 0 };
}

const status = (list: { text: string }[]) => list.map((s) => s.text).join('\n\n') + '\n';
const pkgJson = (name: string, version: string, license = 'MIT') =>
  JSON.stringify({ name, version, license });

let a: PackagesLayer[];
let b: PackagesLayer[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-packages-service-'));
  const all = (await readFile('/var/lib/dpkg/status', 'utf8')).split(/\n\n+/).filter(Boolean);
  stanzas = all.flatMap((text) => {
    const name = /^Package: (.+)$/m.exec(text)?.[1];
    return name && /^Status: \S+ ok installed$/m.test(text) ? [{ name, text }] : [];
  });
  const base = await layer('base', [
    { type: 'file', path: 'var/lib/dpkg/status', content: status(stanzas.slice(0, 12)) },
  ]);
  const appA = await layer('appa', [
    {
      type: 'file',
      path: 'app/node_modules/left-pad/package.json',
      content: pkgJson('left-pad', '1.3.0', 'WTFPL'),
    },
    {
      type: 'file',
      path: 'app/node_modules/lodash/package.json',
      content: pkgJson('lodash', '4.17.20'),
    },
  ]);
  const appB = await layer('appb', [
    {
      type: 'file',
      path: 'app/node_modules/lodash/package.json',
      content: pkgJson('lodash', '4.17.21'),
    },
    { type: 'file', path: 'app/node_modules/zod/package.json', content: pkgJson('zod', '3.22.4') },
  ]);
  const drop = await layer('drop', [
    { type: 'file', path: 'var/lib/dpkg/status', content: status(stanzas.slice(1, 12)) },
  ]);
  a = [base, null, appA];
  b = [base, appB, drop];
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const query = (q: Partial<PackagesQuery> = {}): PackagesQuery => ({
  filter: '',
  sort: { key: 'name', descending: false },
  removed: false,
  window: [0, 100],
  ...q,
});

describe('packages service', () => {
  test('the plan: files and bytes; layers not listed and not stored', async () => {
    const s = service();
    const plan = await s.api.packagesPlan({ layers: a });
    expect(plan).toMatchObject({ missing: [], notStored: [], files: 3 });
    expect(plan.bytes).toBeGreaterThan(0);
    const unknown: PackagesLayer = { digest: `sha256:${'f'.repeat(64)}`, mediaType: 'x', size: 0 };
    notStored.add(unknown.digest);
    expect(await s.api.packagesPlan({ layers: [unknown, ...a] })).toMatchObject({
      missing: [0],
      notStored: [0],
    });
    await expect(
      s.api.packagesOpen({ layers: [unknown, ...a], query: query() }, ctx()),
    ).rejects.toThrow(/layers 1 are not listed/);
  });

  test('a layer not stored is said, and nothing is read', async () => {
    const s = service();
    notStored.add(a[2]!.digest);
    reads.length = 0;
    try {
      await expect(s.api.packagesOpen({ layers: a, query: query() }, ctx())).rejects.toThrow(
        /layers 3 are not stored/,
      );
      expect(reads).toEqual([]);
    } finally {
      notStored.delete(a[2]!.digest);
    }
  });

  test('windows of rows: filter, sort, removed; one read per image', async () => {
    const s = service();
    reads.length = 0;
    events.length = 0;
    const opened = await s.api.packagesOpen({ layers: b, query: query({ window: [0, 3] }) }, ctx());
    expect(opened.summary).toMatchObject({
      packages: 13,
      removed: 1,
      ecosystems: { deb: 11, npm: 2 },
    });
    expect(opened.count).toBe(13);
    expect(opened.rows.map((r) => r.name)).toEqual(
      [...stanzas.slice(1, 12).map((x) => x.name), 'lodash', 'zod'].sort().slice(0, 3),
    );
    expect(events.at(-1)).toMatchObject({ type: 'progress', filesRead: 4, files: 4 });
    const id = opened.packagesId;
    const rows = (q: Partial<PackagesQuery>) =>
      s.api.packagesRows({ packagesId: id, query: query(q) });
    expect((await rows({ filter: 'npm lodash' })).rows.map((r) => [r.name, r.version])).toEqual([
      ['lodash', '4.17.21'],
    ]);
    expect((await rows({ filter: 'pkg:npm/zod@3.22.4' })).count).toBe(1);
    const byVersion = await rows({ sort: { key: 'ecosystem', descending: true }, window: [0, 2] });
    expect(byVersion.rows.map((r) => r.ecosystem)).toEqual(['npm', 'npm']);
    const added = await rows({ sort: { key: 'added', descending: true }, window: [0, 2] });
    expect(added.rows.map((r) => r.name).sort()).toEqual(['lodash', 'zod']);
    const removed = await rows({ removed: true });
    expect(removed.rows.map((r) => [r.name, r.events.at(-1)])).toEqual([
      [stanzas[0]!.name, { layer: 2, kind: 'removed', from: expect.any(String) }],
    ]);
    // A window past the end is empty, not an error.
    expect((await rows({ window: [500, 600] })).rows).toEqual([]);
    // Opened again: held, not read again.
    const again = await s.api.packagesOpen({ layers: b, query: query() }, ctx());
    expect(again.packagesId).toBe(id);
    expect(reads.sort()).toEqual([b[0]!.digest, b[1]!.digest, b[2]!.digest].sort());
  });

  test('the diff of two images', async () => {
    const s = service();
    const diff = await s.api.packagesDiff({ a, b }, ctx());
    expect(diff.changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      `removed ${stanzas[0]!.name}`,
      'removed left-pad',
      'upgraded lodash',
      'added zod',
    ]);
    expect(diff.same).toBe(11);
  });
});
