// Export and import over the in-memory store: an exported archive holds the right members and
// bytes (read back by GNU tar and skopeo), archives made by skopeo import whole, and an import
// is all or nothing when a layer is damaged or the disk is full. Verify re-hashes what is
// stored and says what does not match.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExportError, buildOciArchive } from '../../src/lib/export/oci-archive.ts';
import { verifyImage } from '../../src/lib/images/verify.ts';
import { ImportError, importArchive } from '../../src/lib/import/archive.ts';
import { allPlatforms } from '../../src/lib/oci/platform.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import type { Store } from '../../src/lib/store/store.ts';
import { berth, digestOf, rejection } from '../harness/berth.ts';
import { noise, pushImage, pushIndex } from '../harness/images.ts';

const exec = promisify(execFile);
const name = 'registry.test/library/app:v1';
const ref = parseReference(name);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-archives-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function save(blob: Blob, file: string) {
  const path = join(dir, file);
  await writeFile(path, new Uint8Array(await blob.arrayBuffer()));
  return path;
}

/** A pulled image and its registry-side description. */
async function pulled() {
  const b = berth();
  const img = await pushImage(b.registry, 'library/app', {
    tag: 'v1',
    layers: [{ 'bin/tool': noise(70_000) }, { 'etc/conf': noise(300) }],
  });
  const p = await pullImage(ref, undefined, b.pullContext());
  return { b, img, manifest: p.manifest };
}

/** Every digest the store holds, each read back and hashed by node:crypto. */
async function expectIntact(store: Store) {
  for (const { digest } of await store.content.list()) {
    expect(await digestOf(await store.content.read(digest)), digest).toBe(digest);
  }
}

/** Nothing stored at all: no blob, ingest or image record. */
async function expectEmpty(store: Store) {
  expect(await store.content.list()).toEqual([]);
  expect(await store.content.listIngests()).toEqual([]);
  expect(await store.images.list()).toEqual([]);
}

describe('buildOciArchive', () => {
  test('an OCI layout tar: every member GNU tar lists, each blob hashing to its name', async () => {
    const { b, img, manifest } = await pulled();
    const { blob, fileName } = await buildOciArchive(b.store.content, {
      reference: ref,
      target: manifest,
    });
    expect(fileName).toBe('app_v1.tar');
    const file = await save(blob, 'export.tar');
    const { stdout } = await exec('tar', ['-tf', file]);
    const digests = [img.manifest.digest, img.config.digest, ...img.layers.map((l) => l.digest)];
    expect(stdout.trim().split('\n').sort()).toEqual(
      [
        'oci-layout',
        'index.json',
        'manifest.json',
        ...digests.map((d) => `blobs/sha256/${d.slice(7)}`),
      ].sort(),
    );
    const out = join(dir, 'export');
    await mkdir(out);
    await exec('tar', ['-xf', file, '-C', out]);
    for (const hex of await readdir(join(out, 'blobs/sha256'))) {
      const bytes = await readFile(join(out, 'blobs/sha256', hex));
      expect(createHash('sha256').update(bytes).digest('hex'), `blobs/sha256/${hex}`).toBe(hex);
    }
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([img.manifest.digest]);
    expect(index.manifests[0]!.annotations['io.containerd.image.name']).toBe(name);
    const docker = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as unknown;
    expect(docker).toEqual([
      {
        Config: `blobs/sha256/${img.config.digest.slice(7)}`,
        RepoTags: ['registry.test/library/app:v1'],
        Layers: img.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    // A real client reads it.
    const raw = await exec('skopeo', ['inspect', '--raw', `oci-archive:${file}`]);
    expect(createHash('sha256').update(raw.stdout).digest('hex')).toBe(
      img.manifest.digest.slice(7),
    );
  });

  test('an index pulled with All platforms exports whole', async () => {
    const b = berth();
    const { index, images } = await pushIndex(b.registry, 'library/app', 'v1', [
      { platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: noise(500) }] },
      { platform: { os: 'linux', architecture: 'arm64' }, layers: [{ b: noise(500) }] },
    ]);
    const p = await pullImage(ref, allPlatforms, b.pullContext());
    const { blob } = await buildOciArchive(b.store.content, {
      reference: ref,
      target: p.image.target,
    });
    const { stdout } = await exec('tar', ['-tf', await save(blob, 'index.tar')]);
    const members = stdout.trim().split('\n');
    for (const d of [index.digest, ...images.flatMap((i) => [i.manifest.digest, i.config.digest])])
      expect(members).toContain(`blobs/sha256/${d.slice(7)}`);
  });

  test('an inspected image has no layers to export: it says which blob is missing', async () => {
    const b = berth();
    const img = await pushImage(b.registry, 'library/app', {
      tag: 'v1',
      layers: [{ a: noise(9) }],
    });
    const p = await pullImage(ref, undefined, b.pullContext({ lazy: true }));
    const err = await rejection(
      buildOciArchive(b.store.content, { reference: ref, target: p.manifest }),
    );
    expect(err).toBeInstanceOf(ExportError);
    expect((err as Error).message).toContain(img.layers[0]!.digest);
  });
});

describe('importArchive', () => {
  test('what Berth exports imports into another store: the same image and blobs', async () => {
    const { b, img, manifest } = await pulled();
    const { blob } = await buildOciArchive(b.store.content, { reference: ref, target: manifest });
    const other = memoryStore();
    const result = await importArchive(other, blob);
    expect(result.images).toEqual([
      { name, target: expect.objectContaining({ digest: img.manifest.digest }) },
    ]);
    expect(result.blobs).toBe(4);
    expect((await other.content.list()).map((x) => x.digest).sort()).toEqual(
      (await b.store.content.list()).map((x) => x.digest).sort(),
    );
    await expectIntact(other);
    const rec = await other.images.get(name);
    expect(rec?.manifests[0]?.descriptor.platform).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  test('archives made by skopeo (oci-archive and docker-archive) import whole', async () => {
    const layout = join(dir, 'layout');
    await exec('umoci', ['init', '--layout', layout]);
    await exec('umoci', ['new', '--image', `${layout}:t`]);
    const root = join(dir, 'rootfs');
    await mkdir(root);
    await writeFile(join(root, 'file'), noise(1000));
    await exec('umoci', ['insert', '--image', `${layout}:t`, root, '/data']);
    for (const [kind, tagged] of [
      ['oci-archive', 'example.com/a/b:v1'],
      ['docker-archive', 'example.com/a/b:v2'],
    ] as const) {
      const file = join(dir, `${kind}.tar`);
      await exec('skopeo', ['copy', `oci:${layout}:t`, `${kind}:${file}:${tagged}`]);
      const store = memoryStore();
      const result = await importArchive(store, await openAsBlob(file));
      expect(
        result.images.map((i) => i.name),
        kind,
      ).toEqual([tagged]);
      await expectIntact(store);
      expect(await store.content.listIngests()).toEqual([]);
    }
  }, 30_000);

  test('a damaged layer: nothing is stored, not even the blobs that verified', async () => {
    const { b, img, manifest } = await pulled();
    const { blob } = await buildOciArchive(b.store.content, { reference: ref, target: manifest });
    const bytes = Buffer.from(await blob.arrayBuffer());
    const layer = Buffer.from(
      await (await b.store.content.read(img.layers[0]!.digest)).arrayBuffer(),
    );
    const at = bytes.indexOf(layer);
    expect(at).toBeGreaterThan(0);
    bytes[at + 1000] = bytes[at + 1000]! ^ 0xff;
    const store = memoryStore();
    const err = await rejection(importArchive(store, new Blob([bytes])));
    expect(err).toBeInstanceOf(ImportError);
    expect((err as Error).message).toContain(img.layers[0]!.digest);
    await expectEmpty(store);
  });

  test('a full disk mid-import: nothing is committed, and the locks are let go', async () => {
    const { b, manifest } = await pulled();
    const { blob } = await buildOciArchive(b.store.content, { reference: ref, target: manifest });
    const store = memoryStore({ quotaOnPut: 3 });
    const err = await rejection(importArchive(store, blob));
    expect(err).toMatchObject({ name: 'QuotaExceededError' });
    await expectEmpty(store);
    // The same store takes the archive once there is room: no lock was left held.
    const again = await importArchive(store, blob);
    expect(again.blobs).toBe(4);
    await expectIntact(store);
  });
});

describe('verifyImage', () => {
  test('a pulled image verifies; a damaged or missing blob is reported', async () => {
    const { b, img } = await pulled();
    const rec = (await b.store.images.get(name))!;
    const ok = await verifyImage(b.store, rec);
    expect(ok.problems).toEqual([]);
    expect(ok.checked).toBe(4);
    expect(ok.bytes).toBe(
      img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0),
    );

    await b.store.corrupt(img.layers[0]!.digest);
    await b.store.content.delete(img.layers[1]!.digest);
    const bad = await verifyImage(b.store, rec);
    expect(bad.problems.map((p) => [p.digest, p.problem.split(' ')[0]])).toEqual([
      [img.layers[0]!.digest, 'stored'],
      [img.layers[1]!.digest, 'missing'],
    ]);
  });
});
