// Images built from real bytes for unit tests: layers are tars made by GNU tar and gzipped by
// node:zlib, configs list their real diffIDs, and every digest is computed, never written.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor, Platform } from '../../src/lib/oci/types.ts';
import { type MemoryRegistry, sha256 } from './memory-registry.ts';

const exec = promisify(execFile);

/** A tar of the files (path → bytes), made by GNU tar with fixed owners and times. */
export async function tarOf(files: Record<string, Uint8Array>): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-layer-'));
  try {
    for (const [path, bytes] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), bytes);
    }
    const { stdout } = await exec(
      'tar',
      ['-c', '--sort=name', '--owner=0', '--group=0', '--mtime=@0', '-C', dir, '.'],
      { encoding: 'buffer', maxBuffer: 64 << 20 },
    );
    return new Uint8Array(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes that do not compress, so a layer's size is about its files' size. */
export const noise = (n: number) => new Uint8Array(randomBytes(n));

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIDs: string[];
  /** Each blob's bytes by digest, to check what was stored. */
  bytes: Map<string, Uint8Array>;
}

/** Pushes an image of gzipped layers (each a set of files) and tags it. */
export async function pushImage(
  reg: MemoryRegistry,
  repository: string,
  opts: {
    tag?: string;
    layers: Record<string, Uint8Array>[];
    platform?: Platform;
  },
): Promise<BuiltImage> {
  const bytes = new Map<string, Uint8Array>();
  const layers: Descriptor[] = [];
  const diffIDs: string[] = [];
  for (const files of opts.layers) {
    const tar = await tarOf(files);
    const gz = new Uint8Array(gzipSync(tar));
    const desc = reg.blob(repository, gz, MediaType.OciLayerGzip);
    layers.push(desc);
    diffIDs.push(sha256(tar));
    bytes.set(desc.digest, gz);
  }
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const configBytes = new TextEncoder().encode(
    JSON.stringify({
      ...platform,
      rootfs: { type: 'layers', diff_ids: diffIDs },
      history: diffIDs.map((_, i) => ({ created_by: `step ${i}` })),
    }),
  );
  const config = reg.blob(repository, configBytes, MediaType.OciConfig);
  bytes.set(config.digest, configBytes);
  const manifest = reg.manifest(
    repository,
    { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers } as {
      mediaType: string;
    },
    opts.tag,
  );
  return { manifest, config, layers, diffIDs, bytes };
}

/** Pushes an index of one image per platform and tags it. */
export async function pushIndex(
  reg: MemoryRegistry,
  repository: string,
  tag: string,
  images: { platform: Platform; layers: Record<string, Uint8Array>[] }[],
) {
  const built: BuiltImage[] = [];
  for (const i of images) built.push(await pushImage(reg, repository, i));
  const index = reg.manifest(
    repository,
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: built.map((b, i) => ({ ...b.manifest, platform: images[i]!.platform })),
    } as { mediaType: string },
    tag,
  );
  return { index, images: built };
}
