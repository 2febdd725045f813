// RPM's database of installed packages, in whichever of its three formats the image uses:
// sqlite (Fedora 33+, RHEL 9+), Berkeley DB hash (RHEL 8 and older) or ndb (SUSE). The format
// is told by the file's first bytes, not its name: each holds the same header blobs.
import { bdbHashValues } from './rpm-bdb.ts';
import { rpmFacts } from './rpm-header.ts';
import { ndbValues } from './rpm-ndb.ts';
import { sqliteValues } from './rpm-sqlite.ts';
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

const paths = new Set(
  ['var/lib/rpm', 'usr/lib/sysimage/rpm'].flatMap((dir) =>
    ['rpmdb.sqlite', 'Packages', 'Packages.db'].map((name) => `${dir}/${name}`),
  ),
);

const sqliteMagic = 'SQLite format 3\0';

function startsWith(bytes: Uint8Array, ascii: string): boolean {
  if (bytes.length < ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (bytes[i] !== ascii.charCodeAt(i)) return false;
  return true;
}

export async function readRpm(file: CatalogFile): Promise<CatalogResult> {
  const { bytes, path } = file;
  const read = startsWith(bytes, sqliteMagic)
    ? await sqliteValues(bytes)
    : startsWith(bytes, 'RpmP')
      ? ndbValues(bytes)
      : bdbHashValues(bytes);
  const packages: PackageFacts[] = [];
  const problems = read.problems.map((p) => `${path}: ${p}`);
  let unreadable = 0;
  for (const blob of read.values) {
    // Berkeley DB's Packages keeps a 4-byte counter under key 0 beside the headers.
    if (blob.length <= 4) continue;
    const p = rpmFacts(blob);
    if (typeof p === 'string') unreadable++;
    else packages.push(p);
  }
  if (unreadable > 0) {
    problems.push(`${path}: ${unreadable} package header${unreadable === 1 ? '' : 's'} unreadable`);
  }
  return { packages, problems };
}

export const rpmCataloger: Cataloger = {
  id: 'rpm',
  // A RHEL image's database with a thousand packages is 50–100 MiB in Berkeley DB.
  maxBytes: 512 << 20,
  wants: (path) => paths.has(path),
  read: readRpm,
};
