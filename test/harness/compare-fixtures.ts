/**
 * Two versions of an image, and one image for two platforms, built at test time with real
 * tools (GNU tar, gzip, skopeo) for comparing images (issue 16). The two versions differ
 * in every way a comparison names; `COMPARE_EXPECTED` says how, for the tests' messages (the
 * tests judge Berth against an independent reading of the unpacked images, not against it).
 *
 * Layers are tars of real files, as in oci.ts, with one addition: an entry may be owned by
 * someone other than root, which GNU tar writes with a second `--append` pass (its --owner
 * applies to a whole run), so no file on disk has to be chowned and no root is needed.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { push, type FixtureImage } from './fixtures.ts';
import {
  buildIndex,
  FIXED_CREATED,
  MT,
  OciLayout,
  sha256File,
  writeEntries,
  type BuiltImage,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type LayerEntry,
  type LayerInfo,
} from './oci.ts';
import { run } from './process.ts';
import type { Registry } from './registry.ts';

/** A layer entry, optionally owned by uid:gid instead of 0:0. */
export type OwnedEntry = LayerEntry & { owner?: [uid: number, gid: number] };

export interface CompareLayerSpec {
  entries: OwnedEntry[];
  /** gzip -9 or gzip -1: the same tar compressed both ways keeps its diffID and changes its
   * digest (gzip's header alone differs: XFL says which). umoci 0.4 reads no zstd, so the
   * oracle tests could not unpack a zstd layer. */
  compression: 'best' | 'fast';
}

/** Deterministic bytes that do not compress away (a sha256 chain), for binary files. */
export function pseudoRandomBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** 24 KiB of binary, and the same with one byte changed in the middle (same size). */
const BINARY_A = pseudoRandomBytes('berth compare data.bin', 24 * 1024);
const BINARY_B = Buffer.from(BINARY_A);
BINARY_B[10_000] = BINARY_B[10_000]! ^ 0xff;

const MOVED = pseudoRandomBytes('berth compare moved.bin', 8 * 1024);

/** The shared base: the same blob in both versions and both platforms. */
const BASE: OwnedEntry[] = [
  { type: 'dir', path: 'etc' },
  { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
  { type: 'file', path: 'etc/os-release', content: 'ID=berth\nNAME="Berth compare"\n' },
  { type: 'file', path: 'etc/motd', content: 'Welcome to the compare fixture.\n' },
  { type: 'file', path: 'cache/one.txt', content: 'cached one\n' },
  { type: 'file', path: 'cache/two.txt', content: 'cached two\n' },
  { type: 'dir', path: 'cache/sub' },
  { type: 'file', path: 'cache/sub/three.txt', content: 'cached three\n' },
];

/** A layer both versions hold with the same tar, compressed differently (same diffID). */
const TOOL: OwnedEntry[] = [
  { type: 'file', path: 'opt/tool/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
  { type: 'file', path: 'opt/tool/README', content: 'The tool, the same in both.\n' },
];

const APP_A: OwnedEntry[] = [
  { type: 'file', path: 'app/config.txt', content: 'version=1\nmode=fast\n' },
  { type: 'file', path: 'app/data.bin', content: BINARY_A },
  { type: 'file', path: 'app/run.sh', content: '#!/bin/sh\nexec app\n', mode: 0o644 },
  { type: 'file', path: 'app/owned.txt', content: 'owned by root\n' },
  { type: 'file', path: 'app/same.txt', content: 'the same bytes in another layer\n' },
  { type: 'file', path: 'app/v1/lib.txt', content: 'lib v1\n' },
  { type: 'file', path: 'app/v2/lib.txt', content: 'lib v2\n' },
  { type: 'symlink', path: 'app/current', target: 'v1' },
  { type: 'file', path: 'app/thing', content: 'a file that becomes a directory\n' },
  { type: 'file', path: 'app/removed.txt', content: 'only in a\n' },
  { type: 'file', path: 'app/hard.txt', content: 'hard v1\n' },
  { type: 'hardlink', path: 'app/hardlink', target: 'app/hard.txt' },
  { type: 'file', path: 'app/moved.bin', content: MOVED },
];

const APP_B: OwnedEntry[] = [
  { type: 'file', path: 'app/config.txt', content: 'version=2\nmode=slow\n' },
  { type: 'file', path: 'app/data.bin', content: BINARY_B },
  { type: 'file', path: 'app/run.sh', content: '#!/bin/sh\nexec app\n', mode: 0o755 },
  { type: 'file', path: 'app/owned.txt', content: 'owned by root\n', owner: [1000, 1000] },
  { type: 'file', path: 'app/same.txt', content: 'the same bytes in another layer\n' },
  { type: 'file', path: 'app/v1/lib.txt', content: 'lib v1\n' },
  { type: 'file', path: 'app/v2/lib.txt', content: 'lib v2\n' },
  { type: 'symlink', path: 'app/current', target: 'v2' },
  { type: 'dir', path: 'app/thing' },
  { type: 'file', path: 'app/thing/inner.txt', content: 'now a directory\n' },
  { type: 'file', path: 'app/added.txt', content: 'only in b\n' },
  { type: 'file', path: 'app/hard.txt', content: 'hard v2\n' },
  { type: 'hardlink', path: 'app/hardlink', target: 'app/hard.txt' },
];

/** b's last layer: the moved file, a whiteout and an opaque directory over the base. */
const CLEANUP_B: OwnedEntry[] = [
  { type: 'file', path: 'app/moved.bin', content: MOVED },
  { type: 'whiteout', path: 'etc/motd' },
  { type: 'opaque', path: 'cache' },
  { type: 'file', path: 'cache/fresh.txt', content: 'fresh after the opaque directory\n' },
];

/** The layers of test/compare:v1 (a) and :v2 (b), bottom first: the unit tests read the same
 * tars without a registry. b's second layer is a's recompressed in the registry images. */
export const COMPARE_LAYERS = {
  a: [BASE, TOOL, APP_A],
  b: [BASE, TOOL, APP_B, CLEANUP_B],
} as const;

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const CONFIG_A = {
  Env: [PATH_ENV, 'APP_VERSION=1.0', 'OLD_ONLY=yes'],
  Entrypoint: ['/app/run.sh'],
  Cmd: ['--serve'],
  WorkingDir: '/app',
  User: '0:0',
  Labels: { 'org.opencontainers.image.version': '1.0', 'berth.test.fixture': 'compare' },
  ExposedPorts: { '8080/tcp': {} },
};

const CONFIG_B = {
  Env: [PATH_ENV, 'APP_VERSION=2.0', 'NEW_ONLY=yes'],
  Entrypoint: ['/app/run.sh'],
  Cmd: ['--serve', '--verbose'],
  WorkingDir: '/app',
  User: '1000:1000',
  Labels: {
    'org.opencontainers.image.version': '2.0',
    'berth.test.fixture': 'compare',
    'berth.test.added': 'yes',
  },
  ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
};

const step = (created_by: string, empty_layer?: true): HistoryEntry => ({
  created: FIXED_CREATED,
  created_by,
  ...(empty_layer ? { empty_layer } : {}),
});

const HISTORY_A: HistoryEntry[] = [
  step('ADD rootfs.tar /'),
  step('COPY tool /opt/tool'),
  step('ENV APP_VERSION=1.0', true),
  step('COPY app /app'),
];

const HISTORY_B: HistoryEntry[] = [
  step('ADD rootfs.tar /'),
  step('COPY tool /opt/tool'),
  step('ENV APP_VERSION=2.0', true),
  step('COPY app /app'),
  step('RUN mv moved.bin && rm /etc/motd && rm -rf /cache/*'),
];

/** What differs between test/compare:v1 (a) and :v2 (b), as a reader of the two images sees
 * it (hard links read as the file they name). Directories whose mode and owner stay are not
 * listed; `app` and `cache` differ only below. */
export const COMPARE_EXPECTED = {
  paths: {
    'app/config.txt': { difference: 'changed', aspects: ['content'], note: 'same size' },
    'app/data.bin': { difference: 'changed', aspects: ['content'], note: 'one byte, same size' },
    'app/run.sh': { difference: 'changed', aspects: ['mode'] },
    'app/owned.txt': { difference: 'changed', aspects: ['owner'] },
    'app/current': { difference: 'changed', aspects: ['link'], note: 'symlink v1 -> v2' },
    'app/thing': { difference: 'changed', aspects: ['type'], note: 'file -> directory' },
    'app/thing/inner.txt': { difference: 'added', aspects: [] },
    'app/added.txt': { difference: 'added', aspects: [] },
    'app/removed.txt': { difference: 'removed', aspects: [] },
    'app/hard.txt': { difference: 'changed', aspects: ['content'], note: 'same size' },
    'app/hardlink': { difference: 'changed', aspects: ['content'], note: 'its target changed' },
    'etc/motd': { difference: 'removed', aspects: [], note: 'whiteout in b' },
    'cache/one.txt': { difference: 'removed', aspects: [], note: 'opaque directory in b' },
    'cache/two.txt': { difference: 'removed', aspects: [], note: 'opaque directory in b' },
    'cache/sub': { difference: 'removed', aspects: [], note: 'opaque directory in b' },
    'cache/sub/three.txt': { difference: 'removed', aspects: [], note: 'opaque directory' },
    'cache/fresh.txt': { difference: 'added', aspects: [] },
  } as Record<string, { difference: string; aspects: string[]; note?: string }>,
  /** Same bytes, other layer: pending until hashed, then unchanged. */
  unchangedInOtherLayer: ['app/moved.bin', 'app/same.txt', 'app/v1/lib.txt', 'app/v2/lib.txt'],
  /** From the recompressed layer (same diffID): unchanged without hashing. */
  unchangedSameDiffID: ['opt/tool/bin/tool', 'opt/tool/README'],
  config: {
    env: { changed: ['APP_VERSION'], removed: ['OLD_ONLY'], added: ['NEW_ONLY'] },
    labels: { changed: ['org.opencontainers.image.version'], added: ['berth.test.added'] },
    cmd: 'changed',
    user: 'changed',
    exposedPorts: { added: ['9090/tcp'] },
  },
  /** Index in the history (empty layers included) of the first step that differs. */
  historyDivergesAt: 2,
  /** Layers: 0 the same blob; 1 the same tar, gzip -9 in a and gzip -1 in b; 2.. differ. */
  layers: { sameDigest: [0], sameDiffID: [1], sharedBase: 2 },
} as const;

/** What the two platforms of test/compare-multi:v1 differ in. */
export const PLATFORMS_EXPECTED = {
  paths: {
    'etc/arch': { difference: 'changed', aspects: ['content'], note: 'same size' },
    'usr/lib/libarch.so': { difference: 'changed', aspects: ['content'] },
    'usr/lib/amd64-only': { difference: 'removed', aspects: [] },
  } as Record<string, { difference: string; aspects: string[]; note?: string }>,
} as const;

export interface CompareFixtures {
  /** test/compare:v1, the version compared from. */
  a: FixtureImage;
  /** test/compare:v2. */
  b: FixtureImage;
  /** test/compare-multi:v1, an index of linux/amd64 and linux/arm64 (in that order). */
  multi: FixtureImage;
  /** What differs, for messages. */
  expected: typeof COMPARE_EXPECTED;
  platforms: typeof PLATFORMS_EXPECTED;
}

/** Tars entries with GNU tar into `work`/NAME.tar (entries with an owner appended in a pass of
 * their own); returns the tar's path. */
export async function buildTar(work: string, entries: OwnedEntry[]): Promise<string> {
  const root = await mkdtemp(join(work, 'root-'));
  await writeEntries(root, entries);
  const tar = root + '.tar';
  const common = [
    `--file=${tar}`,
    `--directory=${root}`,
    '--sort=name',
    '--numeric-owner',
    '--mtime=@0',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
  ];
  const owned = entries.filter((e) => e.owner);
  const top = (await readdir(root)).sort();
  await run('tar', [
    '--create',
    ...common,
    '--owner=0',
    '--group=0',
    ...owned.map((e) => `--exclude=${e.path}`),
    '--',
    ...top,
  ]);
  for (const e of owned) {
    const [uid, gid] = e.owner!;
    await run('tar', ['--append', ...common, `--owner=${uid}`, `--group=${gid}`, '--', e.path]);
  }
  await rm(root, { recursive: true, force: true });
  return tar;
}

/** A gzip layer of these entries in the layout; returns the layer and its tar's digest. */
async function buildLayer(
  layout: OciLayout,
  work: string,
  spec: CompareLayerSpec,
): Promise<LayerInfo> {
  const tar = await buildTar(work, spec.entries);
  const diffID = await sha256File(tar);
  await run('gzip', ['-n', spec.compression === 'best' ? '-9' : '-1', '-f', tar]);
  const d = await layout.addBlobFile(tar + '.gz', MT.ociLayerGzip);
  return { digest: d.digest, size: d.size, diffID, mediaType: MT.ociLayerGzip };
}

/** An OCI image over layers already in the layout. */
async function assemble(
  layout: OciLayout,
  layers: LayerInfo[],
  history: HistoryEntry[],
  config: Record<string, unknown>,
  platform: { architecture: string; variant?: string } = { architecture: 'amd64' },
): Promise<BuiltImage> {
  const imageConfig: ImageConfig = {
    architecture: platform.architecture,
    os: 'linux',
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: FIXED_CREATED,
    config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history,
  };
  const configDescriptor = await layout.addJson(imageConfig, MT.ociConfig);
  const layerDescriptors: Descriptor[] = layers.map((l) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
  }));
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: configDescriptor,
    layers: layerDescriptors,
  };
  const descriptor = await layout.addJson(manifest, MT.ociManifest);
  return { kind: 'image', descriptor, manifest, configDescriptor, config: imageConfig, layers };
}

/**
 * Builds test/compare:v1 and :v2 and test/compare-multi:v1 in a temp dir (removed afterwards)
 * and pushes them to registry, checking every pushed digest against what was built.
 */
export async function buildCompareFixtures(registry: Registry): Promise<CompareFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'berth-compare-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const layer = (entries: OwnedEntry[], compression: 'best' | 'fast' = 'best') =>
      buildLayer(layout, work, { entries, compression });
    const [base, toolGz, toolFast, appA, appB, cleanupB] = await Promise.all([
      layer(BASE),
      layer(TOOL, 'best'),
      layer(TOOL, 'fast'),
      layer(APP_A),
      layer(APP_B),
      layer(CLEANUP_B),
    ]);
    if (toolGz.diffID !== toolFast.diffID || toolGz.digest === toolFast.digest) {
      throw new Error('the recompressed tool layer must keep its diffID and change its digest');
    }
    const a = await assemble(layout, [base, toolGz, appA], HISTORY_A, CONFIG_A);
    const b = await assemble(layout, [base, toolFast, appB, cleanupB], HISTORY_B, CONFIG_B);

    // Two platforms of one image: the base shared, the arch layer different.
    const archLayer = (text: string, lib: Buffer, only: OwnedEntry[]) =>
      layer([
        { type: 'file', path: 'etc/arch', content: text },
        { type: 'file', path: 'usr/lib/libarch.so', content: lib, mode: 0o755 },
        ...only,
      ]);
    const [amd64Layer, arm64Layer] = await Promise.all([
      archLayer('amd64\n', pseudoRandomBytes('libarch amd64', 4096), [
        { type: 'file', path: 'usr/lib/amd64-only', content: 'x86 only\n' },
      ]),
      archLayer('arm64\n', pseudoRandomBytes('libarch arm64', 6144), []),
    ]);
    const platformHistory = [step('ADD rootfs.tar /'), step('COPY arch /')];
    const platformConfig = { Env: [PATH_ENV], Cmd: ['/bin/sh'] };
    const amd64 = await assemble(layout, [base, amd64Layer], platformHistory, platformConfig);
    const arm64 = await assemble(layout, [base, arm64Layer], platformHistory, platformConfig, {
      architecture: 'arm64',
      variant: 'v8',
    });
    const index = await buildIndex({
      layout,
      mediaTypes: 'oci',
      manifests: [{ image: amd64 }, { image: arm64 }],
    });

    // Pushes one by one: they share the layout's index.json.
    return {
      a: await push(layout, registry, 'test/compare', 'v1', a),
      b: await push(layout, registry, 'test/compare', 'v2', b),
      multi: await push(layout, registry, 'test/compare-multi', 'v1', index),
      expected: COMPARE_EXPECTED,
      platforms: PLATFORMS_EXPECTED,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
