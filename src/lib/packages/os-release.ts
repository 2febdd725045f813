// The distribution an image says it is: etc/os-release, or usr/lib/os-release when etc has
// none (os-release(5)). Shell-style KEY=value lines; values may be quoted, and inside double
// quotes a backslash escapes `"`, `\`, `$` and a backtick.
import { textOf } from './stanzas.ts';
import type { OsRelease } from './types.ts';

/** Where os-release lives, in the order os-release(5) says to look. */
export const osReleasePaths = ['etc/os-release', 'usr/lib/os-release'] as const;

/** The fields Berth uses. ID defaults to "linux", as os-release(5) says; nothing here throws. */
export function parseOsRelease(bytes: Uint8Array): OsRelease {
  const fields = new Map<string, string>();
  const text = textOf(bytes.subarray(0, 64 << 10)) ?? '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) continue;
    fields.set(key, unquote(line.slice(eq + 1)));
  }
  const os: OsRelease = { id: fields.get('ID') || 'linux' };
  const versionId = fields.get('VERSION_ID');
  if (versionId) os.versionId = versionId;
  const prettyName = fields.get('PRETTY_NAME');
  if (prettyName) os.prettyName = prettyName;
  const like = fields.get('ID_LIKE')?.split(/\s+/).filter(Boolean);
  if (like && like.length > 0) os.like = like;
  return os;
}

function unquote(v: string): string {
  const q = v[0];
  if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) {
    const inner = v.slice(1, -1);
    return q === '"' ? inner.replace(/\\(["\\$`])/g, '$1') : inner;
  }
  return v;
}
