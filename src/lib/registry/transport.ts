// How requests reach a registry. Most registries send no CORS headers, so the browser goes
// through Berth's proxy: https://host/path becomes <proxy>/<host>/path. The proxy forwards a
// non-/v2/ path (a token realm) only when told which registry announced it, in Berth-Registry.
import { messageOf } from '../errors.ts';

export type Transport = (url: string, init: RequestInit, registryHost: string) => Promise<Response>;

/** How the page reaches registries: through a Berth proxy at a base URL, or directly, which
 * works only with registries (and token realms) that send CORS headers themselves. */
export type Connection = { kind: 'proxy'; url: string } | { kind: 'direct' };

/** A request that got no response at all, with what to check, as the way it went says. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
  constructor(
    message: string,
    /** What the user can check: the proxy, or (direct) the registry and its CORS headers. */
    readonly advice: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A fetch that threw is a ConnectionError; an abort stays an abort. */
async function reach(
  url: string | URL,
  init: RequestInit,
  failed: (reason: string) => ConnectionError,
): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (init.signal?.aborted || (err as { name?: unknown }).name === 'AbortError') throw err;
    throw failed(messageOf(err));
  }
}

export function proxyTransport(base: string): Transport {
  const prefix = base.replace(/\/+$/, '');
  return (url, init, registryHost) => {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    if (u.pathname !== '/v2/' && !u.pathname.startsWith('/v2/')) {
      headers.set('Berth-Registry', registryHost);
    }
    const init2 = { ...init, headers, credentials: 'omit', cache: 'no-store' } as const;
    return reach(
      `${prefix}/${u.host}${u.pathname}${u.search}`,
      init2,
      (reason) =>
        new ConnectionError(
          reason,
          `Check that the Berth proxy at ${prefix} is running and the network is up; a proxy on another origin must list this site in BERTH_ALLOWED_ORIGINS.`,
        ),
    );
  };
}

/** A loopback registry, which Docker itself treats as plain http by default. */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** Talks to registries directly: https, except loopback registries, which get plain http as
 * Docker gives them. Token realms keep the scheme their registry announced. */
export function directTransport(): Transport {
  return (url, init, registryHost) => {
    const u = new URL(url);
    if (u.host === registryHost && isLoopbackHost(u.host)) u.protocol = 'http:';
    return reach(
      u,
      { ...init, credentials: 'omit', cache: 'no-store' },
      (reason) =>
        new ConnectionError(
          reason,
          `Berth talks to ${u.host} directly (Settings), which works only if it is up and sends CORS headers; most registries send none. Use the Berth proxy instead.`,
        ),
    );
  };
}

export function transportFor(connection: Connection): Transport {
  return connection.kind === 'proxy' ? proxyTransport(connection.url) : directTransport();
}

/** A key that tells connections apart, for caches of clients built on them. */
export function connectionKey(connection: Connection): string {
  return connection.kind === 'proxy' ? `proxy ${connection.url}` : 'direct';
}
