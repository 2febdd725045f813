// Ordering two versions of one package, by its ecosystem's own rules, so that a change between
// layers or images reads as an upgrade or a downgrade.
import { compareLangVersions } from './versions-lang.ts';
import { compareOsVersions } from './versions-os.ts';
import type { Ecosystem } from './types.ts';

/** Negative when a < b, zero when equal, positive when a > b, by the ecosystem's rules;
 * undefined when either version cannot be read by them (the change is then only "changed"). */
export function compareVersions(ecosystem: Ecosystem, a: string, b: string): number | undefined {
  switch (ecosystem) {
    case 'apk':
    case 'deb':
    case 'rpm':
      return compareOsVersions(ecosystem, a, b);
    default:
      return compareLangVersions(ecosystem, a, b);
  }
}
