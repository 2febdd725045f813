// Human-readable figures for the UI. The exact value goes in a title attribute beside these.

export { formatPlatform } from '../lib/oci/platform.ts';
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatSpeed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '';
}

export function shortHex(digest: string, n = 12): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 1 + n);
}
