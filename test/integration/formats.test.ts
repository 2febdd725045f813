/**
 * The format-edge fixtures (test/harness/formats.ts), checked with real clients against a real
 * registry: skopeo inspect --raw for the served documents, HTTP HEAD/GET for blobs, skopeo copy
 * of the zstd image into an oci: layout, and gzip/zstd/sha256sum/sha512sum over the blobs.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobRequest,
  buildFormatFixtures,
  DEEP_DEPTH,
  EMPTY_JSON_DIGEST,
  FOREIGN_URL,
  FORMAT_MT,
  sha512Bytes,
  type FormatFixtures,
} from '../harness/formats.ts';
import { MT, sha256Bytes, skopeo, type Descriptor } from '../harness/oci.ts';
import { run } from '../harness/process.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

let registry: Registry;
let fx: FormatFixtures;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-formats-test-'));
  registry = await startRegistry();
  const t0 = Date.now();
  fx = await buildFormatFixtures(registry);
  console.log(
    `format fixtures built and pushed in ${Date.now() - t0} ms`,
    JSON.stringify(fx.timings),
  );
  for (const r of fx.refusals) {
    console.log(`registry refused (${r.fixture}): ${r.method} ${r.url}: ${r.status} ${r.body}`);
    console.log(`  -> ${r.outcome}`);
  }
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Doc {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: (Descriptor & { urls?: string[] })[];
  manifests?: (Descriptor & { artifactType?: string })[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

async function inspectRaw(ref: string): Promise<{ digest: string; bytes: Buffer; doc: Doc }> {
  const { stdoutBytes } = await skopeo([
    'inspect',
    '--raw',
    '--tls-verify=false',
    `docker://${ref}`,
  ]);
  return {
    digest: sha256Bytes(stdoutBytes),
    bytes: stdoutBytes,
    doc: JSON.parse(stdoutBytes.toString('utf8')) as Doc,
  };
}

const byDigest = (repository: string, digest: string) => `${registry.host}/${repository}@${digest}`;

async function getBlob(repository: string, digest: string): Promise<Buffer> {
  const res = await blobRequest(registry, repository, digest, 'GET');
  expect(res.status, `GET ${repository} ${digest}`).toBe(200);
  return res.body;
}

async function sha256sum(bytes: Buffer): Promise<string> {
  const { stdout } = await run('sha256sum', ['-'], { input: bytes });
  return 'sha256:' + stdout.split(' ')[0]!;
}

async function sha512sum(bytes: Buffer): Promise<string> {
  const { stdout } = await run('sha512sum', ['-'], { input: bytes });
  return 'sha512:' + stdout.split(' ')[0]!;
}

async function decompress(tool: 'gzip' | 'zstd', bytes: Buffer): Promise<Buffer> {
  return (await run(tool, ['-dc'], { input: bytes })).stdoutBytes;
}

describe('test/zstd:v1', () => {
  it('is served as an OCI manifest with tar+zstd layers and sha256 diff_ids', async () => {
    const f = fx.zstd;
    expect(f.ref).toBe(`${registry.host}/test/zstd:v1`);
    const { digest, doc } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(f.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.mediaType).toBe(MT.ociManifest);
    expect(doc.layers?.map((l) => l.mediaType)).toEqual([MT.ociLayerZstd, MT.ociLayerZstd]);

    const config = JSON.parse(
      (await getBlob('test/zstd', doc.config!.digest)).toString('utf8'),
    ) as { rootfs: { diff_ids: string[] } };
    for (const [i, layer] of doc.layers!.entries()) {
      const blob = await getBlob('test/zstd', layer.digest);
      expect(blob.length).toBe(layer.size);
      expect(blob.subarray(0, 4).toString('hex')).toBe('28b52ffd'); // zstd frame magic
      expect(await sha256sum(blob)).toBe(layer.digest);
      const tar = await decompress('zstd', blob);
      expect(await sha256sum(tar)).toBe(config.rootfs.diff_ids[i]);
      expect(f.layers![i]!.diffID).toBe(config.rootfs.diff_ids[i]);
    }
    const { stdout } = await run('tar', ['-t'], {
      input: await decompress('zstd', await getBlob('test/zstd', doc.layers![1]!.digest)),
    });
    expect(stdout.split('\n')).toContain('etc/.wh.motd');
  });

  it('copies into an oci: layout with skopeo, which verifies every digest', async () => {
    const dir = join(work, 'zstd-copy');
    await skopeo([
      'copy',
      '--quiet',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${fx.zstd.ref}`,
      `oci:${dir}:copied`,
    ]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Doc;
    expect(index.manifests?.[0]?.digest).toBe(fx.zstd.digest);
    const hex = (d: string) => d.replace(/^sha256:/, '');
    const manifest = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', hex(fx.zstd.digest)), 'utf8'),
    ) as Doc;
    expect(manifest.layers?.every((l) => l.mediaType === MT.ociLayerZstd)).toBe(true);
    for (const l of manifest.layers!) {
      const { stdout } = await run('sha256sum', [join(dir, 'blobs', 'sha256', hex(l.digest))]);
      expect('sha256:' + stdout.split(' ')[0]).toBe(l.digest);
    }
  });
});

describe('test/sha512:v1', () => {
  it('is pushed, or the refusal is recorded', () => {
    const refused = fx.refusals.filter((r) => r.fixture === 'sha512');
    expect(refused.length > 0).toBe(fx.sha512 === undefined);
  });

  it('serves a manifest (sha256 itself) whose config and layer are sha512-addressed', async (ctx) => {
    const f = fx.sha512;
    if (!f) return ctx.skip();
    const { digest, doc } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(f.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.config?.digest).toMatch(/^sha512:[0-9a-f]{128}$/);
    expect(doc.config?.digest).toBe(f.configDigest);
    expect(doc.layers?.[0]?.digest).toMatch(/^sha512:[0-9a-f]{128}$/);

    const configBytes = await getBlob('test/sha512', f.configDigest);
    expect(await sha512sum(configBytes)).toBe(f.configDigest);
    expect(sha512Bytes(configBytes)).toBe(f.configDigest);
    const config = JSON.parse(configBytes.toString('utf8')) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids[0]).toMatch(/^sha512:[0-9a-f]{128}$/);

    const layer = await getBlob('test/sha512', f.layers[0]!.digest);
    expect(layer.length).toBe(f.layers[0]!.size);
    expect(await sha512sum(layer)).toBe(f.layers[0]!.digest);
    expect(await sha512sum(await decompress('gzip', layer))).toBe(config.rootfs.diff_ids[0]);
  });

  it('answers HEAD by sha512 with 200 and a sha256 Docker-Content-Digest', async (ctx) => {
    const f = fx.sha512;
    if (!f) return ctx.skip();
    const head = await blobRequest(registry, 'test/sha512', f.layers[0]!.digest, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(f.layers[0]!.size));
    // distribution stores blobs under their sha256 and reports that digest, not the one asked.
    expect(head.headers.get('docker-content-digest')).toBe(f.sha256.layerDigests[0]);
    const cfg = await blobRequest(registry, 'test/sha512', f.configDigest, 'HEAD');
    expect(cfg.headers.get('docker-content-digest')).toBe(f.sha256.configDigest);
  });
});

describe('test/foreign:v1', () => {
  it('is a Docker schema2 manifest with a foreign layer that has urls', async () => {
    const f = fx.foreign;
    const { digest, doc } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(doc.mediaType).toBe(MT.dockerManifest);
    expect(f.mediaType).toBe(MT.dockerManifest);
    expect(doc.layers?.map((l) => l.mediaType)).toEqual([
      MT.dockerLayerGzip,
      FORMAT_MT.dockerForeignLayerGzip,
    ]);
    expect(doc.layers?.[1]?.urls).toEqual([FOREIGN_URL]);
    expect(doc.layers?.[1]?.digest).toBe(f.foreignLayer.digest);
    expect(doc.layers?.[0]?.urls).toBeUndefined();
    // Also by digest; pushedVia says whether the registry took the PUT (see refusals).
    expect((await inspectRaw(byDigest('test/foreign', f.digest))).digest).toBe(f.digest);
    expect(['api', 'storage']).toContain(f.pushedVia);
    expect(f.pushedVia === 'storage').toBe(fx.refusals.some((r) => r.fixture === 'foreign'));
  });

  it('has the config and normal layer in the registry, but not the foreign blob', async () => {
    const f = fx.foreign;
    expect((await blobRequest(registry, 'test/foreign', f.configDigest)).status).toBe(200);
    expect((await blobRequest(registry, 'test/foreign', f.layers[0]!.digest)).status).toBe(200);
    expect((await blobRequest(registry, 'test/foreign', f.foreignLayer.digest)).status).toBe(404);
    const get = await blobRequest(registry, 'test/foreign', f.foreignLayer.digest, 'GET');
    expect(get.status).toBe(404);
    expect(get.body.toString('utf8')).toContain('BLOB_UNKNOWN');
  });

  it("keeps a real digest and diffID for the foreign layer's bytes", async () => {
    const f = fx.foreign;
    expect(await sha256sum(f.foreignTarGz)).toBe(f.foreignLayer.digest);
    expect(f.foreignTarGz.length).toBe(f.foreignLayer.size);
    const config = JSON.parse((await getBlob('test/foreign', f.configDigest)).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(await sha256sum(await decompress('gzip', f.foreignTarGz))).toBe(
      config.rootfs.diff_ids[1],
    );
    expect(config.rootfs.diff_ids[1]).toBe(f.foreignLayer.diffID);
  });
});

describe('test/artifact:v1 and the referrers tag schema', () => {
  it('serves the subject image test/withsbom:v1', async () => {
    const s = fx.artifact.subject;
    const { digest, doc } = await inspectRaw(s.ref);
    expect(digest).toBe(s.digest);
    expect(doc.mediaType).toBe(MT.ociManifest);
  });

  it('serves the artifact manifest with artifactType, the empty config and a subject', async () => {
    const a = fx.artifact;
    const { digest, bytes, doc } = await inspectRaw(a.ref);
    expect(digest).toBe(a.digest);
    expect(doc.mediaType).toBe(MT.ociManifest);
    expect(doc.artifactType).toBe(FORMAT_MT.spdxJson);
    expect(doc.config).toEqual({
      mediaType: FORMAT_MT.ociEmpty,
      digest: EMPTY_JSON_DIGEST,
      size: 2,
    });
    expect(doc.layers?.[0]?.mediaType).toBe(FORMAT_MT.spdxJson);
    expect(doc.subject).toEqual({
      mediaType: MT.ociManifest,
      digest: a.subject.digest,
      size: a.subject.size,
    });
    // The same manifest, by digest, in the subject's repository.
    const inSubjectRepo = await inspectRaw(byDigest('test/withsbom', a.digest));
    expect(inSubjectRepo.bytes.equals(bytes)).toBe(true);
    expect((await getBlob('test/artifact', EMPTY_JSON_DIGEST)).toString()).toBe('{}');
    expect((await getBlob('test/withsbom', EMPTY_JSON_DIGEST)).toString()).toBe('{}');
  });

  it('has an SPDX document listing the files of the subject rootfs', async () => {
    const a = fx.artifact;
    const bytes = await getBlob('test/artifact', a.sbomLayer.digest);
    expect(await sha256sum(bytes)).toBe(a.sbomLayer.digest);
    const sbom = JSON.parse(bytes.toString('utf8')) as {
      spdxVersion: string;
      files: { fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[];
    };
    expect(sbom.spdxVersion).toBe('SPDX-2.3');
    const names = sbom.files.map((f) => f.fileName);
    expect(names).toEqual(['./bin/busybox', './etc/passwd', './etc/services']);
    const services = sbom.files.find((f) => f.fileName === './etc/services')!;
    const { stdout } = await run('sha256sum', ['/etc/services']);
    expect(services.checksums).toContainEqual({
      algorithm: 'SHA256',
      checksumValue: stdout.split(' ')[0],
    });
  });

  it('has the referrers index at sha256-<subject hex> listing the artifact', async () => {
    const a = fx.artifact;
    expect(a.referrersTag).toBe(a.subject.digest.replace('sha256:', 'sha256-'));
    expect(a.referrersTag).toMatch(/^sha256-[0-9a-f]{64}$/);
    const { digest, doc } = await inspectRaw(a.referrersRef);
    expect(digest).toBe(a.referrersIndexDigest);
    expect(doc.mediaType).toBe(MT.ociIndex);
    expect(doc.manifests).toHaveLength(1);
    expect(doc.manifests?.[0]).toMatchObject({
      mediaType: MT.ociManifest,
      digest: a.digest,
      size: a.size,
      artifactType: FORMAT_MT.spdxJson,
    });
    // distribution 2.8 has no referrers API.
    const res = await fetch(`${registry.url}/v2/test/withsbom/referrers/${a.subject.digest}`);
    await res.body?.cancel();
    expect(res.status).toBe(404);
  });
});

describe('test/nested:v1', () => {
  it('is an OCI index holding an OCI index and a manifest', async () => {
    const f = fx.nested;
    const { digest, doc } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(doc.mediaType).toBe(MT.ociIndex);
    expect(doc.manifests?.map((m) => m.mediaType)).toEqual([MT.ociIndex, MT.ociManifest]);
    expect(doc.manifests?.[0]?.digest).toBe(f.inner.digest);
    expect(doc.manifests?.[0]?.platform).toBeUndefined();
    expect(doc.manifests?.[1]?.platform).toEqual({ os: 'linux', architecture: 'riscv64' });

    const inner = await inspectRaw(byDigest('test/nested', f.inner.digest));
    expect(inner.digest).toBe(f.inner.digest);
    expect(inner.doc.mediaType).toBe(MT.ociIndex);
    expect(inner.doc.manifests?.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    for (const img of [...f.inner.images, f.direct]) {
      const m = await inspectRaw(byDigest('test/nested', img.digest));
      expect(m.digest).toBe(img.digest);
      expect(m.doc.mediaType).toBe(MT.ociManifest);
      for (const b of [m.doc.config!, ...m.doc.layers!]) {
        expect((await blobRequest(registry, 'test/nested', b.digest)).status).toBe(200);
      }
    }
  });
});

describe('test/deep:v1', () => {
  it(`is a chain of ${DEEP_DEPTH} OCI indexes ending in one manifest`, async () => {
    const f = fx.deep;
    expect(f.chain).toHaveLength(DEEP_DEPTH);
    expect(f.chain[0]!.digest).toBe(f.digest);
    let ref = f.ref;
    for (let level = 1; level <= DEEP_DEPTH; level++) {
      const { digest, doc } = await inspectRaw(ref);
      expect(digest).toBe(f.chain[level - 1]!.digest);
      expect(doc.mediaType).toBe(MT.ociIndex);
      expect(doc.annotations?.['berth.test.deep.level']).toBe(String(level));
      expect(doc.manifests).toHaveLength(1);
      const next = doc.manifests![0]!;
      expect(next.mediaType).toBe(level < DEEP_DEPTH ? MT.ociIndex : MT.ociManifest);
      ref = byDigest('test/deep', next.digest);
    }
    const leaf = await inspectRaw(ref);
    expect(leaf.digest).toBe(f.leaf.digest);
    expect(leaf.doc.mediaType).toBe(MT.ociManifest);
  });
});
