// Version order for apk, dpkg and rpm.
import type { Ecosystem } from './types.ts';

export function compareOsVersions(
  _ecosystem: Extract<Ecosystem, 'apk' | 'deb' | 'rpm'>,
  a: string,
  b: string,
): number | undefined {
  return a === b ? 0 : undefined;
}
