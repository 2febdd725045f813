/**
 * A SOCI index builder, written to the published format (awslabs/soci-snapshotter:
 * ztoc/fbs/ztoc.fbs, ztoc/compression/gzip_zinfo.c, soci/soci_index.go) because no Debian
 * package ships the soci CLI.
 *
 * Real parts where they exist: GNU tar writes the layer and gzip -n compresses it; the zran
 * checkpoints are recorded by Berth's own checkpoint recorder while decoding that real gzip;
 * the zTOC is written with the flatbuffers Builder. Only the field layout (the schema's slots)
 * and the gzip_zinfo packing are written here.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { Builder } from 'flatbuffers';
import { CheckpointRecorder } from '../../src/lib/layers/checkpoints.ts';
import { decompress } from '../../src/lib/layers/decompress.ts';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';
import { run } from './process.ts';

export const sociIndexV1 = 'application/vnd.amazon.soci.index.v1+json';
export const sociIndexV2 = 'application/vnd.amazon.soci.index.v2+json';
export const layerDigestAnnotation = 'com.amazon.soci.image-layer-digest';
const emptyJson = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A gzip layer made by GNU tar and gzip -n from these files (written in this order). */
export async function gzipLayer(files: { path: string; content: string | Buffer }[]) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-soci-'));
  try {
    const root = join(dir, 'root');
    for (const f of files) {
      await mkdir(dirname(join(root, f.path)), { recursive: true });
      await writeFile(join(root, f.path), f.content);
    }
    const tar = join(dir, 'layer.tar');
    await run('tar', [
      '--create',
      `--file=${tar}`,
      `--directory=${root}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@1700000000',
      '--format=gnu',
      ...files.map((f) => f.path),
    ]);
    await run('gzip', ['-n', '-f', tar]);
    return await readFile(tar + '.gz');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A multi-member gzip of `tar`, cut at `cuts` (tar offsets), each piece compressed by gzip -n,
 * the members concatenated as pigz or a streaming writer leaves them. */
export async function gzipMembers(tar: Buffer, cuts: number[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-soci-'));
  try {
    const members: Buffer[] = [];
    const bounds = [0, ...cuts, tar.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const path = join(dir, `m${i}`);
      await writeFile(path, tar.subarray(bounds[i], bounds[i + 1]));
      await run('gzip', ['-n', '-f', path]);
      members.push(await readFile(path + '.gz'));
    }
    return Buffer.concat(members);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Ztoc {
  bytes: Buffer;
  /** The spans as written: compressed [start, end), tar [out, outEnd). */
  spans: { start: number; end: number; out: number; outEnd: number }[];
  entries: TarEntry[];
}

export interface ZtocOptions {
  /** Tar bytes between checkpoints (soci's span size; default 64 KiB for small fixtures). */
  spacing?: number;
  /** Leave out the span digests (they are optional in a zTOC). */
  noDigests?: boolean;
}

/** Builds the zTOC of a gzip layer (one member or several). */
export async function buildZtoc(blob: Buffer, opts: ZtocOptions = {}): Promise<Ztoc> {
  // gzip -n writes a 10-byte header (no name, no extra): the first block starts at byte 10.
  if (blob[0] !== 0x1f || blob[1] !== 0x8b || blob[3] !== 0) throw new Error('not a plain gzip');
  const recorder = new CheckpointRecorder('gzip', opts.spacing ?? 64 << 10);
  const tar = gunzipSync(blob);
  const reader = decompress(() => new Blob([new Uint8Array(blob)]).stream(), 'gzip', {
    checkpoints: recorder,
  }).getReader();
  while (!(await reader.read()).done);
  const recorded = recorder.finish();
  const windows = Buffer.from(await (recorded?.windows ?? new Blob([])).arrayBuffer());
  // Checkpoint 0 is the first block, after the header, with an empty window (zran's totout 0).
  const points = [{ in: 10, out: 0, bits: 0, window: Buffer.alloc(32768) }];
  for (const p of recorded?.points ?? []) {
    // A member's start (no window): no checkpoint there, so a span runs across members.
    if (!p.window) continue;
    const packed = windows.subarray(p.window.at, p.window.at + p.window.size);
    const w = p.window.size === p.window.length ? packed : inflateRawSync(packed);
    // zran keeps a full 32 KiB window, zeros before the stream's start.
    const window = Buffer.concat([Buffer.alloc(32768 - w.length), w]);
    // Berth says "bit b of byte in"; zran says "the top 8 - b bits of the byte before in".
    points.push({
      in: p.bit ? p.in + 1 : p.in,
      out: p.out,
      bits: p.bit ? 8 - p.bit : 0,
      window,
    });
  }
  // gzip_zinfo blob, version 2: count, span size, then every checkpoint (little-endian).
  const zinfo = Buffer.alloc(12 + points.length * (17 + 32768));
  zinfo.writeInt32LE(points.length, 0);
  zinfo.writeBigInt64LE(BigInt(opts.spacing ?? 64 << 10), 4);
  points.forEach((p, i) => {
    const at = 12 + i * (17 + 32768);
    zinfo.writeBigInt64LE(BigInt(p.in), at);
    zinfo.writeBigInt64LE(BigInt(p.out), at + 8);
    zinfo[at + 16] = p.bits;
    p.window.copy(zinfo, at + 17);
  });
  const spans = points.map((p, i) => ({
    start: p.in - (p.bits ? 1 : 0),
    end: points[i + 1]?.in ?? blob.length,
    out: p.out,
    outEnd: points[i + 1]?.out ?? tar.length,
  }));

  const entries: TarEntry[] = [];
  new TarParser({ onEntry: (e) => void entries.push(e) }).push(tar);

  const b = new Builder(1024);
  const str = (s: string) => b.createString(s);
  // What flatc generates for a vector of tables or strings.
  const offsets = (list: number[]) => {
    b.startVector(4, list.length, 4);
    for (let i = list.length - 1; i >= 0; i--) b.addOffset(list[i]!);
    return b.endVector();
  };
  const typeOf: Record<string, string> = {
    file: 'reg',
    dir: 'dir',
    symlink: 'symlink',
    hardlink: 'hardlink',
  };
  const metas = entries.map((e) => {
    const name = str(e.path);
    const type = str(typeOf[e.type] ?? e.type);
    const mtime = str(new Date(e.mtime * 1000).toISOString().replace('.000Z', 'Z'));
    const link = e.linkname !== undefined ? str(e.linkname) : 0;
    b.startObject(14);
    b.addFieldOffset(0, name, 0);
    b.addFieldOffset(1, type, 0);
    b.addFieldInt64(2, BigInt(e.offset), 0n);
    b.addFieldInt64(3, BigInt(e.size), 0n);
    if (link) b.addFieldOffset(4, link, 0);
    b.addFieldInt64(5, BigInt(e.mode), 0n);
    b.addFieldInt32(6, e.uid, 0);
    b.addFieldInt32(7, e.gid, 0);
    b.addFieldOffset(10, mtime, 0);
    return b.endObject();
  });
  const metaVec = offsets(metas);
  b.startObject(1);
  b.addFieldOffset(0, metaVec, 0);
  const toc = b.endObject();
  const digestVec = opts.noDigests
    ? 0
    : offsets(spans.map((s) => str(sha256(blob.subarray(s.start, s.end)))));
  b.startVector(1, zinfo.length, 1);
  for (let i = zinfo.length - 1; i >= 0; i--) b.addInt8(zinfo[i]!);
  const cpVec = b.endVector();
  b.startObject(4);
  b.addFieldInt8(0, 1, 1);
  b.addFieldInt32(1, points.length - 1, 0);
  if (digestVec) b.addFieldOffset(2, digestVec, 0);
  b.addFieldOffset(3, cpVec, 0);
  const info = b.endObject();
  const version = str('0.9');
  const tool = str('berth test harness');
  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, tool, 0);
  b.addFieldInt64(2, BigInt(blob.length), 0n);
  b.addFieldInt64(3, BigInt(tar.length), 0n);
  b.addFieldOffset(4, toc, 0);
  b.addFieldOffset(5, info, 0);
  b.finish(b.endObject());
  return { bytes: Buffer.from(b.asUint8Array()), spans, entries };
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/**
 * The SOCI index (an OCI image manifest whose config media type names its version) for one
 * layer's zTOC, and the referrers-tag index that lists it for registries without the referrers
 * API. A v1 index refers to the image manifest as its subject; a v2 one has none (the image's
 * manifest names it instead, in its com.amazon.soci.index-digest annotation).
 */
export function sociIndex(layer: Desc, ztoc: Buffer, subject?: Desc) {
  const type = subject ? sociIndexV1 : sociIndexV2;
  const ztocDesc: Desc = {
    mediaType: 'application/octet-stream',
    digest: sha256(ztoc),
    size: ztoc.length,
    annotations: {
      [layerDigestAnnotation]: layer.digest,
      'com.amazon.soci.image-layer-mediaType': layer.mediaType,
    },
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: type, digest: emptyJson, size: 2 },
    layers: [ztocDesc],
    ...(subject
      ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }
      : {}),
    annotations: { 'com.amazon.soci.build-tool-identifier': 'berth test harness' },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const referrers = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: manifest.mediaType,
        digest: sha256(manifestBytes),
        size: manifestBytes.length,
        artifactType: type,
      },
    ],
  };
  return {
    manifest,
    manifestBytes,
    referrers,
    tag: subject ? `sha256-${subject.digest.slice('sha256:'.length)}` : '',
  };
}
