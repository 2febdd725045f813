// The npm cataloger over this repository's own node_modules, against `npm ls --all --json`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isNpmManifest, npmCataloger } from '../../src/lib/packages/npm.ts';
import { catalog, minus } from './packages-lang-helpers.ts';

const repo = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'berth-npm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface LsNode {
  version?: string;
  missing?: boolean;
  dependencies?: Record<string, LsNode>;
}

describe('npm cataloger', () => {
  it('finds what npm ls --all counts in this repository', async () => {
    const ls = JSON.parse(
      execFileSync('npm', ['ls', '--all', '--json'], {
        cwd: repo,
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      }),
    ) as LsNode;
    // npm ls prints a package once per dependant ("deduped" in its text form); the set of
    // installed name@version is what a filesystem walk can see. Missing optional packages
    // (another platform's binaries) have no version and are not on disk.
    const want = new Set<string>();
    const visit = (node: LsNode) => {
      for (const [name, dep] of Object.entries(node.dependencies ?? {})) {
        if (dep.version && !dep.missing) want.add(`${name}@${dep.version}`);
        visit(dep);
      }
    };
    visit(ls);
    const found = await catalog(npmCataloger, join(repo, 'node_modules'), repo);
    expect(found.problems).toEqual([]);
    const got = new Set(found.packages.map((p) => `${p.name}@${p.version}`));
    expect(minus(want, got), 'npm ls counts, the walk missed').toEqual([]);
    expect(minus(got, want), 'the walk found, npm ls does not count').toEqual([]);
    expect(want.size).toBeGreaterThan(100);
  });

  it.each([
    ['node_modules/a/package.json', true],
    ['usr/lib/node_modules/npm/package.json', true],
    ['app/node_modules/@scope/a/package.json', true],
    ['node_modules/a/node_modules/b/package.json', true],
    ['node_modules/@s/a/node_modules/@t/b/package.json', true],
    ['node_modules/.pnpm/a@1.0.0/node_modules/a/package.json', true],
    ['node_modules/a/test/fixtures/package.json', false],
    ['node_modules/a/test/node_modules/b/package.json', false],
    ['node_modules/@scope/package.json', false],
    ['node_modules/.package-lock.json', false],
    ['node_modules/.bin/package.json', false],
    ['app/package.json', false],
    ['node_modules/package.json', false],
    ['xnode_modules/a/package.json', false],
  ])('isNpmManifest(%s) = %s', (path, want) => {
    expect(isNpmManifest(path)).toBe(want);
  });

  it('reads each licence form and says what is wrong with a broken package.json', async () => {
    const nm = join(tmp, 'node_modules');
    const write = (dir: string, body: string) => {
      mkdirSync(join(nm, dir), { recursive: true });
      writeFileSync(join(nm, dir, 'package.json'), body);
    };
    write(
      'a',
      JSON.stringify({
        name: 'a',
        version: '1.0.0',
        license: 'MIT',
        homepage: 'https://a.example',
      }),
    );
    write('b', JSON.stringify({ name: 'b', version: '1.0.0', license: { type: 'ISC', url: 'x' } }));
    write(
      'c',
      JSON.stringify({
        name: 'c',
        version: '1.0.0',
        licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }],
      }),
    );
    write('@s/d', JSON.stringify({ name: '@s/d', version: '2.0.0-rc.1' }));
    write('broken', '{"name": "broken", "version": ');
    write('binary', '\u0000\u0001\u00ff');
    write('noversion', JSON.stringify({ name: 'noversion' }));
    write('array', '[1, 2]');
    const found = await catalog(npmCataloger, nm, tmp);
    const byName = Object.fromEntries(found.packages.map((p) => [p.name, p]));
    expect(byName.a).toEqual({
      ecosystem: 'npm',
      name: 'a',
      version: '1.0.0',
      license: 'MIT',
      extra: { homepage: 'https://a.example' },
    });
    expect(byName.b?.license).toBe('ISC');
    expect(byName.c?.license).toBe('MIT OR Apache-2.0');
    expect(byName['@s/d']?.version).toBe('2.0.0-rc.1');
    expect(found.packages).toHaveLength(4);
    expect(found.problems.sort()).toEqual([
      expect.stringMatching(/^node_modules\/array\/package.json: not a JSON object/),
      expect.stringMatching(/^node_modules\/binary\/package.json: not JSON/),
      expect.stringMatching(/^node_modules\/broken\/package.json: not JSON/),
      expect.stringMatching(/^node_modules\/noversion\/package.json: no name or version/),
    ]);
  });
});
