// Berth's RPM cataloger against rpm itself, over real databases built at test time (see
// test/harness/package-dbs.ts): sqlite, Berkeley DB hash (with overflow pages) and ndb, each
// listed by Berth and compared with `rpm -qa` over the same packages.
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
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
