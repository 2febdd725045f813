// Typed registry errors. A registry answers failures with {errors:[{code,message,detail}]}; the
// proxy uses the same shape for its own refusals, so one decoder serves both.
import { messageOf } from '../errors.ts';
import { parseJsonBounded } from '../json.ts';
import { defaultRegistry } from '../reference/reference.ts';

export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** Error bodies are read up to this many bytes: enough for any real registry, bounded for a
 * hostile one. */
export const maxErrorBodyBytes = 1 << 20;

export type ErrorKind =
  | 'unauthorized' // credentials are missing or wrong
  | 'denied' // authenticated, but not allowed
  | 'not-found' // repository, tag, manifest or blob unknown
  | 'rate-limited'
  | 'proxy-denied' // the proxy refused to reach this host
  | 'unreachable' // DNS, connection refused, TLS, proxy down
  | 'server' // 5xx
  | 'protocol'; // the registry answered something we cannot use

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly kind: ErrorKind,
    readonly status: number,
    readonly errors: RegistryErrorEntry[] = [],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** Whether trying again could succeed without the user changing anything. */
  get temporary(): boolean {
    return this.kind === 'server' || this.kind === 'unreachable' || this.kind === 'rate-limited';
  }
}

/** Reads at most `limit` bytes of a body; the rest is cancelled. */
export async function readBounded(res: Response, limit: number): Promise<Uint8Array | undefined> {
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function parseEntries(bytes: Uint8Array | undefined): RegistryErrorEntry[] {
  if (!bytes || bytes.byteLength === 0) return [];
  try {
    // Decoded leniently: a stray byte in a message should not lose the error codes.
    const doc: unknown = parseJsonBounded(new TextDecoder().decode(bytes), {
      what: 'the error body',
      maxBytes: maxErrorBodyBytes,
    });
    if (typeof doc !== 'object' || doc === null) return [];
    const errors = (doc as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : '',
        detail: e.detail,
      }));
  } catch {
    return [];
  }
}

/** Parses Retry-After as seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function kindOf(status: number, codes: string[]): ErrorKind {
  if (codes.includes('BERTH_PROXY_DENIED')) return 'proxy-denied';
  if (codes.includes('BERTH_UPSTREAM_UNREACHABLE') || codes.includes('BERTH_UPSTREAM_TIMEOUT'))
    return 'unreachable';
  if (codes.includes('TOOMANYREQUESTS') || status === 429) return 'rate-limited';
  if (codes.includes('DENIED') || status === 403) return 'denied';
  if (codes.includes('UNAUTHORIZED') || status === 401) return 'unauthorized';
  if (
    status === 404 ||
    codes.some((c) => ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NOT_FOUND'].includes(c))
  )
    return 'not-found';
  if (status >= 500) return 'server';
  return 'protocol';
}

const advice: Record<ErrorKind, string> = {
  unauthorized: 'This registry needs credentials: sign in and pull again.',
  denied: 'Your credentials are not allowed to pull this repository.',
  'not-found': 'Check the repository name and the tag or digest.',
  'rate-limited': 'The registry is limiting requests: wait, or sign in for a higher limit.',
  'proxy-denied':
    'The proxy refused this registry. A private or plain-http registry must be listed in BERTH_INSECURE_REGISTRIES on the server.',
  unreachable: 'Check the registry host name and that the registry is up.',
  server: 'The registry had an internal error; try again later.',
  protocol: 'The registry answered in a way Berth does not understand.',
};

/** "45 s", "6 min", "2 h": a wait as a person reads it, rounded up. */
export function waitText(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.ceil(seconds))} s`;
  if (seconds < 5400) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

/** Docker Hub's `ratelimit-limit: 100;w=21600` as "100 pulls per 6 h"; undefined for
 * anything else. */
export function rateLimitText(value: string | null): string | undefined {
  const m = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?\s*$/.exec(value ?? '');
  if (!m) return undefined;
  const pulls = `${m[1]} pull${m[1] === '1' ? '' : 's'}`;
  return m[2] ? `${pulls} per ${waitText(Number(m[2]))}` : pulls;
}

/** What people call a registry (a reference's registry, as parseReference names it). */
export function registryLabel(registry: string): string {
  return registry === defaultRegistry ? 'Docker Hub' : registry;
}

/** Words for a status whose response had no error body (a HEAD, a bare proxy or CDN). */
function statusText(status: number): string {
  const words: Record<number, string> = {
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not found',
    429: 'too many requests',
    500: 'internal server error',
    502: 'bad gateway',
    503: 'service unavailable',
    504: 'gateway timeout',
  };
  return words[status] ? `${words[status]} (HTTP ${status})` : `HTTP ${status}`;
}

/** Turns a failed response into a RegistryError whose message says what happened and what to
 * do. `registry` (the reference's registry) names who answered, for a rate limit. */
export async function errorFromResponse(
  res: Response,
  what: string,
  registry?: string,
): Promise<RegistryError> {
  const entries = parseEntries(await readBounded(res, maxErrorBodyBytes).catch(() => undefined));
  const kind = kindOf(
    res.status,
    entries.map((e) => e.code),
  );
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  // The proxy's own errors already say what to do; a registry's get its code and our advice.
  const fromProxy = entries.length > 0 && entries.every((e) => e.code.startsWith('BERTH_'));
  const said = entries
    .map((e) =>
      fromProxy || !e.message ? e.message || e.code : `${e.message.replace(/\.$/, '')} (${e.code})`,
    )
    .filter(Boolean)
    .join('; ')
    .replace(/\.$/, '');
  const detail = `${what}: ${said || statusText(res.status)}.`;
  if (kind === 'rate-limited' && !fromProxy) {
    // What to do comes first: "Docker Hub rate limit reached (100 pulls per 6 h): retry in
    // 6 min, or sign in." The limit is Docker Hub's `ratelimit-limit`, when it came through.
    const when = retryAfter !== undefined ? `retry in ${waitText(retryAfter)}` : 'wait a while';
    const quota = rateLimitText(res.headers.get('RateLimit-Limit'));
    const who =
      (registry ? `${registryLabel(registry)} rate limit reached` : 'Rate limit reached') +
      (quota ? ` (${quota})` : '');
    const message = `${who}: ${when}, or sign in for a higher limit. ${detail}`;
    return new RegistryError(message, kind, res.status, entries, retryAfter);
  }
  // A 503 is a registry that is down or overloaded, not one that failed inside.
  const says =
    kind === 'server' && res.status === 503 && !fromProxy
      ? 'The registry is unavailable (down or overloaded); try again later.'
      : advice[kind];
  const next = kind === 'proxy-denied' && fromProxy ? '' : ` ${says}`;
  const wait =
    kind === 'rate-limited' && retryAfter !== undefined ? ` Retry in ${waitText(retryAfter)}.` : '';
  return new RegistryError(`${detail}${next}${wait}`, kind, res.status, entries, retryAfter);
}

/** A fetch that threw (no response at all): the proxy, the network or (direct) the registry
 * is down. A transport's ConnectionError says what to check. */
export function networkError(err: unknown, what: string): RegistryError {
  const reason = messageOf(err);
  const advice =
    typeof (err as { advice?: unknown })?.advice === 'string'
      ? (err as { advice: string }).advice
      : 'Check that the Berth server (proxy) is running and the network is up.';
  return new RegistryError(`${what}: the request failed (${reason}). ${advice}`, 'unreachable', 0);
}
