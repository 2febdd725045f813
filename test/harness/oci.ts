/**
 * Lower-level image builder: real files → GNU tar → gzip/zstd → an OCI image layout on disk
 * → pushed to a real registry with skopeo (digests preserved and checked).
 *
 * Layer bytes always come from real tools (tar, gzip -n, zstd) run over real files; only the
 * JSON documents (configs, manifests, indexes, in-toto statements) are written by Node.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  truncate,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { run } from './process.ts';
import { registryAuthHeaders, type Registry } from './registry.ts';

// ---------------------------------------------------------------------------------------
// Media types

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  inToto: 'application/vnd.in-toto+json',
} as const;

/** Every manifest media type, for Accept headers. */
export const ACCEPT_ALL_MANIFESTS = [
  MT.ociIndex,
  MT.ociManifest,
  MT.dockerManifestList,
  MT.dockerManifest,
].join(', ');

// ---------------------------------------------------------------------------------------
// Types

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface LayerInfo {
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffID: string;
  mediaType: string;
}

/** One thing to put in a layer. Paths are relative to the image root ('etc/motd'). */
export type LayerEntry =
  | { type: 'file'; path: string; content: string | Buffer; mode?: number }
  /** Copy a host file; with size, repeat/truncate its bytes to exactly that many. */
  | { type: 'copy'; path: string; from: string; size?: number; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  /** A hard link to another path of the same layer (written earlier in entries). */
  | { type: 'hardlink'; path: string; target: string }
  /** Delete path from lower layers: writes `dir/.wh.name`. */
  | { type: 'whiteout'; path: string }
  /** Hide everything lower layers put in dir: writes `dir/.wh..wh..opq`. */
  | { type: 'opaque'; path: string }
  /** A file of `size` zero bytes (sparse on disk, whole in the tar): a gzip bomb's payload. */
  | { type: 'zeros'; path: string; size: number };

export type Compression = 'gzip' | 'zstd' | 'none';

export interface TarLayerSpec {
  entries: LayerEntry[];
  /** Default gzip. Docker media types allow gzip and none only. */
  compression?: Compression;
  /** gzip only: the tar is cut in two and each half gzipped on its own, then concatenated (a
   * multi-member gzip, as eStargz layers are). */
  multiMember?: boolean;
  /** Default posix (pax); gnu for GNU tar's own format. */
  tarFormat?: 'posix' | 'gnu';
  /** GNU tar --transform expressions, applied with --absolute-names: how names no file system
   * holds ("../x", "/abs") get into a layer. */
  transform?: string[];
  /** history created_by for this layer (when opts.history is not given). */
  createdBy?: string;
  annotations?: Record<string, string>;
}

/** A non-tar blob used as a layer (e.g. an in-toto statement). diffID = digest. */
export interface RawLayerSpec {
  raw: Buffer;
  mediaType: string;
  createdBy?: string;
  annotations?: Record<string, string>;
}

export type LayerSpec = TarLayerSpec | RawLayerSpec;

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  author?: string;
  empty_layer?: boolean;
}

export interface ImageConfigSpec {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  /** The runtime config: Env, Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts… */
  config?: Record<string, unknown>;
  /**
   * Full history. Entries without empty_layer are matched with layers in order and their
   * count must equal the number of layers. Default: one entry per layer from createdBy.
   */
  history?: HistoryEntry[];
  /** Rewrites rootfs.diff_ids from the real ones: a config that lies about its layers. */
  diffIDs?: (real: string[]) => string[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config: Record<string, unknown>;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: HistoryEntry[];
}

export interface BuiltImage {
  kind: 'image';
  /** Descriptor of the manifest (no platform). */
  descriptor: Descriptor;
  manifest: Record<string, unknown>;
  configDescriptor: Descriptor;
  config: ImageConfig;
  layers: LayerInfo[];
}

export interface BuiltIndex {
  kind: 'index';
  descriptor: Descriptor;
  index: Record<string, unknown>;
  /** Entries as written into the index (with platform/annotations) and what they point at. */
  manifests: { descriptor: Descriptor; image: BuiltImage }[];
}

export const FIXED_CREATED = '2024-01-01T00:00:00Z';

// ---------------------------------------------------------------------------------------
// OCI image layout

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return 'sha256:' + hash.digest('hex');
}

export function sha256Bytes(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Create an empty OCI image layout at dir (created if missing). */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] }),
    );
    return new OciLayout(dir);
  }

  /** Use an existing layout. */
  static async open(dir: string): Promise<OciLayout> {
    await stat(join(dir, 'oci-layout'));
    return new OciLayout(dir);
  }

  /** The index.json entry named tag. */
  async resolve(tag: string): Promise<Descriptor> {
    const index = JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as {
      manifests: Descriptor[];
    };
    const found = index.manifests.find(
      (d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag,
    );
    if (!found) throw new Error(`no '${tag}' in ${this.dir}/index.json`);
    return found;
  }

  /**
   * Write the image (or index and all its images) rooted at descriptor as a skopeo `dir:`
   * directory: manifest.json, `<hex>.manifest.json` for index entries, blobs named `<hex>`.
   */
  async exportDir(root: Descriptor, dir: string): Promise<void> {
    await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    const hex = (d: string) => d.replace(/^sha256:/, '');
    const visit = async (desc: Descriptor, manifestName: string) => {
      const bytes = await readFile(this.blobPath(desc.digest));
      await writeFile(join(dir, manifestName), bytes);
      const doc = JSON.parse(bytes.toString('utf8')) as {
        manifests?: Descriptor[];
        config?: Descriptor;
        layers?: Descriptor[];
      };
      for (const m of doc.manifests ?? []) await visit(m, `${hex(m.digest)}.manifest.json`);
      for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
        await copyFile(this.blobPath(b.digest), join(dir, hex(b.digest)));
      }
    };
    await visit(root, 'manifest.json');
  }

  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':');
    if (alg !== 'sha256' || !hex) throw new Error(`unsupported digest ${digest}`);
    return join(this.dir, 'blobs', 'sha256', hex);
  }

  /** Move a file into the blob store. */
  async addBlobFile(path: string, mediaType: string): Promise<Descriptor> {
    const digest = await sha256File(path);
    const { size } = await stat(path);
    await rename(path, this.blobPath(digest));
    return { mediaType, digest, size };
  }

  async addBlobBytes(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256Bytes(bytes);
    await writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** JSON blobs are written compactly; the bytes (and so the digest) are what gets pushed. */
  addJson(value: unknown, mediaType: string): Promise<Descriptor> {
    return this.addBlobBytes(Buffer.from(JSON.stringify(value)), mediaType);
  }

  /** Name a manifest/index in index.json so skopeo can use `oci:DIR:tag`. */
  async tag(descriptor: Descriptor, tag: string): Promise<void> {
    const path = join(this.dir, 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { manifests: Descriptor[] };
    const refName = 'org.opencontainers.image.ref.name';
    index.manifests = index.manifests.filter((d) => d.annotations?.[refName] !== tag);
    index.manifests.push({
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      size: descriptor.size,
      annotations: { [refName]: tag },
    });
    await writeFile(path, JSON.stringify(index));
  }
}

// ---------------------------------------------------------------------------------------
// Layers

/** Empty files and directories of the default modes, this many or more in a row, are made in
 * one go, the files by coreutils. Node makes each file in half a dozen round trips to its
 * thread pool: the 50,000 of test/e2e/big-tree took a minute on CI, `truncate` and `chmod`
 * take a second or two. */
const EMPTY_FILES_BATCH = 256;

const batchable = (e: LayerEntry | undefined) =>
  (e?.type === 'file' && e.mode === undefined && e.content.length === 0) ||
  (e?.type === 'dir' && e.mode === undefined);

export async function writeEntries(root: string, entries: LayerEntry[]): Promise<void> {
  const mkParents = async (rel: string) => {
    const parts = posix
      .dirname(rel)
      .split('/')
      .filter((p) => p !== '.' && p !== '');
    let cur = root;
    for (const p of parts) {
      cur = join(cur, p);
      await mkdir(cur, { recursive: true });
      await chmod(cur, 0o755);
    }
  };
  const checkPath = (path: string) => {
    if (path.startsWith('/') || path.split('/').includes('..')) {
      throw new Error(`layer entry path must be relative without '..': ${path}`);
    }
  };
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let end = i;
    while (batchable(entries[end])) end++;
    if (end - i >= EMPTY_FILES_BATCH) {
      // What the 'dir' and 'file' cases below do to each: every directory made 0755 (a
      // directory's own entry, and each file's parents), then each file created or emptied,
      // then made 0644.
      const batch = entries.slice(i, end);
      batch.forEach((f) => checkPath(f.path));
      const paths = batch.filter((f) => f.type === 'file').map((f) => f.path);
      const dirs = batch.map((f) => (f.type === 'dir' ? f.path : posix.dirname(f.path)));
      for (const dir of new Set(dirs)) await mkParents(posix.join(dir, 'x'));
      const list = `${root}.batch`;
      await writeFile(list, paths.join('\0'));
      await run(
        'sh',
        ['-c', 'xargs -0r truncate -s 0 -- <"$1" && xargs -0r chmod 0644 -- <"$1"', 'sh', list],
        { cwd: root },
      );
      await rm(list);
      i = end - 1;
      continue;
    }
    checkPath(e.path);
    const abs = join(root, e.path);
    switch (e.type) {
      case 'file':
        await mkParents(e.path);
        await writeFile(abs, e.content);
        await chmod(abs, e.mode ?? 0o644);
        break;
      case 'copy':
        await mkParents(e.path);
        if (e.size === undefined) {
          await copyFile(e.from, abs);
        } else {
          await writeRepeated(e.from, abs, e.size);
        }
        await chmod(abs, e.mode ?? 0o644);
        break;
      case 'dir':
        await mkParents(e.path);
        await mkdir(abs, { recursive: true });
        await chmod(abs, e.mode ?? 0o755);
        break;
      case 'symlink':
        await mkParents(e.path);
        await symlink(e.target, abs);
        break;
      case 'hardlink':
        await mkParents(e.path);
        await link(join(root, e.target), abs);
        break;
      case 'zeros':
        await mkParents(e.path);
        await writeFile(abs, '');
        await truncate(abs, e.size);
        await chmod(abs, 0o644);
        break;
      case 'whiteout': {
        const wh = posix.join(posix.dirname(e.path), '.wh.' + posix.basename(e.path));
        await mkParents(wh);
        await writeFile(join(root, wh), '');
        await chmod(join(root, wh), 0o644);
        break;
      }
      case 'opaque': {
        const opq = posix.join(e.path, '.wh..wh..opq');
        await mkParents(opq);
        await writeFile(join(root, opq), '');
        await chmod(join(root, opq), 0o644);
        break;
      }
    }
  }
}

/** Write exactly size bytes taken from `from`, repeating it as often as needed. */
async function writeRepeated(from: string, to: string, size: number): Promise<void> {
  const src = await readFile(from);
  if (src.length === 0) throw new Error(`cannot repeat empty file ${from}`);
  const out = await open(to, 'w');
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, src.length);
      await out.write(src, 0, n);
      left -= n;
    }
  } finally {
    await out.close();
  }
}

/** Make a deterministic tar of root with GNU tar; returns the tar path. */
async function makeTar(
  root: string,
  out: string,
  format: 'posix' | 'gnu',
  transform: string[] = [],
): Promise<void> {
  const top = (await readdir(root)).sort();
  const args = [
    '--create',
    `--file=${out}`,
    `--directory=${root}`,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    `--format=${format}`,
  ];
  if (format === 'posix') {
    args.push('--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime');
  }
  if (transform.length > 0) {
    args.push('--absolute-names', ...transform.map((t) => `--transform=${t}`));
  }
  if (top.length === 0) args.push('--files-from=/dev/null');
  else args.push('--', ...top);
  await run('tar', args);
}

function layerMediaType(compression: Compression, kind: 'oci' | 'docker'): string {
  if (kind === 'oci') {
    return { gzip: MT.ociLayerGzip, zstd: MT.ociLayerZstd, none: MT.ociLayerTar }[compression];
  }
  if (compression === 'zstd') throw new Error('docker media types have no zstd layer type');
  return compression === 'gzip' ? MT.dockerLayerGzip : MT.dockerLayerTar;
}

async function buildTarLayer(
  layout: OciLayout,
  work: string,
  spec: TarLayerSpec,
  kind: 'oci' | 'docker',
): Promise<{ descriptor: Descriptor; diffID: string }> {
  const root = await mkdtemp(join(work, 'root-'));
  await writeEntries(root, spec.entries);
  const tar = root + '.tar';
  await makeTar(root, tar, spec.tarFormat ?? 'posix', spec.transform);
  // rm(1) removes a big tree in a fraction of the time Node's recursive rm takes.
  if (spec.entries.length >= EMPTY_FILES_BATCH) await run('rm', ['-rf', '--', root]);
  else await rm(root, { recursive: true, force: true });
  const diffID = await sha256File(tar);
  const compression = spec.compression ?? 'gzip';
  let blob = tar;
  if (compression === 'gzip' && spec.multiMember) {
    const bytes = await readFile(tar);
    const half = bytes.length >> 1;
    await writeFile(tar + '.1', bytes.subarray(0, half));
    await writeFile(tar + '.2', bytes.subarray(half));
    await run('gzip', ['-n', '-f', tar + '.1', tar + '.2']);
    await writeFile(
      tar + '.gz',
      Buffer.concat([await readFile(tar + '.1.gz'), await readFile(tar + '.2.gz')]),
    );
    blob = tar + '.gz';
  } else if (compression === 'gzip') {
    await run('gzip', ['-n', '-f', tar]);
    blob = tar + '.gz';
  } else if (compression === 'zstd') {
    await run('zstd', ['-q', '-f', '--rm', '-o', tar + '.zst', tar]);
    blob = tar + '.zst';
  }
  const descriptor = await layout.addBlobFile(blob, layerMediaType(compression, kind));
  if (spec.annotations) descriptor.annotations = spec.annotations;
  return { descriptor, diffID };
}

// ---------------------------------------------------------------------------------------
// Images and indexes

export interface BuildImageOptions {
  layout: OciLayout;
  layers: LayerSpec[];
  config?: ImageConfigSpec;
  /** Default 'oci'. */
  mediaTypes?: 'oci' | 'docker';
  /** Manifest annotations (OCI only). */
  annotations?: Record<string, string>;
}

/** Build one image (layers, config, manifest) into the layout. Does not tag it. */
export async function buildImage(opts: BuildImageOptions): Promise<BuiltImage> {
  const kind = opts.mediaTypes ?? 'oci';
  const { layout } = opts;
  const work = await mkdtemp(join(tmpdir(), 'berth-layers-'));
  try {
    const layers: LayerInfo[] = [];
    const layerDescriptors: Descriptor[] = [];
    // Tar layers are independent: build them in parallel.
    const built = await Promise.all(
      opts.layers.map(async (spec) => {
        if ('raw' in spec) {
          const descriptor = await layout.addBlobBytes(spec.raw, spec.mediaType);
          if (spec.annotations) descriptor.annotations = spec.annotations;
          return { descriptor, diffID: descriptor.digest };
        }
        return buildTarLayer(layout, work, spec, kind);
      }),
    );
    for (const { descriptor, diffID } of built) {
      layerDescriptors.push(descriptor);
      layers.push({
        digest: descriptor.digest,
        size: descriptor.size,
        diffID,
        mediaType: descriptor.mediaType,
      });
    }

    const c = opts.config ?? {};
    const history: HistoryEntry[] =
      c.history ??
      opts.layers.map((l, i) => ({
        created: FIXED_CREATED,
        created_by: l.createdBy ?? `layer ${i + 1}`,
      }));
    const nonEmpty = history.filter((h) => !h.empty_layer).length;
    if (nonEmpty !== layers.length) {
      throw new Error(`history has ${nonEmpty} non-empty entries for ${layers.length} layers`);
    }
    const config: ImageConfig = {
      architecture: c.architecture ?? 'amd64',
      os: c.os ?? 'linux',
      ...(c.variant !== undefined ? { variant: c.variant } : {}),
      created: c.created ?? FIXED_CREATED,
      ...(c.author !== undefined ? { author: c.author } : {}),
      config: c.config ?? {},
      rootfs: {
        type: 'layers',
        diff_ids: c.diffIDs ? c.diffIDs(layers.map((l) => l.diffID)) : layers.map((l) => l.diffID),
      },
      history,
    };
    const configDescriptor = await layout.addJson(
      config,
      kind === 'oci' ? MT.ociConfig : MT.dockerConfig,
    );

    const manifestMediaType = kind === 'oci' ? MT.ociManifest : MT.dockerManifest;
    const manifest: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: configDescriptor,
      layers: layerDescriptors,
    };
    if (opts.annotations) {
      if (kind !== 'oci') throw new Error('annotations need OCI media types');
      manifest.annotations = opts.annotations;
    }
    const descriptor = await layout.addJson(manifest, manifestMediaType);
    return { kind: 'image', descriptor, manifest, configDescriptor, config, layers };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface IndexEntry {
  image: BuiltImage;
  /** Default: taken from the image config (os/architecture/variant). */
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** Build an image index (OCI) or manifest list (docker) over already-built images. */
export async function buildIndex(opts: {
  layout: OciLayout;
  manifests: IndexEntry[];
  mediaTypes?: 'oci' | 'docker';
  annotations?: Record<string, string>;
}): Promise<BuiltIndex> {
  const kind = opts.mediaTypes ?? 'oci';
  const manifests = opts.manifests.map(({ image, platform, annotations }) => {
    const p: Platform = platform ?? {
      architecture: image.config.architecture,
      os: image.config.os,
      ...(image.config.variant !== undefined ? { variant: image.config.variant } : {}),
    };
    const descriptor: Descriptor = {
      mediaType: image.descriptor.mediaType,
      digest: image.descriptor.digest,
      size: image.descriptor.size,
      platform: p,
      ...(annotations ? { annotations } : {}),
    };
    return { descriptor, image };
  });
  const mediaType = kind === 'oci' ? MT.ociIndex : MT.dockerManifestList;
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    manifests: manifests.map((m) => m.descriptor),
  };
  if (opts.annotations) index.annotations = opts.annotations;
  const descriptor = await opts.layout.addJson(index, mediaType);
  return { kind: 'index', descriptor, index, manifests };
}

/**
 * A BuildKit-style attestation manifest for subject: platform unknown/unknown, one in-toto
 * statement layer. Returns the index entry to add next to the platform images.
 */
export async function buildAttestation(opts: {
  layout: OciLayout;
  subject: BuiltImage;
  /** purl-ish name for the statement subject, e.g. 'pkg:docker/test/multiarch@v1'. */
  name: string;
}): Promise<IndexEntry> {
  const hex = opts.subject.descriptor.digest.replace(/^sha256:/, '');
  const statement = {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [{ name: opts.name, digest: { sha256: hex } }],
    predicate: {
      builder: { id: 'https://github.com/berth/test-harness' },
      buildType: 'https://mobyproject.org/buildkit@v1',
      metadata: { buildStartedOn: FIXED_CREATED, buildFinishedOn: FIXED_CREATED, completeness: {} },
    },
  };
  const image = await buildImage({
    layout: opts.layout,
    layers: [
      {
        raw: Buffer.from(JSON.stringify(statement, null, 2)),
        mediaType: MT.inToto,
        annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
      },
    ],
    config: {
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      history: [{ created: FIXED_CREATED, created_by: 'attestation' }],
    },
  });
  return {
    image,
    platform: { architecture: 'unknown', os: 'unknown' },
    annotations: {
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': opts.subject.descriptor.digest,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Pushing and fetching

/** skopeo with the flags every harness call needs (no policy file, no TLS on 127.0.0.1). */
export function skopeo(args: string[], opts: { timeoutMs?: number } = {}) {
  return run('skopeo', ['--insecure-policy', ...args], { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** `user:password` of the registry's first user, for skopeo --*-creds; undefined without auth. */
export function registryCreds(registry: Registry): string | undefined {
  const first = Object.entries(registry.users)[0];
  return first ? `${first[0]}:${first[1]}` : undefined;
}

export interface FetchedManifest {
  /** sha256 of the body as served. */
  digest: string;
  /** Docker-Content-Digest header. */
  headerDigest: string | null;
  mediaType: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

/** GET a manifest from the registry with an Accept for every manifest type. */
export async function fetchManifest(
  registry: Registry,
  repository: string,
  reference: string,
  accept: string = ACCEPT_ALL_MANIFESTS,
): Promise<FetchedManifest> {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    headers: { accept, ...(await registryAuthHeaders(registry, repository, ['pull'])) },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    throw new Error(
      `GET manifest ${repository}:${reference}: ${res.status} ${bytes.toString('utf8')}`,
    );
  }
  return {
    digest: sha256Bytes(bytes),
    headerDigest: res.headers.get('docker-content-digest'),
    mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
    bytes,
    json: JSON.parse(bytes.toString('utf8')) as Record<string, unknown>,
  };
}

export interface PushLayoutOptions {
  layout: OciLayout | string;
  /** Name in the layout's index.json. */
  layoutTag: string;
  registry: Registry;
  repository: string;
  tag: string;
  /** Copy every instance of an index (skopeo --all). Default: true when expect is an index. */
  all?: boolean;
  /** Descriptor of what was built: the pushed manifest must have exactly this digest. */
  expect?: Descriptor;
}

/**
 * Push `oci:LAYOUT:layoutTag` to `docker://HOST/repository:tag` with skopeo, keeping digests,
 * then read the manifest back and check its digest (and media type) against `expect`.
 */
export async function pushLayout(opts: PushLayoutOptions): Promise<FetchedManifest> {
  const layout = typeof opts.layout === 'string' ? await OciLayout.open(opts.layout) : opts.layout;
  const root = await layout.resolve(opts.layoutTag);
  const isIndex = root.mediaType === MT.ociIndex || root.mediaType === MT.dockerManifestList;
  const args = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false'];
  if (opts.all ?? isIndex) args.push('--all');
  const creds = registryCreds(opts.registry);
  if (creds) args.push('--dest-creds', creds);
  const dest = `docker://${opts.registry.host}/${opts.repository}:${opts.tag}`;
  if (root.mediaType.startsWith('application/vnd.oci.')) {
    await skopeo([...args, `oci:${layout.dir}:${opts.layoutTag}`, dest]);
  } else {
    // skopeo's oci: transport only sees OCI-typed entries of index.json; Docker-typed
    // images go through its dir: transport, which keeps any manifest type byte for byte.
    const dir = await mkdtemp(join(tmpdir(), 'berth-dir-'));
    try {
      await layout.exportDir(root, dir);
      await skopeo([...args, `dir:${dir}`, dest]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const fetched = await fetchManifest(opts.registry, opts.repository, opts.tag);
  if (opts.expect) {
    if (fetched.digest !== opts.expect.digest) {
      throw new Error(
        `pushed ${opts.repository}:${opts.tag} has digest ${fetched.digest}, built ${opts.expect.digest}`,
      );
    }
    if (fetched.mediaType !== opts.expect.mediaType) {
      throw new Error(
        `pushed ${opts.repository}:${opts.tag} is served as ${fetched.mediaType}, built ${opts.expect.mediaType}`,
      );
    }
  }
  if (fetched.headerDigest !== null && fetched.headerDigest !== fetched.digest) {
    throw new Error(
      `registry Docker-Content-Digest ${fetched.headerDigest} != body ${fetched.digest}`,
    );
  }
  return fetched;
}

/** Copies an image between plain-http test registries with skopeo, keeping its digests. */
export function copyImage(
  from: string,
  to: string,
  opts: { destCreds?: string; all?: boolean } = {},
) {
  return run('skopeo', [
    'copy',
    '--preserve-digests',
    ...(opts.all ? ['--all'] : []),
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    ...(opts.destCreds ? [`--dest-creds=${opts.destCreds}`] : []),
    `docker://${from}`,
    `docker://${to}`,
  ]);
}
