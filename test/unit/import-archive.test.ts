// Reading image archives without a store: the tar scan, the plan of what to store, and the
// manifest built for a legacy `docker save` image. The archives are made by umoci, skopeo and
// GNU tar at test time; the store is a map (Node has no IndexedDB).
import { execFile } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  buildLegacyManifest,
  digestInName,
  parseDockerManifest,
} from '../../src/lib/import/docker.ts';
import { ImportError } from '../../src/lib/import/errors.ts';
import { scanArchive } from '../../src/lib/import/members.ts';
import { type StoredBlobs, planImport } from '../../src/lib/import/plan.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';

const exec = promisify(execFile);
let dir: string;
let ociArchive: string;
let dockerArchive: string;
let raw: {
  config: { digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
};
let rawBytes: string;

const nothingStored: StoredBlobs = {
  info: () => Promise.resolve(undefined),
  readBytes: (d) => Promise.reject(new Error(`${d} is not stored`)),
};

async function plan(file: string, stored = nothingStored) {
  return planImport(await scanArchive(await openAsBlob(file)), stored);
}

/** The message of the ImportError that fn throws. */
async function failure(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImportError);
    return (err as Error).message;
  }
  throw new Error('it did not fail');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-import-'));
  const layout = join(dir, 'layout');
  await exec('umoci', ['init', '--layout', layout]);
  await exec('umoci', ['new', '--image', `${layout}:t`]);
  for (const [i, file] of ['/etc/hostname', '/etc/os-release'].entries()) {
    const root = join(dir, `rootfs${i}`);
    await mkdir(root);
    await writeFile(join(root, `file${i}`), await readFile(file));
    await exec('umoci', ['insert', '--image', `${layout}:t`, root, `/layer${i}`]);
  }
  ociArchive = join(dir, 'oci.tar');
  dockerArchive = join(dir, 'docker.tar');
  await exec('skopeo', ['copy', `oci:${layout}:t`, `oci-archive:${ociArchive}:example.com/a/b:v1`]);
  await exec('skopeo', [
    'copy',
    `oci:${layout}:t`,
    `docker-archive:${dockerArchive}:example.com/a/b:v2`,
  ]);
  rawBytes = (await exec('skopeo', ['inspect', '--raw', `docker-archive:${dockerArchive}`])).stdout;
  raw = JSON.parse(rawBytes) as typeof raw;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the legacy manifest', () => {
  test("is serialised as skopeo's docker-archive source serialises it", async () => {
    // skopeo types the uncompressed layers as gzip (docker's quirk); Berth types them as what
    // they are, so only the layer media type is taken from skopeo here.
    const built = await buildLegacyManifest(raw.config, raw.layers);
    expect(new TextDecoder().decode(built.bytes)).toBe(rawBytes.trim());
    expect(built.descriptor.mediaType).toBe(MediaType.DockerManifest);
  });

  test('digestInName', () => {
    const hex = 'ab'.repeat(32);
    for (const [path, want] of [
      [`${hex}.json`, `sha256:${hex}`],
      [`blobs/sha256/${hex}`, `sha256:${hex}`],
      [`${hex}/json`, undefined],
      ['manifest.json', undefined],
    ] as const) {
      expect(digestInName(path), `digestInName(${path})`).toBe(want);
    }
  });

  test('parseDockerManifest refuses what is not a docker save manifest', () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    for (const [doc, want] of [
      [{}, 'it is not a JSON array of images'],
      [[], 'it lists no images'],
      [[{ Layers: [] }], 'entry 0 has no Config'],
      [[{ Config: 'c.json', Layers: 'x' }], 'Layers of entry 0 is not a list of paths'],
      [[{ Config: 'c.json', Layers: [], RepoTags: [1] }], 'RepoTags of entry 0'],
    ] as const) {
      expect(() => parseDockerManifest(enc(doc)), JSON.stringify(doc)).toThrow(want);
    }
    const deep = new TextEncoder().encode(`[{"Config":${'['.repeat(5000)}${']'.repeat(5000)}}]`);
    expect(() => parseDockerManifest(deep)).toThrow(
      new ImportError(
        'manifest.json is not a docker save manifest: it nests 5002 levels deep; Berth reads at most 64',
      ),
    );
    expect(
      parseDockerManifest(enc([{ Config: 'c.json', Layers: ['l.tar'], RepoTags: null }])),
    ).toEqual([{ config: 'c.json', repoTags: [], layers: ['l.tar'], layerSources: {} }]);
  });
});

describe('planImport', () => {
  test('an oci-archive: one image, its blobs, its platform', async () => {
    const p = await plan(ociArchive);
    expect(p.format).toBe('oci');
    expect(p.images.map((i) => i.name)).toEqual(['example.com/a/b:v1']);
    const image = p.images[0]!;
    expect(image.target.mediaType).toBe(MediaType.OciManifest);
    expect(image.manifests[0]!.descriptor.platform).toMatchObject({ os: 'linux' });
    expect(p.blobs.size).toBe(4); // manifest, config, two layers
    expect(p.blobs.get(image.target.digest)?.member).toBeDefined();
  });

  test('a docker-archive: a schema2 manifest whose layers are the diffIDs', async () => {
    const p = await plan(dockerArchive);
    expect(p.format).toBe('docker');
    expect(p.images.map((i) => i.name)).toEqual(['example.com/a/b:v2']);
    const target = p.images[0]!.target;
    const manifest = JSON.parse(new TextDecoder().decode(p.blobs.get(target.digest)!.bytes)) as {
      config: { digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    expect(manifest.config.digest).toBe(raw.config.digest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(raw.layers.map((l) => l.digest));
    expect(new Set(manifest.layers.map((l) => l.mediaType))).toEqual(
      new Set([MediaType.DockerLayer]),
    );
    expect(p.blobs.size).toBe(4);
  });

  test('legacy layer paths (<id>/layer.tar, a symlink) and "./" names are followed', async () => {
    const unpacked = join(dir, 'legacy');
    await mkdir(unpacked);
    await exec('tar', ['-xf', dockerArchive, '-C', unpacked]);
    const links = (await exec('find', [unpacked, '-name', 'layer.tar'])).stdout.trim().split('\n');
    expect(links.length).toBe(raw.layers.length);
    const path = join(unpacked, 'manifest.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as { Layers: string[] }[];
    // Each layer by its legacy directory, found by the file the symlink points at.
    const targetOf = async (l: string) =>
      (await exec('readlink', [l])).stdout.trim().replace('../', '');
    const byTarget = new Map<string, string>();
    for (const l of links) byTarget.set(await targetOf(l), l.slice(unpacked.length + 1));
    m[0]!.Layers = m[0]!.Layers.map((l) => byTarget.get(l)!);
    await writeFile(path, JSON.stringify(m));
    const file = join(dir, 'legacy.tar');
    await exec('tar', ['-cf', file, '-C', unpacked, '.']);
    const p = await plan(file);
    const before = await plan(dockerArchive);
    expect(p.images[0]!.target).toEqual(before.images[0]!.target);
  });

  test('stored blobs are not planned, and need not be in the archive', async () => {
    const layer = raw.layers[0]!;
    const stored: StoredBlobs = {
      info: (d) => Promise.resolve(d === layer.digest ? { size: layer.size } : undefined),
      readBytes: nothingStored.readBytes,
    };
    const p = await plan(dockerArchive, stored);
    expect(p.blobs.has(layer.digest)).toBe(false);
    expect(p.blobs.size).toBe(3);
  });

  test('a missing blob is named with the manifest that lists it', async () => {
    const unpacked = join(dir, 'missing');
    await mkdir(unpacked);
    await exec('tar', ['-xf', ociArchive, '-C', unpacked]);
    const index = JSON.parse(await readFile(join(unpacked, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifestDigest = index.manifests[0]!.digest;
    const manifest = JSON.parse(
      await readFile(join(unpacked, 'blobs/sha256', manifestDigest.slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    const gone = manifest.layers[1]!.digest;
    await rm(join(unpacked, 'blobs/sha256', gone.slice(7)));
    const file = join(dir, 'missing.tar');
    await exec('tar', ['-cf', file, '-C', unpacked, '.']);
    expect(await failure(() => plan(file))).toBe(
      `blob ${gone} listed by manifest ${manifestDigest} is not in the archive`,
    );
  });

  test('what is not an image archive', async () => {
    const gz = join(dir, 'oci.tar.gz');
    await exec('sh', ['-c', `gzip -c ${ociArchive} > ${gz}`]);
    // skopeo's small archive has its blobs first: its first half ends between two members, a
    // cut tar cannot see; a byte more is inside a member.
    const half = Math.floor((await stat(ociArchive)).size / 2);
    const cut = join(dir, 'cut.tar');
    const cutInside = join(dir, 'cut-inside.tar');
    for (const [file, size] of [
      [cut, half],
      [cutInside, half + 100],
    ] as const) {
      await exec('cp', [ociArchive, file]);
      await truncate(file, size);
    }
    const hostname = join(dir, 'hostname.tar');
    await exec('tar', ['-cf', hostname, '-C', '/', 'etc/hostname']);
    const empty = join(dir, 'empty');
    await writeFile(empty, '');
    for (const [file, want] of [
      ['/bin/true', /^this is not a tar archive$/],
      [empty, /^this is not a tar archive: the file is empty$/],
      [gz, /^this is a gzip-compressed file, not a tar archive: decompress it first/],
      [
        cut,
        /; the archive also ends without tar's end-of-archive blocks, so it is probably truncated/,
      ],
      [cutInside, /^the archive ends in the middle of .*: the file is truncated/],
      [hostname, /^the archive holds no index.json or manifest.json: it is not an image archive$/],
    ] as const) {
      expect(await failure(() => plan(file)), file).toMatch(want);
    }
  });

  test('an OCI layout whose index.json nests 5000 deep is an ImportError naming the limit', async () => {
    const unpacked = join(dir, 'deep-index');
    await mkdir(unpacked);
    await exec('tar', ['-xf', ociArchive, '-C', unpacked]);
    const path = join(unpacked, 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    await writeFile(path, `{"schemaVersion":${deep},${JSON.stringify(index).slice(1)}`);
    const file = join(dir, 'deep-index.tar');
    await exec('tar', ['-cf', file, '-C', unpacked, '.']);
    expect(await failure(() => plan(file))).toBe(
      'index.json is not valid: the manifest nests 5001 levels deep; Berth reads at most 64',
    );
  });
});
