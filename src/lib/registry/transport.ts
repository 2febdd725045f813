// How requests reach a registry. Registries send no CORS headers, so the browser goes through
// Berth's proxy: https://host/path becomes <proxy>/<host>/path. The proxy forwards a non-/v2/
// path (a token realm) only when told which registry announced it, in Berth-Registry.

export type Transport = (url: string, init: RequestInit, registryHost: string) => Promise<Response>;

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

/** Talks to the registry directly: only for registries that send CORS headers themselves. */
export function directTransport(scheme: 'https' | 'http' = 'https'): Transport {
  return (url, init) => {
    const u = new URL(url);
    u.protocol = `${scheme}:`;
    return fetch(u, { ...init, credentials: 'omit', cache: 'no-store' });
  };
}
