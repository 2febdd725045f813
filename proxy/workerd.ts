// The Berth proxy as a workerd / Cloudflare Workers module.
//
//   workerd serve proxy/workerd.capnp          (self-hosted; see docs/deploy.md)
//   wrangler deploy                            (Cloudflare; main = "proxy/workerd.ts")
//
// It mounts proxy/handler.ts unchanged. Settings come from text bindings named
// like the Node server's environment variables: BERTH_INSECURE_REGISTRIES,
// BERTH_ALLOWED_ORIGINS, BERTH_PROXY_TIMEOUT_MS, BERTH_PROXY_IDLE_TIMEOUT_MS,
// BERTH_PROXY_RATE_LIMIT, BERTH_PROXY_LOG and BERTH_ALLOWED_HOSTS. Only
// runtime-neutral modules are imported here (no node.ts: it needs node:dns,
// node:net and undici). Paths outside /proxy/ are a 404.
//
// The address check Node does at connect time (createGuardedFetch) is the
// runtime's job here. On workerd the worker's globalOutbound is a network
// service that allows public addresses only; hosts in BERTH_INSECURE_REGISTRIES
// are fetched through the optional service binding BERTH_INSECURE_NETWORK, a
// network service that also allows private ones. So, as in Node, only a listed
// host:port may reach a private address, checked on the resolved IP. On
// Cloudflare Workers there is no such binding and private addresses are out of
// reach altogether.

import { internalError, proxyError } from './errors.ts';
import { createProxyHandler } from './handler.ts';
import { applySecurityHeaders } from './headers.ts';
import type { ProxyHandler } from './handler.ts';
import { DENIED_CODE, insecureListWarnings, isInsecureHost, parseInsecureList } from './policy.ts';
import { clientKey, createRateLimiter, DEFAULT_RATE_LIMIT } from './ratelimit.ts';
import { proxySettings, settingList } from './settings.ts';

/** A service binding (workerd's Fetcher), reduced to what is used here. */
export interface FetchBinding {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/** Text bindings; the numeric ones may also be numbers (a wrangler.toml `vars` number). */
export interface WorkerdEnv {
  BERTH_INSECURE_REGISTRIES?: string;
  BERTH_ALLOWED_ORIGINS?: string;
  BERTH_PROXY_TIMEOUT_MS?: string | number;
  BERTH_PROXY_IDLE_TIMEOUT_MS?: string | number;
  BERTH_PROXY_RATE_LIMIT?: string | number;
  BERTH_PROXY_LOG?: string | number;
  /** Host names (port ignored) the proxy answers to; empty or `*` answers any. */
  BERTH_ALLOWED_HOSTS?: string;
  /** workerd only: a network service allowing private addresses, used for listed hosts only. */
  BERTH_INSECURE_NETWORK?: FetchBinding;
}

const MOUNT_PATH = '/proxy';

// workerd's words when its network service refuses an address (globalOutbound
// allows public addresses only): "Network connection failed: connecting to
// host:port is not allowed". A DNS name is refused the same way when every
// address it resolves to is outside the allow list.
const NETWORK_REFUSAL = /connecting to .* is not allowed/;

/** host:port of a URL with the port spelled out, as the insecure list is matched. */
function effectiveHostPort(url: URL): string {
  return `${url.host}${url.port ? '' : url.protocol === 'https:' ? ':443' : ':80'}`;
}

/**
 * The handler's upstream fetch: listed hosts through BERTH_INSECURE_NETWORK
 * when it is bound, everything else through the worker's global fetch. A
 * network refusal becomes the handler's 403 BERTH_PROXY_DENIED, as Node's
 * guarded fetch reports it.
 */
function upstreamFetch(insecure: readonly string[], network?: FetchBinding): typeof fetch {
  return async (input, init) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const listed = isInsecureHost(effectiveHostPort(new URL(href)), insecure);
    try {
      return await (listed && network ? network.fetch(href, init) : fetch(href, init));
    } catch (err) {
      if (err instanceof Error && NETWORK_REFUSAL.test(err.message)) {
        const why = !listed
          ? 'it resolves to a loopback, private or reserved address'
          : network
            ? 'the BERTH_INSECURE_NETWORK network service does not allow its address'
            : 'the runtime may not connect to its address, and no BERTH_INSECURE_NETWORK ' +
              'service (a network that allows private addresses) is bound for listed hosts';
        throw Object.assign(new Error(why), { code: DENIED_CODE });
      }
      throw err;
    }
  };
}

/** Builds the handler from the bindings; throws with the binding's name if one is invalid. */
export function handlerFromEnv(env: WorkerdEnv): ProxyHandler {
  const { rateLimit = DEFAULT_RATE_LIMIT, ...settings } = proxySettings({ ...env });
  return createProxyHandler({
    ...settings,
    fetch: upstreamFetch(settings.insecureRegistries, env.BERTH_INSECURE_NETWORK),
    rateLimiter: rateLimit > 0 ? createRateLimiter({ perMinute: rateLimit }) : undefined,
    mountPath: MOUNT_PATH,
  });
}

/**
 * Who is asking, for the rate limiter. Self-hosted workerd puts the socket's
 * peer in `request.cf.clientIp` ("ip:port"); a client cannot set it. Cloudflare
 * sets CF-Connecting-IP (overwriting any the client sent) and has no clientIp.
 * So clientIp wins where it exists: on self-hosted workerd a client-sent
 * CF-Connecting-IP would otherwise pick its own bucket.
 */
export function clientOf(request: Request): string | undefined {
  const cf = (request as Request & { cf?: { clientIp?: unknown } }).cf;
  const peer = typeof cf?.clientIp === 'string' ? cf.clientIp : undefined;
  if (peer) {
    const m = /^\[([^\]]+)\]:\d+$/.exec(peer) ?? /^([^:]+):\d+$/.exec(peer);
    return clientKey(m ? m[1] : peer);
  }
  const header = request.headers.get('CF-Connecting-IP')?.trim();
  return header ? clientKey(header) : undefined;
}

// workerd's TransformStream whose readable side is sent with a Content-Length.
declare const FixedLengthStream:
  | (new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream })
  | undefined;

/**
 * workerd sends a body that is a JS ReadableStream (the handler's idle-timeout
 * wrapper) chunked and drops its Content-Length header; without the length
 * the page cannot take a blob piece with response.blob() and streams it
 * through JS instead. A FixedLengthStream restores the header, and errors
 * (cutting the connection) if upstream sends more or fewer bytes than it said.
 */
function withFixedLength(res: Response): Response {
  const length = res.headers.get('Content-Length');
  if (!res.body || length === null || !/^\d{1,15}$/.test(length)) return res;
  if (typeof FixedLengthStream !== 'function') return res;
  const { readable, writable } = new FixedLengthStream(Number(length));
  // A failure errors `readable`, which cuts the response; nothing else to do.
  res.body.pipeTo(writable).catch(() => {});
  return new Response(readable, { status: res.status, headers: res.headers });
}

/** Path and query as the client sent them: workerd keeps request.url unnormalised. */
function rawTarget(request: Request): string {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start < 0 ? '/' : url.slice(start);
}

function notFound(): Response {
  return new Response('Not found (proxy only)\n', {
    status: 404,
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

/** What Node reports by refusing to start: a binding that does not parse. The client is told
 * which binding, never its value (it may name internal hosts); the log has the whole reason. */
function misconfigured(reason: string): Response {
  const binding = /BERTH_[A-Z_]+/.exec(reason)?.[0];
  const message = `the proxy is misconfigured${binding ? `: ${binding} cannot be read` : ''}; its log says why`;
  const body = { errors: [{ code: 'BERTH_PROXY_MISCONFIGURED', message }] };
  const headers = new Headers({ 'Content-Type': 'application/json' });
  applySecurityHeaders(headers);
  return new Response(JSON.stringify(body), { status: 500, headers });
}

/**
 * The Node server's DNS-rebinding guard, made explicit: Node applies it by
 * itself when bound to loopback, but a worker cannot see where it is bound.
 * A page on evil.example that rebinds its name to the proxy's address would
 * otherwise reach the listed private registries "same-origin".
 */
function hostAllowed(request: Request, allowed: ReadonlySet<string>): boolean {
  if (allowed.size === 0 || allowed.has('*')) return true;
  const host = request.headers.get('Host') ?? new URL(request.url).host;
  const name = host
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  return allowed.has(name);
}

type Built = { handler: ProxyHandler; allowedHosts: Set<string> } | { error: string };

// One handler per env object: workerd passes the same env to every request of
// an isolate, so the realm cache and rate-limit buckets live as long as it.
const built = new WeakMap<object, Built>();

function build(env: WorkerdEnv): Built {
  let entry = built.get(env);
  if (!entry) {
    try {
      const allowedHosts = new Set(
        settingList(env.BERTH_ALLOWED_HOSTS).map((h) => h.toLowerCase()),
      );
      entry = { handler: handlerFromEnv(env), allowedHosts };
      // The Node server prints these at start; a worker can only do so on its first request.
      const insecure = parseInsecureList(settingList(env.BERTH_INSECURE_REGISTRIES));
      for (const line of insecureListWarnings(insecure)) console.warn(`berth: warning: ${line}`);
    } catch (err) {
      entry = { error: err instanceof Error ? err.message : String(err) };
      console.error(`berth proxy: ${entry.error}`);
    }
    built.set(env, entry);
  }
  return entry;
}

export default {
  async fetch(request: Request, env: WorkerdEnv): Promise<Response> {
    try {
      const target = rawTarget(request);
      const path = target.split('?')[0] ?? '';
      if (path !== MOUNT_PATH && !path.startsWith(`${MOUNT_PATH}/`)) return notFound();
      const entry = build(env);
      if ('error' in entry) return misconfigured(entry.error);
      if (!hostAllowed(request, entry.allowedHosts)) {
        const msg = 'Host header not allowed; set BERTH_ALLOWED_HOSTS to accept it';
        return proxyError(403, 'BERTH_PROXY_DENIED', msg);
      }
      const res = await entry.handler(request, { rawTarget: target, client: clientOf(request) });
      return withFixedLength(res);
    } catch (err) {
      // The handler answers its own errors; this is the last line, logged as sparingly.
      return internalError(err, (line) => console.error(line));
    }
  },
};
