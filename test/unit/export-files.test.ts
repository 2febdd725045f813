// The files export over layers GNU tar makes here: the merged filesystem (whiteouts, an opaque
// directory, hard links whose target a later layer replaced, a directory replaced by a file and
// back, a layer naming one path twice), a subtree, and a layer's changes, each written by our
// writer and read back by our own tar reader and by GNU tar (listed, and extracted with no
// word on stderr). The oracle for the merged paths is filesystem.ts's reference overlay.
import { execFile } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  BlobParts,
  planChanges,
  planMerged,
  writeExport,
  type FilesExportPlan,
} from '../../src/lib/export/files.ts';
import { toEntries, type ColumnIndex } from '../../src/lib/layers/columns.ts';
import { mergeLayers } from '../../src/lib/layers/filesystem.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';

const exec = promisify(execFile);
const env = { ...process.env, LC_ALL: 'C.UTF-8' };

let work: string;
const tars: Uint8Array[] = [];
const indexes: ColumnIndex[] = [];
const LONG = `long/${'n'.repeat(70)}/${'m'.repeat(74)}`; // 150 characters
const BIG = Buffer.alloc(200_000, 0);

async function put(root: string, path: string, content: string | Buffer, mode = 0o644) {
  const abs = join(root, path);
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, content, { mode });
  await exec('chmod', [mode.toString(8), abs]);
}

async function tar(args: string[], cwd: string) {
  const common = ['--format=posix', '--numeric-owner', '--mtime=@1700000000', '--sort=name'];
  const pax = '--pax-option=delete=atime,delete=ctime';
  await exec('tar', [...common, pax, ...args], { cwd, env });
}

/** A layer: `root`'s files (owned by root), then each of `extra` appended as it says. */
async function layer(
  name: string,
  root: string,
  extra: { dir: string; path: string; owner?: number }[] = [],
  remove: string[] = [],
) {
  const file = join(work, `${name}.tar`);
  const { readdir } = await import('node:fs/promises');
  const top = (await readdir(root)).sort();
  await tar(['--owner=0', '--group=0', '-cf', file, ...top], root);
  for (const e of extra) {
    const owner = e.owner ?? 0;
    await tar([`--owner=${owner}`, `--group=${owner}`, '-rf', file, e.path], e.dir);
  }
  if (remove.length > 0) await exec('tar', ['--delete', '-f', file, ...remove], { env });
  const bytes = new Uint8Array(await readFile(file));
  tars.push(bytes);
  indexes.push((await listLayer(chunked(bytes))).files);
}

/** The bytes as a stream of odd-sized chunks, so files straddle them. */
function chunked(bytes: Uint8Array, size = 4093): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-export-'));
  // Layer 1: the base.
  const r1 = join(work, 'r1');
  await put(r1, 'etc/passwd', 'root:x:0:0\n');
  await put(r1, 'etc/keep', 'deleted later\n');
  await symlink('passwd', join(r1, 'etc/link'));
  await put(r1, 'opt/a', 'a\n');
  await put(r1, 'opt/sub/b', 'b\n');
  await put(r1, 'bin/tool', 'setuid\n', 0o4755);
  await put(r1, 'tmp/sticky/x', 'x\n');
  await exec('chmod', ['1777', join(r1, 'tmp/sticky')]);
  await put(r1, 'data/big', BIG);
  await put(r1, 'hl/a-orig', 'shared content\n');
  await link(join(r1, 'hl/a-orig'), join(r1, 'hl/link'));
  await link(join(r1, 'hl/a-orig'), join(r1, 'hl/link2'));
  await put(r1, 'repl/a-target', 'old target\n');
  await link(join(r1, 'repl/a-target'), join(r1, 'repl/link'));
  await link(join(r1, 'repl/a-target'), join(r1, 'repl/link2'));
  await put(r1, 'a-out/target', 'outside\n');
  await put(r1, 'xl/a-base', 'base\n');
  await mkdir(join(r1, 'in'));
  await link(join(r1, 'a-out/target'), join(r1, 'in/link'));
  await put(r1, 'swap/d/child', 'child\n');
  await put(r1, LONG, 'long name\n');
  await put(r1, 'ünï/ß.txt', 'non-ASCII\n');
  await exec('mkfifo', [join(r1, 'pipe')]);
  const o1 = join(work, 'o1');
  await put(o1, 'owned/f', 'uid 1000\n');
  await layer('l1', r1, [{ dir: o1, path: 'owned/f', owner: 1000 }]);

  // Layer 2: deletions, an opaque directory, a replaced link target, a directory replaced by
  // a file, a whiteout of nothing, and a path named twice.
  const r2 = join(work, 'r2');
  await put(r2, 'etc/.wh.keep', '');
  await put(r2, 'opt/.wh..wh..opq', '');
  await put(r2, 'opt/c', 'c\n');
  await put(r2, 'repl/a-target', 'new target\n');
  await put(r2, 'swap/d', 'now a file\n');
  await put(r2, '.wh.ghost', '');
  await put(r2, 'dup', 'first\n');
  await link(join(r2, 'dup'), join(r2, 'duplink'));
  const a2 = join(work, 'a2');
  await put(a2, 'dup', 'second, which wins\n', 0o600);
  await layer('l2', r2, [{ dir: a2, path: 'dup' }]);

  // Layer 3: the directory back.
  const r3 = join(work, 'r3');
  await put(r3, 'swap/d/new', 'new\n');
  // A hard link to a file of layer 1: the layer holds the link but not its target.
  await put(r3, 'xl/a-base', 'base\n');
  await link(join(r3, 'xl/a-base'), join(r3, 'xl/link'));
  await layer('l3', r3, [], ['xl/a-base']);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function write(plan: FilesExportPlan, part = 1000): Promise<Uint8Array> {
  const out = new BlobParts(part);
  await writeExport(plan, out, {
    signal: new AbortController().signal,
    tarFrom: async (layer) => ({ tar: chunked(tars[layer]!), start: 0 }),
  });
  const blob = out.finish();
  expect(blob.size).toBe(out.written);
  return new Uint8Array(await blob.arrayBuffer());
}

/** Our reader's entries and bodies. */
function readBack(bytes: Uint8Array): { entries: TarEntry[]; bodies: Map<string, string> } {
  const entries: TarEntry[] = [];
  const bodies = new Map<string, string>();
  const dec = new TextDecoder();
  const p = new TarParser({
    onEntry: (e) => {
      entries.push(e);
      bodies.set(e.path, '');
    },
    onData: (e, piece) => bodies.set(e.path, bodies.get(e.path)! + dec.decode(piece)),
  });
  p.push(bytes);
  p.end();
  return { entries, bodies };
}

/** Extracts with GNU tar: no warning, exit 0. Returns the directory. */
async function extract(bytes: Uint8Array, name: string): Promise<string> {
  const file = join(work, `${name}.out.tar`);
  await writeFile(file, bytes);
  const dir = join(work, `${name}.x`);
  await mkdir(dir);
  const { stderr } = await exec('tar', ['-xf', file, '-C', dir], { env });
  expect(stderr).toBe('');
  return dir;
}

async function gnuList(bytes: Uint8Array, name: string): Promise<string[]> {
  const file = join(work, `${name}.list.tar`);
  await writeFile(file, bytes);
  const { stdout, stderr } = await exec('tar', ['-tvf', file, '--numeric-owner'], { env });
  expect(stderr).toBe('');
  return stdout.trim().split('\n');
}

/** Every parent precedes its children. */
function parentsFirst(entries: TarEntry[]) {
  const seen = new Set<string>(['']);
  for (const e of entries) {
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
    expect(seen.has(parent), `${e.path} after its parent`).toBe(true);
    seen.add(e.path);
  }
}

describe('merged filesystem', () => {
  test('holds what the reference overlay holds, applied as the spec says', async () => {
    const plan = await planMerged(indexes);
    expect(plan.problems).toEqual([]);
    const bytes = await write(plan);
    const { entries, bodies } = readBack(bytes);
    expect(entries.length).toBe(plan.entries);
    parentsFirst(entries);
    const want = mergeLayers(indexes.map(toEntries)).map((m) => m.path);
    expect(entries.map((e) => e.path).sort()).toEqual(want.sort());

    const by = new Map(entries.map((e) => [e.path, e]));
    expect(by.has('etc/keep')).toBe(false);
    expect(by.has('opt/a') || by.has('opt/sub')).toBe(false);
    expect(bodies.get('opt/c')).toBe('c\n');
    expect(bodies.get('dup')).toBe('second, which wins\n');
    expect(by.get('dup')!.mode).toBe(0o600);
    // A link to the first of two entries at one path: the second replaced its target.
    expect(by.get('duplink')!.type).toBe('file');
    expect(bodies.get('duplink')).toBe('first\n');
    expect(by.get('swap/d')!.type).toBe('dir');
    expect(by.has('swap/d/child')).toBe(false);
    expect(bodies.get('swap/d/new')).toBe('new\n');
    // Hard links: kept where the target is still the file; copies of the old file where a
    // later layer replaced it, and the two copies of one inode linked to each other.
    expect(by.get('hl/link')).toMatchObject({ type: 'hardlink', linkname: 'hl/a-orig' });
    expect(by.get('hl/link2')).toMatchObject({ type: 'hardlink', linkname: 'hl/a-orig' });
    expect(bodies.get('repl/a-target')).toBe('new target\n');
    expect(by.get('repl/link')!.type).toBe('file');
    expect(bodies.get('repl/link')).toBe('old target\n');
    expect(by.get('repl/link2')).toMatchObject({ type: 'hardlink', linkname: 'repl/link' });
    expect(by.get('in/link')).toMatchObject({ type: 'hardlink', linkname: 'a-out/target' });
    // Linked to what a lower layer has at that path, as containerd and umoci apply it.
    expect(by.get('xl/link')).toMatchObject({ type: 'hardlink', linkname: 'xl/a-base' });
    expect(by.get('bin/tool')!.mode).toBe(0o4755);
    expect(by.get('tmp/sticky')!.mode).toBe(0o1777);
    expect(by.get('owned/f')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(by.get('owned')).toMatchObject({ type: 'dir', uid: 0, mode: 0o755 });
    expect(by.get('pipe')!.type).toBe('fifo');
    expect(by.get('etc/link')).toMatchObject({ type: 'symlink', linkname: 'passwd' });
    expect(bodies.get(LONG)).toBe('long name\n');
    expect(bodies.get('ünï/ß.txt')).toBe('non-ASCII\n');
    expect(by.get('data/big')!.size).toBe(BIG.length);
    expect(by.get('etc/passwd')!.mtime).toBe(1700000000);

    const dir = await extract(bytes, 'merged');
    expect(await readFile(join(dir, 'repl/link'), 'utf8')).toBe('old target\n');
    const [a, b, c] = await Promise.all(
      ['repl/link', 'repl/link2', 'repl/a-target'].map((p) => lstat(join(dir, p))),
    );
    expect(a!.ino).toBe(b!.ino);
    expect(a!.ino).not.toBe(c!.ino);
    expect((await lstat(join(dir, 'hl/link'))).ino).toBe((await lstat(join(dir, 'hl/a-orig'))).ino);
    expect((await lstat(join(dir, 'pipe'))).isFIFO()).toBe(true);
    expect(await readFile(join(dir, LONG), 'utf8')).toBe('long name\n');
    expect((await readFile(join(dir, 'data/big'))).equals(BIG)).toBe(true);
    const listing = await gnuList(bytes, 'merged');
    expect(listing.find((l) => l.endsWith(' owned/f'))).toMatch(/^-rw-r--r-- 1000\/1000 /);
    expect(listing.find((l) => l.endsWith(' bin/tool'))).toMatch(/^-rwsr-xr-x 0\/0 /);
  });

  test('a subtree is named from its own name on; a link out of it is a copy', async () => {
    const plan = await planMerged(indexes, 'in');
    const { entries, bodies } = readBack(await write(plan));
    expect(entries.map((e) => e.path)).toEqual(['in', 'in/link']);
    expect(entries[1]!.type).toBe('file');
    expect(bodies.get('in/link')).toBe('outside\n');

    const deep = await planMerged(indexes, 'swap/d');
    const d = readBack(await write(deep));
    expect(d.entries.map((e) => e.path)).toEqual(['d', 'd/new']);
    // Only the layers with files under it are read.
    expect([...deep.reads.keys()]).toEqual([2]);
    await expect(planMerged(indexes, 'nowhere')).rejects.toThrow(/not in the merged/);
    await expect(planMerged(indexes, 'etc/passwd')).rejects.toThrow(/not a directory/);
  });
});

describe("a layer's changes", () => {
  test('layer 2: its entries, whiteouts only for what existed below, the last duplicate', async () => {
    const plan = planChanges(indexes, 1);
    expect(plan.problems).toEqual([]);
    const bytes = await write(plan);
    const { entries, bodies } = readBack(bytes);
    parentsFirst(entries);
    const paths = entries.map((e) => e.path).sort();
    expect(paths).toEqual(
      [
        'dup',
        'duplink',
        'etc',
        'etc/.wh.keep',
        'opt',
        'opt/.wh.a',
        'opt/.wh.sub',
        'opt/c',
        'repl',
        'repl/a-target',
        'swap',
        'swap/d',
      ].sort(),
    );
    // No whiteout for a path nothing below had, none below the file that replaced swap/d.
    expect(paths.some((p) => p.includes('ghost') || p.startsWith('swap/d/'))).toBe(false);
    expect(bodies.get('dup')).toBe('second, which wins\n');
    expect(entries.filter((e) => e.path === 'dup')).toHaveLength(1);
    await extract(bytes, 'changes2');
  });

  test('layer 1: its hard links stay links', async () => {
    const { entries } = readBack(await write(planChanges(indexes, 0)));
    const by = new Map(entries.map((e) => [e.path, e]));
    expect(by.get('repl/link')).toMatchObject({ type: 'hardlink', linkname: 'repl/a-target' });
    expect(by.get('owned/f')!.uid).toBe(1000);
  });

  test('applied over the layers below, it gives the same filesystem', async () => {
    // Layer 3's changes, read back into an index, in place of layer 3.
    const bytes = await write(planChanges(indexes, 2));
    const index = (await listLayer(chunked(bytes))).files;
    const a = mergeLayers(indexes.map(toEntries)).map((m) => m.path);
    const b = mergeLayers([...indexes.slice(0, 2), index].map(toEntries)).map((m) => m.path);
    expect(b.sort()).toEqual(a.sort());
  });
});
