// The proxy over real sockets: fake registry, token server and "CDN" on
// 127.0.0.1, the proxy started in-process with startServer().

import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyHandler } from '../../proxy/handler.ts';
import { createGuardedFetch } from '../../proxy/node.ts';
import { startServer } from '../../proxy/server.ts';
import type { RunningServer } from '../../proxy/server.ts';
import { rawRequest } from '../harness/http.ts';
import { type Upstream, upstream } from '../harness/upstream.ts';

/** A port nothing listens on: bind, note it, release it. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const digestOf = (name: string) => `sha256:${createHash('sha256').update(name).digest('hex')}`;
/** A blob route the proxy's grammar accepts, one per scripted behaviour. */
const blobPath = (name: string) => `/v2/lib/blobs/${digestOf(name)}`;

async function errorOf(res: Response) {
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
  return body.errors[0]!;
}

// 50 MB of deterministic, non-repeating-per-chunk data.
const BIG_CHUNK = 1 << 20;
const BIG_CHUNKS = 50;
function bigChunk(i: number): Buffer {
  const b = Buffer.alloc(BIG_CHUNK, i % 251);
  b.writeUInt32BE(i, 0);
  return b;
}
const bigDigest = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < BIG_CHUNKS; i++) h.update(bigChunk(i));
  return h.digest('hex');
})();

let registry: Upstream;
let evil: Upstream; // answers with documents a browser would render
let secret: Upstream; // a private service on an insecure-listed host
let other: Upstream; // a second registry whose realm is elsewhere
let tokens: Upstream;
let cdn: Upstream;
let proxy: RunningServer;
let strict: RunningServer; // nothing insecure-listed
let narrow: RunningServer; // only the registry port listed
let slowProxy: RunningServer;
const logLines: string[] = [];
const warnings: string[] = [];
let releaseBig: () => void = () => {};
// Resolves with whether the upstream managed to send the whole big blob.
let bigOutcome: Promise<boolean> = Promise.resolve(true);

const XSS = '<html><script>parent.stolen = indexedDB</script></html>';
const EVIL_TYPES: Record<string, string> = {
  '/v2/evil/manifests/html': 'text/html; charset=utf-8',
  '/v2/evil/manifests/svg': 'image/svg+xml',
  '/v2/evil/manifests/xml': 'text/xml',
  '/v2/evil/manifests/xhtml': 'application/xhtml+xml',
};

beforeAll(async () => {
  evil = await upstream((req, res) => {
    res.writeHead(200, { 'Content-Type': EVIL_TYPES[req.url ?? ''] ?? 'text/html' });
    res.end(XSS);
  });
  secret = await upstream((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"secret":"internal"}');
  });
  tokens = await upstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: 'tok', path: req.url }));
  });
  cdn = await upstream((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '8' });
    res.end('cdn-blob');
  });
  other = await upstream((req, res) => {
    res.writeHead(401, {
      'WWW-Authenticate': `Bearer realm="http://${tokens.host}/elsewhere",service="other"`,
    });
    res.end('{}');
  });
  registry = await upstream(async (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const redirect = (location: string) => {
      res.writeHead(307, { Location: location });
      res.end();
    };
    switch (path) {
      case '/v2/':
        res.writeHead(401, {
          'Content-Type': 'application/json',
          'Docker-Distribution-Api-Version': 'registry/2.0',
          'WWW-Authenticate': `Basic realm="legacy, with comma", Bearer realm="http://${tokens.host}/token",service="fake",scope="a,b"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      case '/v2/lib/manifests/latest':
        res.writeHead(200, {
          'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
          'Docker-Content-Digest': 'sha256:0123',
          ETag: '"sha256:0123"',
          'Set-Cookie': 'session=secret',
          'X-Secret': 'internal',
          Server: 'fake-registry',
        });
        res.end('{"schemaVersion":2}');
        return;
      case blobPath('cross'):
        return redirect(`http://${cdn.host}/blob?X-Amz-Signature=abc`);
      case blobPath('same'):
        return redirect(blobPath('real'));
      case blobPath('real'):
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end('same-origin-blob');
        return;
      case blobPath('private'):
        return redirect('http://10.1.2.3/blob');
      case blobPath('metadata'):
        return redirect('https://169.254.169.254/latest/meta-data/');
      case blobPath('loop'):
        return redirect(blobPath('loop'));
      case blobPath('big'): {
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(BIG_CHUNK * BIG_CHUNKS),
          'Docker-Content-Digest': `sha256:${bigDigest}`,
        });
        if (req.method === 'HEAD') return void res.end();
        bigOutcome = new Promise((resolve) =>
          res.once('close', () => resolve(res.writableFinished)),
        );
        // The rest is held back until the client has the first chunk: a
        // buffering proxy would deadlock here instead of streaming.
        const gate = new Promise<void>((resolve) => (releaseBig = resolve));
        res.write(bigChunk(0));
        await gate;
        for (let i = 1; i < BIG_CHUNKS; i++) {
          if (!res.write(bigChunk(i))) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      case '/v2/lib/manifests/slow':
        return; // never answers
      default:
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"NOT_FOUND"}]}');
    }
  });

  const base = { host: '127.0.0.1', port: 0, distDir: '', proxyOnly: true };
  proxy = await startServer({
    ...base,
    insecureRegistries: ['127.0.0.1'],
    allowedOrigins: ['https://app.example'],
    log: (line) => logLines.push(line),
    warn: (line) => warnings.push(line),
  });
  strict = await startServer({ ...base, insecureRegistries: [] });
  narrow = await startServer({ ...base, insecureRegistries: [registry.host] });
  slowProxy = await startServer({
    ...base,
    insecureRegistries: ['127.0.0.1'],
    timeoutMs: 300,
    warn: () => {},
  });
});

afterAll(async () => {
  await Promise.all([proxy, strict, narrow, slowProxy].map((s) => s?.close()));
  await Promise.all([registry, evil, secret, other, tokens, cdn].map((u) => u?.close()));
});

const via = (server: RunningServer, hostPath: string, init?: RequestInit) =>
  fetch(`${server.url}/proxy/${hostPath}`, init);

describe('registry API forwarding', () => {
  it('forwards /v2/ to an insecure-listed registry over http', async () => {
    const res = await via(proxy, `${registry.host}/v2/`);
    expect(res.status).toBe(401);
    // It offers Basic too, so it travels under a name the browser does not act on.
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('berth-www-authenticate')).toContain(
      `realm="http://${tokens.host}/token"`,
    );
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED' }] });
  });

  it('refuses a loopback registry that is not listed', async () => {
    const before = registry.requests.length;
    const res = await via(strict, `${registry.host}/v2/`);
    expect(res.status).toBe(403);
    const err = await errorOf(res);
    expect(err.code).toBe('BERTH_PROXY_DENIED');
    expect(err.message).toContain(registry.host);
    expect(err.message).toContain('BERTH_INSECURE_REGISTRIES');
    expect(registry.requests.length).toBe(before);
  });

  it('matches listed ports exactly', async () => {
    expect((await via(narrow, `${registry.host}/v2/`)).status).toBe(401);
    const res = await via(narrow, `${cdn.host}/v2/`);
    expect(res.status).toBe(403);
  });

  it('forwards only allowed headers and passes only allowed headers back', async () => {
    const res = await via(proxy, `${registry.host}/v2/lib/manifests/latest`, {
      headers: {
        Accept: 'application/vnd.oci.image.manifest.v1+json',
        Authorization: 'Bearer tok',
        'If-None-Match': '"x"',
        Range: 'bytes=0-',
        Cookie: 'berth=1',
        'X-Forwarded-For': '203.0.113.9',
        'X-Custom': 'nope',
        'Berth-Registry': registry.host,
      },
    });
    expect(res.status).toBe(200);
    const seen = registry.requests.at(-1)!.headers;
    expect(seen.authorization).toBe('Bearer tok');
    expect(seen.accept).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(seen['if-none-match']).toBe('"x"');
    expect(seen.range).toBe('bytes=0-');
    expect(seen['user-agent']).toBe('berth-proxy/0.1');
    for (const h of ['cookie', 'x-forwarded-for', 'x-custom', 'berth-registry', 'origin']) {
      expect(seen[h], h).toBeUndefined();
    }

    expect(res.headers.get('docker-content-digest')).toBe('sha256:0123');
    expect(res.headers.get('etag')).toBe('"sha256:0123"');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('x-secret')).toBeNull();
    expect(res.headers.get('server')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const exposed = res.headers.get('access-control-expose-headers')!.split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['Docker-Content-Digest', 'WWW-Authenticate']));
    expect(await res.text()).toBe('{"schemaVersion":2}');
  });

  it('passes upstream errors through unchanged', async () => {
    const res = await via(proxy, `${registry.host}/v2/lib/manifests/missing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ errors: [{ code: 'NOT_FOUND' }] });
  });
});

describe('token requests', () => {
  const tokenPath = () => `${tokens.host}/token?scope=repository:lib:pull&service=fake`;

  it('forwards to the realm announced by the registry, with credentials', async () => {
    const res = await via(proxy, tokenPath(), {
      headers: { 'Berth-Registry': registry.host, Authorization: 'Basic dTpw' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token: 'tok' });
    const seen = tokens.requests.at(-1)!;
    expect(seen.url).toBe('/token?scope=repository:lib:pull&service=fake');
    expect(seen.headers.authorization).toBe('Basic dTpw');
  });

  it('refuses without Berth-Registry', async () => {
    const res = await via(proxy, tokenPath());
    expect(res.status).toBe(403);
    expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
  });

  it('refuses another path or another host than the realm', async () => {
    const headers = { 'Berth-Registry': registry.host };
    const path = await via(proxy, `${tokens.host}/elsewhere`, { headers });
    expect(path.status).toBe(403);
    const host = await via(proxy, `${cdn.host}/token`, { headers });
    expect(host.status).toBe(403);
    expect((await errorOf(host)).message).toContain(`http://${cdn.host}/token`);
  });

  it('checks against the registry named in the header, probing it once', async () => {
    const headers = { 'Berth-Registry': other.host };
    expect((await via(proxy, `${tokens.host}/token`, { headers })).status).toBe(403);
    expect((await via(proxy, `${tokens.host}/elsewhere?scope=1`, { headers })).status).toBe(200);
    expect((await via(proxy, `${tokens.host}/elsewhere?scope=2`, { headers })).status).toBe(200);
    expect(other.requests.filter((r) => r.url === '/v2/')).toHaveLength(1);
  });

  it('rejects a malformed Berth-Registry header', async () => {
    const res = await via(proxy, `${tokens.host}/token`, {
      headers: { 'Berth-Registry': 'user@host' },
    });
    expect(res.status).toBe(400);
  });
});

describe('redirects', () => {
  it('follows a cross-origin redirect and drops Authorization', async () => {
    const res = await via(proxy, `${registry.host}${blobPath('cross')}`, {
      headers: { Authorization: 'Bearer tok' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('cdn-blob');
    const seen = cdn.requests.at(-1)!;
    expect(seen.url).toBe('/blob?X-Amz-Signature=abc');
    expect(seen.headers.authorization).toBeUndefined();
  });

  it('keeps Authorization on a same-origin relative redirect', async () => {
    const res = await via(proxy, `${registry.host}${blobPath('same')}`, {
      headers: { Authorization: 'Bearer tok' },
    });
    expect(await res.text()).toBe('same-origin-blob');
    const seen = registry.requests.at(-1)!;
    expect(seen.url).toBe(blobPath('real'));
    expect(seen.headers.authorization).toBe('Bearer tok');
  });

  it('refuses redirects to non-listed private addresses', async () => {
    for (const p of ['private', 'metadata']) {
      const res = await via(proxy, `${registry.host}${blobPath(p)}`);
      expect(res.status, p).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
    }
  });

  it('refuses a redirect to a port that is not listed', async () => {
    // narrow lists only the registry port, so the CDN port is off limits.
    const res = await via(narrow, `${registry.host}${blobPath('cross')}`);
    expect(res.status).toBe(403);
    expect((await errorOf(res)).message).toContain(cdn.host);
  });

  it('stops redirect loops', async () => {
    const res = await via(proxy, `${registry.host}${blobPath('loop')}`);
    expect(res.status).toBe(502);
  });
});

describe('upstream documents never render on the app origin', () => {
  it.each(Object.keys(EVIL_TYPES))('%s is relabelled and sandboxed', async (p) => {
    const res = await via(proxy, `${evil.host}${p}`, {
      headers: { Origin: 'https://app.example' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(res.headers.get('content-disposition')).toBe('attachment');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // CORP binds only no-cors loads; the CORS grant for allowed origins stands.
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(await res.text()).toBe(XSS);
  });

  it("keeps manifest types and hardens the proxy's own errors too", async () => {
    const manifest = await via(proxy, `${registry.host}/v2/lib/manifests/latest`, {
      headers: { Origin: 'https://app.example' },
    });
    expect(manifest.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(manifest.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    await manifest.body?.cancel();

    const port = new URL(proxy.url).port;
    for (const [what, res] of [
      ['denied', await rawRequest(strict.url, `/proxy/${registry.host}/v2/`)],
      ['bad request', await rawRequest(proxy.url, '/proxy/127.0.0.1/v2/../x')],
      [
        'host guard',
        await rawRequest(proxy.url, '/proxy/ghcr.io/v2/', {
          headers: { Host: `evil.example:${port}` },
        }),
      ],
    ] as const) {
      expect(res.headers['content-type'], what).toBe('application/json');
      expect(res.headers['content-security-policy'], what).toBe("default-src 'none'; sandbox");
      expect(res.headers['content-disposition'], what).toBe('attachment');
      expect(res.headers['cross-origin-resource-policy'], what).toBe('same-origin');
      expect(res.headers['x-content-type-options'], what).toBe('nosniff');
    }
  });
});

describe('a public registry cannot lead the proxy to insecure-listed hosts', () => {
  // public.example stands in for a registry on the internet: its answers are
  // scripted, everything else goes through the real guarded fetch with
  // BERTH_INSECURE_REGISTRIES=127.0.0.1 (no port).
  function publicRegistryProxy(script: (url: URL) => Response | undefined) {
    const guarded = createGuardedFetch({ insecureRegistries: ['127.0.0.1'] });
    const f = ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.hostname.endsWith('public.example')) {
        return Promise.resolve(script(url) ?? new Response('{}', { status: 404 }));
      }
      return guarded(input, init);
    }) as typeof fetch;
    const handler = createProxyHandler({ insecureRegistries: ['127.0.0.1'], fetch: f });
    const get = (path: string, headers: Record<string, string> = {}) =>
      handler(new Request(`http://berth.test/proxy/${path}`, { headers }));
    return { get, close: () => guarded.close() };
  }

  it('refuses a redirect to a listed loopback port', async () => {
    const before = secret.requests.length;
    const p = publicRegistryProxy((url) =>
      url.pathname === blobPath('1')
        ? new Response(null, {
            status: 302,
            headers: { Location: `http://${secret.host}/v1/kv/secret` },
          })
        : undefined,
    );
    try {
      const res = await p.get(`registry.public.example${blobPath('1')}`);
      expect(res.status).toBe(403);
      const err = await errorOf(res);
      expect(err.code).toBe('BERTH_PROXY_DENIED');
      expect(err.message).toContain(secret.host);
      expect(err.message).toContain('registry.public.example');
      expect(secret.requests.length).toBe(before);
      // The listed registry itself is still reachable directly.
      expect((await p.get(`${registry.host}/v2/`)).status).toBe(401);
    } finally {
      await p.close();
    }
  });

  it('refuses a token realm on a listed loopback port', async () => {
    const before = secret.requests.length;
    const p = publicRegistryProxy((url) =>
      url.pathname === '/v2/'
        ? new Response('{}', {
            status: 401,
            headers: { 'WWW-Authenticate': `Bearer realm="http://${secret.host}/v1/kv/secret"` },
          })
        : undefined,
    );
    try {
      const res = await p.get(`${secret.host}/v1/kv/secret`, {
        'Berth-Registry': 'registry.public.example',
      });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).message).toContain('registry.public.example');
      expect(secret.requests.length).toBe(before);
    } finally {
      await p.close();
    }
  });

  it('warns at server start that a port-less entry opens every port', () => {
    expect(warnings).toEqual([
      'BERTH_INSECURE_REGISTRIES entry 127.0.0.1 has no port: every port on that host is ' +
        'reachable through the proxy; list it as 127.0.0.1:<port> to allow only the registry',
    ]);
  });
});

describe('methods and CORS', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('%s -> 405', async (method) => {
    const res = await via(proxy, `${registry.host}/v2/`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await errorOf(res)).code).toBe('BERTH_METHOD_NOT_ALLOWED');
  });

  it('answers OPTIONS with 204 and CORS headers for allowed origins', async () => {
    const res = await via(proxy, `${registry.host}/v2/`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe(
      'Authorization, Accept, Range, Berth-Registry, Content-Type',
    );
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toBe('Origin');
  });

  it('reflects its own origin but not strangers', async () => {
    const own = await via(proxy, `${registry.host}/v2/`, { headers: { Origin: proxy.url } });
    expect(own.headers.get('access-control-allow-origin')).toBe(proxy.url);
    const evil = await via(proxy, `${registry.host}/v2/`, {
      headers: { Origin: 'https://evil.example' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('bad requests', () => {
  it.each([
    '/proxy/user@127.0.0.1/v2/',
    '/proxy//v2/',
    '/proxy/127.0.0.1:99999/v2/',
    '/proxy/127.0.0.1:0/v2/',
    '/proxy/127.0.0.1/v2/../../etc/passwd',
    '/proxy/127.0.0.1/v2/%2e%2e/x',
    '/proxy/127.0.0.1/v2/a%2fb',
    '/proxy/127.0.0.1/v2/a\\b',
    '/proxy/127.0.0.1',
    '/proxy',
  ])('%s -> 400', async (path) => {
    const res = await rawRequest(proxy.url, path);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ errors: [{ code: 'BERTH_BAD_REQUEST' }] });
  });

  it('never forwards absolute-form request targets', async () => {
    const before = registry.requests.length;
    const res = await rawRequest(proxy.url, `http://${registry.host}/proxy/${registry.host}/v2/`);
    expect([400, 404]).toContain(res.status);
    expect(registry.requests.length).toBe(before);
  });
});

describe('upstream failures', () => {
  it('reports a closed port as 502 with host and reason', async () => {
    const port = await closedPort();
    const res = await via(proxy, `127.0.0.1:${port}/v2/`);
    expect(res.status).toBe(502);
    const err = await errorOf(res);
    expect(err.code).toBe('BERTH_UPSTREAM_UNREACHABLE');
    expect(err.message).toBe(`could not connect to 127.0.0.1:${port}: connection refused`);
  });

  it('refuses ports of non-HTTP services', async () => {
    const res = await via(proxy, `127.0.0.1:25/v2/`);
    expect(res.status).toBe(403);
  });

  it('times out when the upstream never answers', async () => {
    const started = Date.now();
    const res = await via(slowProxy, `${registry.host}/v2/lib/manifests/slow`);
    expect(res.status).toBe(504);
    expect((await errorOf(res)).code).toBe('BERTH_UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('streaming', () => {
  it('streams a 50 MB blob without buffering it', async () => {
    const res = await via(proxy, `${registry.host}${blobPath('big')}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(BIG_CHUNK * BIG_CHUNKS));
    const reader = res.body!.getReader();
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total === 0) releaseBig(); // upstream waits for this before sending the rest
      total += value.byteLength;
      hash.update(value);
    }
    expect(total).toBe(BIG_CHUNK * BIG_CHUNKS);
    expect(hash.digest('hex')).toBe(bigDigest);
  });

  it('answers HEAD with headers only', async () => {
    const res = await via(proxy, `${registry.host}${blobPath('big')}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(BIG_CHUNK * BIG_CHUNKS));
    expect(res.headers.get('docker-content-digest')).toBe(`sha256:${bigDigest}`);
    expect(await res.text()).toBe('');
  });

  it('releases the upstream when the client goes away', async () => {
    const ac = new AbortController();
    const res = await via(proxy, `${registry.host}${blobPath('big')}`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    releaseBig();
    // The proxy must cancel the upstream body, cutting the registry off
    // mid-blob, instead of draining 50 MB nobody will read.
    expect(await bigOutcome).toBe(false);
  });
});

describe('logging', () => {
  it('logs method, host, path, status and duration, never queries or credentials', () => {
    const tokenLines = logLines.filter((l) => l.includes('/token'));
    expect(tokenLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(line).toMatch(/^[A-Z]+ \S+ \S+ \d{3} \d+ms$/);
      expect(line).not.toContain('?');
      expect(line).not.toMatch(/Basic|Bearer|dTpw|scope=/);
    }
    expect(logLines.some((l) => l.startsWith(`GET ${tokens.host} /token 200 `))).toBe(true);
  });
});

describe('guarded fetch', () => {
  // Fake DNS: the connect-time check must see through names to addresses.
  const fakeLookup = (address: string, family: number) =>
    ((_host: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) => {
      if (options.all) cb(null, [{ address, family }]);
      else cb(null, address, family);
    }) as Parameters<typeof createGuardedFetch>[0]['lookup'];

  it('refuses names that resolve to private addresses at connect time', async () => {
    const f = createGuardedFetch({ insecureRegistries: [], lookup: fakeLookup('127.0.0.1', 4) });
    try {
      const err = await f(`http://registry.test:${registry.port}/v2/`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await f.close();
    }
  });

  it('allows listed names to private addresses, port included', async () => {
    const lookup = fakeLookup('127.0.0.1', 4);
    const f = createGuardedFetch({
      insecureRegistries: [`registry.test:${registry.port}`],
      lookup,
    });
    try {
      const res = await f(`http://registry.test:${registry.port}/v2/`);
      expect(res.status).toBe(401);
      await res.body?.cancel();
      const err = await f(`http://registry.test:${cdn.port}/blob`).catch((e: unknown) => e);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await f.close();
    }
  });

  it('refuses private IP literals even if the handler were bypassed', async () => {
    const f = createGuardedFetch({ insecureRegistries: [] });
    try {
      const err = await f(`http://${registry.host}/v2/`).catch((e: unknown) => e);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await f.close();
    }
  });

  it('turns a rebinding name into a 403 through the handler', async () => {
    const f = createGuardedFetch({ insecureRegistries: [], lookup: fakeLookup('::1', 6) });
    const handler = createProxyHandler({ insecureRegistries: [], fetch: f });
    try {
      const res = await handler(new Request(`http://berth.test/proxy/rebind.test/v2/`));
      expect(res.status).toBe(403);
      const err = await errorOf(res);
      expect(err.message).toContain('rebind.test');
      expect(err.message).toContain('::1');
    } finally {
      await f.close();
    }
  });
});
