// The Berth CORS proxy as a WHATWG fetch handler.
//
// Only Request/Response/URL/Headers/fetch are used here so the same handler
// can run under Node (see node.ts), inside Vite, or on an edge runtime. The
// address policy for DNS names is enforced by the injected fetch at connect
// time; this file can only judge IP literals and hostnames it can see.
//
// It is deliberately not an open proxy: it forwards the registry API (/v2/...)
// and token requests whose URL the registry itself announced as its Bearer
// realm, and nothing else.

import { bearerRealms } from './challenge.ts';
import {
  DENIED_CODE,
  formatHostPort,
  isForbiddenAddress,
  isIPLiteral,
  isInsecureHost,
  isUnderV2,
  parseHostPort,
  parseInsecureList,
  parseProxyPath,
  parseRegistryRoute,
} from './policy.ts';
import type { HostPort, ProxyTarget } from './policy.ts';
import type { RateLimiter } from './ratelimit.ts';

export interface ProxyOptions {
  /** `host[:port]` entries reached over plain http, private addresses allowed. */
  insecureRegistries: string[];
  /** Cross-origin callers allowed to read responses (exact origins). */
  allowedOrigins?: string[];
  /** Upstream fetch; in Node this is already address-guarded (createGuardedFetch). */
  fetch: typeof fetch;
  /**
   * Decides, before connecting, whether a hop's host may be contacted. The
   * default refuses forbidden IP literals and localhost names unless listed;
   * DNS names are left to the injected fetch.
   */
  isAllowedAddressHost?: (hostname: string, insecureListed: boolean) => boolean;
  /** Connect + response-headers timeout per upstream hop. Default 30 s. */
  timeoutMs?: number;
  /**
   * Longest wait for the next body byte from upstream; past it the upstream
   * is cancelled and the response to the client cut off. Default 60 s.
   */
  idleTimeoutMs?: number;
  /**
   * Per-client limit, consulted for every request whose ProxyRequestInfo
   * names a client; a refusal is a 429 with Retry-After. The only state the
   * handler holds besides its realm cache, and only if the caller supplies it.
   */
  rateLimiter?: RateLimiter;
  /** Default '/proxy'. */
  mountPath?: string;
  /** Receives one line per request when set. Never gets queries or credentials. */
  log?: (line: string) => void;
}

export interface ProxyRequestInfo {
  /**
   * The request target exactly as received (path and query), before URL
   * normalisation. When given, targets the URL parser would rewrite (dot
   * segments, backslashes) are refused instead of silently normalised.
   */
  rawTarget?: string;
  /**
   * Who is asking, for the rate limiter: the Node adapter passes the socket
   * address's key (see clientKey). Absent, the request is not rate limited.
   */
  client?: string;
}

export type ProxyHandler = (req: Request, info?: ProxyRequestInfo) => Promise<Response>;

const USER_AGENT = 'berth-proxy/0.1';
const FORWARDED_REQUEST_HEADERS = ['accept', 'authorization', 'range', 'if-none-match'];
export const PASSED_RESPONSE_HEADERS = [
  'Content-Type',
  'Content-Length',
  'Content-Range',
  'Accept-Ranges',
  'Docker-Content-Digest',
  'OCI-Filters-Applied',
  'Docker-Distribution-Api-Version',
  'WWW-Authenticate',
  'Link',
  'Retry-After',
  'ETag',
  'Last-Modified',
  'Cache-Control',
];
const EXPOSE_HEADERS = PASSED_RESPONSE_HEADERS.join(', ');
const MAX_REDIRECTS = 5;
const REALM_TTL_MS = 10 * 60 * 1000;
const REALM_CACHE_MAX = 1000;
const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const INSECURE_HINT = 'If it is a private registry, add it to BERTH_INSECURE_REGISTRIES.';

export type ProxyErrorCode =
  | 'BERTH_PROXY_DENIED'
  | 'BERTH_UPSTREAM_UNREACHABLE'
  | 'BERTH_UPSTREAM_TIMEOUT'
  | 'BERTH_BAD_REQUEST'
  | 'BERTH_METHOD_NOT_ALLOWED'
  | 'BERTH_RATE_LIMITED';

// Media types a proxy response may carry: JSON (token endpoints, registry
// errors), raw bytes (blobs) and vendor types (OCI/Docker manifests). Vendor
// types with an XML or HTML flavour are excluded: browsers render any +xml
// type as an XML document, and XHTML-namespaced scripts in it run.
const SAFE_CONTENT_TYPE = /^application\/(?:json|octet-stream|vnd\.[a-z0-9][a-z0-9!#$&^_.+-]*)$/i;
const MARKUP_SUBTYPE = /xml|html/i;

/**
 * The Content-Type a proxy response may carry: the media type without
 * parameters when it is one of the safe ones, else application/octet-stream.
 * Anything else could render as a document on Berth's origin.
 */
export function safeContentType(value: string): string {
  // Browsers take the last of several comma-separated types; refuse them all.
  if (value.includes(',')) return 'application/octet-stream';
  const essence = (value.split(';')[0] ?? '').trim();
  if (SAFE_CONTENT_TYPE.test(essence) && !MARKUP_SUBTYPE.test(essence)) return essence;
  return 'application/octet-stream';
}

/**
 * Headers every proxy response carries, forwarded or the proxy's own. The
 * proxy serves other people's bytes from Berth's origin, so whatever they
 * are, a browser must never render them as a page there: no scripts and an
 * opaque origin even if it did (CSP sandbox), a download instead of a page
 * (attachment), no sniffing, no use by other sites' no-cors loads (CORP;
 * CORS fetches from allowed origins are not subject to it), and a
 * Content-Type from a short allowlist. A missing Content-Type stays missing:
 * the client then reads the manifest's own mediaType, and the headers above
 * already keep a browser from rendering it.
 */
export function applySecurityHeaders(headers: Headers): void {
  headers.set('Content-Security-Policy', "default-src 'none'; sandbox");
  headers.set('Content-Disposition', 'attachment');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  headers.set('X-Content-Type-Options', 'nosniff');
  const type = headers.get('content-type');
  if (type !== null) headers.set('Content-Type', safeContentType(type));
}

/** An error in the registry error shape, so the client decodes it like one. */
export function proxyError(
  status: number,
  code: ProxyErrorCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  const out = new Headers({ 'Content-Type': 'application/json', ...headers });
  // Also sent outside the handler (node.ts, server.ts), so secured here too.
  applySecurityHeaders(out);
  return new Response(JSON.stringify({ errors: [{ code, message }] }), { status, headers: out });
}

/** Thrown inside the handler to short-circuit with a proxy error response. */
class Refusal extends Error {
  constructor(readonly response: Response) {
    super('refused');
  }
}

function denied(host: string, reason: string): Refusal {
  return new Refusal(
    proxyError(
      403,
      'BERTH_PROXY_DENIED',
      `refusing to connect to ${host}: ${reason}. ${INSECURE_HINT}`,
    ),
  );
}

function defaultIsAllowedAddressHost(hostname: string, listed: boolean): boolean {
  if (listed) return true;
  if (isIPLiteral(hostname)) return !isForbiddenAddress(hostname);
  // Edge runtimes cannot check resolved addresses, so refuse the obvious name.
  return hostname !== 'localhost' && !hostname.endsWith('.localhost');
}

/** host[:port] of a URL with the port always spelled out, for list matching. */
function effectiveHostPort(url: URL): string {
  return `${url.host}${url.port ? '' : url.protocol === 'https:' ? ':443' : ':80'}`;
}

// Walks an error's cause chain: undici wraps socket errors as
// TypeError('fetch failed', { cause }), sometimes more than once.
function causes(err: unknown): Array<{ code?: string; message: string; name?: string }> {
  const out: Array<{ code?: string; message: string; name?: string }> = [];
  let cur: unknown = err;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 8; depth++) {
    const e = cur as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    out.push({
      code: typeof e.code === 'string' ? e.code : undefined,
      message: typeof e.message === 'string' ? e.message : String(cur),
      name: typeof e.name === 'string' ? e.name : undefined,
    });
    cur = e.cause;
  }
  return out;
}

function describeMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);

/** Maps a failed upstream fetch to a proxy error response. */
function upstreamFailure(
  err: unknown,
  host: string,
  timedOut: boolean,
  timeoutMs: number,
): Response {
  const chain = causes(err);
  const deniedCause = chain.find((c) => c.code === DENIED_CODE);
  if (deniedCause) throw denied(host, deniedCause.message);
  // fetch refuses ports of non-HTTP services (25, 6000, ...) to stop protocol
  // smuggling; that is a policy refusal, not an unreachable host.
  if (chain.some((c) => c.message === 'bad port')) {
    throw new Refusal(
      proxyError(
        403,
        'BERTH_PROXY_DENIED',
        `refusing to connect to ${host}: the port is on the fetch standard's list of unsafe ports`,
      ),
    );
  }
  if (timedOut || chain.some((c) => c.code && TIMEOUT_CODES.has(c.code))) {
    return proxyError(
      504,
      'BERTH_UPSTREAM_TIMEOUT',
      `no response from ${host} within ${describeMs(timeoutMs)}`,
    );
  }
  const codes = chain.map((c) => c.code).filter((c): c is string => !!c);
  let why: string;
  if (codes.includes('ECONNREFUSED')) why = 'connection refused';
  else if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) why = 'host name not found';
  else if (codes.includes('ECONNRESET')) why = 'connection reset';
  else if (codes.includes('EHOSTUNREACH') || codes.includes('ENETUNREACH')) {
    why = 'host unreachable';
  } else {
    const tls = codes.find(
      (c) => c.startsWith('ERR_SSL') || c.startsWith('ERR_TLS') || /CERT|SELF_SIGNED/.test(c),
    );
    const detail = chain[chain.length - 1]?.message ?? 'unknown error';
    why = tls
      ? `TLS error (${tls}: ${detail}); if this registry speaks plain http, add it to BERTH_INSECURE_REGISTRIES`
      : detail;
  }
  return proxyError(502, 'BERTH_UPSTREAM_UNREACHABLE', `could not connect to ${host}: ${why}`);
}

interface RealmEntry {
  realms: Set<string>;
  expires: number;
}

/**
 * The registry a request started from: the host in /proxy/<host>/v2/..., or
 * the Berth-Registry of a token request. Only an insecure-listed registry may
 * send the proxy (by redirect or token realm) to an insecure-listed host;
 * otherwise any public registry could reach private ones through it.
 */
interface RequestOrigin {
  registry: string;
  listed: boolean;
}

/** Raised into a body stream whose upstream went quiet for too long. */
class IdleTimeout extends Error {
  constructor(host: string, ms: number) {
    super(`no body bytes from ${host} for ${describeMs(ms)}`);
    this.name = 'IdleTimeout';
  }
}

/**
 * Passes an upstream body through, failing it (and cancelling the upstream)
 * when no chunk arrives for `idleMs`. Pull-based, so time spent waiting on a
 * slow client does not count: only upstream silence does.
 */
function withIdleTimeout(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  host: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new IdleTimeout(host, idleMs)), idleMs);
        });
        try {
          const chunk = await Promise.race([reader.read(), idle]);
          if (chunk.done) controller.close();
          else controller.enqueue(chunk.value);
        } catch (err) {
          reader.cancel(err).catch(() => {});
          controller.error(err);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

function badRequest(message: string): Refusal {
  return new Refusal(proxyError(400, 'BERTH_BAD_REQUEST', message));
}

/**
 * A request body on GET/HEAD, or a framing the proxy would have to guess
 * at, is refused: whatever sits in such a body could be read as a second
 * request by some hop along the way (request smuggling).
 */
function bodyProblem(req: Request): string | null {
  const length = req.headers.get('content-length');
  const encoding = req.headers.get('transfer-encoding');
  if (length !== null && encoding !== null) {
    return 'a request with both Content-Length and Transfer-Encoding is not accepted';
  }
  if (encoding !== null) return 'request bodies are not accepted (Transfer-Encoding)';
  if (length !== null && length.trim() !== '0') return 'request bodies are not accepted';
  if (req.body !== null) return 'request bodies are not accepted';
  return null;
}

/** scheme://host[:port]/path of a URL, the part a realm is compared on. */
function withoutQuery(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export function createProxyHandler(opts: ProxyOptions): ProxyHandler {
  const insecure = parseInsecureList(opts.insecureRegistries);
  const allowedOrigins = new Set(opts.allowedOrigins ?? []);
  const upstreamFetch = opts.fetch;
  const isAllowedAddressHost = opts.isAllowedAddressHost ?? defaultIsAllowedAddressHost;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const rateLimiter = opts.rateLimiter;
  const mountPath = (opts.mountPath ?? '/proxy').replace(/\/+$/, '');
  const log = opts.log;

  // Soft cache only: a miss costs one GET /v2/, so any replica can answer
  // any request and nothing breaks when the cache is empty.
  const realmCache = new Map<string, RealmEntry>();
  const realmInFlight = new Map<string, Promise<Set<string>>>();

  /** Is this URL's host insecure-listed, its port spelled out? */
  function isListedUrl(url: URL): boolean {
    return isInsecureHost(effectiveHostPort(url), insecure);
  }

  /** Refuses a listed host reached from a registry that is not listed itself. */
  function privateFromPublic(message: string): Refusal {
    return new Refusal(proxyError(403, 'BERTH_PROXY_DENIED', message));
  }

  /** Validates a hop and returns whether its host is insecure-listed. */
  function checkHop(url: URL): boolean {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw denied(url.href.slice(0, 100), `unsupported scheme ${url.protocol}`);
    }
    if (url.username || url.password) throw denied(url.host, 'credentials in URL are not allowed');
    const listed = isListedUrl(url);
    if (url.protocol === 'http:' && !listed) {
      throw denied(effectiveHostPort(url), 'plain http is only allowed for insecure-listed hosts');
    }
    if (!isAllowedAddressHost(url.hostname.replace(/^\[|\]$/g, ''), listed)) {
      throw denied(url.host, 'it is a loopback, private or reserved address');
    }
    return listed;
  }

  /** One upstream request with a headers timeout, linked to client abort. */
  async function fetchHop(url: URL, method: string, headers: Headers, signal: AbortSignal) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onClientAbort = () => controller.abort();
    if (signal.aborted) controller.abort();
    signal.addEventListener('abort', onClientAbort);
    try {
      return await upstreamFetch(url.href, {
        method,
        headers,
        redirect: 'manual',
        signal: controller.signal,
      });
    } catch (err) {
      throw new Refusal(upstreamFailure(err, url.host, timedOut, timeoutMs));
    } finally {
      clearTimeout(timer);
      // After the headers, cancellation flows through the body stream instead.
      signal.removeEventListener('abort', onClientAbort);
    }
  }

  /**
   * Follows redirects on the server: the browser cannot, because the
   * Location would lead it around the proxy. Every hop gets the same checks,
   * and only a listed origin registry may lead to listed hosts.
   */
  async function fetchFollowing(
    start: URL,
    origin: RequestOrigin,
    method: string,
    headers: Headers,
    signal: AbortSignal,
  ): Promise<Response> {
    let url = start;
    for (let hop = 0; ; hop++) {
      if (checkHop(url) && !origin.listed) {
        const host = effectiveHostPort(url);
        throw privateFromPublic(
          `refusing to follow a redirect to ${host}: it is in BERTH_INSECURE_REGISTRIES and ` +
            `${origin.registry}, where the request started, is not; ` +
            'a public registry may only redirect to public https hosts',
        );
      }
      const res = await fetchHop(url, method, headers, signal);
      const location = res.headers.get('location');
      if (!REDIRECT_STATUSES.has(res.status) || location === null) return res;
      await res.body?.cancel().catch(() => {});
      if (hop === MAX_REDIRECTS) {
        throw new Refusal(
          proxyError(502, 'BERTH_UPSTREAM_UNREACHABLE', `too many redirects from ${start.host}`),
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new Refusal(
          proxyError(502, 'BERTH_UPSTREAM_UNREACHABLE', `invalid redirect from ${url.host}`),
        );
      }
      // Pre-signed CDN/S3 URLs reject a second credential, and the registry's
      // token must not leak to another origin. Once dropped it stays dropped.
      if (next.origin !== url.origin) headers.delete('authorization');
      url = next;
    }
  }

  function schemeFor(hostPort: string): 'http' | 'https' {
    return isInsecureHost(hostPort, insecure) ? 'http' : 'https';
  }

  /** The /v2/ base URL the proxy uses for a registry. */
  function registryBase(registry: string): URL {
    return new URL(`${schemeFor(registry)}://${registry}/v2/`);
  }

  async function fetchRealms(registry: string): Promise<Set<string>> {
    const headers = new Headers({ accept: 'application/json', 'user-agent': USER_AGENT });
    headers.set('accept-encoding', 'identity');
    const base = registryBase(registry);
    const res = await fetchFollowing(
      base,
      { registry, listed: isListedUrl(base) },
      'GET',
      headers,
      // Shared by concurrent callers, so one client leaving must not abort it.
      new AbortController().signal,
    );
    await res.body?.cancel().catch(() => {});
    const realms = new Set<string>();
    for (const realm of bearerRealms(res.headers.get('www-authenticate'))) {
      try {
        realms.add(withoutQuery(new URL(realm)));
      } catch {
        // A realm that is not a URL can never match a request.
      }
    }
    return realms;
  }

  async function realmsFor(registry: string): Promise<Set<string>> {
    const cached = realmCache.get(registry);
    if (cached && cached.expires > Date.now()) return cached.realms;
    let pending = realmInFlight.get(registry);
    if (!pending) {
      pending = fetchRealms(registry).finally(() => realmInFlight.delete(registry));
      realmInFlight.set(registry, pending);
    }
    const realms = await pending;
    // Only confirmations are cached: a registry that was briefly down or
    // unauthenticated must not lock token requests out for ten minutes.
    if (realms.size > 0) {
      realmCache.delete(registry);
      if (realmCache.size >= REALM_CACHE_MAX) {
        const oldest = realmCache.keys().next();
        if (!oldest.done) realmCache.delete(oldest.value);
      }
      realmCache.set(registry, { realms, expires: Date.now() + REALM_TTL_MS });
    }
    return realms;
  }

  /**
   * Token requests: allowed only to the realm the named registry announces,
   * and to a listed realm host only when that registry is listed too.
   */
  async function checkTokenRequest(req: Request, upstream: URL): Promise<RequestOrigin> {
    const header = req.headers.get('berth-registry');
    if (header === null) {
      throw new Refusal(
        proxyError(
          403,
          'BERTH_PROXY_DENIED',
          'only registry API paths (/v2/...) are forwarded; token requests need a Berth-Registry header',
        ),
      );
    }
    const registry = parseHostPort(header.trim());
    if (!registry) throw badRequest('invalid Berth-Registry header');
    return checkRealm(registry, upstream);
  }

  /** Is `upstream` the token realm `registry` announces? Refuses if not. */
  async function checkRealm(registry: HostPort, upstream: URL): Promise<RequestOrigin> {
    const key = formatHostPort(registry);
    const origin = { registry: key, listed: isListedUrl(registryBase(key)) };
    // Refused before probing: no announcement could make this acceptable.
    if (isListedUrl(upstream) && !origin.listed) {
      const host = effectiveHostPort(upstream);
      throw privateFromPublic(
        `refusing to connect to ${host}: it is in BERTH_INSECURE_REGISTRIES and registry ` +
          `${key}, whose token realm it would be, is not; ` +
          "a public registry's token realm must be a public https host",
      );
    }
    const wanted = withoutQuery(upstream);
    const realms = await realmsFor(key);
    if (!realms.has(wanted)) {
      throw new Refusal(
        proxyError(
          403,
          'BERTH_PROXY_DENIED',
          `${wanted} is not the token realm announced by registry ${key}`,
        ),
      );
    }
    return origin;
  }

  /**
   * A /v2 path of no known route is a bad request, unless it is the token
   * realm of the registry named in Berth-Registry or, without that header,
   * of its own host (Quay announces https://quay.io/v2/auth).
   */
  async function checkOffGrammar(
    req: Request,
    target: ProxyTarget,
    upstream: URL,
    reason: string,
  ): Promise<RequestOrigin> {
    const header = req.headers.get('berth-registry');
    const registry = header === null ? target : parseHostPort(header.trim());
    if (registry) {
      try {
        return await checkRealm(registry, upstream);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
      }
    }
    throw badRequest(reason);
  }

  async function forward(req: Request, target: ProxyTarget): Promise<Response> {
    const hostPort = formatHostPort(target);
    const upstream = new URL(`${schemeFor(hostPort)}://${hostPort}${target.path}${target.query}`);
    // What goes upstream is exactly what was checked; URL parsing must not
    // have rewritten a byte of it (policy.ts only lets such paths through).
    if (upstream.pathname !== target.path) throw badRequest('path is not in normalised form');
    let origin: RequestOrigin;
    if (isUnderV2(target.path)) {
      const route = parseRegistryRoute(target.path);
      if (route.ok) origin = { registry: hostPort, listed: isListedUrl(upstream) };
      else if (route.unknown) origin = await checkOffGrammar(req, target, upstream, route.reason);
      else throw badRequest(route.reason);
    } else {
      origin = await checkTokenRequest(req, upstream);
    }

    const headers = new Headers();
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    headers.set('user-agent', USER_AGENT);
    // Bytes must reach the client exactly as the registry digested them, and
    // Content-Length must match what we stream; no transparent decompression.
    headers.set('accept-encoding', 'identity');

    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const res = await fetchFollowing(upstream, origin, method, headers, req.signal);

    const out = new Headers();
    for (const name of PASSED_RESPONSE_HEADERS) {
      const value = res.headers.get(name);
      if (value !== null) out.set(name, value);
    }
    // If the upstream compressed anyway, fetch has decoded the body and the
    // length no longer describes it.
    const encoding = res.headers.get('content-encoding');
    if (encoding && encoding !== 'identity') out.delete('content-length');

    const noBody = method === 'HEAD' || NULL_BODY_STATUSES.has(res.status) || !res.body;
    if (noBody) await res.body?.cancel().catch(() => {});
    const body =
      noBody || !res.body ? null : withIdleTimeout(res.body, idleTimeoutMs, upstream.host);
    return new Response(body, { status: res.status, headers: out });
  }

  async function route(req: Request, url: URL, info: ProxyRequestInfo | undefined) {
    if (req.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
          'Access-Control-Allow-Headers':
            'Authorization, Accept, Range, Berth-Registry, Content-Type',
          'Access-Control-Max-Age': '600',
        },
      });
    }
    if (rateLimiter && info?.client !== undefined) {
      const wait = rateLimiter.take(info.client);
      if (wait > 0) {
        return proxyError(
          429,
          'BERTH_RATE_LIMITED',
          `too many requests: the proxy allows ${rateLimiter.perMinute} a minute per client; ` +
            `retry in ${wait} s`,
          { 'Retry-After': String(wait) },
        );
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return proxyError(405, 'BERTH_METHOD_NOT_ALLOWED', `method ${req.method} is not allowed`, {
        Allow: 'GET, HEAD, OPTIONS',
      });
    }
    const body = bodyProblem(req);
    if (body) return proxyError(400, 'BERTH_BAD_REQUEST', body);
    if (url.hash !== '' || info?.rawTarget?.includes('#')) {
      return proxyError(400, 'BERTH_BAD_REQUEST', 'fragments are not allowed in the request');
    }
    if (info?.rawTarget !== undefined) {
      const rawPath = info.rawTarget.split('?')[0];
      if (rawPath !== url.pathname) {
        return proxyError(
          400,
          'BERTH_BAD_REQUEST',
          'request path is not in normalised form (dot segments, backslashes or control characters)',
        );
      }
    }
    const parsed = parseProxyPath(url.pathname + url.search, mountPath);
    if (!parsed.ok) return proxyError(400, 'BERTH_BAD_REQUEST', parsed.reason);
    return forward(req, parsed.target);
  }

  return async function handle(req: Request, info?: ProxyRequestInfo): Promise<Response> {
    const started = Date.now();
    const url = new URL(req.url);
    let res: Response;
    try {
      res = await route(req, url, info);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      res = err.response;
    }

    applySecurityHeaders(res.headers);
    res.headers.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    res.headers.set('Vary', 'Origin');
    const origin = req.headers.get('origin');
    if (origin !== null && (origin === url.origin || allowedOrigins.has(origin))) {
      res.headers.set('Access-Control-Allow-Origin', origin);
    }

    if (log) {
      // Path only: token queries may carry credentials for some registries.
      const target = url.pathname.startsWith(`${mountPath}/`)
        ? url.pathname.slice(mountPath.length + 1)
        : url.pathname;
      const slash = target.indexOf('/');
      const host = slash < 0 ? target : target.slice(0, slash);
      const path = slash < 0 ? '' : target.slice(slash);
      log(`${req.method} ${host || '-'} ${path || '/'} ${res.status} ${Date.now() - started}ms`);
    }
    return res;
  };
}
