// Human-readable figures for the UI. The exact value goes in a title attribute beside these.

import type { HistoryRow } from '../lib/images/summary.ts';
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

/** The exact count beside a rounded size ("1234 bytes"), for a title. A count past 2^53 is not
 * exact in a JavaScript number, and says so; one that is no count at all is out of range. */
export function bytesTitle(n: number): string {
  if (!Number.isFinite(n) || n < 0) return `out of range (${n} bytes)`;
  if (n > Number.MAX_SAFE_INTEGER) return `about ${n} bytes (past 2^53, not exact)`;
  return `${n} bytes`;
}

/** A user or group id from a tar header: the number, or "out of range (…)" for one that is
 * not a non-negative integer JavaScript holds exactly. */
export function formatId(n: number): string {
  return Number.isSafeInteger(n) && n >= 0 ? String(n) : `out of range (${n})`;
}

/** How long ago a moment was, coarsely: "just now", "5 min ago", "3 h ago", "2 days ago",
 * "4 months ago", "2 years ago". A moment in the future (a clock ahead) reads "just now". */
export function formatAge(then: number, now = Date.now()): string {
  if (!validTime(then)) return 'out of range';
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

/** The furthest a Date reaches from the epoch either way: 100,000,000 days, in milliseconds. */
export const maxTimeMs = 8.64e15;

const validTime = (ms: number) => Number.isFinite(ms) && Math.abs(ms) <= maxTimeMs;

/** How a moment is shown: `text` relative to now, `title` the exact time, and `datetime` the
 * machine form for a <time> element, absent when the moment is not one a Date can hold. */
export interface TimeView {
  text: string;
  title: string;
  datetime?: string;
}

/**
 * A moment from an image or from Berth, in milliseconds or seconds since the epoch or as RFC 3339
 * text (as configs carry it). Total: a tar mtime of 1e13 s, NaN or Infinity reads "out of range
 * (1e13 s)", and text that is no timestamp is shown as it is, its invisible characters escaped.
 */
export function timeView(at: number | string, unit: 'ms' | 's' = 'ms', now = Date.now()): TimeView {
  if (typeof at === 'string') {
    const ms = parseTime(at);
    if (!validTime(ms)) {
      const shown = showControls(at.length > 100 ? `${at.slice(0, 100)}…` : at);
      return { text: shown, title: 'not a timestamp Berth can read' };
    }
    return {
      text: formatAge(ms, now),
      title: formatTime(ms),
      datetime: new Date(ms).toISOString(),
    };
  }
  const ms = unit === 's' ? at * 1000 : at;
  if (!validTime(ms)) {
    const text = `out of range (${at} ${unit})`;
    const why = Number.isNaN(at) ? 'not a number' : 'no calendar date is that far from 1970';
    return { text, title: `${text}: ${why}` };
  }
  return { text: formatAge(ms, now), title: formatTime(ms), datetime: new Date(ms).toISOString() };
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

/** The history step that made each layer, by layer index: its command, or its comment. */
export function layerSteps(history: readonly HistoryRow[]): Map<number, string> {
  const steps = new Map<number, string>();
  for (const h of history) {
    if (h.layerIndex !== undefined)
      steps.set(h.layerIndex, h.entry.created_by ?? h.entry.comment ?? '');
  }
  return steps;
}

/** A history step's command, short: Docker's "/bin/sh -c #(nop) …" and BuildKit's "RUN
 * /bin/sh -c …" lose their shell, as the command is what tells steps apart; then cut to `max`. */
export function shortStep(s: string, max = 48): string {
  const t = s
    .replace(/^(RUN )?\/bin\/sh -c (#\(nop\) )?/, (_, run: string | undefined) => run ?? '')
    .trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}
