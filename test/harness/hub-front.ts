// A front over a real registry that answers as Docker Hub does where browsing meets it: every
// manifest answer carries `ratelimit-limit`/`ratelimit-remaining` (one pull fewer per manifest
// GET, as Hub counts them; HEADs are free), and the catalog is refused with a 401
// insufficient_scope after a token with no access in it (REGISTRIES.md 1.4, 1.5, 1.7). All else
// is forwarded unchanged. The token realm is on the front itself, so nothing leaves loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFront {
  /** 127.0.0.1:port */
  host: string;
  /** Pulls left in the window, as the next manifest answer will say. */
  readonly remaining: number;
  /** Requests as `METHOD /path?query`. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startHubFront(registryUrl: string, limit = 100): Promise<HubFront> {
  let remaining = limit;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://front');
      const method = req.method ?? 'GET';
      requests.push(`${method} ${url.pathname}${url.search}`);
      if (url.pathname === '/token') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"no-access"}');
        return;
      }
      if (url.pathname === '/v2/_catalog') {
        const challenge =
          `Bearer realm="http://${req.headers.host}/token",service="registry.docker.io",` +
          `scope="registry:catalog:*"` +
          (req.headers.authorization ? ',error="insufficient_scope"' : '');
        res
          .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge })
          .end(
            '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]}]}\n',
          );
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of ['accept', 'range']) {
        const v = req.headers[name];
        if (typeof v === 'string') headers[name] = v;
      }
      const upstream = await fetch(`${registryUrl}${url.pathname}${url.search}`, {
        method,
        headers,
      });
      const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await upstream.arrayBuffer());
      const out: Record<string, string> = {};
      for (const [k, v] of upstream.headers) {
        if (!['transfer-encoding', 'connection'].includes(k)) out[k] = v;
      }
      if (url.pathname.includes('/manifests/')) {
        if (method === 'GET' && upstream.status === 200) remaining = Math.max(0, remaining - 1);
        out['ratelimit-limit'] = `${limit};w=21600`;
        out['ratelimit-remaining'] = `${remaining};w=21600`;
        out['docker-ratelimit-source'] = '192.0.2.1';
      }
      res.writeHead(upstream.status, out).end(body);
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get remaining() {
      return remaining;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
