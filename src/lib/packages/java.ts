// Java: the archives (.jar, .war, .ear) and what they say about themselves: one package per
// META-INF/maven/<group>/<artifact>/pom.properties (a shaded jar carries several), or, when
// there is none, the manifest's bundle or implementation name and version. Jars inside a fat
// jar (Spring Boot's BOOT-INF/lib, a war's WEB-INF/lib) are read the same way, one level deep.
// Only the zip's central directory and those few entries are read.
import { ZipError, readEntry, readZip, type ZipEntry } from './zip.ts';
import type { CatalogFile, CatalogResult, Cataloger, PackageFacts } from './types.ts';

/** A manifest or pom.properties is a few KiB; anything near this is not one. */
const SMALL_CAP = 1 << 20;
/** A nested jar is inflated whole to read its own directory. */
const NESTED_CAP = 64 << 20;

const ARCHIVE = /\.(jar|war|ear)$/i;

export function isJavaArchive(path: string): boolean {
  const c = path.charCodeAt(path.length - 4);
  return c === 46 /* . */ && ARCHIVE.test(path);
}

/** The main section of a JAR manifest: `Name: value` lines, continued by lines that start
 * with one space, up to the first blank line. */
export function parseManifest(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let key: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (fields.size) break;
      continue;
    }
    if (line[0] === ' ' && key) {
      fields.set(key, fields.get(key)! + line.slice(1));
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      key = undefined;
      continue;
    }
    key = line.slice(0, colon).trim();
    fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/** A Java .properties file's `key=value` (or `key: value`) pairs, without escapes or
 * continuation lines, which pom.properties does not use. */
export function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    if (!line || line[0] === '#' || line[0] === '!') continue;
    const m = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (m) props.set(m[1]!, m[2]!);
  }
  return props;
}

/** Bundle-SymbolicName may carry directives: `org.foo.bar;singleton:=true`. */
const bare = (v: string | undefined) => v?.split(';')[0]!.trim() || undefined;

/** name-1.2.3.jar → version 1.2.3, the Maven file naming, when the manifest has no version. */
function versionFromFileName(path: string): { name: string; version: string } | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1).replace(ARCHIVE, '');
  const m = /^(.+?)-(\d[\w.+-]*)$/.exec(base);
  return m ? { name: m[1]!, version: m[2]! } : undefined;
}

function readArchive(
  bytes: Uint8Array,
  path: string,
  nestedIn: string | undefined,
  out: CatalogResult,
  depth: number,
): void {
  const where = nestedIn ? `${nestedIn}!/${path}` : path;
  let entries: ZipEntry[];
  try {
    entries = readZip(bytes);
  } catch (e) {
    out.problems.push(`${where}: ${e instanceof ZipError ? e.message : 'not a readable zip'}`);
    return;
  }
  const text = (entry: ZipEntry): string | undefined => {
    try {
      return new TextDecoder().decode(readEntry(bytes, entry, SMALL_CAP));
    } catch (e) {
      out.problems.push(`${where}: ${e instanceof ZipError ? e.message : String(e)}`);
      return undefined;
    }
  };
  const manifestEntry = entries.find((e) => e.name === 'META-INF/MANIFEST.MF');
  const manifestText = manifestEntry && text(manifestEntry);
  const manifest = manifestText ? parseManifest(manifestText) : new Map<string, string>();
  const license = manifest.get('Bundle-License');
  const extraBase: Record<string, string> = {};
  if (nestedIn) extraBase.jarPath = path;

  const poms = entries.filter((e) =>
    /^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(e.name),
  );
  let found = 0;
  for (const pom of poms) {
    const t = text(pom);
    if (t === undefined) continue;
    const props = parseProperties(t);
    const group = props.get('groupId');
    const artifact = props.get('artifactId');
    const version = props.get('version');
    if (!group || !artifact || !version) {
      out.problems.push(`${where}: ${pom.name} has no groupId, artifactId or version`);
      continue;
    }
    const pkg: PackageFacts = { ecosystem: 'maven', name: `${group}:${artifact}`, version };
    // A licence in the manifest is the archive's own, so it belongs to its one pom, not to
    // the others a shaded jar has swallowed.
    if (license && poms.length === 1) pkg.license = license;
    if (Object.keys(extraBase).length) pkg.extra = { ...extraBase };
    out.packages.push(pkg);
    found++;
  }
  if (found === 0 && poms.length === 0) {
    const name =
      bare(manifest.get('Bundle-SymbolicName')) ??
      manifest.get('Implementation-Title') ??
      manifest.get('Specification-Title');
    let version =
      manifest.get('Bundle-Version') ??
      manifest.get('Implementation-Version') ??
      manifest.get('Specification-Version');
    const fromName = versionFromFileName(path);
    version ??= fromName?.version;
    const pkgName = name ?? fromName?.name;
    if (pkgName && version) {
      const pkg: PackageFacts = { ecosystem: 'maven', name: pkgName, version };
      if (license) pkg.license = license;
      pkg.extra = { ...extraBase, from: 'manifest' };
      const vendor = manifest.get('Implementation-Vendor') ?? manifest.get('Bundle-Vendor');
      if (vendor) pkg.extra.vendor = vendor;
      out.packages.push(pkg);
    } else if (depth === 0) {
      out.problems.push(
        `${where}: no pom.properties, and the manifest names no package and version`,
      );
    }
  }

  if (depth > 0) return;
  for (const entry of entries) {
    if (!isJavaArchive(entry.name) || entry.name.endsWith('/')) continue;
    let inner: Uint8Array;
    try {
      inner = readEntry(bytes, entry, NESTED_CAP);
    } catch (e) {
      out.problems.push(`${where}: ${e instanceof ZipError ? e.message : String(e)}`);
      continue;
    }
    readArchive(inner, entry.name, path, out, depth + 1);
  }
}

export function readJava(file: CatalogFile): CatalogResult {
  const out: CatalogResult = { packages: [], problems: [] };
  readArchive(file.bytes, file.path, undefined, out, 0);
  return out;
}

export const javaCataloger: Cataloger = {
  id: 'java',
  wants: (path) => isJavaArchive(path),
  // Fat jars of a few hundred MiB exist; the whole archive is needed for its directory.
  maxBytes: 256 << 20,
  read: readJava,
};
