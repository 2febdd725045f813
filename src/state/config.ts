// What the image summary shows of a config: the runtime fields as people read them, with every
// list capped so that a config stuffed with a hundred thousand labels still renders, and says
// how many it leaves out rather than dropping them silently. The strings stay as the image
// wrote them; the view shows them with controlParts, so bidi overrides and newlines are visible.
import type { ImageConfig } from '../lib/oci/types.ts';
import type { HistoryRow } from '../lib/images/summary.ts';

/** At most this many entries of one list (Env, Labels, ports, history) are shown. */
export const maxListed = 200;

/** At most this many characters of one value are shown. */
export const maxShownChars = 2000;

/** The first entries of a list, and how many more there are. */
export interface Listed<T> {
  items: T[];
  more: number;
}

export function listed<T>(items: readonly T[], max = maxListed): Listed<T> {
  return { items: items.slice(0, Math.max(0, max)), more: Math.max(0, items.length - max) };
}

/** A value cut to maxShownChars, saying how much was left out: "…(12345 more characters)". */
export function clipText(s: string, max = maxShownChars): string {
  if (s.length <= max) return s;
  // Never split a surrogate pair: half of one would show as an escape of its own.
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…(${s.length - end} more characters)`;
}

/** "N more not shown", or '' when nothing was left out. */
export function moreText(more: number): string {
  return more > 0 ? `${more} more not shown` : '';
}

export interface ConfigFacts {
  entrypoint: string;
  cmd: string;
  workingDir: string;
  user: string;
  ports: Listed<string>;
  env: Listed<string>;
  /** "key=value" */
  labels: Listed<string>;
}

/** An argv as JSON, as `docker inspect` shows it; '—' when there is none. */
function argv(v: readonly string[] | null | undefined): string {
  return v && v.length ? clipText(JSON.stringify(v)) : '—';
}

/** The runtime fields of a config, ready to show. */
export function configFacts(config: ImageConfig['config'] | undefined): ConfigFacts {
  const c = config ?? {};
  const labels = c.Labels ?? {};
  const keys = Object.keys(labels);
  return {
    entrypoint: argv(c.Entrypoint),
    cmd: argv(c.Cmd),
    workingDir: clipText(c.WorkingDir || '/'),
    user: clipText(c.User || 'root (default)'),
    ports: mapListed(listed(Object.keys(c.ExposedPorts ?? {})), (p) => clipText(p)),
    env: mapListed(listed(c.Env ?? []), (e) => clipText(e)),
    labels: mapListed(listed(keys), (k) => clipText(`${k}=${labels[k]}`)),
  };
}

function mapListed<T, U>(l: Listed<T>, f: (t: T) => U): Listed<U> {
  return { items: l.items.map(f), more: l.more };
}

/** The command a history step ran, or its comment. */
export function historyText(row: HistoryRow): string {
  return clipText(row.entry.created_by ?? row.entry.comment ?? '');
}
