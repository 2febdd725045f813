// The apk and dpkg catalogers and os-release, on files made here from real data on this
// machine: an apk installed database in the format apk-tools writes (there is no apk on
// Debian, so its stanzas are built from real files with their real Q1 SHA-1 checksums), and
// damaged dpkg status files.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { apkCataloger, readApk } from '../../src/lib/packages/apk.ts';
import { dpkgCataloger, readDpkg } from '../../src/lib/packages/dpkg.ts';
import { osCatalogers } from '../../src/lib/packages/os.ts';
import { parseOsRelease } from '../../src/lib/packages/os-release.ts';
import type { CatalogFile, PackageFacts } from '../../src/lib/packages/types.ts';

const enc = new TextEncoder();
const file = (path: string, text: string | Uint8Array): CatalogFile => {
  const bytes = typeof text === 'string' ? enc.encode(text) : text;
  return { path, size: bytes.length, mode: 0o100644, bytes };
};

/** The first bytes of a real binary: Node's own executable. */
function binary(n: number): Uint8Array {
  const fd = openSync(process.execPath, 'r');
  try {
    const b = new Uint8Array(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** apk's checksum of a file: "Q1" and the base64 of its SHA-1. */
const q1 = (bytes: Uint8Array) => 'Q1' + createHash('sha1').update(bytes).digest('base64');

/** A stanza as apk-tools writes one to lib/apk/db/installed, listing real files. */
function apkStanza(p: PackageFacts & { dir: string; files: string[] }): string {
  const lines = [
    `C:${q1(enc.encode(p.name + p.version))}`,
    `P:${p.name}`,
    `V:${p.version}`,
    `A:${p.arch}`,
    'S:12345',
    'I:67890',
    `T:${p.extra?.description}`,
    `U:${p.extra?.homepage}`,
    `L:${p.license}`,
    `o:${p.source}`,
    `m:${p.extra?.maintainer}`,
    't:1700000000',
    'c:0123456789abcdef0123456789abcdef01234567',
    `D:so:libc.musl-x86_64.so.1`,
    `p:cmd:${p.name}=${p.version}`,
    `F:${p.dir}`,
  ];
  for (const f of p.files) {
    lines.push(`R:${f}`, 'a:0:0:644', `Z:${q1(readFileSync(join('/', p.dir, f)))}`);
  }
  return lines.join('\n') + '\n';
}

describe('apk', () => {
  // Real file names and contents from this machine's /etc, grouped as three packages would be.
  const etc = readdirSync('/etc')
    .filter((f) => statSync(join('/etc', f), { throwIfNoEntry: false })?.isFile())
    .filter((f) => {
      try {
        readFileSync(join('/etc', f));
        return true;
      } catch {
        return false;
      }
    })
    .slice(0, 9);
  const want: PackageFacts[] = [
    {
      ecosystem: 'apk',
      name: 'musl',
      version: '1.2.5-r1',
      arch: 'x86_64',
      source: 'musl',
      license: 'MIT',
      extra: {
        maintainer: 'Timo Teräs <timo.teras@iki.fi>',
        homepage: 'https://musl.libc.org/',
        description: 'the musl c library (libc) implementation',
      },
    },
    {
      ecosystem: 'apk',
      name: 'libcrypto3',
      version: '3.3.2-r0',
      arch: 'aarch64',
      source: 'openssl',
      license: 'Apache-2.0',
      extra: {
        maintainer: 'Ariadne Conill <ariadne@dereferenced.org>',
        homepage: 'https://www.openssl.org/',
        description: 'Crypto library from openssl',
      },
    },
    {
      ecosystem: 'apk',
      name: 'alpine-baselayout-data',
      version: '3.6.5_git20240101-r1',
      arch: 'noarch',
      source: 'alpine-baselayout',
      license: 'GPL-2.0-only',
      extra: {
        maintainer: 'Natanael Copa <ncopa@alpinelinux.org>',
        homepage: 'https://git.alpinelinux.org/cgit/aports/tree/main/alpine-baselayout',
        description: 'Alpine base dir structure and init scripts',
      },
    },
  ];
  const installed = want
    .map((p, i) => apkStanza({ ...p, dir: 'etc', files: etc.slice(i * 3, i * 3 + 3) }))
    .join('\n');

  test('lib/apk/db/installed: each stanza is a package with its own fields', () => {
    expect(etc.length).toBeGreaterThan(3);
    expect(apkCataloger.wants('lib/apk/db/installed', 0, 0o100644)).toBe(true);
    expect(apkCataloger.wants('lib/apk/db/installed.new', 0, 0o100644)).toBe(false);
    const r = readApk(file('lib/apk/db/installed', installed));
    expect(r.problems).toEqual([]);
    expect(r.packages).toEqual(want);
  });

  test('CRLF line ends, a trailing stanza without a blank line, a stanza with no name', () => {
    const text = installed.replaceAll('\n', '\r\n').trimEnd() + '\r\n\r\nV:1.0-r0\nA:x86_64\n';
    const r = readApk(file('lib/apk/db/installed', text));
    expect(r.packages.map((p) => p.name)).toEqual(want.map((p) => p.name));
    expect(r.problems).toEqual(['lib/apk/db/installed: stanza 4 has no package name (P)']);
  });

  test('a binary file is a problem, not packages', () => {
    const r = readApk(file('lib/apk/db/installed', binary(65536)));
    expect(r.packages).toEqual([]);
    expect(r.problems).toEqual(['lib/apk/db/installed: not a text file']);
  });
});

describe('dpkg', () => {
  const real = readFileSync('/var/lib/dpkg/status', 'utf8');
  const stanzas = real.split(/\n\n+/).filter((s) => s.startsWith('Package: '));

  test('wants the status file and status.d stanzas, not md5sums or the status-old backup', () => {
    const w = (p: string) => dpkgCataloger.wants(p, 100, 0o100644);
    expect(w('var/lib/dpkg/status')).toBe(true);
    expect(w('var/lib/dpkg/status.d/base-files')).toBe(true);
    expect(w('var/lib/dpkg/status.d/base-files.md5sums')).toBe(false);
    expect(w('var/lib/dpkg/status.d/')).toBe(false);
    expect(w('var/lib/dpkg/status.d/x/y')).toBe(false);
    expect(w('var/lib/dpkg/status-old')).toBe(false);
    expect(w('usr/var/lib/dpkg/status')).toBe(false);
  });

  test('Source with a version: the version is dropped; without Source the package is its own', () => {
    const text = [
      'Package: libfoo1\nStatus: install ok installed\nVersion: 1:2.3-4+b1\nArchitecture: amd64\nSource: foo (1:2.3-4)\nMaintainer: A <a@example.org>',
      'Package: bar\nStatus: hold ok installed\nVersion: 5.0\nArchitecture: all\nMaintainer: B <b@example.org>\nHomepage: https://example.org/bar\nDescription: bar\n the long\n .\n description',
    ].join('\n\n');
    const r = readDpkg(file('var/lib/dpkg/status', text));
    expect(r.problems).toEqual([]);
    expect(r.packages).toEqual([
      {
        ecosystem: 'deb',
        name: 'libfoo1',
        version: '1:2.3-4+b1',
        arch: 'amd64',
        source: 'foo',
        extra: { maintainer: 'A <a@example.org>' },
      },
      {
        ecosystem: 'deb',
        name: 'bar',
        version: '5.0',
        arch: 'all',
        source: 'bar',
        extra: { maintainer: 'B <b@example.org>', homepage: 'https://example.org/bar' },
      },
    ]);
  });

  test('broken stanzas are problems; the good ones around them are still read', () => {
    const good = stanzas.slice(0, 5);
    const broken = [
      good[0]!.replace(/^Version: .*\n/m, ''),
      good[1]!.replace(/^Package: .*\n/m, ''),
      good[2]!.replace(/^Status: .*\n/m, 'Status: installed\n'),
      'this line has no colon\nnor this one',
      ...good.slice(3),
    ];
    const r = readDpkg(file('var/lib/dpkg/status', broken.join('\n\n')));
    expect(r.packages).toHaveLength(2);
    expect(r.problems).toHaveLength(4);
    expect(r.problems.join('\n')).toMatch(
      /2 lines not "Field: value"[\s\S]*has no Version[\s\S]*has no Package[\s\S]*no readable Status/,
    );
  });

  test('a status file cut off mid-stanza keeps every whole package before the cut', () => {
    const text = stanzas.slice(0, 20).join('\n\n');
    const cut = text.slice(0, text.lastIndexOf('\nVersion: '));
    const r = readDpkg(file('var/lib/dpkg/status', cut));
    expect(r.packages).toHaveLength(19);
    expect(r.problems).toHaveLength(1);
  });

  test('a binary file named status is a problem; so is an empty one (no packages)', () => {
    const bin = readDpkg(file('var/lib/dpkg/status', binary(65536)));
    expect(bin).toEqual({ packages: [], problems: ['var/lib/dpkg/status: not a text file'] });
    expect(readDpkg(file('var/lib/dpkg/status', ''))).toEqual({ packages: [], problems: [] });
  });

  test('random bytes never throw', () => {
    let seed = 7;
    for (let n = 0; n < 200; n++) {
      const bytes = new Uint8Array(1 + (n % 50) * 37);
      for (let i = 0; i < bytes.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        // Mostly text-like bytes, with the separators that matter.
        bytes[i] = ' :\n\tPackage'.charCodeAt(seed % 11) + (seed % 97 === 0 ? 128 : 0);
      }
      for (const c of osCatalogers) {
        if (c.id === 'rpm') continue;
        const r = c.read!(file('var/lib/dpkg/status', bytes));
        expect(r).toHaveProperty('problems');
      }
    }
  });
});

describe('os-release', () => {
  const cases: [string, string, ReturnType<typeof parseOsRelease>][] = [
    [
      'Debian, double quotes',
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
      { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    ],
    [
      'Ubuntu, ID_LIKE',
      'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n',
      { id: 'ubuntu', versionId: '24.04', prettyName: 'Ubuntu 24.04.1 LTS', like: ['debian'] },
    ],
    [
      'RHEL, several ID_LIKE, single quotes, comments, CRLF',
      '# a comment\r\nID=\'rhel\'\r\nID_LIKE="fedora centos"\r\nVERSION_ID="9.4"\r\n',
      { id: 'rhel', versionId: '9.4', like: ['fedora', 'centos'] },
    ],
    [
      'escapes inside double quotes',
      'ID=alpine\nPRETTY_NAME="Alpine \\"edge\\" \\$HOME \\\\ x"\n',
      { id: 'alpine', prettyName: 'Alpine "edge" $HOME \\ x' },
    ],
    ['no ID: "linux", as os-release(5) says', 'NAME=Thing\n', { id: 'linux' }],
  ];
  for (const [name, text, want] of cases) {
    test(name, () => expect(parseOsRelease(enc.encode(text))).toEqual(want));
  }
  test("this machine's os-release", () => {
    const os = parseOsRelease(readFileSync('/etc/os-release'));
    expect(os.id).toMatch(/^[a-z0-9._-]+$/);
  });
  test('binary input gives the default, no throw', () => {
    expect(parseOsRelease(binary(4096))).toEqual({
      id: 'linux',
    });
  });
});
