// Debian and Ubuntu's installed packages: var/lib/dpkg/status, and distroless images'
// var/lib/dpkg/status.d/<package> (one stanza per file, written from the package's control
// file, often with no Status field at all).
import { controlStanzas, textOf } from './stanzas.ts';
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

const statusPath = 'var/lib/dpkg/status';
const statusDir = 'var/lib/dpkg/status.d/';

/** dpkg's package states whose files are all in place (dpkg-query -W lists them as installed;
 * triggers-* are installed packages waiting for another package's trigger to run). */
const installedStates = new Set(['installed', 'triggers-awaited', 'triggers-pending']);
/** States where dpkg stopped part-way: some files may be there, the package is not usable. */
const brokenStates = new Set(['half-installed', 'unpacked', 'half-configured']);

export function readDpkg(file: CatalogFile): CatalogResult {
  const packages: PackageFacts[] = [];
  const problems: string[] = [];
  const text = textOf(file.bytes);
  if (text === undefined) return { packages, problems: [`${file.path}: not a text file`] };
  const inDir = file.path.startsWith(statusDir);
  const { stanzas, bad } = controlStanzas(text);
  if (bad > 0) problems.push(`${file.path}: ${bad} line${bad === 1 ? '' : 's'} not "Field: value"`);
  stanzas.forEach((s, i) => {
    const where = `${file.path}: stanza ${i + 1} (line ${s.line})`;
    const name = s.fields.get('package');
    if (!name) return problems.push(`${where} has no Package`);
    const status = s.fields.get('status');
    if (status !== undefined || !inDir) {
      // "want flag state": hold, deinstall and the like change what apt may do next, not
      // what is on disk, so only the last word counts.
      const words = (status ?? '').split(/\s+/);
      const state = words[2];
      if (status === undefined || words.length !== 3) {
        return problems.push(`${where}: ${name} has no readable Status`);
      }
      if (brokenStates.has(state!)) {
        return problems.push(`${name} is ${state}: dpkg did not finish installing or removing it`);
      }
      if (!installedStates.has(state!)) return; // not-installed, config-files: nothing of it is left
    }
    const version = s.fields.get('version');
    if (!version) return problems.push(`${where}: ${name} has no Version`);
    const p: PackageFacts = { ecosystem: 'deb', name, version };
    const arch = s.fields.get('architecture');
    if (arch) p.arch = arch;
    // "Source: name (version)" when the source's version differs from the binary's.
    const source = s.fields.get('source')?.replace(/\s*\(.*$/, '');
    p.source = source || name;
    const extra: Record<string, string> = {};
    const maintainer = s.fields.get('maintainer');
    if (maintainer) extra.maintainer = maintainer;
    const homepage = s.fields.get('homepage');
    if (homepage) extra.homepage = homepage;
    if (Object.keys(extra).length > 0) p.extra = extra;
    packages.push(p);
  });
  return { packages, problems };
}

export const dpkgCataloger: Cataloger = {
  id: 'dpkg',
  // A status file with every Debian package runs to a few MiB.
  maxBytes: 64 << 20,
  wants(path) {
    if (path === statusPath) return true;
    return (
      path.startsWith(statusDir) &&
      path.length > statusDir.length &&
      !path.endsWith('.md5sums') &&
      path.indexOf('/', statusDir.length) < 0
    );
  },
  read: readDpkg,
};
