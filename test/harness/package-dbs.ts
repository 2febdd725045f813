// Real RPM package databases, built at test time with Debian's rpm: tiny packages made with
// rpmbuild, installed with `rpm -i --justdb` into an sqlite database (Debian's rpm writes only
// sqlite), and the same headers written into the two older formats:
// - Berkeley DB: `db_load -t hash`, keyed by the 4-byte header number in the machine's byte
//   order, as RHEL 8's var/lib/rpm/Packages is; rpm's read-only bdb backend lists it back;
// - ndb: Debian's rpm is built without it, so its few structures are written here from rpm's
//   lib/backend/ndb/rpmpkg.c (the reader was also checked by hand against a real SUSE file).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import initSqlJs from 'sql.js';
import { run } from './process.ts';

export interface RpmSpec {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  license: string;
  noarch?: boolean;
  /** Words of description: a long one makes a header larger than a Berkeley DB page. */
  descriptionBytes?: number;
  /** Subpackages, each a package of its own with the same version. */
  subpackages?: string[];
}

/** The packages the rpm tests install: an epoch, an SPDX expression, noarch and arch ones,
 * `~` and `^` versions, and headers of 20 KB and more (Berkeley DB overflow pages). */
export const testSpecs: RpmSpec[] = [
  {
    name: 'tiny-epoch',
    version: '1.2.3',
    release: '4.fc40',
    epoch: 2,
    license: 'MIT AND (Apache-2.0 OR BSD-3-Clause)',
    noarch: true,
  },
  { name: 'tiny-rc', version: '2.0~rc1', release: '1', license: 'GPL-2.0-or-later' },
  { name: 'tiny-snap', version: '2.0^20240101git', release: '0.1', license: 'BSD-2-Clause' },
  {
    name: 'tiny-big',
    version: '10.0',
    release: '7.el8',
    epoch: 0,
    license: 'LGPL-2.1-only',
    descriptionBytes: 24_000,
    subpackages: Array.from({ length: 24 }, (_, i) => `tiny-big-part${i}`),
  },
];

const rpmEnv = { ...process.env, LC_ALL: 'C' };

function specText(s: RpmSpec): string {
  const description = (n: number) =>
    n > 0
      ? Array.from({ length: Math.ceil(n / 10) }, (_, i) => `word${i % 10000}`).join(' ')
      : 'tiny';
  const lines = [
    `Name: ${s.name}`,
    `Version: ${s.version}`,
    `Release: ${s.release}`,
    ...(s.epoch !== undefined ? [`Epoch: ${s.epoch}`] : []),
    `Summary: A package for Berth's tests`,
    `License: ${s.license}`,
    'Vendor: Berth tests',
    'URL: https://example.org/berth',
    ...(s.noarch ? ['BuildArch: noarch'] : []),
    '%description',
    description(s.descriptionBytes ?? 0),
    '%files',
  ];
  for (const sub of s.subpackages ?? []) {
    lines.push(
      `%package -n ${sub}`,
      `Summary: Part ${sub}`,
      `%description -n ${sub}`,
      description(s.descriptionBytes ?? 0),
      `%files -n ${sub}`,
    );
  }
  return lines.join('\n') + '\n';
}

export interface RpmDbs {
  /** Directory holding rpmdb.sqlite (rpm's --dbpath). */
  sqliteDir: string;
  /** Directory holding a Berkeley DB Packages file. */
  bdbDir: string;
  /** Directory holding an ndb Packages.db. */
  ndbDir: string;
}

/** Builds the packages and the three databases under `work`. */
export async function buildRpmDbs(work: string, specs: RpmSpec[] = testSpecs): Promise<RpmDbs> {
  const top = join(work, 'rpmbuild');
  const sqliteDir = join(work, 'sqlite');
  const bdbDir = join(work, 'bdb');
  const ndbDir = join(work, 'ndb');
  await Promise.all([top, sqliteDir, bdbDir, ndbDir].map((d) => mkdir(d, { recursive: true })));
  const rpms: string[] = [];
  for (const s of specs) {
    const spec = join(work, `${s.name}.spec`);
    await writeFile(spec, specText(s));
    await run('rpmbuild', ['--define', `_topdir ${top}`, '--quiet', '-bb', spec], {
      env: rpmEnv,
      timeoutMs: 60_000,
    });
  }
  const { stdout } = await run('find', [join(top, 'RPMS'), '-name', '*.rpm'], { env: rpmEnv });
  rpms.push(...stdout.split('\n').filter(Boolean).sort());
  await run(
    'rpm',
    [
      '-i',
      '--justdb',
      '--nodeps',
      '--dbpath',
      sqliteDir,
      '--define',
      '_db_backend sqlite',
      ...rpms,
    ],
    { env: rpmEnv, timeoutMs: 60_000 },
  );
  const blobs = await headerBlobs(join(sqliteDir, 'rpmdb.sqlite'));
  await writeBdb(bdbDir, blobs);
  await writeFile(join(ndbDir, 'Packages.db'), ndbFile(blobs));
  return { sqliteDir, bdbDir, ndbDir };
}

/** The (header number, header blob) rows of an rpmdb.sqlite, read with SQLite itself. */
export async function headerBlobs(path: string): Promise<[number, Uint8Array][]> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(await readFile(path));
  try {
    const rows = db.exec('SELECT hnum, blob FROM Packages ORDER BY hnum')[0]?.values ?? [];
    return rows.map(([n, b]) => [Number(n), b as Uint8Array]);
  } finally {
    db.close();
  }
}

/** A Berkeley DB hash `Packages` with these headers, made by db_load from its dump format. */
async function writeBdb(dir: string, blobs: [number, Uint8Array][]): Promise<void> {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const key = (n: number) => {
    const k = Buffer.alloc(4);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) k.writeUInt32LE(n);
    else k.writeUInt32BE(n);
    return k;
  };
  const dump = [
    'VERSION=3',
    'format=bytevalue',
    'type=hash',
    'db_pagesize=4096',
    'HEADER=END',
    ...blobs.flatMap(([n, b]) => [` ${hex(key(n))}`, ` ${hex(b)}`]),
    'DATA=END',
    '',
  ].join('\n');
  const input = join(dir, 'Packages.dump');
  await writeFile(input, dump);
  await run('db_load', ['-f', input, join(dir, 'Packages')], { env: rpmEnv });
}

/** An ndb Packages.db holding these headers (rpm's rpmpkg.c layout, little-endian). */
export function ndbFile(blobs: [number, Uint8Array][]): Uint8Array {
  const slotPage = 4096;
  const block = 16;
  const slotPages = Math.max(1, Math.ceil(((blobs.length + 2) * block) / slotPage));
  const blobBlocks = blobs.map(([, b]) => Math.ceil((block + b.length + 12) / block));
  const size = slotPages * slotPage + blobBlocks.reduce((a, n) => a + n * block, 0);
  const out = Buffer.alloc(size);
  out.write('RpmP', 0, 'latin1');
  out.writeUInt32LE(0, 4); // version
  out.writeUInt32LE(1, 8); // generation
  out.writeUInt32LE(slotPages, 12);
  out.writeUInt32LE(blobs.length + 1, 16); // the next package index
  for (let at = 2 * block; at < slotPages * slotPage; at += block) out.write('Slot', at, 'latin1');
  let offset = slotPages * slotPage;
  blobs.forEach(([n, b], i) => {
    const slot = (2 + i) * block;
    out.writeUInt32LE(n, slot + 4);
    out.writeUInt32LE(offset / block, slot + 8);
    out.writeUInt32LE(blobBlocks[i]!, slot + 12);
    out.write('BlbS', offset, 'latin1');
    out.writeUInt32LE(n, offset + 4);
    out.writeUInt32LE(1, offset + 8); // generation
    out.writeUInt32LE(b.length, offset + 12);
    out.set(b, offset + block);
    const tail = offset + blobBlocks[i]! * block - 12;
    out.writeUInt32LE(adler32(b), tail);
    out.writeUInt32LE(b.length, tail + 4);
    out.write('BlbE', tail + 8, 'latin1');
    offset += blobBlocks[i]! * block;
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function adler32(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** `rpm -qa` over a database: name, EVR, arch, source rpm and licence, tab-separated. */
export async function rpmQueryAll(dbDir: string, backend: 'sqlite' | 'bdb_ro'): Promise<string[]> {
  const { stdout } = await run(
    'rpm',
    [
      '-qa',
      '--dbpath',
      dbDir,
      '--define',
      `_db_backend ${backend}`,
      '--qf',
      '%{NAME}\\t%{EVR}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\n',
    ],
    { env: rpmEnv },
  );
  return stdout.split('\n').filter(Boolean).sort();
}
