// Talking to registries: which hosts a hop may reach, one fetch per hop with a headers timeout,
// redirects followed on the server, an idle timeout on bodies, and failures mapped to proxy
// errors. Only fetch and timers are used, so it runs under Node and on edge runtimes alike.

import { denied, proxyError, Refusal, refused, withoutQueries } from './errors.ts';
import { DENIED_CODE, isForbiddenAddress, isIPLiteral, isInsecureHost } from './policy.ts';

export const USER_AGENT = 'berth-proxy/0.1';
const MAX_REDIRECTS = 5;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The registry a request started from: the host in /proxy/<host>/v2/..., or
 * the Berth-Registry of a token request. Only an insecure-listed registry may
 * send the proxy (by redirect or token realm) to an insecure-listed host;
 * otherwise any public registry could reach private ones through it.
 */
export interface RequestOrigin {
  registry: string;
  listed: boolean;
}

export interface UpstreamOptions {
  /** Parsed BERTH_INSECURE_REGISTRIES (parseInsecureList). */
  insecure: string[];
  fetch: typeof fetch;
  /** See ProxyOptions.isAllowedAddressHost. */
  isAllowedAddressHost?: (hostname: string, insecureListed: boolean) => boolean;
  /** Connect + response-headers timeout per hop. */
  timeoutMs?: number;
}

export function defaultIsAllowedAddressHost(hostname: string, listed: boolean): boolean {
  if (listed) return true;
  if (isIPLiteral(hostname)) return !isForbiddenAddress(hostname);
  // Edge runtimes cannot check resolved addresses, so refuse the obvious name, also written
  // fully qualified (`localhost.`, which a redirect's Location may hold).
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  return name !== 'localhost' && !name.endsWith('.localhost');
}

/** host[:port] of a URL with the port always spelled out, for list matching. */
export function effectiveHostPort(url: URL): string {
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
    throw refused(
      `refusing to connect to ${host}: the port is on the fetch standard's list of unsafe ports`,
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
  } else if (
    codes.some((c) => c.startsWith('HPE_') || c === 'ERR_ASSERTION') ||
    chain.some(
      (c) =>
        c.message === 'bad response' ||
        c.message.includes('does not match the HTTP/1.1') ||
        // workerd's words for the same
        c.message.includes('returned invalid HTTP response'),
    )
  ) {
    // The runtime's parser refusing the answer (a status line it cannot read, an interim 1xx
    // or a protocol switch nobody asked for): its own words are about its internals.
    why = 'it did not answer with a valid HTTP response';
  } else {
    const tls = codes.find(
      (c) => c.startsWith('ERR_SSL') || c.startsWith('ERR_TLS') || /CERT|SELF_SIGNED/.test(c),
    );
    // A runtime's message may quote the URL it was given, signed query and all.
    const detail = withoutQueries(chain[chain.length - 1]?.message ?? 'unknown error');
    why = tls
      ? `TLS error (${tls}: ${detail}); if this registry speaks plain http, add it to BERTH_INSECURE_REGISTRIES`
      : detail;
  }
  return proxyError(502, 'BERTH_UPSTREAM_UNREACHABLE', `could not connect to ${host}: ${why}`);
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
export function withIdleTimeout(
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

/** The way to registries, for one handler's settings. */
export class Upstream {
  readonly #insecure: string[];
  readonly #fetch: typeof fetch;
  readonly #isAllowedAddressHost: (hostname: string, insecureListed: boolean) => boolean;
  readonly #timeoutMs: number;

  constructor(opts: UpstreamOptions) {
    this.#insecure = opts.insecure;
    this.#fetch = opts.fetch;
    this.#isAllowedAddressHost = opts.isAllowedAddressHost ?? defaultIsAllowedAddressHost;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Is this URL's host insecure-listed, its port spelled out? */
  isListed(url: URL): boolean {
    return isInsecureHost(effectiveHostPort(url), this.#insecure);
  }

  schemeFor(hostPort: string): 'http' | 'https' {
    return isInsecureHost(hostPort, this.#insecure) ? 'http' : 'https';
  }

  /** The /v2/ base URL the proxy uses for a registry. */
  registryBase(registry: string): URL {
    return new URL(`${this.schemeFor(registry)}://${registry}/v2/`);
  }

  /**
   * Follows redirects on the server: the browser cannot, because the
   * Location would lead it around the proxy. Every hop gets the same checks,
   * and only a listed origin registry may lead to listed hosts.
   */
  async follow(
    start: URL,
    origin: RequestOrigin,
    method: string,
    headers: Headers,
    signal: AbortSignal,
    /** Told the URL each answer came from; the last one is the response's. */
    answeredBy?: (url: URL) => void,
    /** Refuse a redirect to another host (token realms: a token comes from where it was announced). */
    sameHostOnly = false,
  ): Promise<Response> {
    let url = start;
    for (let hop = 0; ; hop++) {
      if (this.#checkHop(url) && !origin.listed) {
        const host = effectiveHostPort(url);
        throw refused(
          `refusing to follow a redirect to ${host}: it is in BERTH_INSECURE_REGISTRIES and ` +
            `${origin.registry}, where the request started, is not; ` +
            'a public registry may only redirect to public https hosts',
        );
      }
      if (sameHostOnly && url.hostname !== start.hostname) {
        throw new Refusal(
          proxyError(
            502,
            'BERTH_UPSTREAM_INVALID',
            `the token realm ${start.host} redirected to another host, ${url.host}; ` +
              'a token is only fetched from the realm the registry announced',
          ),
        );
      }
      const res = await this.#fetchHop(url, method, headers, signal);
      answeredBy?.(url);
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

  /** Validates a hop and returns whether its host is insecure-listed. */
  #checkHop(url: URL): boolean {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw denied(url.href.slice(0, 100), `unsupported scheme ${url.protocol}`);
    }
    if (url.username || url.password) throw denied(url.host, 'credentials in URL are not allowed');
    const listed = this.isListed(url);
    if (url.protocol === 'http:' && !listed) {
      throw denied(effectiveHostPort(url), 'plain http is only allowed for insecure-listed hosts');
    }
    const isAllowedAddressHost = this.#isAllowedAddressHost;
    if (!isAllowedAddressHost(url.hostname.replace(/^\[|\]$/g, ''), listed)) {
      throw denied(url.host, 'it is a loopback, private or reserved address');
    }
    return listed;
  }

  /** One upstream request with a headers timeout, linked to client abort. */
  async #fetchHop(url: URL, method: string, headers: Headers, signal: AbortSignal) {
    const timeoutMs = this.#timeoutMs;
    // Called unbound: a runtime's own fetch throws "Illegal invocation" with another `this`.
    const upstreamFetch = this.#fetch;
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
}
