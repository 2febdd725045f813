// Alpine's installed packages: lib/apk/db/installed. One stanza per package, separated by a
// blank line; each line is one letter, a colon and the value (apk-tools' "installed database"
// format, shared with APKINDEX): P name, V version, A architecture, o origin (the source
// package), L licence, U homepage, T description, m maintainer. The letters are case-sensitive
// (`p` is "provides", `P` the name); file lines (F, R, Z, a, M) are skipped.
import { textOf } from './stanzas.ts';
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

const installedPath = 'lib/apk/db/installed';

export function readApk(file: CatalogFile): CatalogResult {
  const packages: PackageFacts[] = [];
  const problems: string[] = [];
  const text = textOf(file.bytes);
  if (text === undefined) return { packages, problems: [`${file.path}: not a text file`] };
  let fields = new Map<string, string>();
  let stanza = 0;
  let bad = 0;
  let open = false;
  const finish = () => {
    if (!open) return;
    open = false;
    stanza++;
    const name = fields.get('P');
    const version = fields.get('V');
    if (!name) problems.push(`${file.path}: stanza ${stanza} has no package name (P)`);
    else if (!version) problems.push(`${file.path}: ${name} has no version (V)`);
    else {
      const p: PackageFacts = { ecosystem: 'apk', name, version };
      const arch = fields.get('A');
      if (arch) p.arch = arch;
      p.source = fields.get('o') || name;
      const license = fields.get('L');
      if (license) p.license = license;
      const extra: Record<string, string> = {};
      const maintainer = fields.get('m');
      if (maintainer) extra.maintainer = maintainer;
      const homepage = fields.get('U');
      if (homepage) extra.homepage = homepage;
      const description = fields.get('T');
      if (description) extra.description = description;
      if (Object.keys(extra).length > 0) p.extra = extra;
      packages.push(p);
    }
    fields = new Map();
  };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      finish();
      continue;
    }
    open = true;
    if (line.length < 2 || line[1] !== ':') {
      bad++;
      continue;
    }
    const key = line[0]!;
    // Only the package's own fields, and each once: a stanza lists many files (F, R, Z…).
    if ('PVAoLUTm'.includes(key) && !fields.has(key)) fields.set(key, line.slice(2));
  }
  finish();
  if (bad > 0) problems.push(`${file.path}: ${bad} line${bad === 1 ? '' : 's'} not "X:value"`);
  return { packages, problems };
}

export const apkCataloger: Cataloger = {
  id: 'apk',
  maxBytes: 64 << 20,
  wants: (path) => path === installedPath,
  read: readApk,
};
