/**
 * The files part of a comparison checked against an independent reading. The compare fixtures
 * (test/harness/compare-fixtures.ts) are pushed to a real registry; Berth pulls both images
 * with its own client into the in-memory store, lists their stored layers, compares the files
 * and hashes what stays pending. Independently, skopeo copies both to OCI layouts, umoci
 * unpacks them, and `diff -rq --no-dereference` and `stat` read the two rootfs trees: every
 * difference those tools find must be in Berth's result, and nothing else.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareFiles, type FilesComparison, type FilesSide } from '../../src/lib/compare/files.ts';
import { hashFiles } from '../../src/lib/compare/files-hash.ts';
import type { PathDiff } from '../../src/lib/compare/types.ts';
import { tarFrom } from '../../src/lib/layers/checkpoints.ts';
import { decompress } from '../../src/lib/layers/decompress.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { layerCompression } from '../../src/lib/oci/mediatypes.ts';
import type { Platform } from '../../src/lib/oci/types.ts';
import { pullImage, type PullContext } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { directTransport } from '../../src/lib/registry/transport.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { buildCompareFixtures, type CompareFixtures } from '../harness/compare-fixtures.ts';
import { skopeo, type LayerInfo } from '../harness/oci.ts';
import { run } from '../harness/process.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

let registry: Registry;
let fx: CompareFixtures;
let work: string;
const store = memoryStore();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-compare-files-'));
  registry = await startRegistry();
  fx = await buildCompareFixtures(registry);
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Berth's reading: pull, list the stored layers, compare, hash the pending files.

async function pull(ref: string, platform?: Platform) {
  const client = new RegistryClient({ transport: directTransport() });
  const ctx: PullContext = {
    client,
    store,
    signal: new AbortController().signal,
    onProgress: () => {},
  };
  return pullImage(parseReference(ref), platform, ctx);
}

async function side(layers: LayerInfo[]): Promise<FilesSide> {
  const listed = await Promise.all(
    layers.map(async (l) => {
      const blob = await store.content.read(l.digest);
      const tar = decompress(() => blob.stream(), layerCompression(l.mediaType));
      return listLayer(tar);
    }),
  );
  listed.forEach((l, i) => expect(l.diffID, `diffID of layer ${i}`).toBe(layers[i]!.diffID));
  return { layers: listed.map((l) => l.files), ids: listed.map((l) => l.diffID) };
}

async function berth(a: LayerInfo[], b: LayerInfo[]) {
  const files = await compareFiles(await side(a), await side(b));
  const pendingBefore = files.summary.pending;
  let reads = 0;
  for (const r of files.pendingReads()) {
    const layer = (r.side === 'a' ? a : b)[r.layer]!;
    const blob = await store.content.read(layer.digest);
    const from = await tarFrom(
      blob,
      layerCompression(layer.mediaType),
      undefined,
      r.files[0]!.offset,
    );
    const digests = await hashFiles(from.tar, r.files, { start: from.start });
    r.files.forEach((f, i) => files.digests.set(files.keyOf(r, f), digests[i]!));
    reads++;
  }
  await files.decide();
  return { files, pendingBefore, reads, found: differences(files) };
}

/** Berth's differences as `path: difference aspects`, directories only for their own. */
function differences(files: FilesComparison): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (paths: PathDiff[]) => {
    for (const p of paths) {
      expect(p.pending, p.path).toBeUndefined();
      const dir = (p.a?.type ?? p.b?.type) === 'dir';
      if (p.difference === 'unchanged') continue;
      if (dir && p.difference === 'changed' && p.aspects.length === 0) continue;
      out.set(p.path, [p.difference, ...[...p.aspects].sort()].join(' '));
    }
  };
  // Every row, every directory open.
  for (let i = 0; i < files.count; i++) {
    const [row] = files.rows(i, i + 1);
    if (row!.dir && !row!.expanded) files.toggle(row!.path, true);
  }
  walk(files.rows(0, files.count));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The independent reading: skopeo, umoci, diff -r, stat.

async function unpack(name: string, ref: string, platform?: Platform): Promise<string> {
  const layout = join(work, `${name}-oci`);
  const args = ['copy', '--quiet', '--src-tls-verify=false'];
  if (platform) {
    args.push(`--override-os=${platform.os}`, `--override-arch=${platform.architecture}`);
    if (platform.variant) args.push(`--override-variant=${platform.variant}`);
  }
  await skopeo([...args, `docker://${ref}`, `oci:${layout}:image`]);
  const bundle = join(work, `${name}-bundle`);
  // Root keeps every owner as the tar has it; without root, umoci's rootless mode would not.
  await run('umoci', ['unpack', '--image', `${layout}:image`, bundle]);
  return join(bundle, 'rootfs');
}

interface Stat {
  type: string;
  mode: string;
  uid: string;
  gid: string;
  size: string;
  link?: string;
}

async function statTree(root: string): Promise<Map<string, Stat>> {
  const { stdout: list } = await run('find', ['.', '-mindepth', '1', '-print0'], { cwd: root });
  const paths = list.split('\0').filter(Boolean);
  const out = new Map<string, Stat>();
  if (paths.length === 0) return out;
  const { stdout } = await run('stat', ['-c', '%n\t%F\t%a\t%u\t%g\t%s', '--', ...paths], {
    cwd: root,
  });
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [n, type, mode, uid, gid, size] = line.split('\t') as [string, ...string[]];
    const path = n.replace(/^\.\//, '');
    const s: Stat = { type: type!, mode: mode!, uid: uid!, gid: gid!, size: size! };
    if (type === 'symbolic link') {
      s.link = (await run('readlink', ['--', n], { cwd: root })).stdout.replace(/\n$/, '');
    }
    out.set(path, s);
  }
  return out;
}

/** The differences diff -r and stat find, as `path: difference aspects`. */
async function oracle(rootA: string, rootB: string): Promise<Map<string, string>> {
  const [sa, sb] = await Promise.all([statTree(rootA), statTree(rootB)]);
  // diff exits 1 when the trees differ: that is its answer, not a failure.
  const { stdout } = await run('sh', [
    '-c',
    'diff -rq --no-dereference "$1" "$2"; [ $? -le 1 ]',
    'sh',
    rootA,
    rootB,
  ]);
  const contentDiffers = new Set<string>();
  const onlyIn = new Set<string>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const files = /^Files (.+) and (.+) differ$/.exec(line);
    if (files) {
      contentDiffers.add(files[1]!.slice(rootA.length + 1));
      continue;
    }
    const only = /^Only in (.+): (.+)$/.exec(line);
    if (only) {
      const dir = only[1]!.startsWith(rootA)
        ? only[1]!.slice(rootA.length)
        : only[1]!.slice(rootB.length);
      onlyIn.add(`${dir.replace(/^\//, '')}${dir.length > 1 ? '/' : ''}${only[2]}`);
    }
  }
  const out = new Map<string, string>();
  for (const path of new Set([...sa.keys(), ...sb.keys()])) {
    const a = sa.get(path);
    const b = sb.get(path);
    if (!a || !b) {
      out.set(path, a ? 'removed' : 'added');
      continue;
    }
    const aspects: string[] = [];
    if (a.type !== b.type) aspects.push('type');
    else {
      if (a.type === 'regular file' && contentDiffers.has(path)) aspects.push('content');
      if (a.type !== 'symbolic link' && a.mode !== b.mode) aspects.push('mode');
      if (a.uid !== b.uid || a.gid !== b.gid) aspects.push('owner');
      if (a.link !== b.link) aspects.push('link');
    }
    if (aspects.length > 0) out.set(path, ['changed', ...aspects.sort()].join(' '));
  }
  // diff's "Only in" names the top of each subtree one side lacks: each is in the stat reading.
  for (const path of onlyIn)
    expect(out.get(path), `diff -r: only in one tree: ${path}`).toMatch(/^(added|removed)$/);
  return out;
}

const sorted = (m: Map<string, string>) => Object.fromEntries([...m].sort());

// ---------------------------------------------------------------------------------------------

describe('two versions of an image', () => {
  test('Berth finds exactly what diff -r and stat find in the unpacked images', async () => {
    const [pa, pb] = await Promise.all([pull(fx.a.ref), pull(fx.b.ref)]);
    expect(pa.manifest.digest).toBe(fx.a.digest);
    expect(pb.manifest.digest).toBe(fx.b.digest);
    const [rootA, rootB] = await Promise.all([unpack('a', fx.a.ref), unpack('b', fx.b.ref)]);
    const expected = await oracle(rootA, rootB);
    const got = await berth(fx.a.layers!, fx.b.layers!);
    expect(sorted(got.found)).toEqual(sorted(expected));
    // The oracle saw every kind of difference the fixtures were built to have.
    for (const [path, e] of Object.entries(fx.expected.paths)) {
      expect(expected.get(path), path).toBe([e.difference, ...e.aspects].join(' '));
    }
    // Pending: the same-size files of other layers, the recompressed layer's none; each layer
    // holding some read once.
    expect(got.pendingBefore).toBe(10);
    expect(got.reads).toBe(3);
    for (const path of fx.expected.unchangedSameDiffID) {
      expect(got.files.path(path)!.a!.digest, path).toBeUndefined();
    }
  });
});

describe('two platforms of one index', () => {
  test('Berth finds exactly what diff -r and stat find in the two unpacked platforms', async () => {
    const [amd64, arm64] = fx.multi.manifests!;
    const [pa, pb] = await Promise.all([
      pull(fx.multi.ref, amd64!.platform),
      pull(fx.multi.ref, arm64!.platform),
    ]);
    expect(pa.manifest.digest).toBe(amd64!.digest);
    expect(pb.manifest.digest).toBe(arm64!.digest);
    const [rootA, rootB] = await Promise.all([
      unpack('amd64', fx.multi.ref, amd64!.platform),
      unpack('arm64', fx.multi.ref, arm64!.platform),
    ]);
    const expected = await oracle(rootA, rootB);
    const got = await berth(amd64!.layers, arm64!.layers);
    expect(sorted(got.found)).toEqual(sorted(expected));
    // Only etc/arch kept its size; libarch.so's sizes differ, which decides it unread.
    expect(got.pendingBefore).toBe(1);
    for (const [path, e] of Object.entries(fx.platforms.paths)) {
      expect(expected.get(path), path).toBe([e.difference, ...e.aspects].join(' '));
    }
  });
});
