// Berth's dpkg cataloger against dpkg itself, on this machine's own package database: the set
// of installed packages (name, version, architecture) and their source packages must equal
// what `dpkg-query -W` says. The distroless layout (status.d, one stanza per file) is made
// from the same real stanzas.
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { dpkgCataloger, readDpkg } from '../../src/lib/packages/dpkg.ts';
import type { CatalogResult } from '../../src/lib/packages/types.ts';
import { run } from '../harness/process.ts';

const work = await mkdtemp(join(tmpdir(), 'berth-dpkg-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/** dpkg-query's view: installed packages only, as tab-separated name, version, arch, source. */
async function dpkgQuery(admindir?: string): Promise<string[]> {
  const { stdout } = await run('dpkg-query', [
    ...(admindir ? ['--admindir', admindir] : []),
    '-W',
    '-f',
    '${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\n',
  ]);
  return stdout
    .split('\n')
    .filter((l) => /^(installed|triggers-awaited|triggers-pending)\t/.test(l))
    .map((l) => l.slice(l.indexOf('\t') + 1))
    .sort();
}

function rows(r: CatalogResult): string[] {
  return r.packages.map((p) => [p.name, p.version, p.arch ?? '', p.source ?? ''].join('\t')).sort();
}

async function catalog(path: string, imagePath: string): Promise<CatalogResult> {
  const bytes = new Uint8Array(await readFile(path));
  expect(dpkgCataloger.wants(imagePath, bytes.length, 0o100644)).toBe(true);
  return readDpkg({ path: imagePath, size: bytes.length, mode: 0o100644, bytes });
}

test("this machine's var/lib/dpkg/status: the packages dpkg-query -W shows installed", async () => {
  const want = await dpkgQuery();
  expect(want.length).toBeGreaterThan(50);
  const r = await catalog('/var/lib/dpkg/status', 'var/lib/dpkg/status');
  expect(r.problems).toEqual([]);
  expect(rows(r)).toEqual(want);
  // Maintainer always, Homepage where the package has one.
  expect(r.packages.every((p) => p.extra?.maintainer)).toBe(true);
  expect(r.packages.some((p) => p.extra?.homepage?.startsWith('http'))).toBe(true);
  expect(r.packages.every((p) => p.license === undefined)).toBe(true);
});

test('a status file with removed, config-files and half-installed packages', async () => {
  // Real stanzas, with the states dpkg writes when a package is removed or breaks part-way.
  const text = await readFile('/var/lib/dpkg/status', 'utf8');
  const stanzas = text.split(/\n\n+/).filter((s) => s.startsWith('Package: '));
  const states = [
    'deinstall ok config-files',
    'install reinstreq half-installed',
    'hold ok installed',
    'purge ok not-installed',
    'install ok unpacked',
    'install ok half-configured',
  ];
  const edited = stanzas
    .slice(0, 12)
    .map((s, i) => (i < states.length ? s.replace(/^Status: .*$/m, `Status: ${states[i]}`) : s));
  const admin = join(work, 'admin');
  await mkdir(join(admin, 'info'), { recursive: true });
  await mkdir(join(admin, 'updates'), { recursive: true });
  await writeFile(join(admin, 'status'), edited.join('\n\n') + '\n');
  await writeFile(join(admin, 'available'), '');
  const want = await dpkgQuery(admin);
  const r = await catalog(join(admin, 'status'), 'var/lib/dpkg/status');
  expect(rows(r)).toEqual(want);
  expect(r.packages).toHaveLength(12 - 5);
  // Half-installed, unpacked and half-configured are said; removed ones are not problems.
  expect(r.problems).toHaveLength(3);
  expect(r.problems.join('\n')).toMatch(/half-installed[\s\S]*unpacked[\s\S]*half-configured/);
});

test('distroless status.d: one stanza per file, no Status, md5sums files skipped', async () => {
  const text = await readFile('/var/lib/dpkg/status', 'utf8');
  const stanzas = text
    .split(/\n\n+/)
    .filter((s) => s.startsWith('Package: '))
    .slice(0, 8);
  const dir = join(work, 'status.d');
  await mkdir(dir, { recursive: true });
  const info = await readdir('/var/lib/dpkg/info');
  const want: string[] = [];
  const all = await dpkgQuery();
  for (const s of stanzas) {
    const name = /^Package: (.*)$/m.exec(s)![1]!;
    await writeFile(join(dir, name), s.replace(/^Status: .*\n/m, '') + '\n');
    const sums = info.find(
      (f) => f === `${name}.md5sums` || (f.startsWith(`${name}:`) && f.endsWith('.md5sums')),
    );
    if (sums) await copyFile(join('/var/lib/dpkg/info', sums), join(dir, `${name}.md5sums`));
    want.push(...all.filter((row) => row.startsWith(`${name}\t`)));
  }
  const got: string[] = [];
  for (const f of (await readdir(dir)).sort()) {
    const imagePath = `var/lib/dpkg/status.d/${f}`;
    if (!dpkgCataloger.wants(imagePath, 0, 0o100644)) {
      expect(f).toMatch(/\.md5sums$/);
      continue;
    }
    const r = await catalog(join(dir, f), imagePath);
    expect(r.problems).toEqual([]);
    expect(r.packages).toHaveLength(1);
    got.push(...rows(r));
  }
  expect(got.sort()).toEqual(want.sort());
});
