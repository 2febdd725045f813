// The page's side of the files export, behind the real worker bridge and the real export
// service over layers GNU tar and gzip make here: an export whose layers are stored runs at
// once and saves <repo>_<tag>_<what>.tar; one that reads a layer not stored asks first, with
// its size, downloads only that layer when the person agrees, and nothing when they do not.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import { tarFrom } from '../../src/lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { formatBytes } from '../../src/lib/units.ts';
import { ExportFilesState, exportFileName } from '../../src/state/export-files.svelte.ts';
import { Listings } from '../../src/state/layers/listings.svelte.ts';
import { ExportService } from '../../src/workers/export-service.ts';
import type { LayersWorkerApi } from '../../src/workers/layers.ts';
import { WorkerBridge } from '../../src/workers/rpc.ts';
import { InMemoryWorker } from './rpc-fakes.ts';

const exec = promisify(execFile);
let work: string;
const blobs = new Map<string, Blob>();
const indexes = new Map<string, ColumnIndex>();
let summary: ImageSummary;
let made: InMemoryWorker[] = [];

async function layer(name: string, files: Record<string, string>): Promise<Descriptor> {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const tar = join(work, `${name}.tar`);
  await exec('tar', [
    '--format=posix',
    '--sort=name',
    '-cf',
    tar,
    '-C',
    root,
    ...Object.keys(files),
  ]);
  const plain = await readFile(tar);
  await exec('gzip', ['-n', tar]);
  const bytes = await readFile(`${tar}.gz`);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  blobs.set(digest, new Blob([bytes]));
  indexes.set(digest, (await listLayer(new Blob([plain]).stream())).files);
  return { digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: bytes.length };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-export-state-'));
  const l1 = await layer('l1', { 'etc/a': 'a\n', 'var/x': 'x\n' });
  const l2 = await layer('l2', { 'srv/b': 'b\n' });
  summary = {
    name: 'registry.example/team/app:1.2',
    rootDigest: `sha256:${'1'.repeat(64)}`,
    rootMediaType: 'application/vnd.oci.image.manifest.v1+json',
    manifest: {
      digest: `sha256:${'1'.repeat(64)}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 500,
    },
    layers: [l1, l2].map((descriptor) => ({ descriptor, stored: true, foreign: false })),
    history: [],
    totalSize: 500 + l1.size + l2.size,
    pulledAt: 0,
  };
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});
afterEach(() => {
  for (const w of made) w.terminate();
  made = [];
});

/** The state over a worker whose store holds the layers `stored` says. */
function setup(stored: Set<string>) {
  const service = new ExportService({
    index: async (d) => indexes.get(d),
    stored: async (d) => stored.has(d),
    tarFrom: async (l, offset, signal) => {
      if (!stored.has(l.digest)) throw new Error(`${l.digest} is not stored`);
      return tarFrom(blobs.get(l.digest)!, 'gzip', undefined, offset, { signal });
    },
  });
  const bridge = new WorkerBridge<LayersWorkerApi>(() => {
    const w = new InMemoryWorker(service.api as unknown as LayersWorkerApi);
    made.push(w);
    return w;
  });
  const fetched: string[] = [];
  const saved: { blob: Blob; name: string }[] = [];
  let shown = {
    ...summary,
    layers: summary.layers.map((l) => ({ ...l, stored: stored.has(l.descriptor.digest) })),
  };
  const listings = new Listings({ bridge, fetchLayer: async () => {} });
  const state = new ExportFilesState({
    bridge,
    listings,
    summary: () => shown,
    fetchLayer: async (d) => {
      fetched.push(d.digest);
      stored.add(d.digest);
      shown = {
        ...shown,
        layers: shown.layers.map((l) =>
          l.descriptor.digest === d.digest ? { ...l, stored: true } : l,
        ),
      };
    },
    save: (blob, name) => saved.push({ blob, name }),
  });
  return { state, fetched, saved };
}

test('names the file after the image and what was exported', () => {
  expect(exportFileName(summary, { kind: 'merged' })).toBe('app_1.2_merged.tar');
  expect(exportFileName(summary, { kind: 'subtree', path: 'usr/share' })).toBe(
    'app_1.2_usr_share.tar',
  );
  expect(exportFileName(summary, { kind: 'layer', index: 2, as: 'raw' })).toBe(
    'app_1.2_layer3.tar',
  );
  expect(exportFileName(summary, { kind: 'layer', index: 2, as: 'changes' })).toBe(
    'app_1.2_layer3_changes.tar',
  );
});

test('with every layer stored, it runs at once and saves the tar', async () => {
  const all = new Set(summary.layers.map((l) => l.descriptor.digest));
  const { state, fetched, saved } = setup(all);
  await state.start({ kind: 'merged' });
  expect(state.status).toBe('done');
  expect(fetched).toEqual([]);
  expect(saved.map((s) => s.name)).toEqual(['app_1.2_merged.tar']);
  expect(state.written).toBe(saved[0]!.blob.size);
});

test('a layer not stored: asked first with its size; yes downloads only it', async () => {
  const [l1, l2] = summary.layers.map((l) => l.descriptor);
  const { state, fetched, saved } = setup(new Set([l2!.digest]));
  // /srv is all in layer 2: nothing to download.
  await state.start({ kind: 'subtree', path: 'srv' });
  expect(state.status).toBe('done');
  expect(saved.map((s) => s.name)).toEqual(['app_1.2_srv.tar']);

  await state.start({ kind: 'merged' });
  expect(state.status).toBe('asking');
  expect(state.questionText).toBe(
    `Export needs 1 layer not stored: ${formatBytes(l1!.size)} to download. Download and export?`,
  );
  state.decline();
  expect(fetched).toEqual([]);
  expect(saved).toHaveLength(1);

  await state.start({ kind: 'merged' });
  await state.confirm();
  expect(fetched).toEqual([l1!.digest]);
  expect(state.status).toBe('done');
  expect(saved.map((s) => s.name)).toEqual(['app_1.2_srv.tar', 'app_1.2_merged.tar']);
});
