// Package URLs (purl-spec, ECMA-427) for the packages Berth finds.
//
// Written to the spec rather than with packageurl-js 2.0.1: that library (the spec's own
// JavaScript implementation) lags the spec's current test suite. It leaves `+` unencoded in
// versions (`2-2+b1` must be `2-2%2Bb1`), encodes `:` in qualifier values, and lower-cases npm
// names, which the npm type now says are case-sensitive. The rules are short: keep letters,
// digits, `.-_~` and `:`, percent-encode the rest of each component as UTF-8, sort the
// qualifiers, and apply each type's case and name rules.
import type { OsRelease, PackageFacts } from './types.ts';

/** The parts of a purl, as the spec names them. */
export interface PurlParts {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers?: Record<string, string>;
  subpath?: string;
}

const utf8 = new TextEncoder();

/** The spec's percent-encoding: everything but alphanumerics, `.-_~` and `:`. */
function encode(s: string): string {
  let out = '';
  for (const ch of s) {
    if (/^[A-Za-z0-9.\-_~:]$/.test(ch)) out += ch;
    else
      for (const b of utf8.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Slash-separated segments, each encoded; empty segments (leading, trailing, doubled slashes)
 * are not significant. */
function segments(s: string, drop: (seg: string) => boolean = () => false): string {
  return s
    .split('/')
    .filter((seg) => seg !== '' && !drop(seg))
    .map(encode)
    .join('/');
}

/** Types whose namespace and name are case-insensitive (canonically lower case). */
const lowerNamespace = new Set([
  'apk',
  'deb',
  'rpm',
  'alpm',
  'bitbucket',
  'github',
  'composer',
  'hex',
]);
const lowerName = new Set(['apk', 'deb', 'pypi', 'alpm', 'bitbucket', 'github', 'composer', 'hex']);

/** A purl's canonical text (never throws: a purl is shown, not relied on). */
export function formatPurl(p: PurlParts): string {
  const type = p.type.toLowerCase();
  let namespace = p.namespace ?? '';
  let name = p.name;
  if (lowerNamespace.has(type)) namespace = namespace.toLowerCase();
  if (lowerName.has(type)) name = name.toLowerCase();
  if (type === 'pypi') name = name.replaceAll('_', '-');
  let out = `pkg:${type}/`;
  const ns = segments(namespace);
  if (ns) out += `${ns}/`;
  out += encode(name.replace(/^\/+|\/+$/g, ''));
  if (p.version) out += `@${encode(p.version)}`;
  const qualifiers = Object.entries(p.qualifiers ?? {})
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .filter(([, v]) => v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (qualifiers.length > 0) out += `?${qualifiers.map(([k, v]) => `${k}=${encode(v)}`).join('&')}`;
  const sub = p.subpath ? segments(p.subpath, (seg) => seg === '.' || seg === '..') : '';
  if (sub) out += `#${sub}`;
  return out;
}

/** The distribution as purl namespaces spell it: the vendor, not the edition. */
function vendorOf(id: string): string {
  if (id.startsWith('opensuse')) return 'opensuse';
  if (id === 'sles' || id === 'sled' || id.startsWith('sle-')) return 'suse';
  return id;
}

/** `distro=<id>-<version>`, when the image says both. */
function distroOf(os: OsRelease | undefined): Record<string, string> {
  return os?.versionId ? { distro: `${os.id}-${os.versionId}` } : {};
}

/** The purl of a package; OS packages get the distribution's namespace and `distro`
 * qualifier from the image's os-release. */
export function purlOf(p: PackageFacts, os?: OsRelease): string {
  return formatPurl(purlParts(p, os));
}

export function purlParts(p: PackageFacts, os?: OsRelease): PurlParts {
  const known = os && os.id !== 'linux' ? os : undefined;
  const arch: Record<string, string> = p.arch ? { arch: p.arch } : {};
  switch (p.ecosystem) {
    case 'deb':
      return {
        type: 'deb',
        namespace: known?.id ?? 'debian',
        name: p.name,
        version: p.version,
        qualifiers: { ...arch, ...distroOf(known) },
      };
    case 'apk':
      return {
        type: 'apk',
        namespace: known?.id ?? 'alpine',
        name: p.name,
        version: p.version,
        qualifiers: { ...arch, ...distroOf(known) },
      };
    case 'rpm': {
      // The epoch is a qualifier; the version is version-release alone.
      const m = /^(\d+):(.*)$/.exec(p.version);
      const parts: PurlParts = {
        type: 'rpm',
        name: p.name,
        version: m ? m[2]! : p.version,
        qualifiers: { ...arch, ...(m ? { epoch: m[1]! } : undefined), ...distroOf(known) },
      };
      if (known) parts.namespace = vendorOf(known.id);
      return parts;
    }
    case 'npm': {
      // "@scope/name": the scope is the namespace.
      const slash = p.name.startsWith('@') ? p.name.indexOf('/') : -1;
      return slash > 0
        ? {
            type: 'npm',
            namespace: p.name.slice(0, slash),
            name: p.name.slice(slash + 1),
            version: p.version,
          }
        : { type: 'npm', name: p.name, version: p.version };
    }
    case 'golang': {
      // The module path: everything before its last element is the namespace.
      const slash = p.name.lastIndexOf('/');
      return slash > 0
        ? {
            type: 'golang',
            namespace: p.name.slice(0, slash),
            name: p.name.slice(slash + 1),
            version: p.version,
          }
        : { type: 'golang', name: p.name, version: p.version };
    }
    case 'maven': {
      // "group:artifact".
      const colon = p.name.indexOf(':');
      return colon > 0
        ? {
            type: 'maven',
            namespace: p.name.slice(0, colon),
            name: p.name.slice(colon + 1),
            version: p.version,
          }
        : { type: 'maven', name: p.name, version: p.version };
    }
    case 'pypi':
      // formatPurl lower-cases it and turns `_` into `-`, as the pypi type says; dots stay.
      return { type: 'pypi', name: p.name, version: p.version };
    case 'cargo':
      return { type: 'cargo', name: p.name, version: p.version };
  }
}
