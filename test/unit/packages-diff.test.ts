// Two images' packages side by side (src/lib/packages/diff.ts).
import { describe, expect, test } from 'vitest';
import { diffInventories } from '../../src/lib/packages/diff.ts';
import type { Ecosystem, InventoryPackage } from '../../src/lib/packages/types.ts';

const pkg = (
  ecosystem: Ecosystem,
  name: string,
  version: string,
  location: string,
  arch?: string,
): InventoryPackage => ({
  ecosystem,
  name,
  version,
  location,
  cataloger: ecosystem === 'deb' ? 'dpkg' : 'npm',
  purl: `pkg:${ecosystem}/${name}@${version}`,
  events: [{ layer: 0, kind: 'added', to: version }],
  ...(arch ? { arch } : {}),
});

/** Dotted numbers, for upgrade and downgrade. */
function dotted(_e: Ecosystem, a: string, b: string): number | undefined {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  if ([...x, ...y].some(Number.isNaN)) return undefined;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const status = 'var/lib/dpkg/status';

describe('diffInventories', () => {
  const a = {
    packages: [
      pkg('deb', 'curl', '7.88', status, 'amd64'),
      pkg('deb', 'libc6', '2.36', status, 'amd64'),
      pkg('deb', 'libc6', '2.36', status, 'i386'),
      pkg('deb', 'perl', '5.36', status, 'amd64'),
      pkg('deb', 'tzdata', '2024a', status, 'all'),
      pkg('npm', 'lodash', '4.17.20', 'app/node_modules/lodash/package.json'),
      pkg('npm', 'lodash', '4.17.21', 'app/node_modules/x/node_modules/lodash/package.json'),
    ],
  };
  const b = {
    packages: [
      // The database moved (distroless): still the same packages.
      pkg('deb', 'curl', '8.5', 'var/lib/dpkg/status.d/curl', 'amd64'),
      pkg('deb', 'libc6', '2.35', status, 'amd64'),
      pkg('deb', 'libc6', '2.36', status, 'i386'),
      pkg('deb', 'tzdata', '2024b', status, 'all'),
      pkg('deb', 'zlib1g', '1.3', status, 'amd64'),
      pkg('npm', 'lodash', '4.17.21', 'app/node_modules/lodash/package.json'),
      pkg('npm', 'lodash', '4.17.21', 'srv/node_modules/lodash/package.json'),
    ],
  };
  const diff = diffInventories(a, b, dotted);

  test('each change, by ecosystem and name', () => {
    expect(
      diff.changes.map(
        (c) =>
          `${c.kind} ${c.ecosystem}/${c.name}${c.arch ? ':' + c.arch : ''} ${c.a?.version ?? '-'} ${c.b?.version ?? '-'}`,
      ),
    ).toEqual([
      'upgraded deb/curl:amd64 7.88 8.5',
      'downgraded deb/libc6:amd64 2.36 2.35',
      'removed deb/perl:amd64 5.36 -',
      'changed deb/tzdata:all 2024a 2024b',
      'added deb/zlib1g:amd64 - 1.3',
      'upgraded npm/lodash 4.17.20 4.17.21',
      'removed npm/lodash 4.17.21 -',
      'added npm/lodash - 4.17.21',
    ]);
  });

  test('counts, and what stayed the same', () => {
    expect(diff.counts).toEqual({ added: 2, removed: 2, upgraded: 2, downgraded: 1, changed: 1 });
    expect(diff.same).toBe(1);
  });

  test('an image against itself changes nothing', () => {
    const self = diffInventories(b, b, dotted);
    expect(self.changes).toEqual([]);
    expect(self.same).toBe(b.packages.length);
  });
});
