// What every registry emulator of the offline internet writes the same way, whichever
// registry it plays: header names in the case the registry's captures show, the distribution
// error body, and the host a request was sent to. Each registry's quirks stay in its own file.
import type { IncomingMessage } from 'node:http';

/** How header names are spelled on the wire: HTTP/2 and newer captures are lower case, older
 * HTTP/1.1 captures are Go's canonical form (`Www-Authenticate`). Clients must not care; the
 * emulators can send either. */
export type HeaderCase = 'lower' | 'canonical';

export type HeaderList = [string, string][];

/** `www-authenticate` → `Www-Authenticate`, as Go's net/http writes names. */
export function canonicalName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('-');
}

/** A registry error body: `{"errors":[{"code","message"[,"detail"]}]}`. `detail` is left out
 * when undefined (GHCR sends none), kept when null (distribution's `"detail":null`). */
export function errorBody(code: string, message: string, detail?: unknown): string {
  const entry: Record<string, unknown> = { code, message };
  if (detail !== undefined) entry.detail = detail;
  return JSON.stringify({ errors: [entry] });
}

/** The host a request was sent to, lower case and without a port. */
export function hostOf(req: IncomingMessage): string {
  return (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
}
