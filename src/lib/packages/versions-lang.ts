// Version order for npm (semver), PyPI (PEP 440), Go modules, Maven and Cargo.
import type { Ecosystem } from './types.ts';

export function compareLangVersions(
  _ecosystem: Exclude<Ecosystem, 'apk' | 'deb' | 'rpm'>,
  a: string,
  b: string,
): number | undefined {
  return a === b ? 0 : undefined;
}
