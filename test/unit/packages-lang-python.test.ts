// The Python cataloger over this machine's site-packages and Debian's dist-packages, against
// what importlib.metadata finds in the same directory.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPythonMetadata, pythonCataloger } from '../../src/lib/packages/python.ts';
import { catalog, minus } from './packages-lang-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-python-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LIST = `
import importlib.metadata, json, sys
print(json.dumps([[d.metadata['Name'], d.version] for d in importlib.metadata.distributions(path=[sys.argv[1]])]))
`;

/** name@version of each distribution importlib.metadata finds in `dir`, run by `python`. */
function importlibSays(python: string, dir: string): Set<string> {
  const list = JSON.parse(execFileSync(python, ['-c', LIST, dir], { encoding: 'utf8' })) as [
    string,
    string,
  ][];
  return new Set(list.map(([n, v]) => `${n}@${v}`));
}

function sitePackages(python: string): string {
  return execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], {
    encoding: 'utf8',
  }).trim();
}

const dirs: [python: string, dir: string][] = [
  ['/usr/bin/python3', '/usr/lib/python3/dist-packages'],
  ['python3', sitePackages('python3')],
];

describe('python cataloger', () => {
  it.each(dirs.filter(([, d]) => existsSync(d)))(
    'finds what %s importlib.metadata finds in %s',
    async (python, dir) => {
      const want = importlibSays(python, dir);
      const found = await catalog(pythonCataloger, dir, '/');
      expect(found.problems).toEqual([]);
      const got = new Set(found.packages.map((p) => `${p.name}@${p.version}`));
      expect(minus(want, got), 'importlib finds, the cataloger missed').toEqual([]);
      expect(minus(got, want), 'the cataloger found, importlib does not').toEqual([]);
      expect(want.size).toBeGreaterThan(2);
    },
  );

  it.each([
    ['usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', true],
    ['usr/local/lib/python3.11/site-packages/pip-23.0.dist-info/METADATA', true],
    ['site-packages/a-1.0.dist-info/METADATA', true],
    ['usr/lib/python3/dist-packages/crcmod-1.7.egg-info', true],
    ['usr/lib/python3/dist-packages/crcmod-1.7.egg-info/PKG-INFO', true],
    ['usr/lib/python3/dist-packages/pip/_vendor/x-1.0.dist-info/METADATA', false],
    ['usr/lib/python3/dist-packages/a-1.0.dist-info/RECORD', false],
    ['home/x/not-site-packages/a-1.0.dist-info/METADATA', false],
    ['src/a.egg-info/PKG-INFO', false],
  ])('isPythonMetadata(%s) = %s', (path, want) => {
    expect(isPythonMetadata(path)).toBe(want);
  });

  it('reads licences from License-Expression, License and classifiers, and survives garbage', async () => {
    const site = join(tmp, 'site-packages');
    const write = (name: string, body: string | Uint8Array) => {
      const dir = join(site, `${name}.dist-info`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'METADATA'), body);
    };
    write(
      'expr-1.0',
      'Metadata-Version: 2.4\nName: expr\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: ignored\n',
    );
    write(
      'text-2.0',
      'Metadata-Version: 2.1\nName: text\nVersion: 2.0\nLicense: Copyright (c) 2020 Someone\n        All rights reserved, a long licence text follows\nClassifier: License :: OSI Approved :: BSD License\nHome-page: https://text.example\n\nLicense-Expression: GPL-3.0 (the description, not a header)\n',
    );
    write('short-3.0', 'Name: short\r\nVersion: 3.0.post1\r\nLicense: BSD-3-Clause\r\n');
    write(
      'garbage-1.0',
      new Uint8Array([0x4e, 0x61, 0x6d, 0x65, 0x3a, 0, 0xff, 0xfe, 0x00, 0x80, 0x81]),
    );
    write('noversion-1.0', 'Name: noversion\n');
    write('empty-1.0', '');
    const found = await catalog(pythonCataloger, site, tmp);
    const byName = Object.fromEntries(found.packages.map((p) => [p.name, p]));
    expect(byName.expr?.license).toBe('MIT OR Apache-2.0');
    expect(byName.text).toEqual({
      ecosystem: 'pypi',
      name: 'text',
      version: '2.0',
      license: 'BSD License',
      extra: { homepage: 'https://text.example' },
    });
    expect(byName.short).toMatchObject({ version: '3.0.post1', license: 'BSD-3-Clause' });
    expect(found.packages).toHaveLength(3);
    expect(found.problems.sort()).toEqual([
      'site-packages/empty-1.0.dist-info/METADATA: no Name or Version header',
      'site-packages/garbage-1.0.dist-info/METADATA: not a text metadata file',
      'site-packages/noversion-1.0.dist-info/METADATA: no Name or Version header',
    ]);
  });
});
