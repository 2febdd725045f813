// The export service over gzip and zstd layers GNU tar, gzip and zstd make here, read as the
// layers worker reads stored layers (checkpoints.ts tarFrom on the blob): a layer as it is comes
// out as its own tar (its sha256 is its diffID), the plan names the layers an export reads and
// which of them are not stored with their size, and a cancelled export stops.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tarFrom } from '../../src/lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';
import { ExportService, type ExportLayer } from '../../src/workers/export-service.ts';

const exec = promisify(execFile);
let work: string;
interface Built {
  ref: NonNullable<ExportLayer>;
  blob: Blob;
  diffID: string;
  index: ColumnIndex;
}
const built: Built[] = [];
const stored = new Set<string>();

async function build(name: string, files: Record<string, string | Buffer>, zip: 'gzip' | 'zstd') {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const tar = join(work, `${name}.tar`);
  await exec('tar', ['--format=posix', '--sort=name', '-cf', tar, '-C', root, '.']);
  const plain = await readFile(tar);
  const diffID = `sha256:${createHash('sha256').update(plain).digest('hex')}`;
  if (zip === 'gzip') await exec('gzip', ['-n', '-k', tar]);
  else await exec('zstd', ['-q', '-k', tar, '-o', `${tar}.gz`]);
  const bytes = await readFile(`${tar}.gz`);
  const blob = new Blob([bytes]);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const mediaType = `application/vnd.oci.image.layer.v1.tar+${zip}`;
  const index = (await listLayer(new Blob([plain]).stream())).files;
  built.push({ ref: { digest, mediaType, size: bytes.length, diffID }, blob, diffID, index });
  stored.add(digest);
}

function service(partBytes = 1 << 16) {
  return new ExportService({
    index: async (d) => built.find((b) => b.ref.digest === d)?.index,
    stored: async (d) => stored.has(d),
    tarFrom: (layer, offset, signal) => {
      const b = built.find((x) => x.ref.digest === layer.digest)!;
      const zip = layer.mediaType.endsWith('zstd') ? 'zstd' : 'gzip';
      return tarFrom(b.blob, zip, undefined, offset, { signal });
    },
    partBytes,
  });
}

const ctx = (signal = new AbortController().signal, events: number[] = []) => ({
  signal,
  emit: (e: { written: number }) => void events.push(e.written),
});

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-export-service-'));
  const noise = createHash('sha512');
  const big = Buffer.concat(
    Array.from({ length: 4000 }, (_, i) => noise.copy().update(String(i)).digest()),
  );
  await build('l1', { 'etc/a': 'a\n', 'var/big': big }, 'gzip');
  await build('l2', { 'etc/b': 'b\n', 'srv/x': 'x\n' }, 'zstd');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const layers = () => built.map((b) => b.ref);

test('a layer as it is: its own tar, whose sha256 is its diffID', async () => {
  for (const [i, b] of built.entries()) {
    const blob = await service().api.exportFiles(
      { layers: layers(), spec: { kind: 'layer', index: i, as: 'raw' } },
      ctx(),
    );
    const bytes = new Uint8Array(await blob.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(b.diffID);
  }
});

test('the plan names the layers read and those not stored, with their size', async () => {
  const s = service();
  const all = await s.api.exportFilesPlan({ layers: layers(), spec: { kind: 'merged' } }, ctx());
  expect(all).toMatchObject({ missing: [], reads: [0, 1], notStored: [], notStoredBytes: 0 });
  stored.delete(built[0]!.ref.digest);
  try {
    const merged = await s.api.exportFilesPlan(
      { layers: layers(), spec: { kind: 'merged' } },
      ctx(),
    );
    expect(merged).toMatchObject({ notStored: [0], notStoredBytes: built[0]!.ref.size });
    // /srv is all in layer 2: layer 1 is not needed.
    const srv = await s.api.exportFilesPlan(
      { layers: layers(), spec: { kind: 'subtree', path: 'srv' } },
      ctx(),
    );
    expect(srv).toMatchObject({ reads: [1], notStored: [], entries: 2 });
  } finally {
    stored.add(built[0]!.ref.digest);
  }
  const unlisted = await s.api.exportFilesPlan(
    { layers: [...layers(), { ...built[0]!.ref, digest: 'sha256:00' }], spec: { kind: 'merged' } },
    ctx(),
  );
  expect(unlisted.missing).toEqual([2]);
});

test('the merged export, in small parts, reads back whole', async () => {
  const events: number[] = [];
  const blob = await service(4096).api.exportFiles(
    { layers: layers(), spec: { kind: 'merged' } },
    ctx(undefined, events),
  );
  expect(events.at(-1)).toBe(blob.size);
  const entries: TarEntry[] = [];
  const hash = createHash('sha256');
  const p = new TarParser({
    onEntry: (e) => entries.push(e),
    onData: (e, piece) => {
      if (e.path === 'var/big') hash.update(piece);
    },
  });
  p.push(new Uint8Array(await blob.arrayBuffer()));
  p.end();
  expect(entries.map((e) => e.path).sort()).toEqual(
    ['etc', 'etc/a', 'etc/b', 'srv', 'srv/x', 'var', 'var/big'].sort(),
  );
  const big = await readFile(join(work, 'l1', 'var/big'));
  expect(hash.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
});

test('a cancelled export stops with the signal', async () => {
  const abort = new AbortController();
  const run = service(4096).api.exportFiles(
    { layers: layers(), spec: { kind: 'merged' } },
    {
      signal: abort.signal,
      emit: () => abort.abort(new DOMException('cancelled', 'AbortError')),
    },
  );
  await expect(run).rejects.toThrow(/cancelled/);
});
