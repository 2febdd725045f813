// Package URLs (purl-spec) for the packages Berth finds.
import type { OsRelease, PackageFacts } from './types.ts';

/** The purl of a package; OS packages get the distribution's namespace and `distro`
 * qualifier from the image's os-release. */
export function purlOf(p: PackageFacts, _os?: OsRelease): string {
  return `pkg:${p.ecosystem}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}`;
}
