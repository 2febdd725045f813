/**
 * The standard fixture images, built from real files with real tools at test time and pushed
 * to a harness registry. Small (about 3 MB in all) and fast (a few seconds).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildAttestation,
  buildImage,
  buildIndex,
  FIXED_CREATED,
  OciLayout,
  pushLayout,
  type BuiltImage,
  type BuiltIndex,
  type LayerInfo,
  type Platform,
} from './oci.ts';
import type { Registry } from './registry.ts';

export * from './oci.ts';

export interface FixtureManifest {
  digest: string;
  size: number;
  mediaType: string;
  platform: Platform;
  annotations?: Record<string, string>;
  configDigest: string;
  layers: LayerInfo[];
}

export interface FixtureImage {
  repository: string;
  tag: string;
  /** '127.0.0.1:PORT/test/whiteout:v1' */
  ref: string;
  /** Root digest as served by the registry (sha256 of the manifest/index bytes). */
  digest: string;
  /** Root media type as served by the registry. */
  mediaType: string;
  /** Size in bytes of the root manifest/index. */
  size: number;
  /** For an index: its entries, in order. */
  manifests?: FixtureManifest[];
  /** For a single image. */
  layers?: LayerInfo[];
  configDigest?: string;
  /** Everything that was built (manifest/config JSON, descriptors). */
  built: BuiltImage | BuiltIndex;
}

export interface Fixtures {
  whiteout: FixtureImage;
  dockerTypes: FixtureImage;
  multiArch: FixtureImage;
}

/** Text contents of the fixture files, for assertions on extracted trees. */
export const FIXTURE_TEXT = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  motdV1: 'Welcome to the Berth whiteout fixture (layer 1).\n',
  motdV2: 'Welcome to the Berth whiteout fixture (layer 2, modified).\n',
  hello: 'hello from layer 2\n',
  newTxt: 'new file from layer 3, after the opaque whiteout of /app\n',
  arch: { amd64: 'amd64\n', arm64: 'arm64 v8\n' },
} as const;

/** Size of /app/data.bin in the whiteout image (real bytes: /bin/busybox repeated). */
export const DATA_BIN_SIZE = 3 * 1024 * 1024;

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function toFixture(
  registry: Registry,
  repository: string,
  tag: string,
  built: BuiltImage | BuiltIndex,
  served: { digest: string; mediaType: string; size: number },
): FixtureImage {
  const base = {
    repository,
    tag,
    ref: `${registry.host}/${repository}:${tag}`,
    digest: served.digest,
    mediaType: served.mediaType,
    size: served.size,
    built,
  };
  if (built.kind === 'image') {
    return { ...base, layers: built.layers, configDigest: built.configDescriptor.digest };
  }
  return {
    ...base,
    manifests: built.manifests.map(({ descriptor, image }) => ({
      digest: descriptor.digest,
      size: descriptor.size,
      mediaType: descriptor.mediaType,
      platform: descriptor.platform ?? {
        os: image.config.os,
        architecture: image.config.architecture,
      },
      ...(descriptor.annotations ? { annotations: descriptor.annotations } : {}),
      configDigest: image.configDescriptor.digest,
      layers: image.layers,
    })),
  };
}

export async function push(
  layout: OciLayout,
  registry: Registry,
  repository: string,
  tag: string,
  built: BuiltImage | BuiltIndex,
): Promise<FixtureImage> {
  const layoutTag = `${repository.replace(/\//g, '-')}-${tag}`;
  await layout.tag(built.descriptor, layoutTag);
  const served = await pushLayout({
    layout,
    layoutTag,
    registry,
    repository,
    tag,
    expect: built.descriptor,
  });
  return toFixture(registry, repository, tag, built, {
    digest: served.digest,
    mediaType: served.mediaType,
    size: served.bytes.length,
  });
}

/** test/whiteout:v1 — three gzip OCI layers with a whiteout and an opaque whiteout. */
export function buildWhiteout(layout: OciLayout): Promise<BuiltImage> {
  return buildImage({
    layout,
    mediaTypes: 'oci',
    layers: [
      {
        entries: [
          { type: 'copy', path: 'bin/busybox', from: '/bin/busybox', mode: 0o755 },
          { type: 'symlink', path: 'bin/sh', target: 'busybox' },
          { type: 'symlink', path: 'bin/ls', target: 'busybox' },
          { type: 'file', path: 'etc/passwd', content: FIXTURE_TEXT.passwd },
          { type: 'file', path: 'etc/motd', content: FIXTURE_TEXT.motdV1 },
          { type: 'dir', path: 'tmp', mode: 0o1777 },
        ],
      },
      {
        entries: [
          { type: 'file', path: 'app/hello.txt', content: FIXTURE_TEXT.hello },
          { type: 'copy', path: 'app/data.bin', from: '/bin/busybox', size: DATA_BIN_SIZE },
          { type: 'file', path: 'etc/motd', content: FIXTURE_TEXT.motdV2 },
        ],
      },
      {
        entries: [
          { type: 'whiteout', path: 'etc/motd' },
          { type: 'opaque', path: 'app' },
          { type: 'file', path: 'app/new.txt', content: FIXTURE_TEXT.newTxt },
        ],
      },
    ],
    config: {
      architecture: 'amd64',
      os: 'linux',
      author: 'Berth test harness',
      config: {
        Env: [PATH_ENV, 'FOO=bar'],
        Entrypoint: ['/bin/busybox'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/app',
        User: '0:0',
        Labels: {
          'org.opencontainers.image.title': 'whiteout',
          'org.opencontainers.image.description': 'Berth fixture: whiteouts and opaque dirs',
          'berth.test.fixture': 'whiteout',
        },
        ExposedPorts: { '8080/tcp': {} },
      },
      history: [
        {
          created: FIXED_CREATED,
          created_by: 'COPY busybox /bin/ # buildkit',
          comment: 'busybox, sh/ls symlinks, /etc/passwd, /etc/motd',
        },
        { created: FIXED_CREATED, created_by: 'ENV FOO=bar', empty_layer: true },
        {
          created: FIXED_CREATED,
          created_by: 'COPY app/ /app/ # hello.txt, data.bin; motd changed',
        },
        { created: FIXED_CREATED, created_by: 'WORKDIR /app', empty_layer: true },
        {
          created: FIXED_CREATED,
          created_by: 'RUN /bin/sh -c rm /etc/motd && rm -rf /app/* && echo new > /app/new.txt',
        },
        { created: FIXED_CREATED, created_by: 'CMD ["/bin/sh"]', empty_layer: true },
      ],
    },
    annotations: { 'org.opencontainers.image.title': 'whiteout' },
  });
}

/** test/dockertypes:v1 — Docker schema2 manifest/config/layer media types. */
export function buildDockerTypes(layout: OciLayout): Promise<BuiltImage> {
  return buildImage({
    layout,
    mediaTypes: 'docker',
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/passwd', content: FIXTURE_TEXT.passwd },
          { type: 'file', path: 'etc/hostname', content: 'dockertypes\n' },
          { type: 'symlink', path: 'etc/mtab', target: '/proc/mounts' },
        ],
        createdBy: 'ADD rootfs.tar /',
      },
      {
        entries: [
          { type: 'file', path: 'srv/index.html', content: '<h1>docker media types</h1>\n' },
          { type: 'hardlink', path: 'srv/index.htm', target: 'srv/index.html' },
        ],
        createdBy: 'COPY index.html /srv/',
      },
    ],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: [PATH_ENV],
        Cmd: ['/bin/sh'],
        WorkingDir: '/srv',
        Labels: { 'berth.test.fixture': 'dockertypes' },
      },
    },
  });
}

/** test/multiarch:v1 — OCI index: linux/amd64, linux/arm64/v8 and an attestation manifest. */
export async function buildMultiArch(layout: OciLayout, name: string): Promise<BuiltIndex> {
  const base = {
    entries: [
      { type: 'file' as const, path: 'etc/passwd', content: FIXTURE_TEXT.passwd },
      {
        type: 'file' as const,
        path: 'etc/os-release',
        content: 'ID=berth\nNAME="Berth fixture"\n',
      },
    ],
    createdBy: 'ADD base.tar /',
  };
  const forArch = (architecture: 'amd64' | 'arm64', variant?: string) =>
    buildImage({
      layout,
      mediaTypes: 'oci',
      layers: [
        base,
        {
          entries: [{ type: 'file', path: 'etc/arch', content: FIXTURE_TEXT.arch[architecture] }],
          createdBy: `RUN echo ${architecture} > /etc/arch`,
        },
      ],
      config: {
        architecture,
        os: 'linux',
        ...(variant !== undefined ? { variant } : {}),
        config: {
          Env: [PATH_ENV],
          Cmd: ['/bin/sh'],
          Labels: { 'berth.test.fixture': 'multiarch' },
        },
      },
    });
  const [amd64, arm64] = await Promise.all([forArch('amd64'), forArch('arm64', 'v8')]);
  const attestation = await buildAttestation({
    layout,
    subject: amd64,
    name: `pkg:docker/${name}?platform=linux%2Famd64`,
  });
  return buildIndex({
    layout,
    mediaTypes: 'oci',
    manifests: [{ image: amd64 }, { image: arm64 }, attestation],
  });
}

/**
 * Build the three standard fixtures in a temp dir (removed afterwards) and push them to
 * registry; every root digest is checked against what the registry serves.
 */
export async function buildFixtures(registry: Registry): Promise<Fixtures> {
  const work = await mkdtemp(join(tmpdir(), 'berth-fixtures-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const [whiteout, dockerTypes, multiArch] = await Promise.all([
      buildWhiteout(layout),
      buildDockerTypes(layout),
      buildMultiArch(layout, 'test/multiarch@v1'),
    ]);
    // Pushes one by one: they share index.json.
    return {
      whiteout: await push(layout, registry, 'test/whiteout', 'v1', whiteout),
      dockerTypes: await push(layout, registry, 'test/dockertypes', 'v1', dockerTypes),
      multiArch: await push(layout, registry, 'test/multiarch', 'v1', multiArch),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
