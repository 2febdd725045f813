// How requests reach a registry. Most registries send no CORS headers, so the browser goes
// through Berth's proxy: https://host/path becomes <proxy>/<host>/path. The proxy forwards a
// non-/v2/ path (a token realm) only when told which registry announced it, in Berth-Registry.

export type Transport = (url: string, init: RequestInit, registryHost: string) => Promise<Response>;

/** How the page reaches registries: through a Berth proxy at a base URL, or directly, which
 * works only with registries (and token realms) that send CORS headers themselves. */
export type Connection = { kind: 'proxy'; url: string } | { kind: 'direct' };

export function proxyTransport(base: string): Transport {
  const prefix = base.replace(/\/+$/, '');
  return (url, init, registryHost) => {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    if (u.pathname !== '/v2/' && !u.pathname.startsWith('/v2/')) {
      headers.set('Berth-Registry', registryHost);
    }
    return fetch(`${prefix}/${u.host}${u.pathname}${u.search}`, {
      ...init,
      headers,
      credentials: 'omit',
      cache: 'no-store',
    });
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
    return fetch(u, { ...init, credentials: 'omit', cache: 'no-store' });
  };
}

export function transportFor(connection: Connection): Transport {
  return connection.kind === 'proxy' ? proxyTransport(connection.url) : directTransport();
}

/** A key that tells connections apart, for caches of clients built on them. */
export function connectionKey(connection: Connection): string {
  return connection.kind === 'proxy' ? `proxy ${connection.url}` : 'direct';
}
