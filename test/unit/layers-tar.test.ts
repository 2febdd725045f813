// The layer tar parser against GNU tar. Every archive is made by the real tool at test time, from
// files made here, and is parsed whole and in 1-byte, 511-, 513-byte and random chunks, which must
// all agree. Entries are checked against `tar --list` and against lstat of the files archived.
import { execFileSync } from 'node:child_process';
import { chmod, link, lstat, mkdir, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { open, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TarError, TarParser, decodeName, type TarEntry } from '../../src/lib/layers/tar.ts';
import {
  editHeader,
  firstEntry,
  listNames,
  parse,
  parseAll,
  parseError,
  run,
  sha256,
  type Parsed,
} from './layers-tar-helpers.ts';

let dir: string;
/** The small tree every format archives, made once. */
let small: string;
/** Owner and group names of the files made here, as tar records them ('' if it cannot). */
let owner: { uname?: string; gname?: string } = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-layers-tar-'));
  const [u, g] = execFileSync('stat', ['-c', '%U:%G', dir]).toString().trim().split(':');
  owner = { ...(u !== 'UNKNOWN' ? { uname: u } : {}), ...(g !== 'UNKNOWN' ? { gname: g } : {}) };
  small = join(dir, 'small');
  await smallTree(small);
  await makeFile(join(dir, 'z'), 'after\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs tar in `dir` to make `name`, and returns the archive's bytes. */
async function tar(name: string, ...args: string[]): Promise<Uint8Array> {
  await run('tar', ['-c', '-f', name, ...args], dir);
  return new Uint8Array(await readFile(join(dir, name)));
}

async function makeFile(path: string, content: string | Uint8Array, mode?: number) {
  await writeFile(path, content);
  if (mode !== undefined) await chmod(path, mode);
}

/** The small tree every format archives: each entry type GNU tar makes from a plain directory. */
async function smallTree(root: string) {
  await mkdir(join(root, 'd'), { recursive: true });
  await mkdir(join(root, 'sticky'));
  await chmod(join(root, 'sticky'), 0o1777);
  await makeFile(join(root, 'a'), 'hello', 0o4755);
  await link(join(root, 'a'), join(root, 'h'));
  await makeFile(join(root, 'empty'), '');
  await makeFile(
    join(root, 'b512'),
    new Uint8Array(512).map((_, i) => i * 7),
  );
  await makeFile(
    join(root, 'b513'),
    new Uint8Array(513).map((_, i) => i * 13),
  );
  await makeFile(join(root, 'd', 'f'), 'in d\n', 0o600);
  await symlink('a', join(root, 's'));
}

/**
 * Checks a parse against `tar --list` (names and order) and against lstat of the files under
 * `root`, and checks each file's data both as onData gave it and at `offset` in the archive.
 */
async function checkAgainstDisk(
  bytes: Uint8Array,
  got: Parsed,
  archive: string,
  root: string,
  format: string,
) {
  expect(got.entries.map((e) => e.path)).toEqual(await listNames(archive, dir));
  for (const [i, e] of got.entries.entries()) {
    const file = e.path.startsWith('/') ? e.path : join(root, e.path);
    const st = await lstat(file, { bigint: true });
    const want: Partial<TarEntry> = {
      type: st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isCharacterDevice()
            ? 'char'
            : st.isFIFO()
              ? 'fifo'
              : e.typeflag === '1'
                ? 'hardlink'
                : 'file',
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: st.isFile() && e.typeflag !== '1' ? Number(st.size) : 0,
    };
    const have = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size };
    expect(have, `entry ${JSON.stringify(e.path)}`).toEqual(want);
    expect(e.stored).toBe(e.size);
    expect([e.uname, e.gname]).toEqual(
      format === 'v7' ? [undefined, undefined] : [owner.uname, owner.gname],
    );
    if (format === 'posix') {
      // PAX mtimes carry nanoseconds; a double keeps about a tenth of a microsecond of them.
      expect(Math.abs(e.mtime - Number(st.mtimeNs) / 1e9)).toBeLessThan(1e-6);
    } else {
      expect(e.mtime).toBe(Number(st.mtimeNs / 1_000_000_000n));
    }
    if (e.type === 'symlink') expect(e.linkname).toBe(await readlink(file));
    if (e.type === 'hardlink') {
      const target = got.entries.findIndex((t) => t.path === e.linkname);
      expect(target, `hardlink target ${e.linkname} comes first`).toBeGreaterThanOrEqual(0);
      expect(target).toBeLessThan(i);
      expect((await lstat(join(root, e.linkname!), { bigint: true })).ino).toBe(st.ino);
    }
    if (e.type === 'file') {
      const content = await readFile(file);
      expect(got.digests[i], `onData of ${e.path}`).toBe(sha256(content));
      expect(sha256(bytes.subarray(e.offset, e.offset + e.stored)), `data at offset`).toBe(
        sha256(content),
      );
    } else {
      expect(got.digests[i]).toBe(sha256(new Uint8Array(0)));
    }
  }
  expectEndOfArchive(bytes, got);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The parse stopped just after the two zero blocks, and only zeros (tar's record padding)
 * follow. */
function expectEndOfArchive(bytes: Uint8Array, got: Parsed) {
  expect(got.done).toBe(true);
  expect(bytes.subarray(got.position - 1024).every((b) => b === 0)).toBe(true);
  const last = got.entries.at(-1)!;
  expect(got.position).toBe(last.offset + Math.ceil(last.stored / 512) * 512 + 1024);
}

describe('formats of a small tree', () => {
  test.each(['v7', 'ustar', 'gnu', 'posix'])('%s', async (format) => {
    const bytes = await tar(`small-${format}.tar`, `--format=${format}`, '-C', small, '.');
    const got = parseAll(bytes);
    await checkAgainstDisk(bytes, got, `small-${format}.tar`, small, format);
    // "./" and "./d/" as stored become "" and "d".
    expect(got.entries[0]).toMatchObject({ path: '', type: 'dir' });
    expect(got.entries.map((e) => e.path).sort()).toEqual(
      ['', 'a', 'b512', 'b513', 'd', 'd/f', 'empty', 'h', 's', 'sticky'].sort(),
    );
    const types = new Set(got.entries.map((e) => e.type));
    expect([...types].sort()).toEqual(['dir', 'file', 'hardlink', 'symlink']);
    const modes = got.entries.map((e) => e.mode);
    expect(modes).toContain(0o4755);
    expect(modes).toContain(0o1777);
    if (format === 'v7') {
      // GNU tar writes typeflag '5' even in v7, which had none, so the slash says it too.
      const d = got.entries.find((e) => e.path === 'd')!;
      expect([d.typeflag, text(bytes.subarray(d.offset - 512, d.offset - 508))]).toEqual([
        '5',
        './d/',
      ]);
    }
    if (format === 'posix') expect(got.entries[0]?.pax).toHaveProperty('atime');
  });
});

describe('long names', () => {
  let root: string;
  const n100 = 'n'.repeat(100);
  const n101 = 'm'.repeat(101);
  const p155q100 = `${'p'.repeat(155)}/${'q'.repeat(100)}`;
  const n300 = `${'r'.repeat(99)}/${'s'.repeat(100)}/${'t'.repeat(99)}`;
  const target200 = `${'T'.repeat(99)}/${'U'.repeat(100)}`;
  beforeAll(async () => {
    root = join(dir, 'long');
    await mkdir(join(root, 'p'.repeat(155)), { recursive: true });
    await mkdir(join(root, 'r'.repeat(99), 's'.repeat(100)), { recursive: true });
    for (const name of [n100, n101, p155q100, n300]) await makeFile(join(root, name), name);
    await symlink(target200, join(root, 'link200'));
  });

  test.each(['gnu', 'posix'])('%s', async (format) => {
    const bytes = await tar(`long-${format}.tar`, `--format=${format}`, '-C', root, '.');
    const got = parseAll(bytes);
    await checkAgainstDisk(bytes, got, `long-${format}.tar`, root, format);
    const paths = got.entries.map((e) => e.path);
    for (const name of [n100, n101, p155q100, n300]) expect(paths).toContain(name);
    expect(n300.length).toBe(300);
    expect(got.entries.find((e) => e.path === 'link200')?.linkname).toBe(target200);
    const typeflags = got.entries.map((e) => e.typeflag);
    // GNU long names are consumed, never reported as entries.
    expect(typeflags).not.toContain('L');
    expect(typeflags).not.toContain('K');
  });

  test('ustar joins the prefix field and the name with "/"', async () => {
    const bytes = await tar('long-ustar.tar', '--format=ustar', '-C', root, p155q100);
    expect(bytes[345], 'the prefix field is used').not.toBe(0);
    const got = parseAll(bytes);
    expect(got.entries.map((e) => [e.path, e.size])).toEqual([[p155q100, 256]]);
  });

  test('a long name over maxMetadata is a TarError', async () => {
    const gnu = await tar('long-names-gnu.tar', '--format=gnu', '-C', root, n101);
    expect(parseError(gnu, 100).message).toBe(
      'the GNU long name at offset 0 holds 102 bytes, over the 100-byte limit',
    );
    const posix = await tar('long-names-posix.tar', '--format=posix', '-C', root, n300);
    expect(parseError(posix, 200).message).toMatch(
      /^the PAX header at offset 0 holds \d+ bytes, over the 200-byte limit$/,
    );
    expect(parseAll(posix, 400).entries.map((e) => e.path)).toEqual([n300]);
  });
});

test('a char device and a fifo', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  for (const format of ['gnu', 'posix']) {
    const bytes = await tar(`dev-${format}.tar`, `--format=${format}`, '/dev/null', 'fifo');
    const got = parseAll(bytes);
    const rdev = Number((await lstat('/dev/null', { bigint: true })).rdev);
    expect(got.entries.map((e) => [e.path, e.type, e.typeflag])).toEqual([
      ['dev/null', 'char', '3'],
      ['fifo', 'fifo', '6'],
    ]);
    expect(got.entries[0]).toMatchObject({
      devmajor: (rdev >> 8) & 0xfff,
      devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
      mode: (await lstat('/dev/null')).mode & 0o7777,
    });
    expect(got.entries[1]).not.toHaveProperty('devmajor');
    expect(got.entries[1]?.mode).toBe((await lstat(fifo)).mode & 0o7777);
  }
});

describe('GNU base-256 numbers', () => {
  test('uid over 2097151 and a far mtime', async () => {
    const bytes = await tar(
      'b256.tar',
      '--format=gnu',
      '--owner=name:3000000',
      '--mtime=@99999999999',
      'z',
    );
    expect([bytes[108]! & 0x80, bytes[136]! & 0x80], 'the fields are base-256').toEqual([
      0x80, 0x80,
    ]);
    const got = parseAll(bytes);
    expect(got.entries[0]).toMatchObject({ uid: 3000000, uname: 'name', mtime: 99999999999 });
  });

  test('a negative mtime', async () => {
    const bytes = await tar('neg.tar', '--format=gnu', '--mtime=@-99999999999', 'z');
    expect(bytes[136]).toBe(0xff);
    expect(parseAll(bytes).entries[0]?.mtime).toBe(-99999999999);
  });

  test.each(['gnu', 'posix'])('%s: an mtime beyond 2^53 is a TarError', async (format) => {
    const bytes = await tar(
      `huge-${format}.tar`,
      `--format=${format}`,
      '--mtime=@9007199254740993',
      'z',
    );
    expect(parseError(bytes).message).toMatch(/mtime .*beyond 2\^53/);
  });
});

describe('a 9 GiB file, streamed from tar and stopped at its header', () => {
  const size = 9 * 2 ** 30;
  beforeAll(() => run('truncate', ['-s', '9G', 'big'], dir));

  test('posix: a PAX size record', async () => {
    const { entry, head } = await firstEntry(['--format=posix', '-cf', '-', 'big'], dir);
    expect(entry).toMatchObject({ path: 'big', type: 'file', size, stored: size });
    expect(head[156]).toBe('x'.charCodeAt(0));
    const header = head.subarray(entry.offset - 512, entry.offset);
    expect([header.subarray(0, 4).toString(), header[156]]).toEqual(['big\0', 0x30]);
    expect(entry.sparse).toBeUndefined();
  });

  test('gnu: a base-256 size', async () => {
    const { entry, head } = await firstEntry(['--format=gnu', '-cf', '-', 'big'], dir);
    expect(entry).toMatchObject({ path: 'big', type: 'file', size, stored: size, offset: 512 });
    expect(head[124]).toBe(0x80);
  });
});

describe('sparse files', () => {
  let root: string;
  let s2: Buffer;
  beforeAll(async () => {
    root = join(dir, 'sparse');
    await mkdir(root);
    await run('truncate', ['-s', '5M', 's'], root);
    await writeFile(join(root, 's'), 'x', { flag: 'a' });
    // 30 data regions: an old GNU sparse header holds 4, each extension block 21 more.
    const f = await open(join(root, 's2'), 'w');
    for (let i = 0; i < 30; i++) await f.write(`region ${i}`, i * 65536);
    await f.close();
    s2 = await readFile(join(root, 's2'));
    await makeFile(join(root, 'z'), 'after\n');
  });

  const variants: [string, string[]][] = [
    ['gnu', ['--format=gnu']],
    ['posix 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['posix 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['posix 1.0', ['--format=posix', '--sparse-version=1.0']],
  ];
  test.each(variants)('%s', async (name, args) => {
    const archive = `sparse-${name.replace(' ', '')}.tar`;
    // Raw hole detection finds the zero blocks by reading, whatever the file system does.
    const bytes = await tar(
      archive,
      '-S',
      '--hole-detection=raw',
      ...args,
      '-C',
      root,
      's',
      's2',
      'z',
    );
    const got = parseAll(bytes);
    expect(got.entries.map((e) => e.path)).toEqual(await listNames(archive, dir));
    const [s, two, z] = got.entries;
    expect(s).toMatchObject({ path: 's', type: 'file', size: 5 * 2 ** 20 + 1, sparse: true });
    expect(two).toMatchObject({ path: 's2', type: 'file', size: s2.length, sparse: true });
    expect(s!.stored).toBeLessThan(4096);
    expect(two!.stored).toBeLessThan(s2.length / 10);
    if (name === 'gnu') {
      expect([s!.typeflag, two!.typeflag]).toEqual(['S', 'S']);
      // s2's map continues in two extension blocks, between its header and its data.
      const header = two!.offset - 3 * 512;
      expect(bytes[header + 156]).toBe('S'.charCodeAt(0));
      expect([bytes[header + 482], bytes[header + 512 + 504], bytes[header + 1024 + 504]]).toEqual([
        1, 1, 0,
      ]);
    }
    if (name === 'posix 1.0') {
      // The data starts with the sparse map in decimal text.
      expect(new TextDecoder().decode(bytes.subarray(s!.offset, s!.offset + 16))).toMatch(
        /^1\n5242880/,
      );
    } else {
      expect(got.digests[0], 'the stored data of s is its one non-zero byte').toBe(
        sha256(Buffer.from('x')),
      );
    }
    expect(z).toMatchObject({ path: 'z', size: 6 });
    expect(got.digests[2]).toBe(sha256(Buffer.from('after\n')));
    expect(new TextDecoder().decode(bytes.subarray(z!.offset, z!.offset + 6))).toBe('after\n');
    expectEndOfArchive(bytes, got);
  });
});

describe('PAX global headers', () => {
  beforeAll(() => makeFile(join(dir, 'g1'), 'one'));

  test('apply to every following entry', async () => {
    // keyword=value goes into a global header; GNU tar names it after globexthdr.name.
    const opt = 'globexthdr.name=global,comment=hi,uname=xyz';
    const bytes = await tar('global.tar', '--format=posix', `--pax-option=${opt}`, 'z', 'g1');
    expect(bytes[156]).toBe('g'.charCodeAt(0));
    const got = parseAll(bytes);
    expect(got.entries.map((e) => [e.path, e.uname, e.pax?.comment])).toEqual([
      ['z', 'xyz', 'hi'],
      ['g1', 'xyz', 'hi'],
    ]);
  });

  test('a record named __proto__ is kept as a record, not written through a prototype', async () => {
    const bytes = await tar('proto.tar', '--format=posix', '--pax-option=__proto__:=x', 'z');
    const pax = parseAll(bytes).entries[0]?.pax;
    expect(pax && Object.hasOwn(pax, '__proto__')).toBe(true);
    expect(pax?.['__proto__']).toBe('x');
  });

  test('a per-file record overrides a global one', async () => {
    const bytes = await tar(
      'override.tar',
      '--format=posix',
      '--pax-option=uname=xyz,uname:=abc',
      'z',
    );
    expect(parseAll(bytes).entries.map((e) => e.uname)).toEqual(['abc']);
  });
});

describe('hostile names are reported literally', () => {
  let root: string;
  const names = ['a\x01b', 'c\x1b[31md', 'new\nline', 'ünï', 'bad\\xffname', 'bad\\xfename'];
  beforeAll(async () => {
    root = join(dir, 'hostile');
    await mkdir(root);
    for (const name of names.slice(0, 4)) await makeFile(join(root, name), name);
    // Two names that are not UTF-8 and differ only in the invalid byte: both used to decode
    // to "bad\uFFFDname", so one hid the other. The bytes are shown escaped.
    await writeFile(Buffer.from(`${root}/bad\xffname`, 'latin1'), 'bad');
    await writeFile(Buffer.from(`${root}/bad\xfename`, 'latin1'), 'bad');
    await makeFile(join(root, 'plain'), 'plain');
  });

  test.each(['gnu', 'posix'])('control characters and invalid UTF-8, %s', async (format) => {
    const archive = `hostile-${format}.tar`;
    const bytes = await tar(archive, `--format=${format}`, '-C', root, '.');
    const got = parseAll(bytes);
    const paths = got.entries.map((e) => e.path);
    expect(paths).toEqual(await listNames(archive, dir));
    expect(paths.sort()).toEqual(['', ...names, 'plain'].sort());
  });

  test('"../" and absolute names', async () => {
    await run(
      'tar',
      ['-P', '--transform', 's,^,../../,', '-cf', 'dotdot.tar', '-C', root, 'plain'],
      dir,
    );
    const abs = join(root, 'plain');
    await run('tar', ['-P', '-cf', 'abs.tar', abs], dir);
    for (const [archive, want] of [
      ['dotdot.tar', '../../plain'],
      ['abs.tar', abs],
    ]) {
      const bytes = new Uint8Array(await readFile(join(dir, archive!)));
      const got = parseAll(bytes);
      expect(got.entries.map((e) => e.path)).toEqual([want]);
      expect(await listNames(archive!, dir)).toEqual([want]);
      expect(got.digests[0]).toBe(sha256(Buffer.from('plain')));
    }
  });
});

describe('decodeName keeps names distinct', () => {
  const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
  const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  test.each([
    ['plain UTF-8 is unchanged', utf8('ünï/名前'), 'ünï/名前'],
    ['a Windows path is unchanged', utf8('C:\\Windows\\a.txt'), 'C:\\Windows\\a.txt'],
    ['an invalid byte', bytes('bad-\xff'), 'bad-\\xff'],
    ['another invalid byte', bytes('bad-\xfe'), 'bad-\\xfe'],
    ['a truncated sequence', bytes('a\xc3'), 'a\\xc3'],
    ['an overlong slash', bytes('\xc0\xaf'), '\\xc0\\xaf'],
    ['a surrogate', bytes('\xed\xa0\x80'), '\\xed\\xa0\\x80'],
    ['a literal "\\xff" in valid UTF-8', utf8('bad-\\xff'), 'bad-\\\\xff'],
    ['two backslashes', utf8('a\\\\b'), 'a\\\\\\b'],
    ['a backslash before an invalid byte', bytes('a\\\xff'), 'a\\\\\\xff'],
    ['a trailing backslash', utf8('a\\'), 'a\\'],
  ])('%s', (_, input, want) => {
    expect(decodeName(input), `decodeName(${Buffer.from(input).toString('hex')})`).toBe(want);
  });

  test('names that differ in their bytes differ as strings', () => {
    const names = [
      bytes('bad-\xff'),
      bytes('bad-\xfe'),
      utf8('bad-\\xff'),
      utf8('bad-\\\\xff'),
      bytes('bad-\\\xff'),
      utf8('bad-\uFFFD'),
    ];
    const decoded = names.map(decodeName);
    expect(new Set(decoded).size, decoded.join(' | ')).toBe(names.length);
  });
});

describe('numbers beyond 2^53', () => {
  test('a base-256 size beyond 2^53 is a TarError', async () => {
    const ustar = await tar('size-b256.tar', '--format=gnu', 'z');
    const edited = editHeader(ustar, 0, (h) => {
      h.fill(0, 124, 136);
      h[124] = 0x80;
      h[129] = 0x20; // 2^53 + 1 does not fit in a double: 0x20_0000_0000_0001
      h[135] = 0x01;
    });
    expect(parseError(edited).message).toMatch(/size field .* beyond 2\^53/);
  });

  test('a PAX size beyond 2^53 is a TarError', async () => {
    const bytes = await tar(
      'size-pax.tar',
      '--format=posix',
      '--pax-option=size:=9007199254740993',
      'z',
    );
    expect(parseError(bytes).message).toMatch(/PAX size 9007199254740993 .* beyond 2\^53/);
  });

  test('a PAX mtime is a number, never NaN', async () => {
    const bytes = await tar('mtime-frac.tar', '--format=posix', '--mtime=@1.5', 'z');
    expect(parseAll(bytes).entries[0]?.mtime).toBe(1.5);
  });
});

test('a volume label is an "other" entry', async () => {
  const bytes = await tar('label.tar', '--label=LBL', 'z');
  expect(parseAll(bytes).entries.map((e) => [e.path, e.type, e.typeflag])).toEqual([
    ['LBL', 'other', 'V'],
    ['z', 'file', '0'],
  ]);
});

describe('broken archives', () => {
  let ustar: Uint8Array;
  let entries: TarEntry[];
  let end: number;
  beforeAll(async () => {
    ustar = await tar('broken-ustar.tar', '--format=ustar', '-C', small, '.');
    const got = parse(ustar);
    entries = got.entries;
    end = got.position - 1024;
  });
  const at = (path: string) => entries.find((e) => e.path === path)!;

  test('truncation is a TarError at the end of the stream', () => {
    const b513 = at('b513');
    const cuts: [string, number, RegExp][] = [
      ['mid-body', b513.offset + 100, /413 bytes before the end of the data of "b513"/],
      ['mid-padding', b513.offset + 600, /inside the padding after the data of "b513"/],
      ['mid-header', b513.offset - 412, /inside the header at offset \d+/],
    ];
    for (const [name, cut, want] of cuts) {
      const e = parseError(ustar.subarray(0, cut));
      expect(e.message, name).toMatch(want);
      expect(e.message).toContain(`truncated archive: it ends at offset ${cut}`);
      expect(e.offset).toBe(cut);
    }
  });

  test('a PAX header without its entry is truncated', async () => {
    const posix = await tar('broken-posix.tar', '--format=posix', '-C', small, '.');
    const first = parse(posix).entries[0]!;
    expect(parseError(posix.subarray(0, first.offset - 512)).message).toMatch(
      /before the entry that the header at offset 0 describes/,
    );
  });

  test('a missing end of archive, or half of it, is accepted', () => {
    for (const cut of [end, end + 512]) {
      const got = parseAll(ustar.subarray(0, cut));
      expect(got.entries).toEqual(entries);
      expect([got.done, got.position]).toEqual([false, cut]);
    }
  });

  test('a bad checksum is a TarError naming the header offset', () => {
    const header = at('b513').offset - 512;
    const bad = ustar.slice();
    bad[header + 1]! ^= 0x20;
    const e = parseError(bad);
    expect(e.message).toMatch(new RegExp(`^bad checksum in the header at offset ${header} `));
    expect(e.offset).toBe(header);
  });

  test('a signed checksum is accepted, as GNU tar does', () => {
    const header = at('b513').offset - 512;
    // A high byte in the name: the signed sum is 256 below the unsigned one.
    const signed = editHeader(ustar, header, (h) => (h[90] = 0xe9));
    let sum = 0;
    for (let i = 0; i < 512; i++)
      sum += i >= 148 && i < 156 ? 32 : (signed[header + i]! << 24) >> 24;
    signed.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), header + 148);
    expect(parseAll(signed).entries.map((e) => e.path)).toContain('b513');
  });

  test('a lone zero block before a header is a TarError', () => {
    const header = at('b513').offset - 512;
    const lone = new Uint8Array(ustar.length + 512);
    lone.set(ustar.subarray(0, header));
    lone.set(ustar.subarray(header), header + 512);
    expect(parseError(lone).message).toBe(
      `a lone zero block at offset ${header} is followed by a header at offset ${header + 512}, ` +
        'not by the second end-of-archive block',
    );
  });

  test('after a TarError, the parser keeps throwing it', () => {
    const p = new TarParser({ onEntry: () => undefined });
    const bad = ustar.slice();
    bad[100]! ^= 1;
    let first: unknown;
    try {
      p.push(bad);
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(TarError);
    expect(() => p.push(ustar)).toThrow(first as Error);
    expect(() => p.end()).toThrow(first as Error);
  });

  test('a pre-POSIX directory: typeflag 0 or NUL and a trailing slash', async () => {
    const v7 = await tar('broken-v7.tar', '--format=v7', '-C', small, '.');
    const header = parse(v7).entries.find((e) => e.path === 'd')!.offset - 512;
    for (const flag of ['0', '\0']) {
      // With a size too: a directory has no data, so the next header follows right away.
      const edited = editHeader(v7, header, (h) => {
        h[156] = flag.charCodeAt(0);
        h.set(new TextEncoder().encode('00000001000'), 124);
      });
      const got = parseAll(edited).entries;
      expect(got.find((e) => e.path === 'd')).toMatchObject({
        type: 'dir',
        typeflag: flag,
        size: 0,
        stored: 0,
      });
      expect(got.map((e) => e.path)).toEqual(parse(v7).entries.map((e) => e.path));
    }
  });

  test("a directory's size field is ignored, as Go's archive/tar does", () => {
    // GNU tar would skip 512 bytes after this header, and lose the next entry.
    const header = at('d').offset - 512;
    const edited = editHeader(ustar, header, (h) =>
      h.set(new TextEncoder().encode('00000001000'), 124),
    );
    const got = parseAll(edited);
    expect(got.entries).toEqual(entries);
  });
});
