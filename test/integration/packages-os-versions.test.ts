// Version order for deb, rpm and apk, checked against the package managers themselves: every
// pair of a list of tricky versions is ordered by Berth and by `dpkg --compare-versions` and
// rpm's own rpm.vercmp (through its Lua interpreter). apk has no tool on Debian; its order
// is checked against a table written from apk-tools' documented rules.
import { describe, expect, test } from 'vitest';
import { compareVersions } from '../../src/lib/packages/versions.ts';
import { run } from '../harness/process.ts';

const sign = (n: number | undefined) => (n === undefined ? undefined : Math.sign(n));

function pairs<T>(xs: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < xs.length; i++)
    for (let j = 0; j < xs.length; j++) if (i !== j) out.push([xs[i]!, xs[j]!]);
  return out;
}

describe('deb: dpkg --compare-versions', () => {
  const versions = [
    '1.0',
    '1.0-1',
    '1.0-2',
    '1.0-10',
    '1.0~rc1',
    '1.0~rc1-1',
    '1.0~~',
    '1.0~',
    '1.0+1',
    '1.0.1',
    '1.0a',
    '1.0A',
    '1.0.',
    '1:0.9',
    '2:0',
    '0:1.0',
    '1.01',
    '1.000',
    '1.0-1ubuntu1',
    '1.0-1+deb12u1',
    '1.0-1~bpo12+1',
    '10.0',
    '9.9',
    '1.2.3+dfsg-4',
    '1.2.3+dfsg1-4',
    '1.0+b1',
    '3.0-0',
    '00000000000000000000000000000000000000001',
    '2',
  ];
  test('every pair orders as dpkg orders it', { timeout: 60_000 }, async () => {
    const ps = pairs(versions).filter(([a, b]) => a < b);
    // One shell runs every comparison: a process per pair from Node would be slow.
    const script = ps
      .map(
        ([a, b]) =>
          `if dpkg --compare-versions '${a}' lt '${b}'; then echo -1; elif dpkg --compare-versions '${a}' eq '${b}'; then echo 0; else echo 1; fi`,
      )
      .join('\n');
    const { stdout } = await run('sh', ['-c', script], { timeoutMs: 55_000 });
    const want = stdout.trim().split('\n').map(Number);
    expect(want).toHaveLength(ps.length);
    const wrong = ps
      .map(([a, b], i) => ({ a, b, got: sign(compareVersions('deb', a, b)), want: want[i] }))
      .filter((r) => r.got !== r.want);
    expect(wrong).toEqual([]);
  });
  test('what dpkg refuses is not ordered', () => {
    for (const v of ['', 'a:1.0', '1.0-', '1.0 2', '1.0-a:b'])
      expect(compareVersions('deb', v, '1.0')).toBeUndefined();
  });
});

describe('rpm: rpm.vercmp', () => {
  const versions = [
    '1.0',
    '1.0-1',
    '1.0-2',
    '1.0-10',
    '1.0~rc1',
    '1.0~rc1-1',
    '1.0~~',
    '1.0~',
    '1.0^',
    '1.0^git1',
    '1.0^git1~pre',
    '1.0.1',
    '1.0a',
    '1.0A',
    '1:0.9',
    '2:0',
    '0:1.0',
    '1.01',
    '1.000',
    '1.0-1.el9',
    '1.0-1.el9_2',
    '1.0-1.fc40',
    '10.0',
    '9.9',
    '1_0',
    '1.0+1',
    'a',
    'b',
    '1.0-1.el9.1',
    '2',
    '00000000000000000000000000000000000000001',
  ];
  test('every pair orders as rpm orders it', { timeout: 60_000 }, async () => {
    const ps = pairs(versions);
    const lua = `local p = {${ps.map(([a, b]) => `{"${a}","${b}"}`).join(',')}} for _, x in ipairs(p) do print(rpm.vercmp(x[1], x[2]) .. "\\n") end`;
    const { stdout } = await run('rpm', ['--eval', `%{lua: ${lua}}`], {
      env: { ...process.env, LC_ALL: 'C' },
    });
    const want = stdout.trim().split('\n').map(Number);
    expect(want).toHaveLength(ps.length);
    const wrong = ps
      .map(([a, b], i) => ({ a, b, got: sign(compareVersions('rpm', a, b)), want: want[i] }))
      .filter((r) => r.got !== r.want);
    expect(wrong).toEqual([]);
  });
});

describe('apk', () => {
  // Each row: a < b, by apk-tools' rules (version.c: digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}).
  const ordered: [string, string][] = [
    ['1.0', '1.0.1'],
    ['1.0_alpha', '1.0'],
    ['1.0_alpha', '1.0_beta'],
    ['1.0_beta2', '1.0_pre'],
    ['1.0_pre1', '1.0_rc1'],
    ['1.0_rc1', '1.0'],
    ['1.0', '1.0_cvs'],
    ['1.0_cvs', '1.0_svn'],
    ['1.0_git', '1.0_hg'],
    ['1.0_hg', '1.0_p1'],
    ['1.0_p1', '1.0_p2'],
    ['1.0', '1.0-r1'],
    ['1.0-r1', '1.0-r10'],
    ['1.0-r9', '1.0.1'],
    ['1.0', '1.0a'],
    ['1.0a', '1.0b'],
    ['1.0b', '1.0.0'],
    ['1.01', '1.1'],
    ['1.001', '1.01'],
    ['1.2', '1.10'],
    ['1.9', '2'],
    ['1.0_alpha1', '1.0_alpha1_p1'],
    ['1.0_rc1-r3', '1.0'],
    // A commit hash ranks before a revision, so it is the longer version here.
    ['1.0-r1', '1.0~abc'],
    ['1.0~abc-r1', '1.0~abd-r0'],
    ['3.6.5_git20240101-r1', '3.6.5_git20240102-r0'],
    ['20230101', '20240101'],
  ];
  for (const [a, b] of ordered) {
    test(`${a} < ${b}`, () => {
      expect(sign(compareVersions('apk', a, b))).toBe(-1);
      expect(sign(compareVersions('apk', b, a))).toBe(1);
    });
  }
  test('equal versions, and versions apk refuses', () => {
    expect(compareVersions('apk', '1.0-r0', '1.0-r0')).toBe(0);
    expect(compareVersions('apk', '1.0_alpha', '1.0_alpha0')).not.toBe(undefined);
    for (const v of ['', 'a1', '1.0_foo', '1.0-1', '1..0', '1.0a.1', '1.0-r1_alpha']) {
      expect(compareVersions('apk', v, '1.0')).toBeUndefined();
    }
  });
});
