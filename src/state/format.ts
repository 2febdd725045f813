// Human-readable figures for the UI. The exact value goes in a title attribute beside these.

export { formatPlatform } from '../lib/oci/platform.ts';
export { formatBytes } from '../lib/units.ts';
export { showControls } from '../lib/layers/view.ts';
import { showControls } from '../lib/layers/view.ts';
import { formatBytes } from '../lib/units.ts';
import { allPlatforms } from '../lib/oci/platform.ts';
import { formatReference, parseReference } from '../lib/reference/reference.ts';

/** A platform choice for people: "all platforms", or the platform as written. */
export function platformLabel(choice: string): string {
  return choice === allPlatforms ? 'all platforms' : showControls(choice);
}

export function formatSpeed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '';
}

export function shortHex(digest: string, n = 12): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 1 + n);
}

/** How long ago a moment was, coarsely: "just now", "5 min ago", "3 h ago", "2 days ago",
 * "4 months ago", "2 years ago". A moment in the future (a clock ahead) reads "just now". */
export function formatAge(then: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d === 1) return 'yesterday';
  if (d < 45) return `${d} days ago`;
  const months = Math.round(d / 30.44);
  if (months < 12) return `${months} months ago`;
  const years = Math.round(d / 365.25);
  return years <= 1 ? 'a year ago' : `${years} years ago`;
}

/** An exact moment, for a title beside a relative one: the local time and the UTC instant. */
export function formatTime(t: number): string {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '' : `${d.toLocaleString()} (${d.toISOString()})`;
}

/** A timestamp as image configs carry it (RFC 3339 text), in milliseconds; NaN when it cannot
 * be read. */
export function parseTime(value: string): number {
  return Date.parse(value);
}

/** A reference pinned to a digest: `docker.io/library/alpine@sha256:…`, without the tag. */
export function pinnedReference(name: string, digest: string): string {
  try {
    const { tag: _tag, digest: _digest, ...ref } = parseReference(name);
    return `${formatReference(ref)}@${digest}`;
  } catch {
    return `${name}@${digest}`;
  }
}
