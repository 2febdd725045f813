// Python: the metadata of each distribution installed in a site-packages or dist-packages
// directory, as importlib.metadata finds them: <dir>/<name>.dist-info/METADATA (wheels, pip),
// <dir>/<name>.egg-info/PKG-INFO (setuptools) and <dir>/<name>.egg-info as a single file
// (distutils, and Debian's python3-* packages).
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

const DIRS = ['site-packages/', 'dist-packages/'];

/** The index just past `site-packages/` (or dist-packages/) when the file's distribution
 * directory (or .egg-info file) sits directly in it, else -1. */
function distStart(path: string, tailLength: number): number {
  const dirEnd = path.length - tailLength;
  const slash = path.lastIndexOf('/', dirEnd - 1);
  for (const d of DIRS) {
    const from = slash + 1 - d.length;
    if (from >= 0 && path.startsWith(d, from) && (from === 0 || path.charCodeAt(from - 1) === 47))
      return slash + 1;
  }
  return -1;
}

export function isPythonMetadata(path: string): boolean {
  if (path.endsWith('.dist-info/METADATA')) return distStart(path, '/METADATA'.length) > 0;
  if (path.endsWith('.egg-info/PKG-INFO')) return distStart(path, '/PKG-INFO'.length) > 0;
  if (path.endsWith('.egg-info')) return distStart(path, 0) > 0;
  return false;
}

/** The header fields of an RFC 822 style metadata file (core metadata), up to the first blank
 * line; a field may repeat (Classifier). Continuation lines start with whitespace. */
export function parseHeaders(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  let last: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last[last.length - 1] += '\n' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    let list = fields.get(key);
    if (!list) fields.set(key, (list = []));
    list.push(value);
    last = list;
  }
  return fields;
}

function licenseOf(fields: Map<string, string[]>): string | undefined {
  const expression = fields.get('license-expression')?.[0];
  if (expression) return expression;
  // License is free text: often a name ("MIT", "BSD-3-Clause"), sometimes the whole licence.
  // Only a short one-liner is worth showing as the licence.
  const license = fields.get('license')?.[0];
  if (
    license &&
    !license.includes('\n') &&
    license.length <= 100 &&
    license.toUpperCase() !== 'UNKNOWN'
  )
    return license;
  const classified = (fields.get('classifier') ?? [])
    .filter((c) => c.startsWith('License ::'))
    .map((c) => c.split('::').pop()!.trim())
    .filter((c) => c && c !== 'OSI Approved');
  return classified.length ? [...new Set(classified)].join(' AND ') : undefined;
}

export function readPython(file: CatalogFile): CatalogResult {
  const { bytes, path } = file;
  // Core metadata is text; a NUL in the headers says this is not it.
  const head = bytes.subarray(0, Math.min(bytes.length, 8192));
  if (head.includes(0)) return { packages: [], problems: [`${path}: not a text metadata file`] };
  const fields = parseHeaders(new TextDecoder().decode(bytes));
  const name = fields.get('name')?.[0];
  const version = fields.get('version')?.[0];
  if (!name || !version) return { packages: [], problems: [`${path}: no Name or Version header`] };
  const pkg: PackageFacts = { ecosystem: 'pypi', name, version };
  const license = licenseOf(fields);
  if (license) pkg.license = license;
  const homepage =
    fields.get('home-page')?.[0] ??
    fields
      .get('project-url')
      ?.find((u) => /^home-?page\s*,/i.test(u))
      ?.replace(/^[^,]*,\s*/, '');
  if (homepage && homepage !== 'UNKNOWN') pkg.extra = { homepage };
  return { packages: [pkg], problems: [] };
}

export const pythonCataloger: Cataloger = {
  id: 'python',
  wants: (path) => isPythonMetadata(path),
  // METADATA carries the long description; a few MiB at the most.
  maxBytes: 8 << 20,
  read: readPython,
};
