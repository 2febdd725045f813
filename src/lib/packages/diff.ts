// The packages of two images side by side: what the second image added, removed, upgraded,
// downgraded or changed against the first. A package is the same one in both when its ecosystem,
// name and architecture match and it sits in the same kind of place: for an OS package, the
// system's database (wherever it is kept); for a language package, the very file declaring it,
// so that two copies of one npm package in two node_modules trees stay two.
import type { Ecosystem, Inventory, InventoryPackage } from './types.ts';
import { compareVersions } from './versions.ts';

export type PackageChangeKind = 'added' | 'removed' | 'upgraded' | 'downgraded' | 'changed';

export interface PackageChange {
  kind: PackageChangeKind;
  ecosystem: Ecosystem;
  name: string;
  arch?: string;
  /** The package in the first image (absent when added). */
  a?: InventoryPackage;
  /** The package in the second image (absent when removed). */
  b?: InventoryPackage;
}

export interface PackagesDiff {
  /** By ecosystem, then name, then location. */
  changes: PackageChange[];
  counts: Record<PackageChangeKind, number>;
  /** Packages the same in both. */
  same: number;
}

const OS = new Set<Ecosystem>(['apk', 'deb', 'rpm']);

/** The identity a package keeps between two images. */
export function diffKey(p: InventoryPackage): string {
  return `${p.ecosystem}\0${p.name}\0${p.arch ?? ''}\0${OS.has(p.ecosystem) ? '' : p.location}`;
}

const text = (a: string | undefined, b: string | undefined) =>
  (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0;

/** What `b` changed against `a`. */
export function diffInventories(
  a: Pick<Inventory, 'packages'>,
  b: Pick<Inventory, 'packages'>,
  compare: (ecosystem: Ecosystem, x: string, y: string) => number | undefined = compareVersions,
): PackagesDiff {
  const before = new Map<string, InventoryPackage>();
  for (const p of a.packages) before.set(diffKey(p), p);
  const changes: PackageChange[] = [];
  const counts: Record<PackageChangeKind, number> = {
    added: 0,
    removed: 0,
    upgraded: 0,
    downgraded: 0,
    changed: 0,
  };
  let same = 0;
  const push = (c: PackageChange) => {
    changes.push(c);
    counts[c.kind]++;
  };
  const id = (p: InventoryPackage) => ({
    ecosystem: p.ecosystem,
    name: p.name,
    ...(p.arch !== undefined ? { arch: p.arch } : {}),
  });
  for (const p of b.packages) {
    const key = diffKey(p);
    const was = before.get(key);
    if (!was) {
      push({ kind: 'added', ...id(p), b: p });
      continue;
    }
    before.delete(key);
    if (was.version === p.version) {
      same++;
      continue;
    }
    const order = compare(p.ecosystem, was.version, p.version);
    const kind =
      order === undefined || order === 0 ? 'changed' : order < 0 ? 'upgraded' : 'downgraded';
    push({ kind, ...id(p), a: was, b: p });
  }
  for (const p of before.values()) push({ kind: 'removed', ...id(p), a: p });
  changes.sort(
    (x, y) =>
      text(x.ecosystem, y.ecosystem) ||
      text(x.name, y.name) ||
      text((x.b ?? x.a)!.location, (y.b ?? y.a)!.location) ||
      text(x.arch, y.arch),
  );
  return { changes, counts, same };
}
