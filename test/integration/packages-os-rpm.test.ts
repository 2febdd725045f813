// Berth's RPM cataloger against rpm itself, over real databases built at test time (see
// test/harness/package-dbs.ts): sqlite, Berkeley DB hash (with overflow pages) and ndb, each
// listed by Berth and compared with `rpm -qa` over the same packages.
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readRpm, rpmCataloger } from '../../src/lib/packages/rpm.ts';
import type { CatalogResult } from '../../src/lib/packages/types.ts';
import { buildRpmDbs, rpmQueryAll, type RpmDbs } from '../harness/package-dbs.ts';

const work = await mkdtemp(join(tmpdir(), 'berth-rpmdb-'));
afterAll(() => rm(work, { recursive: true, force: true }));
let dbs: RpmDbs;
let want: string[];
beforeAll(async () => {
  dbs = await buildRpmDbs(work);
  want = await rpmQueryAll(dbs.sqliteDir, 'sqlite');
});

async function catalog(path: string, imagePath: string): Promise<CatalogResult> {
  const bytes = new Uint8Array(await readFile(path));
  expect(rpmCataloger.wants(imagePath, bytes.length, 0o100644)).toBe(true);
  return readRpm({ path: imagePath, size: bytes.length, mode: 0o100644, bytes });
}

function rows(r: CatalogResult): string[] {
  return r.packages
    .map((p) =>
      [p.name, p.version, p.arch ?? '(none)', p.source ?? '(none)', p.license ?? '(none)'].join(
        '\t',
      ),
    )
    .sort();
}

test('the test packages cover epochs, noarch, licences, ~ and ^', () => {
  expect(want.length).toBeGreaterThanOrEqual(28);
  expect(want).toContain(
    'tiny-epoch\t2:1.2.3-4.fc40\tnoarch\ttiny-epoch-1.2.3-4.fc40.src.rpm\tMIT AND (Apache-2.0 OR BSD-3-Clause)',
  );
  expect(want.some((r) => r.startsWith('tiny-rc\t2.0~rc1-1\t'))).toBe(true);
  expect(want.some((r) => r.startsWith('tiny-snap\t2.0^20240101git-0.1\t'))).toBe(true);
});

test('sqlite: Berth lists what rpm -qa lists', async () => {
  const r = await catalog(join(dbs.sqliteDir, 'rpmdb.sqlite'), 'var/lib/rpm/rpmdb.sqlite');
  expect(r.problems).toEqual([]);
  expect(rows(r)).toEqual(want);
});

test('Berkeley DB hash: Berth lists what rpm -qa (bdb_ro) lists, overflow pages included', async () => {
  const path = join(dbs.bdbDir, 'Packages');
  expect(await rpmQueryAll(dbs.bdbDir, 'bdb_ro')).toEqual(want);
  const r = await catalog(path, 'var/lib/rpm/Packages');
  expect(r.problems).toEqual([]);
  expect(rows(r)).toEqual(want);
  // The headers are larger than a page: the file really has overflow pages (type 7).
  const bytes = await readFile(path);
  let overflow = 0;
  for (let at = 4096; at < bytes.length; at += 4096) if (bytes[at + 25] === 7) overflow++;
  expect(overflow).toBeGreaterThan(24);
});

test('Berkeley DB written big-endian (s390x): the same packages', async () => {
  const path = join(dbs.bdbBigEndianDir, 'Packages');
  const bytes = await readFile(path);
  // The hash magic 0x061561 at byte 12, most significant byte first.
  expect([...bytes.subarray(12, 16)]).toEqual([0x00, 0x06, 0x15, 0x61]);
  const r = await catalog(path, 'var/lib/rpm/Packages');
  expect(r.problems).toEqual([]);
  expect(rows(r)).toEqual(want);
});

test('ndb: Berth lists the same packages from Packages.db', async () => {
  const r = await catalog(join(dbs.ndbDir, 'Packages.db'), 'usr/lib/sysimage/rpm/Packages.db');
  expect(r.problems).toEqual([]);
  expect(rows(r)).toEqual(want);
});

test('vendor and homepage are kept as extra facts', async () => {
  const r = await catalog(join(dbs.sqliteDir, 'rpmdb.sqlite'), 'var/lib/rpm/rpmdb.sqlite');
  const p = r.packages.find((x) => x.name === 'tiny-epoch');
  expect(p?.extra).toEqual({ vendor: 'Berth tests', homepage: 'https://example.org/berth' });
});

describe('damaged databases: problems, never an exception, never a hang', () => {
  const formats = [
    ['sqlite', () => join(dbs.sqliteDir, 'rpmdb.sqlite'), 'var/lib/rpm/rpmdb.sqlite'],
    ['Berkeley DB', () => join(dbs.bdbDir, 'Packages'), 'var/lib/rpm/Packages'],
    ['ndb', () => join(dbs.ndbDir, 'Packages.db'), 'var/lib/rpm/Packages.db'],
  ] as const;

  for (const [format, file, imagePath] of formats) {
    test(`${format}: cut short anywhere`, async () => {
      const whole = new Uint8Array(await readFile(file()));
      for (const keep of [0, 1, 16, 100, 511, 4096, 4097, whole.length >> 1, whole.length - 1]) {
        const bytes = whole.slice(0, keep);
        const r = await readRpm({ path: imagePath, size: keep, mode: 0o100644, bytes });
        // A cut file loses packages or says so; it never claims all of them silently.
        expect(r.problems.length > 0 || r.packages.length < want.length, `${keep} bytes`).toBe(
          true,
        );
        expect(r.problems.every((p) => p.startsWith(`${imagePath}: `))).toBe(true);
      }
    });

    test(`${format}: bytes overwritten at random`, async () => {
      const whole = new Uint8Array(await readFile(file()));
      let seed = 17;
      const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
      for (let round = 0; round < 40; round++) {
        const bytes = whole.slice();
        // A run of garbage somewhere, as a bad sector or a broken copy would leave.
        const at = next() % bytes.length;
        for (let i = at; i < Math.min(bytes.length, at + 1 + (next() % 4096)); i++)
          bytes[i] = next() & 0xff;
        const r = await readRpm({ path: imagePath, size: bytes.length, mode: 0o100644, bytes });
        expect(Array.isArray(r.packages)).toBe(true);
      }
    });
  }

  test('Berkeley DB: an overflow chain that loops on itself, and absurd entry counts', async () => {
    const bytes = new Uint8Array(await readFile(join(dbs.bdbDir, 'Packages')));
    const view = new DataView(bytes.buffer);
    const pageSize = view.getUint32(20, true);
    let looped = 0;
    for (let at = pageSize; at < bytes.length; at += pageSize) {
      if (bytes[at + 25] === 7) {
        // Each overflow page names itself as the next: the walk must stop, not spin.
        view.setUint32(at + 16, at / pageSize, true);
        looped++;
      } else if (bytes[at + 25] === 13 || bytes[at + 25] === 2) {
        view.setUint16(at + 20, 0xffff, true);
      }
    }
    expect(looped).toBeGreaterThan(0);
    const r = await readRpm({
      path: 'var/lib/rpm/Packages',
      size: bytes.length,
      mode: 0o100644,
      bytes,
    });
    expect(r.packages).toEqual([]);
    expect(r.problems.length).toBeGreaterThan(0);
  });

  test('ndb: slots pointing past the end and a slot page count larger than the file', async () => {
    const bytes = new Uint8Array(await readFile(join(dbs.ndbDir, 'Packages.db')));
    const view = new DataView(bytes.buffer);
    view.setUint32(2 * 16 + 8, 0xffffffff, true); // the first slot's block offset
    view.setUint32(12, 0xffffff, true); // slot pages
    const r = await readRpm({
      path: 'var/lib/rpm/Packages.db',
      size: bytes.length,
      mode: 0o100644,
      bytes,
    });
    expect(r.packages.length).toBe(want.length - 1);
    expect(r.problems.join('\n')).toMatch(/slot pages[\s\S]*1 damaged slot/);
  });

  test('not a database at all: text and a binary', async () => {
    for (const [what, bytes] of [
      ['text', new TextEncoder().encode('Package: bash\nVersion: 5\n'.repeat(400))],
      ['binary', new Uint8Array(await readFile(process.execPath)).subarray(0, 1 << 16)],
    ] as const) {
      const r = await readRpm({
        path: 'var/lib/rpm/Packages',
        size: bytes.length,
        mode: 0o100644,
        bytes,
      });
      expect(r.packages, what).toEqual([]);
      expect(r.problems, what).toHaveLength(1);
    }
  });
});
