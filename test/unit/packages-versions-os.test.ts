// Properties of the OS version orders over random versions (the orders themselves are checked
// against dpkg and rpm in test/integration/packages-os-versions.test.ts): no version string
// throws or hangs, and each order is antisymmetric and transitive where it answers.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { compareOsVersions } from '../../src/lib/packages/versions-os.ts';

const ecosystems = ['deb', 'rpm', 'apk'] as const;
// Versions made of the characters that matter to the three orders, and some that do not.
const version = fc
  .array(fc.constantFrom(...'0123456789.-:~^+_abrpz'.split(''), '-r', '_rc', '_p', '~', '.0'), {
    maxLength: 14,
  })
  .map((parts) => parts.join(''));

for (const eco of ecosystems) {
  test(`${eco}: antisymmetric, and never throws`, () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        const ab = compareOsVersions(eco, a, b);
        const ba = compareOsVersions(eco, b, a);
        if (ab === undefined || ba === undefined) return ab === ba || a === b;
        return Math.sign(ab) === -Math.sign(ba);
      }),
      { numRuns: 3000 },
    );
  });

  test(`${eco}: transitive`, () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        const ab = compareOsVersions(eco, a, b);
        const bc = compareOsVersions(eco, b, c);
        const ac = compareOsVersions(eco, a, c);
        if (ab === undefined || bc === undefined || ac === undefined) return true;
        if (ab <= 0 && bc <= 0) return ac <= 0;
        if (ab >= 0 && bc >= 0) return ac >= 0;
        return true;
      }),
      { numRuns: 3000 },
    );
  });
}

test('a very long version is ordered in linear time, not refused', () => {
  const long = '1.' + '2.'.repeat(50_000) + '3';
  expect(compareOsVersions('deb', long, long + '.1')).toBe(-1);
  expect(compareOsVersions('rpm', long, long + '.1')).toBe(-1);
  expect(compareOsVersions('apk', long, long + '.1')).toBe(-1);
});
