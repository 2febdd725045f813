/**
 * Format-edge fixture images, built at test time from real files with real tools (GNU tar,
 * gzip -n, zstd, sha512sum, sha1sum) and pushed to a harness registry:
 *
 * - test/zstd:v1      OCI image with `tar+zstd` layers, pushed with skopeo (digests preserved).
 * - test/sha512:v1    OCI image whose config and layer are addressed by sha512 digests; pushed
 *                     by hand over the registry HTTP API (skopeo only computes sha256).
 * - test/foreign:v1   Docker schema2 image with a foreign layer (`urls`) whose blob is NOT in
 *                     the registry; pushed by hand so nothing tries to copy the foreign blob.
 * - test/withsbom:v1  a small image, plus an SPDX artifact manifest whose `subject` is it
 *                     (also tagged test/artifact:v1) and the referrers tag-schema index at
 *                     `test/withsbom:sha256-<subject hex>` (distribution 2.8 has no referrers
 *                     API).
 * - test/nested:v1    OCI index holding an OCI index (linux/amd64 + linux/arm64/v8) and a
 *                     linux/riscv64 manifest.
 * - test/deep:v1      six OCI indexes nested in a chain, ending in one linux/amd64 manifest.
 *
 * Only JSON documents are written by Node; layer bytes come from tar/gzip/zstd.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FixtureImage } from './fixtures.ts';
import {
  buildImage,
  FIXED_CREATED,
  MT,
  OciLayout,
  pushLayout,
  sha256Bytes,
  type BuiltImage,
  type Descriptor,
  type LayerInfo,
  type Platform,
} from './oci.ts';
import { run } from './process.ts';
import { registryAuthHeaders, type Registry } from './registry.ts';

// ---------------------------------------------------------------------------------------
// Media types not in oci.ts's MT

export const FORMAT_MT = {
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  spdxJson: 'application/spdx+json',
} as const;

/** The OCI empty descriptor's blob: the two bytes `{}`. */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST =
  'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export const FOREIGN_URL = 'https://example.invalid/layer.tar.gz';

// ---------------------------------------------------------------------------------------
// Fixture shapes

/** What every format fixture has: where it is and what the registry serves at its tag. */
export interface ServedRoot {
  repository: string;
  tag: string;
  /** '127.0.0.1:PORT/test/zstd:v1' */
  ref: string;
  /** Root digest as served (sha256 of the manifest/index bytes, also for test/sha512). */
  digest: string;
  /** Root media type as served (Content-Type). */
  mediaType: string;
  size: number;
}

export interface Sha512Fixture extends ServedRoot {
  manifest: Record<string, unknown>;
  /** 'sha512:<128 hex>' */
  configDigest: string;
  configSize: number;
  /** digest and diffID are both sha512 ('sha512:<128 hex>'). */
  layers: LayerInfo[];
  /** The same blobs' sha256 digests: distribution stores blobs under sha256 and answers
   * blob requests by sha512 with `Docker-Content-Digest: sha256:…`. */
  sha256: { configDigest: string; layerDigests: string[]; layerDiffIDs: string[] };
}

export interface ForeignLayerInfo extends LayerInfo {
  urls: string[];
}

export interface ForeignFixture extends ServedRoot {
  manifest: Record<string, unknown>;
  configDigest: string;
  /** Both layers in manifest order: [normal gzip layer, foreign layer]. */
  layers: LayerInfo[];
  /** The foreign layer (layers[1]); its blob is NOT in the registry (404). */
  foreignLayer: ForeignLayerInfo;
  /** The foreign layer's blob (a real tar.gz; its digest is foreignLayer.digest), for a
   * client test that serves the URL itself (e.g. a browser route for example.invalid). */
  foreignTarGz: Buffer;
  /**
   * 'api' when the registry took the manifest PUT; 'storage' when it refused it (distribution
   * 2.7+ without validation.manifests.urls.allow) and the manifest was written into its
   * filesystem storage instead (see refusals).
   */
  pushedVia: 'api' | 'storage';
}

export interface ArtifactFixture extends ServedRoot {
  /** test/artifact:v1; the same manifest also lives, by digest, in the subject's repository. */
  manifest: Record<string, unknown>;
  artifactType: string;
  /** The empty config: EMPTY_JSON_DIGEST, size 2. */
  config: Descriptor;
  /** The SPDX layer. */
  sbomLayer: Descriptor;
  sbom: Record<string, unknown>;
  /** The image the artifact refers to (test/withsbom:v1). */
  subject: FixtureImage;
  /** Referrers tag schema: 'sha256-<subject hex>' in the subject's repository. */
  referrersTag: string;
  referrersRef: string;
  referrersIndexDigest: string;
  referrersIndex: Record<string, unknown>;
}

export interface NestedImage {
  digest: string;
  size: number;
  mediaType: string;
  platform: Platform;
  configDigest: string;
  layers: LayerInfo[];
}

export interface NestedFixture extends ServedRoot {
  index: Record<string, unknown>;
  /** The index inside the root index (first entry of the root). */
  inner: { digest: string; size: number; mediaType: string; images: NestedImage[] };
  /** The manifest directly in the root index (second entry). */
  direct: NestedImage;
}

export interface DeepFixture extends ServedRoot {
  /** Number of indexes in the chain (6), the root included. */
  depth: number;
  /** The indexes, root first; chain[i] holds only chain[i + 1] (the last holds the leaf). */
  chain: { digest: string; size: number; mediaType: string }[];
  leaf: NestedImage;
}

export interface FormatFixtures {
  zstd: FixtureImage;
  /** undefined when the registry refused sha512 (see refusals). */
  sha512: Sha512Fixture | undefined;
  foreign: ForeignFixture;
  artifact: ArtifactFixture;
  nested: NestedFixture;
  deep: DeepFixture;
  /** What the registry refused while building (empty when all went through). */
  refusals: Refusal[];
  /** Wall time per fixture in ms (build + push). */
  timings: Record<string, number>;
}

// ---------------------------------------------------------------------------------------
// Registry HTTP API (push by hand)

/** A push the registry refused, and which fixture it was for. */
export interface Refusal {
  fixture: 'sha512' | 'foreign';
  method: string;
  url: string;
  status: number;
  body: string;
  /** What buildFormatFixtures did about it. */
  outcome: string;
}

/** The registry answered a push with an error status. */
export class RegistryRefusal extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${url}: ${status} ${body}`);
    this.name = 'RegistryRefusal';
  }
}

export interface UploadedBlob {
  /** The digest asked for. */
  digest: string;
  /** The registry's Docker-Content-Digest on the final PUT (sha256 even for sha512). */
  headerDigest: string | null;
}

/**
 * Monolithic upload: `POST /v2/<name>/blobs/uploads/`, then `PUT <location>&digest=…` with
 * the whole body. Throws RegistryRefusal on any non-2xx answer.
 */
export async function uploadBlob(
  registry: Registry,
  repository: string,
  bytes: Buffer,
  digest: string,
): Promise<UploadedBlob> {
  const auth = await registryAuthHeaders(registry, repository, ['pull', 'push']);
  const startUrl = `${registry.url}/v2/${repository}/blobs/uploads/`;
  const start = await fetch(startUrl, { method: 'POST', headers: { ...auth } });
  const startBody = await start.text();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) {
    throw new RegistryRefusal('POST', startUrl, start.status, startBody);
  }
  const url = new URL(location, registry.url);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    headers: {
      ...auth,
      'content-type': 'application/octet-stream',
    },
    body: new Uint8Array(bytes),
  });
  const putBody = await put.text();
  if (put.status !== 201) throw new RegistryRefusal('PUT', url.toString(), put.status, putBody);
  return { digest, headerDigest: put.headers.get('docker-content-digest') };
}

/** HEAD (or GET) a blob; returns status, headers and (for GET) the body. */
export async function blobRequest(
  registry: Registry,
  repository: string,
  digest: string,
  method: 'HEAD' | 'GET' = 'HEAD',
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`, {
    method,
    headers: await registryAuthHeaders(registry, repository, ['pull']),
  });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

/** Upload unless the registry already has it in this repository. */
async function ensureBlob(
  registry: Registry,
  repository: string,
  bytes: Buffer,
  digest: string,
): Promise<void> {
  const { status } = await blobRequest(registry, repository, digest, 'HEAD');
  if (status === 200) return;
  await uploadBlob(registry, repository, bytes, digest);
}

/** `PUT /v2/<name>/manifests/<reference>`; returns the registry's Docker-Content-Digest. */
export async function putManifest(
  registry: Registry,
  repository: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string | null> {
  const url = `${registry.url}/v2/${repository}/manifests/${reference}`;
  const res = await fetch(url, {
    method: 'PUT',
    headers: {
      ...(await registryAuthHeaders(registry, repository, ['pull', 'push'])),
      'content-type': mediaType,
    },
    body: new Uint8Array(bytes),
  });
  const body = await res.text();
  if (res.status !== 201) throw new RegistryRefusal('PUT', url, res.status, body);
  const headerDigest = res.headers.get('docker-content-digest');
  if (headerDigest !== null && headerDigest !== sha256Bytes(bytes)) {
    throw new Error(`PUT ${url}: registry says ${headerDigest}, body is ${sha256Bytes(bytes)}`);
  }
  return headerDigest;
}

/** GET a manifest by tag or digest exactly as served (any Accept you pass). */
export async function getManifest(
  registry: Registry,
  repository: string,
  reference: string,
  accept: string,
): Promise<{ status: number; mediaType: string; bytes: Buffer; headerDigest: string | null }> {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    headers: { accept, ...(await registryAuthHeaders(registry, repository, ['pull'])) },
  });
  return {
    status: res.status,
    mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
    bytes: Buffer.from(await res.arrayBuffer()),
    headerDigest: res.headers.get('docker-content-digest'),
  };
}

/** Read back what the registry serves at reference and check it is exactly `bytes`. */
async function served(
  registry: Registry,
  repository: string,
  tag: string,
  bytes: Buffer,
  mediaType: string,
): Promise<ServedRoot> {
  const got = await getManifest(registry, repository, tag, mediaType);
  if (got.status !== 200) {
    throw new Error(`GET ${repository}:${tag}: ${got.status} ${got.bytes.toString('utf8')}`);
  }
  if (!got.bytes.equals(bytes)) {
    throw new Error(`${repository}:${tag} is served with other bytes than were pushed`);
  }
  if (got.mediaType !== mediaType) {
    throw new Error(`${repository}:${tag} is served as ${got.mediaType}, pushed ${mediaType}`);
  }
  return {
    repository,
    tag,
    ref: `${registry.host}/${repository}:${tag}`,
    digest: sha256Bytes(got.bytes),
    mediaType: got.mediaType,
    size: got.bytes.length,
  };
}

/**
 * Push the manifest or index at `root` from an OCI layout, children first (indexes may nest),
 * every document by digest, the root also by tag. Blobs go up with uploadBlob.
 */
export async function pushTree(
  layout: OciLayout,
  registry: Registry,
  repository: string,
  root: Descriptor,
  tag?: string,
): Promise<void> {
  const bytes = await readFile(layout.blobPath(root.digest));
  const doc = JSON.parse(bytes.toString('utf8')) as {
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  };
  for (const child of doc.manifests ?? []) await pushTree(layout, registry, repository, child);
  const blobs = [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
  await Promise.all(
    blobs.map(async (b) =>
      ensureBlob(registry, repository, await readFile(layout.blobPath(b.digest)), b.digest),
    ),
  );
  await putManifest(registry, repository, root.digest, bytes, root.mediaType);
  if (tag !== undefined) await putManifest(registry, repository, tag, bytes, root.mediaType);
}

/**
 * Store a manifest and tag it the way distribution 2.x's filesystem driver does after a PUT:
 * the bytes as a blob, a revision link and the tag's current/index links. Only for documents
 * the registry's validation refuses but its GET path serves (foreign-layer `urls`). Needs the
 * harness registry (filesystem storage under registry.dir/data).
 */
export async function linkManifestInStorage(
  registry: Registry,
  repository: string,
  tag: string,
  bytes: Buffer,
): Promise<string> {
  const digest = sha256Bytes(bytes);
  const hex = digest.slice('sha256:'.length);
  const v2 = join(registry.dir, 'data', 'docker', 'registry', 'v2');
  await stat(v2); // the registry has stored something: the layout below is its own
  const put = async (path: string, content: Buffer | string) => {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, content);
    await rename(tmp, path);
  };
  await put(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), bytes);
  const manifests = join(v2, 'repositories', ...repository.split('/'), '_manifests');
  await put(join(manifests, 'revisions', 'sha256', hex, 'link'), digest);
  await put(join(manifests, 'tags', tag, 'index', 'sha256', hex, 'link'), digest);
  await put(join(manifests, 'tags', tag, 'current', 'link'), digest);
  return digest;
}

// ---------------------------------------------------------------------------------------
// Real-tool digests

/** `sha512:<hex>` of a file, with sha512sum. */
async function sha512sumFile(path: string): Promise<string> {
  const { stdout } = await run('sha512sum', ['--', path]);
  return 'sha512:' + stdout.split(' ')[0]!;
}

/** `sha512:<hex>` of bytes, with sha512sum on stdin. */
async function sha512sumBytes(bytes: Buffer): Promise<string> {
  const { stdout } = await run('sha512sum', ['-'], { input: bytes });
  return 'sha512:' + stdout.split(' ')[0]!;
}

/** The uncompressed bytes of a gzip file, with gzip -dc. */
async function gunzip(path: string): Promise<Buffer> {
  return (await run('gzip', ['-dc', '--', path])).stdoutBytes;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function nestedImage(image: BuiltImage, platform?: Platform): NestedImage {
  return {
    digest: image.descriptor.digest,
    size: image.descriptor.size,
    mediaType: image.descriptor.mediaType,
    platform: platform ?? {
      os: image.config.os,
      architecture: image.config.architecture,
      ...(image.config.variant !== undefined ? { variant: image.config.variant } : {}),
    },
    configDigest: image.configDescriptor.digest,
    layers: image.layers,
  };
}

function platformOf(image: BuiltImage): Platform {
  return nestedImage(image).platform;
}

// ---------------------------------------------------------------------------------------
// 1. test/zstd:v1

async function buildZstd(layout: OciLayout, registry: Registry): Promise<FixtureImage> {
  const image = await buildImage({
    layout,
    mediaTypes: 'oci',
    layers: [
      {
        compression: 'zstd',
        entries: [
          {
            type: 'copy',
            path: 'bin/busybox',
            from: '/bin/busybox',
            size: 256 * 1024,
            mode: 0o755,
          },
          { type: 'copy', path: 'etc/services', from: '/etc/services' },
          { type: 'file', path: 'etc/motd', content: 'zstd layer 1\n' },
        ],
        createdBy: 'ADD rootfs.tar.zst /',
      },
      {
        compression: 'zstd',
        entries: [
          { type: 'whiteout', path: 'etc/motd' },
          {
            type: 'copy',
            path: 'usr/share/licenses/GPL-3',
            from: '/usr/share/common-licenses/GPL-3',
          },
        ],
        createdBy: 'RUN rm /etc/motd && cp GPL-3 /usr/share/licenses/',
      },
    ],
    config: {
      config: { Env: [PATH_ENV], Cmd: ['/bin/sh'], Labels: { 'berth.test.fixture': 'zstd' } },
    },
  });
  await layout.tag(image.descriptor, 'test-zstd-v1');
  const fetched = await pushLayout({
    layout,
    layoutTag: 'test-zstd-v1',
    registry,
    repository: 'test/zstd',
    tag: 'v1',
    expect: image.descriptor,
  });
  const layers = (fetched.json.layers ?? []) as Descriptor[];
  if (layers.length !== 2 || layers.some((l) => l.mediaType !== MT.ociLayerZstd)) {
    throw new Error(`test/zstd:v1 was not served with +zstd layers: ${fetched.bytes.toString()}`);
  }
  return {
    repository: 'test/zstd',
    tag: 'v1',
    ref: `${registry.host}/test/zstd:v1`,
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    size: fetched.bytes.length,
    layers: image.layers,
    configDigest: image.configDescriptor.digest,
    built: image,
  };
}

// ---------------------------------------------------------------------------------------
// 2. test/sha512:v1

async function buildSha512(
  layout: OciLayout,
  registry: Registry,
  refusals: Refusal[],
): Promise<Sha512Fixture | undefined> {
  // The layer is a real gzip tar built by buildImage; its sha256 config/manifest are unused.
  const base = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'copy', path: 'etc/services', from: '/etc/services' },
          { type: 'file', path: 'etc/hostname', content: 'sha512\n' },
        ],
      },
    ],
  });
  const l = base.layers[0]!;
  const blobPath = layout.blobPath(l.digest);
  const layerBytes = await readFile(blobPath);
  const layerDigest = await sha512sumFile(blobPath);
  const diffID = await sha512sumBytes(await gunzip(blobPath));
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: FIXED_CREATED,
    config: { Env: [PATH_ENV], Labels: { 'berth.test.fixture': 'sha512' } },
    rootfs: { type: 'layers', diff_ids: [diffID] },
    history: [{ created: FIXED_CREATED, created_by: 'ADD rootfs.tar.gz / # sha512 digests' }],
  };
  const configBytes = json(config);
  const configDigest = await sha512sumBytes(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: MT.ociLayerGzip, digest: layerDigest, size: layerBytes.length }],
  };
  const manifestBytes = json(manifest);
  const repository = 'test/sha512';
  try {
    await uploadBlob(registry, repository, configBytes, configDigest);
    await uploadBlob(registry, repository, layerBytes, layerDigest);
    await putManifest(registry, repository, 'v1', manifestBytes, MT.ociManifest);
  } catch (err) {
    if (err instanceof RegistryRefusal) {
      const { method, url, status, body } = err;
      refusals.push({ fixture: 'sha512', method, url, status, body, outcome: 'fixture omitted' });
      return undefined;
    }
    throw err;
  }
  return {
    ...(await served(registry, repository, 'v1', manifestBytes, MT.ociManifest)),
    manifest,
    configDigest,
    configSize: configBytes.length,
    layers: [{ digest: layerDigest, size: layerBytes.length, diffID, mediaType: MT.ociLayerGzip }],
    sha256: {
      configDigest: sha256Bytes(configBytes),
      layerDigests: [l.digest],
      layerDiffIDs: [l.diffID],
    },
  };
}

// ---------------------------------------------------------------------------------------
// 3. test/foreign:v1

async function buildForeign(
  layout: OciLayout,
  registry: Registry,
  refusals: Refusal[],
): Promise<ForeignFixture> {
  // A Docker image with two real gzip layers; the second then becomes the foreign one.
  const image = await buildImage({
    layout,
    mediaTypes: 'docker',
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/hostname', content: 'foreign\n' },
          { type: 'copy', path: 'etc/services', from: '/etc/services' },
        ],
        createdBy: 'ADD rootfs.tar /',
      },
      {
        entries: [
          {
            type: 'file',
            path: 'Windows/System32/foreign.txt',
            content: 'this layer is only at https://example.invalid/layer.tar.gz\n',
          },
        ],
        createdBy: 'foreign base layer (not in the registry)',
      },
    ],
    config: {
      config: { Env: [PATH_ENV], Labels: { 'berth.test.fixture': 'foreign' } },
    },
  });
  const [normal, foreign] = image.layers as [LayerInfo, LayerInfo];
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.dockerManifest,
    config: image.configDescriptor,
    layers: [
      { mediaType: normal.mediaType, digest: normal.digest, size: normal.size },
      {
        mediaType: FORMAT_MT.dockerForeignLayerGzip,
        digest: foreign.digest,
        size: foreign.size,
        urls: [FOREIGN_URL],
      },
    ],
  };
  const manifestBytes = json(manifest);
  const repository = 'test/foreign';
  const configBytes = await readFile(layout.blobPath(image.configDescriptor.digest));
  await uploadBlob(registry, repository, configBytes, image.configDescriptor.digest);
  await uploadBlob(
    registry,
    repository,
    await readFile(layout.blobPath(normal.digest)),
    normal.digest,
  );
  // The foreign blob is deliberately not uploaded.
  let pushedVia: ForeignFixture['pushedVia'] = 'api';
  try {
    await putManifest(registry, repository, 'v1', manifestBytes, MT.dockerManifest);
  } catch (err) {
    // distribution >= 2.7 refuses manifests with `urls` unless its config has
    // validation.manifests.urls.allow (or validation.disabled); the harness registry has
    // neither. Put the manifest into the registry's storage as a PUT would have, and let the
    // registry serve it (it does not re-validate on GET).
    if (!(err instanceof RegistryRefusal)) throw err;
    await linkManifestInStorage(registry, repository, 'v1', manifestBytes);
    pushedVia = 'storage';
    const { method, url, status, body } = err;
    refusals.push({
      fixture: 'foreign',
      method,
      url,
      status,
      body,
      outcome: 'manifest written into the registry storage (filesystem driver) instead',
    });
  }
  const foreignLayer: ForeignLayerInfo = {
    ...foreign,
    mediaType: FORMAT_MT.dockerForeignLayerGzip,
    urls: [FOREIGN_URL],
  };
  return {
    ...(await served(registry, repository, 'v1', manifestBytes, MT.dockerManifest)),
    manifest,
    configDigest: image.configDescriptor.digest,
    layers: [normal, foreignLayer],
    foreignLayer,
    foreignTarGz: await readFile(layout.blobPath(foreign.digest)),
    pushedVia,
  };
}

// ---------------------------------------------------------------------------------------
// 4. test/withsbom:v1 + test/artifact:v1 + referrers tag schema

/** An SPDX 2.3 document listing the regular files of an extracted layer tree. */
async function spdxFor(root: string, name: string, subjectDigest: string) {
  const files: { path: string; sha1: string; sha256: string; size: number }[] = [];
  const walk = async (rel: string) => {
    for (const entry of (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(r);
      else if (entry.isFile()) {
        const abs = join(root, r);
        const [sha1, sha256] = await Promise.all([
          run('sha1sum', ['--', abs]).then((o) => o.stdout.split(' ')[0]!),
          run('sha256sum', ['--', abs]).then((o) => o.stdout.split(' ')[0]!),
        ]);
        files.push({ path: r, sha1, sha256, size: (await stat(abs)).size });
      }
    }
  };
  await walk('');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: `https://berth.invalid/spdx/${subjectDigest.replace(':', '-')}`,
    creationInfo: { created: FIXED_CREATED, creators: ['Tool: berth-test-harness'] },
    files: files.map((f, i) => ({
      fileName: `./${f.path}`,
      SPDXID: `SPDXRef-File-${i + 1}`,
      checksums: [
        { algorithm: 'SHA1', checksumValue: f.sha1 },
        { algorithm: 'SHA256', checksumValue: f.sha256 },
      ],
      licenseConcluded: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      comment: `${f.size} bytes`,
    })),
  };
}

async function buildArtifact(
  layout: OciLayout,
  registry: Registry,
  work: string,
): Promise<ArtifactFixture> {
  const subjectRepo = 'test/withsbom';
  const image = await buildImage({
    layout,
    layers: [
      {
        entries: [
          {
            type: 'copy',
            path: 'bin/busybox',
            from: '/bin/busybox',
            size: 128 * 1024,
            mode: 0o755,
          },
          { type: 'symlink', path: 'bin/sh', target: 'busybox' },
          { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
          { type: 'file', path: 'etc/motd', content: 'an image with an SBOM\n' },
        ],
        createdBy: 'ADD rootfs.tar /',
      },
      {
        entries: [
          { type: 'whiteout', path: 'etc/motd' },
          { type: 'copy', path: 'etc/services', from: '/etc/services' },
        ],
        createdBy: 'RUN rm /etc/motd && cp services /etc/',
      },
    ],
    config: {
      config: { Env: [PATH_ENV], Cmd: ['/bin/sh'], Labels: { 'berth.test.fixture': 'withsbom' } },
    },
  });
  await layout.tag(image.descriptor, 'test-withsbom-v1');
  const subjectServed = await pushLayout({
    layout,
    layoutTag: 'test-withsbom-v1',
    registry,
    repository: subjectRepo,
    tag: 'v1',
    expect: image.descriptor,
  });
  const subject: FixtureImage = {
    repository: subjectRepo,
    tag: 'v1',
    ref: `${registry.host}/${subjectRepo}:v1`,
    digest: subjectServed.digest,
    mediaType: subjectServed.mediaType,
    size: subjectServed.bytes.length,
    layers: image.layers,
    configDigest: image.configDescriptor.digest,
    built: image,
  };

  // The SBOM lists the files of the image's rootfs: the layers extracted in order with GNU
  // tar (whiteout files removed with what they hide).
  const rootfs = await mkdtemp(join(work, 'rootfs-'));
  for (const layer of image.layers) {
    await run('tar', ['-xzf', layout.blobPath(layer.digest), '-C', rootfs]);
    const { stdout } = await run('tar', ['-tzf', layout.blobPath(layer.digest)]);
    for (const p of stdout.split('\n').filter((s) => /(^|\/)\.wh\.[^/]+$/.test(s))) {
      const hidden = p.replace(/(^|\/)\.wh\.([^/]+)$/, '$1$2');
      await rm(join(rootfs, p), { force: true });
      await rm(join(rootfs, hidden), { recursive: true, force: true });
    }
  }
  const sbom = await spdxFor(rootfs, subject.ref, subject.digest);
  const sbomBytes = Buffer.from(JSON.stringify(sbom, null, 2) + '\n');
  const sbomLayer: Descriptor = {
    mediaType: FORMAT_MT.spdxJson,
    digest: sha256Bytes(sbomBytes),
    size: sbomBytes.length,
    annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' },
  };
  const config: Descriptor = { mediaType: FORMAT_MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };
  if (sha256Bytes(EMPTY_JSON) !== EMPTY_JSON_DIGEST) throw new Error('empty blob digest');
  const annotations = { 'org.opencontainers.image.created': FIXED_CREATED };
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: FORMAT_MT.spdxJson,
    config,
    layers: [sbomLayer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const manifestBytes = json(manifest);
  const manifestDigest = sha256Bytes(manifestBytes);

  // In the subject's repository (where referrers live) by digest, and as test/artifact:v1.
  for (const repository of [subjectRepo, 'test/artifact']) {
    await ensureBlob(registry, repository, EMPTY_JSON, EMPTY_JSON_DIGEST);
    await ensureBlob(registry, repository, sbomBytes, sbomLayer.digest);
  }
  await putManifest(registry, subjectRepo, manifestDigest, manifestBytes, MT.ociManifest);
  await putManifest(registry, 'test/artifact', 'v1', manifestBytes, MT.ociManifest);

  const referrersTag = subject.digest.replace(':', '-');
  const referrersIndex = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: MT.ociManifest,
        digest: manifestDigest,
        size: manifestBytes.length,
        artifactType: FORMAT_MT.spdxJson,
        annotations,
      },
    ],
  };
  const referrersBytes = json(referrersIndex);
  await putManifest(registry, subjectRepo, referrersTag, referrersBytes, MT.ociIndex);
  const referrersServed = await served(
    registry,
    subjectRepo,
    referrersTag,
    referrersBytes,
    MT.ociIndex,
  );

  return {
    ...(await served(registry, 'test/artifact', 'v1', manifestBytes, MT.ociManifest)),
    manifest,
    artifactType: FORMAT_MT.spdxJson,
    config,
    sbomLayer,
    sbom,
    subject,
    referrersTag,
    referrersRef: referrersServed.ref,
    referrersIndexDigest: referrersServed.digest,
    referrersIndex,
  };
}

// ---------------------------------------------------------------------------------------
// 5. test/nested:v1 and test/deep:v1

function smallImage(layout: OciLayout, label: string, architecture: string, variant?: string) {
  return buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/arch', content: `${architecture}${variant ?? ''}\n` },
          { type: 'file', path: 'etc/fixture', content: `${label}\n` },
        ],
        createdBy: `RUN echo ${architecture} > /etc/arch`,
      },
    ],
    config: {
      architecture,
      os: 'linux',
      ...(variant !== undefined ? { variant } : {}),
      config: { Env: [PATH_ENV], Labels: { 'berth.test.fixture': label } },
    },
  });
}

function imageEntry(image: BuiltImage): Descriptor {
  return {
    mediaType: image.descriptor.mediaType,
    digest: image.descriptor.digest,
    size: image.descriptor.size,
    platform: platformOf(image),
  };
}

async function buildNested(layout: OciLayout, registry: Registry): Promise<NestedFixture> {
  const [amd64, arm64, riscv64] = await Promise.all([
    smallImage(layout, 'nested', 'amd64'),
    smallImage(layout, 'nested', 'arm64', 'v8'),
    smallImage(layout, 'nested', 'riscv64'),
  ]);
  const innerDoc = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [imageEntry(amd64), imageEntry(arm64)],
  };
  const inner = await layout.addJson(innerDoc, MT.ociIndex);
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      { ...inner, annotations: { 'berth.test.nested': 'inner index' } },
      imageEntry(riscv64),
    ],
  };
  const root = await layout.addJson(index, MT.ociIndex);
  await pushTree(layout, registry, 'test/nested', root, 'v1');
  const bytes = await readFile(layout.blobPath(root.digest));
  return {
    ...(await served(registry, 'test/nested', 'v1', bytes, MT.ociIndex)),
    index,
    inner: {
      digest: inner.digest,
      size: inner.size,
      mediaType: inner.mediaType,
      images: [nestedImage(amd64), nestedImage(arm64)],
    },
    direct: nestedImage(riscv64),
  };
}

export const DEEP_DEPTH = 6;

async function buildDeep(layout: OciLayout, registry: Registry): Promise<DeepFixture> {
  const leaf = await smallImage(layout, 'deep', 'amd64');
  // Innermost index first; each wraps the previous one.
  let child: Descriptor = imageEntry(leaf);
  const chain: Descriptor[] = [];
  for (let level = DEEP_DEPTH; level >= 1; level--) {
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [child],
      annotations: { 'berth.test.deep.level': String(level) },
    };
    const d = await layout.addJson(doc, MT.ociIndex);
    chain.unshift(d);
    child = d;
  }
  const root = chain[0]!;
  await pushTree(layout, registry, 'test/deep', root, 'v1');
  const bytes = await readFile(layout.blobPath(root.digest));
  return {
    ...(await served(registry, 'test/deep', 'v1', bytes, MT.ociIndex)),
    depth: DEEP_DEPTH,
    chain: chain.map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType })),
    leaf: nestedImage(leaf),
  };
}

// ---------------------------------------------------------------------------------------

async function timed<T>(timings: Record<string, number>, name: string, f: () => Promise<T>) {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[name] = Math.round(performance.now() - t0);
  }
}

/**
 * Build every format fixture in a temp dir (removed afterwards) and push it to registry.
 * Root documents are read back and compared byte for byte with what was pushed. A sha512
 * refusal by the registry is recorded in `refusals` and leaves `sha512` undefined; any other
 * failure throws.
 */
export async function buildFormatFixtures(registry: Registry): Promise<FormatFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'berth-formats-'));
  const timings: Record<string, number> = {};
  const refusals: Refusal[] = [];
  try {
    // One layout per fixture: skopeo pushes read index.json, and builds run in parallel.
    const layoutFor = (name: string) => OciLayout.create(join(work, name));
    const [zstd, sha512, foreign, artifact, nested, deep] = await Promise.all([
      timed(timings, 'zstd', async () => buildZstd(await layoutFor('zstd'), registry)),
      timed(timings, 'sha512', async () =>
        buildSha512(await layoutFor('sha512'), registry, refusals),
      ),
      timed(timings, 'foreign', async () =>
        buildForeign(await layoutFor('foreign'), registry, refusals),
      ),
      timed(timings, 'artifact', async () =>
        buildArtifact(await layoutFor('artifact'), registry, work),
      ),
      timed(timings, 'nested', async () => buildNested(await layoutFor('nested'), registry)),
      timed(timings, 'deep', async () => buildDeep(await layoutFor('deep'), registry)),
    ]);
    return { zstd, sha512, foreign, artifact, nested, deep, refusals, timings };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** sha512 of bytes as 'sha512:<hex>', computed in Node (for cross-checks in tests). */
export function sha512Bytes(bytes: Uint8Array | string): string {
  return 'sha512:' + createHash('sha512').update(bytes).digest('hex');
}
