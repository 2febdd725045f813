// Human-readable figures for the UI. The exact value goes in a title attribute beside these.

export { formatPlatform } from '../lib/oci/platform.ts';
export { formatBytes } from '../lib/units.ts';
import { formatBytes } from '../lib/units.ts';

export function formatSpeed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '';
}

export function shortHex(digest: string, n = 12): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 1 + n);
}

/** How long ago a moment was, coarsely: "just now", "5 min ago", "3 h ago", "2 days ago". */
export function formatAge(then: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  return d === 1 ? 'yesterday' : `${d} days ago`;
}

/** An exact moment, for a title beside a relative one. */
export function formatTime(t: number): string {
  return new Date(t).toLocaleString();
}
