// Language version order against the ecosystems' own implementations where this machine has
// them: npm's semver package, Python's packaging (PEP 440), Maven's ComparableVersion. Go and
// Cargo, which have no comparer offline, against lists ordered by their rules.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compareLangVersions } from '../../src/lib/packages/versions-lang.ts';
import { compareVersions } from '../../src/lib/packages/versions.ts';

const require = createRequire(import.meta.url);
const semver = require('semver') as { compare(a: string, b: string, loose?: boolean): number };

/** Every ordered pair of `list`. */
const pairs = (list: string[]) => list.flatMap((a) => list.map((b) => [a, b] as const));

const NPM = [
  '0.0.1',
  '0.1.0',
  '1.0.0-0',
  '1.0.0-alpha',
  '1.0.0-alpha.1',
  '1.0.0-alpha.beta',
  '1.0.0-beta',
  '1.0.0-beta.2',
  '1.0.0-beta.11',
  '1.0.0-rc.1',
  '1.0.0',
  '1.0.0+build.5',
  'v1.0.1',
  '1.2.3-x-y-z.--',
  '1.10.0',
  '2.0.0',
  '10.0.0',
];

const PEP440 = [
  '1!0.1',
  '0.9',
  '1.0.dev456',
  '1.0a1',
  '1.0a2.dev456',
  '1.0a12.dev456',
  '1.0a12',
  '1.0b1.dev456',
  '1.0b2',
  '1.0b2.post345.dev456',
  '1.0b2.post345',
  '1.0rc1.dev456',
  '1.0c1',
  '1.0RC2',
  '1.0',
  '1.0.0',
  '1.0+abc.5',
  '1.0+abc.7',
  '1.0+5',
  '1.0+5.abc',
  '1.0.post456.dev34',
  '1.0.post456',
  '1.0-1',
  '1.1.dev1',
  'v1.1',
  '2.0.0_a1',
];

const MAVEN = [
  '1-alpha',
  '1.0-alpha1',
  '1.0-a2',
  '1.0-beta',
  '1.0-b3',
  '1.0-milestone-1',
  '1.0-m2',
  '1.0-RC1',
  '1.0-cr2',
  '1.0-SNAPSHOT',
  '1.0',
  '1.0.0',
  '1-ga',
  '1.0-final',
  '1.0-sp',
  '1.0-sp1',
  '1.0-foo',
  '1.0-1',
  '1.0.1',
  '1.1-alpha',
  '1.1',
  '1.10',
  '2.0.Final',
  '2.0.0.RELEASE',
  '3.0-jre',
  '3.0-android',
  '12345678901234567890',
];

describe('language version order', { timeout: 120_000 }, () => {
  it("npm: agrees with npm's semver on every pair", () => {
    for (const [a, b] of pairs(NPM))
      expect(compareLangVersions('npm', a, b), `compare(${a}, ${b})`).toBe(semver.compare(a, b));
  });

  it('cargo: agrees with semver (strict: no leading v) on every pair', () => {
    const strict = NPM.filter((v) => !v.startsWith('v'));
    for (const [a, b] of pairs(strict))
      expect(compareLangVersions('cargo', a, b), `compare(${a}, ${b})`).toBe(semver.compare(a, b));
    expect(compareLangVersions('cargo', 'v1.0.0', '1.0.0')).toBeUndefined();
  });

  it("pypi: agrees with Python's packaging.version on every pair", () => {
    const script =
      'import json, sys\nfrom packaging.version import Version\nvs = [Version(v) for v in sys.argv[1:]]\n' +
      'print(json.dumps([[(a > b) - (a < b) for b in vs] for a in vs]))';
    const matrix = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', script, ...PEP440], { encoding: 'utf8' }),
    ) as number[][];
    PEP440.forEach((a, i) =>
      PEP440.forEach((b, j) =>
        expect(compareLangVersions('pypi', a, b), `compare(${a}, ${b})`).toBe(matrix[i]![j]),
      ),
    );
  });

  it("maven: agrees with Maven's ComparableVersion on every pair", () => {
    // ComparableVersion's main compares each argument with the next: give it every pair.
    const args = pairs(MAVEN).flat();
    const out = execFileSync(
      'java',
      [
        '-cp',
        '/usr/share/maven/lib/maven-artifact-3.x.jar',
        'org.apache.maven.artifact.versioning.ComparableVersion',
        ...args,
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    let checked = 0;
    for (const line of out.split('\n')) {
      const m = /^\s+(\S+) (<|==|>) (\S+)$/.exec(line);
      if (!m) continue;
      const want = m[2] === '<' ? -1 : m[2] === '>' ? 1 : 0;
      expect(compareLangVersions('maven', m[1]!, m[3]!), `compare(${m[1]}, ${m[3]})`).toBe(want);
      checked++;
    }
    expect(checked).toBe(args.length - 1);
  });

  it('golang: module versions, pseudo-versions and Go releases in order', () => {
    const ordered = [
      'v0.0.0-20191109021931-daa7c04131f5',
      'v0.0.0-20200101000000-aaaaaaaaaaaa',
      'v0.1.0',
      'v1',
      'v1.0.1-rc.1',
      'v1.0.1',
      'v1.2',
      'v1.2.4-0.20191109021931-daa7c04131f5',
      'v1.2.4',
      'v2.0.0+incompatible',
      'v2.1.0',
    ];
    ordered.forEach((a, i) =>
      ordered.forEach((b, j) =>
        expect(compareLangVersions('golang', a, b), `compare(${a}, ${b})`).toBe(Math.sign(i - j)),
      ),
    );
    const releases = [
      'go1.9',
      'go1.19.8',
      'go1.20rc1',
      'go1.20',
      'go1.20.1',
      'go1.21rc2',
      'go1.21.0',
      'go1.22.10',
    ];
    releases.forEach((a, i) =>
      releases.forEach((b, j) =>
        expect(compareLangVersions('golang', a, b), `compare(${a}, ${b})`).toBe(Math.sign(i - j)),
      ),
    );
  });

  it.each([
    ['npm', 'latest', '1.0.0'],
    ['npm', '1.0', '1.0.0'],
    ['npm', '99999999999999999999.0.0', '1.0.0'],
    ['cargo', '1.0.0-', '1.0.0'],
    ['golang', '(devel)', 'v1.0.0'],
    ['golang', '1.0.0', 'v1.0.0'],
    ['pypi', 'not a version', '1.0'],
    ['pypi', '1.0-', '1.0'],
    ['maven', '', '1.0'],
  ] as const)('%s: %s cannot be read, so it is not ordered against %s', (eco, a, b) => {
    expect(compareLangVersions(eco, a, b)).toBeUndefined();
    expect(compareVersions(eco, b, a)).toBeUndefined();
  });
});
