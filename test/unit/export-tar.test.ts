// The tar writer's headers for every entry type, and the PAX records for what ustar cannot hold
// (long names and link names, non-ASCII names, big sizes, owners past 2097151, owner names,
// times before 1970 or fractional), read back by our own tar reader and by GNU tar.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  endOfArchive,
  entryHeader,
  fileHeader,
  padding,
  type TarHeader,
} from '../../src/lib/export/tar.ts';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';

const exec = promisify(execFile);
const env = { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' };
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-tar-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const base = { size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 };
const LONG = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
const HUGE = 9 * 1024 ** 3; // past the 8 GiB of 11 octal digits

/** Headers (and bodies of `size` bytes of "x", except for the huge one, left unread). */
const cases: TarHeader[] = [
  { ...base, path: 'plain', type: 'file', size: 3 },
  { ...base, path: `${'p'.repeat(140)}/short`, type: 'file', size: 1 },
  { ...base, path: LONG, type: 'file', size: 2 },
  { ...base, path: 'ünïcödé/日本', type: 'file', size: 1 },
  { ...base, path: 'dir', type: 'dir', mode: 0o1777 },
  { ...base, path: 'setuid', type: 'file', mode: 0o6755, size: 1 },
  { ...base, path: 'bigid', type: 'file', uid: 2097152, gid: 4000000000, size: 1 },
  { ...base, path: 'named', type: 'file', uid: 1000, gid: 1000, uname: 'app', gname: 'app' },
  { ...base, path: 'old', type: 'file', mtime: -86400 },
  { ...base, path: 'fraction', type: 'file', mtime: 1700000000.25 },
  { ...base, path: 'sym', type: 'symlink', linkname: `../${'t'.repeat(150)}` },
  { ...base, path: 'symu', type: 'symlink', linkname: 'zï' },
  { ...base, path: 'hard', type: 'hardlink', linkname: LONG },
  { ...base, path: 'chr', type: 'char', devmajor: 1, devminor: 3 },
  { ...base, path: 'blk', type: 'block', devmajor: 8, devminor: 1 },
  { ...base, path: 'fifo', type: 'fifo' },
];

function archive(headers: TarHeader[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const h of headers) {
    parts.push(entryHeader(h));
    if (h.type === 'file' && h.size > 0) {
      parts.push(new Uint8Array(h.size).fill(0x78), padding(h.size));
    }
  }
  parts.push(endOfArchive());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The entries of a tar; `whole: false` for headers alone (their bodies are not there). */
function read(bytes: Uint8Array, whole = true): TarEntry[] {
  const out: TarEntry[] = [];
  const p = new TarParser({ onEntry: (e) => out.push(e), onData: () => undefined });
  p.push(bytes);
  if (whole) p.end();
  return out;
}

test('every case reads back as written, by our reader', () => {
  const entries = read(archive(cases));
  expect(entries).toHaveLength(cases.length);
  cases.forEach((h, i) => {
    const e = entries[i]!;
    expect(e, h.path).toMatchObject({
      path: h.path,
      type: h.type,
      size: h.size,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
    });
    if (h.linkname) expect(e.linkname).toBe(h.linkname);
    if (h.uname) expect(e).toMatchObject({ uname: h.uname, gname: h.gname });
    if (h.devmajor !== undefined)
      expect(e).toMatchObject({ devmajor: h.devmajor, devminor: h.devminor });
  });
});

test('a size past 8 GiB goes into PAX', () => {
  const [e] = read(entryHeader({ ...base, path: 'huge', type: 'file', size: HUGE }), false);
  expect(e!.size).toBe(HUGE);
});

test('GNU tar lists every case as written, with no warning', async () => {
  const file = join(work, 'cases.tar');
  await writeFile(file, archive(cases));
  const { stdout, stderr } = await exec('tar', ['-tvf', file, '--numeric-owner', '--full-time'], {
    env,
  });
  expect(stderr).toBe('');
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(cases.length);
  const line = (path: string) => lines.find((l) => l.includes(` ${path}`))!;
  expect(line(LONG)).toMatch(/^-rw-r--r-- 0\/0 +2 2023-11-14 22:13:20 /);
  expect(line('ünïcödé/日本')).toBeDefined();
  expect(line('dir')).toMatch(/^drwxrwxrwt /);
  expect(line('setuid')).toMatch(/^-rwsr-sr-x /);
  expect(line('bigid')).toMatch(/ 2097152\/4000000000 /);
  expect(line('old')).toMatch(/ 1969-12-31 00:00:00 old$/);
  expect(line('fraction')).toMatch(/ 2023-11-14 22:13:20(\.25)? fraction$/);
  expect(line('sym ')).toContain(`sym -> ../${'t'.repeat(150)}`);
  expect(line('hard')).toContain(`hard link to ${LONG}`);
  expect(line('chr')).toMatch(/^crw-r--r-- 0\/0 +1,3 /);
  expect(line('blk')).toMatch(/^brw-r--r-- 0\/0 +8,1 /);
  expect(line('fifo')).toMatch(/^prw-r--r-- /);
});

test('GNU tar extracts the entries a user may make, with no warning', async () => {
  const file = join(work, 'extract.tar');
  // Not devices (only root makes them), a link to nothing here, or a time before 1970 (which
  // GNU tar calls implausible: the export keeps what the image says all the same).
  const mine = cases.filter((h) => !['char', 'block', 'hardlink'].includes(h.type) && h.mtime >= 0);
  await writeFile(file, archive(mine));
  const dir = join(work, 'x');
  await exec('mkdir', [dir]);
  const { stderr } = await exec('tar', ['-xf', file, '-C', dir], { env });
  expect(stderr).toBe('');
});

test("the OCI archive's file headers are as before", () => {
  const [e] = read(fileHeader('blobs/sha256/abc', 5), false);
  expect(e).toMatchObject({ path: 'blobs/sha256/abc', type: 'file', size: 5, mode: 0o644 });
});
