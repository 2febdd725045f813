// npm: the package.json of each package installed under node_modules, as `npm ls --all` counts
// them: node_modules/<name>/package.json and node_modules/@scope/<name>/package.json, nested
// node_modules only directly inside another installed package (so a package's own test
// fixtures, node_modules/x/test/node_modules/y, are not counted).
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

const NM = 'node_modules/';
const PJ = '/package.json';
const PNPM = '.pnpm/';

/** Where the package directory named at `from` (just after a node_modules/) ends: the index of
 * the slash after `name` or `@scope/name`, or -1 when the path there is not a package name. */
function nameEnd(path: string, from: number): number {
  if (from >= path.length || path.charCodeAt(from) === 46 /* . */) return -1;
  let slash = path.indexOf('/', from);
  if (slash <= from) return -1;
  if (path.charCodeAt(from) === 64 /* @ */) {
    const second = path.indexOf('/', slash + 1);
    if (second <= slash + 1 || path.charCodeAt(slash + 1) === 46) return -1;
    slash = second;
  }
  return slash;
}

/** True for node_modules/.../package.json paths that are an installed package's own manifest. */
export function isNpmManifest(path: string): boolean {
  if (!path.endsWith(PJ)) return false;
  let at = path.startsWith(NM) ? 0 : path.indexOf('/' + NM);
  if (at < 0) return false;
  if (at > 0) at += 1;
  // Walk node_modules/<pkg>/node_modules/<pkg>/…/package.json.
  for (;;) {
    const from = at + NM.length;
    // pnpm keeps the real files in node_modules/.pnpm/<name>@<version>/node_modules/<name>.
    if (path.startsWith(PNPM, from)) {
      const slash = path.indexOf('/', from + PNPM.length);
      if (slash < 0 || !path.startsWith(NM, slash + 1)) return false;
      at = slash + 1;
      continue;
    }
    const end = nameEnd(path, from);
    if (end < 0) return false;
    if (end === path.length - PJ.length) return true;
    if (!path.startsWith(NM, end + 1)) return false;
    at = end + 1;
  }
}

function licenseOf(json: Record<string, unknown>): string | undefined {
  const one = (l: unknown): string | undefined => {
    if (typeof l === 'string') return l.trim() || undefined;
    if (l && typeof l === 'object' && typeof (l as { type?: unknown }).type === 'string')
      return (l as { type: string }).type.trim() || undefined;
    return undefined;
  };
  const direct = one(json.license);
  if (direct) return direct;
  // The old forms: "licenses": [{ "type": "MIT", "url": … }, …] or a single object.
  const list = json.licenses;
  const names = (Array.isArray(list) ? list : [list]).map(one).filter((l): l is string => !!l);
  if (names.length === 0) return undefined;
  return names.length === 1
    ? names[0]
    : names.map((n) => (/\s/.test(n) ? `(${n})` : n)).join(' OR ');
}

export function readNpm(file: CatalogFile): CatalogResult {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(file.bytes));
  } catch (e) {
    return {
      packages: [],
      problems: [`${file.path}: not JSON (${e instanceof Error ? e.message : String(e)})`],
    };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    return { packages: [], problems: [`${file.path}: not a JSON object`] };
  const pj = json as Record<string, unknown>;
  const { name, version } = pj;
  if (typeof name !== 'string' || !name || typeof version !== 'string' || !version)
    return { packages: [], problems: [`${file.path}: no name or version`] };
  const pkg: PackageFacts = { ecosystem: 'npm', name, version };
  const license = licenseOf(pj);
  if (license) pkg.license = license;
  if (typeof pj.homepage === 'string' && pj.homepage) pkg.extra = { homepage: pj.homepage };
  return { packages: [pkg], problems: [] };
}

export const npmCataloger: Cataloger = {
  id: 'npm',
  wants: (path) => isNpmManifest(path),
  // Old packages put their whole README into package.json; a few hundred KiB at most.
  maxBytes: 4 << 20,
  read: readNpm,
};
