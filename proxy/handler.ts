// The Berth CORS proxy as a WHATWG fetch handler: request validation, the registry and token
// routes, CORS and logging, composed from headers.ts, upstream.ts and realms.ts.
//
// Only Request/Response/URL/Headers/fetch are used here so the same handler
// can run under Node (see node.ts), inside Vite, or on an edge runtime. The
// address policy for DNS names is enforced by the injected fetch at connect
// time; the proxy itself can only judge IP literals and hostnames it can see.
//
// It is deliberately not an open proxy: it forwards the registry API (/v2/...)
// and token requests whose URL the registry itself announced as its Bearer
// realm, and nothing else.

import { badRequest, internalError, proxyError, Refusal, refused } from './errors.ts';
import {
  applyCorsHeaders,
  applySecurityHeaders,
  forwardedRequestHeaders,
  passedResponseHeaders,
  preflight,
} from './headers.ts';
import {
  catalogQueryProblem,
  formatHostPort,
  isUnderV2,
  parseHostPort,
  parseInsecureList,
  parseProxyPath,
  parseRegistryRoute,
} from './policy.ts';
import type { ProxyTarget } from './policy.ts';
import type { RateLimiter } from './ratelimit.ts';
import { Realms, type TokenRequestOrigin } from './realms.ts';
import { checkTokenRequest, tokenAnswerBody } from './token.ts';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  Upstream,
  USER_AGENT,
  withIdleTimeout,
  type RequestOrigin,
} from './upstream.ts';

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
  /**
   * Receives one line per error nobody expected (a bug, or a runtime refusing what it was
   * given), which is then answered with a 502. Default console.error. The line has no stack,
   * no query and no userinfo (internalErrorLine).
   */
  reportError?: (line: string) => void;
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

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

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

export function createProxyHandler(opts: ProxyOptions): ProxyHandler {
  const insecure = parseInsecureList(opts.insecureRegistries);
  const allowedOrigins = new Set(opts.allowedOrigins ?? []);
  const upstreams = new Upstream({
    insecure,
    fetch: opts.fetch,
    isAllowedAddressHost: opts.isAllowedAddressHost,
    timeoutMs: opts.timeoutMs,
  });
  const realms = new Realms(upstreams);
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const rateLimiter = opts.rateLimiter;
  const mountPath = (opts.mountPath ?? '/proxy').replace(/\/+$/, '');
  const log = opts.log;
  const reportError = opts.reportError ?? ((line: string) => console.error(line));

  /**
   * Token requests: allowed only to the realm the named registry announces,
   * and to a listed realm host only when that registry is listed too.
   */
  async function tokenRequestOrigin(req: Request, upstream: URL): Promise<TokenRequestOrigin> {
    const header = req.headers.get('berth-registry');
    if (header === null) {
      throw refused(
        'only registry API paths (/v2/...) are forwarded; token requests need a Berth-Registry header',
      );
    }
    const registry = parseHostPort(header.trim());
    if (!registry) throw badRequest('invalid Berth-Registry header');
    return realms.check(registry, upstream);
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
  ): Promise<TokenRequestOrigin> {
    const header = req.headers.get('berth-registry');
    const registry = header === null ? target : parseHostPort(header.trim());
    if (registry) {
      try {
        return await realms.check(registry, upstream);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
      }
    }
    throw badRequest(reason);
  }

  /** The catalog is read with GET and its two paging parameters, nothing else. */
  function checkCatalog(req: Request, target: ProxyTarget): void {
    if (req.method !== 'GET') {
      throw new Refusal(
        proxyError(405, 'BERTH_METHOD_NOT_ALLOWED', '/v2/_catalog is only forwarded for GET', {
          Allow: 'GET, OPTIONS',
        }),
      );
    }
    const problem = catalogQueryProblem(target.query);
    if (problem) throw badRequest(problem);
  }

  async function forward(req: Request, target: ProxyTarget): Promise<Response> {
    const hostPort = formatHostPort(target);
    const scheme = upstreams.schemeFor(hostPort);
    const upstream = new URL(`${scheme}://${hostPort}${target.path}${target.query}`);
    // What goes upstream is exactly what was checked; URL parsing must not
    // have rewritten a byte of it (policy.ts only lets such paths through).
    if (upstream.pathname !== target.path) throw badRequest('path is not in normalised form');
    let origin: RequestOrigin;
    let token: TokenRequestOrigin | undefined;
    let apiRoute = false;
    if (isUnderV2(target.path)) {
      const route = parseRegistryRoute(target.path);
      apiRoute = route.ok;
      if (route.ok && route.route.kind === 'catalog') checkCatalog(req, target);
      if (route.ok) origin = { registry: hostPort, listed: upstreams.isListed(upstream) };
      else if (route.unknown) {
        origin = token = await checkOffGrammar(req, target, upstream, route.reason);
      } else throw badRequest(route.reason);
    } else {
      origin = token = await tokenRequestOrigin(req, upstream);
    }
    if (token) checkTokenRequest(req.method, target.query, token.realmParams);

    const headers = forwardedRequestHeaders(req);
    headers.set('user-agent', USER_AGENT);
    // Bytes must reach the client exactly as the registry digested them, and
    // Content-Length must match what we stream; no transparent decompression.
    headers.set('accept-encoding', 'identity');

    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    let answeredBy = upstream;
    const res = await upstreams.follow(
      upstream,
      origin,
      method,
      headers,
      req.signal,
      (u) => {
        answeredBy = u;
      },
      token !== undefined,
    );
    // The registry's own challenge to a request of its API names its realm as a GET /v2/
    // would: the client's token request that follows needs no probe. Only an answer from the
    // registry's origin counts, never one from a host it redirected to.
    if (apiRoute && res.status === 401 && answeredBy.origin === upstream.origin) {
      realms.learn(target, res.headers.get('www-authenticate'));
    }

    // A Response can only be built with a final status (200-599), and only those mean
    // anything to a client: a 1xx here would be a protocol switch or an interim answer
    // undici or the runtime should have consumed, and 600 and above are not HTTP.
    if (res.status < 200 || res.status > 599) {
      await res.body?.cancel().catch(() => {});
      throw new Refusal(
        proxyError(
          502,
          'BERTH_UPSTREAM_INVALID',
          `${answeredBy.host} answered with status ${res.status}, which is not a final HTTP status`,
        ),
      );
    }
    const out = passedResponseHeaders(res);
    const noBody = method === 'HEAD' || NULL_BODY_STATUSES.has(res.status) || !res.body;
    if (noBody) await res.body?.cancel().catch(() => {});
    const body =
      noBody || !res.body ? null : withIdleTimeout(res.body, idleTimeoutMs, upstream.host);
    if (token) {
      // Small and read whole, so its length is known again.
      const bytes = await tokenAnswerBody(res, body, answeredBy.host);
      out.delete('content-length');
      if (bytes) out.set('Content-Length', String(bytes.byteLength));
      else out.delete('content-type');
      return new Response(bytes, { status: res.status, headers: out });
    }
    return new Response(body, { status: res.status, headers: out });
  }

  async function route(req: Request, url: URL, info: ProxyRequestInfo | undefined) {
    if (req.method === 'OPTIONS') return preflight();
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
    // One byte range, as the client asks for a piece of a blob. Many ranges (bytes=0-0,2-2,...)
    // would have the registry or its CDN build a multipart answer many times the blob's size.
    const range = req.headers.get('range');
    if (range !== null && !/^bytes=(?:\d{1,15}-\d{0,15}|-\d{1,15})$/.test(range)) {
      return proxyError(
        400,
        'BERTH_BAD_REQUEST',
        'only a single byte range is forwarded (Range: bytes=<start>-<end>)',
      );
    }
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
      res = err instanceof Refusal ? err.response : internalError(err, reportError);
    }

    applySecurityHeaders(res.headers);
    applyCorsHeaders(res.headers, req.headers.get('origin'), url.origin, allowedOrigins);

    if (log) {
      // Path only: token queries may carry credentials for some registries.
      const target = url.pathname.startsWith(`${mountPath}/`)
        ? url.pathname.slice(mountPath.length + 1)
        : url.pathname;
      const slash = target.indexOf('/');
      const hostPart = slash < 0 ? target : target.slice(0, slash);
      const path = slash < 0 ? '' : target.slice(slash);
      // Only a host that parses is written as it was asked for: a refused one may be
      // `user:password@host`, or anything else a client chose to put in the log.
      const parsed = hostPart === '' ? null : parseHostPort(hostPart);
      const host = parsed ? formatHostPort(parsed) : hostPart === '' ? '-' : '(invalid)';
      log(`${req.method} ${host} ${path || '/'} ${res.status} ${Date.now() - started}ms`);
    }
    return res;
  };
}
