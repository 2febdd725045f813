// The proxy's fetch handler (proxy/handler.ts, unchanged) on workerd, Cloudflare's open-source
// Workers runtime, next to the Node server: Berth's RegistryClient pulls real images through
// it, the same table of requests gets the same answers from both, and two workerd instances
// share a pull from a token-auth registry (the proxy keeps no state a pull depends on).
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isForbiddenAddress } from '../../proxy/policy.ts';
import { startServer, type RunningServer } from '../../proxy/server.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { proxyTransport, type Transport } from '../../src/lib/registry/transport.ts';
import { buildFixtures, copyImage, type FixtureImage, type Fixtures } from '../harness/fixtures.ts';
import { rawRequest, type RawResponse } from '../harness/http.ts';
import { freePort } from '../harness/process.ts';
import {
  startRegistry,
  startTokenRegistry,
  type Registry,
  type TokenRegistry,
} from '../harness/registry.ts';
import { blobPathMatches, startShim, type Shim } from '../harness/shim.ts';
import { startWorkerdExample, startWorkerdProxy, type WorkerdProxy } from '../harness/workerd.ts';

const ALLOWED = 'https://berth.example';
const CSP = "default-src 'none'; sandbox";
const IDLE_MS = 1500;

let registry: Registry;
let fixtures: Fixtures;
let shim: Shim;
let tokenRegistry: TokenRegistry;
let tokenHost: string;
/** Counts TCP connections; listed nowhere, so no proxy may ever reach it. */
let listener: Server;
let listenerPort: number;
let connections = 0;
/** Listed in both proxies, but nothing listens there. */
let closedHost: string;
let workerd: WorkerdProxy;
let node: RunningServer;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  registry = await startRegistry();
  stops.push(() => registry.stop());
  fixtures = await buildFixtures(registry);
  const [cut, stall] = fixtures.whiteout.layers!;
  shim = await startShim(registry.url, {
    cutAfter: (r) => (blobPathMatches(r.path, cut!.digest) ? 4096 : undefined),
    stallAfter: (r) => (blobPathMatches(r.path, stall!.digest) ? 4096 : undefined),
  });
  stops.push(() => shim.stop());
  tokenRegistry = await startTokenRegistry({
    publicRepositories: (name) => name.startsWith('public/'),
  });
  stops.push(() => tokenRegistry.stop());
  tokenHost = new URL(tokenRegistry.tokenServer.url).host;
  await copyImage(fixtures.whiteout.ref, `${tokenRegistry.host}/public/whiteout:v1`, {
    destCreds: 'testuser:testpassword',
  });
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  stops.push(() => new Promise((resolve) => listener.close(resolve)));
  listenerPort = (listener.address() as { port: number }).port;
  closedHost = `127.0.0.1:${await freePort()}`;

  const opts = {
    insecureRegistries: [registry.host, shim.host, tokenRegistry.host, tokenHost, closedHost],
    allowedOrigins: [ALLOWED],
    idleTimeoutMs: IDLE_MS,
  };
  workerd = await startWorkerdProxy(opts);
  stops.push(() => workerd.stop());
  node = await startServer({ host: '127.0.0.1', port: 0, distDir: '', proxyOnly: true, ...opts });
  stops.push(() => node.close());
  console.log(`registries, fixtures and both proxies up in ${Date.now() - t0} ms`);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const clientVia = (transport: Transport) =>
  new RegistryClient({ transport, retry: { attempts: 2, baseDelayMs: 10 } });

interface Doc {
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}
type Descriptor = { mediaType: string; digest: string; size: number };

/** Resolves a fixture, then fetches every manifest of it and every config and layer they name,
 * checking sizes and digests (and that blobs carry their Content-Length). Returns the number
 * of blobs checked. */
async function pullAll(c: RegistryClient, fx: FixtureImage): Promise<number> {
  const ref = parseReference(fx.ref);
  const root = await c.resolve(ref);
  expect(root.descriptor.digest, fx.ref).toBe(fx.digest);
  expect(sha256(root.bytes)).toBe(fx.digest);
  const parse = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Doc;
  const docs = [parse(root.bytes)];
  for (const m of docs[0]!.manifests ?? []) {
    const { bytes } = await c.fetchManifest(ref, m);
    docs.push(parse(bytes));
  }
  let blobs = 0;
  for (const doc of docs) {
    for (const desc of doc.config ? [doc.config, ...(doc.layers ?? [])] : []) {
      const res = await c.fetchBlob(ref, desc);
      expect(res.headers.get('Content-Length'), desc.digest).toBe(String(desc.size));
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes.byteLength, desc.digest).toBe(desc.size);
      expect(sha256(bytes), `${fx.ref} ${desc.mediaType}`).toBe(desc.digest);
      blobs++;
    }
  }
  const layers = fx.layers ?? fx.manifests!.flatMap((m) => m.layers);
  expect(layers.length).toBeGreaterThan(0);
  return blobs;
}

const servers = () => ({ workerd: workerd.url, node: node.url });

describe('a pull through the proxy', () => {
  test.each(['workerd', 'node'] as const)(
    'on %s: every fixture, manifests, configs and layers, digests checked',
    async (which) => {
      const c = clientVia(proxyTransport(`${servers()[which]}/proxy`));
      for (const fx of Object.values(fixtures)) {
        expect(await pullAll(c, fx), fx.ref).toBeGreaterThan(1);
      }
    },
  );

  test('a Range piece is a 206 with Content-Range and Content-Length, on both', async () => {
    const fx = fixtures.whiteout;
    const layer = fx.layers![0]!;
    for (const [which, base] of Object.entries(servers())) {
      const c = clientVia(proxyTransport(`${base}/proxy`));
      const res = await c.fetchBlob(parseReference(fx.ref), layer, { start: 100, end: 1099 });
      expect(res.status, which).toBe(206);
      expect(res.headers.get('Content-Range'), which).toBe(`bytes 100-1099/${layer.size}`);
      expect(res.headers.get('Content-Length'), which).toBe('1000');
      expect((await res.arrayBuffer()).byteLength, which).toBe(1000);
    }
  });
});

describe('the catalog', () => {
  test('GET /v2/_catalog lists the registry, paged by its own Link, on both', async () => {
    const wanted = [...new Set(Object.values(fixtures).map((f) => f.repository))].sort();
    for (const [which, base] of Object.entries(servers())) {
      const seen: string[] = [];
      let next: string | undefined = '/v2/_catalog?n=2';
      for (let i = 0; next && i < 50; i++) {
        const res = await rawRequest(base, `/proxy/${reg()}${next}`);
        expect(res.status, `${which} ${next}`).toBe(200);
        const page = JSON.parse(res.body) as { repositories: string[] };
        expect(page.repositories.length, which).toBeLessThanOrEqual(2);
        seen.push(...page.repositories);
        // distribution's next page, which the page follows through the proxy as it is.
        next = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link ?? ''))?.[1];
      }
      expect(seen.length, which).toBeGreaterThan(2);
      expect(new Set(seen).size, which).toBe(seen.length);
      for (const name of wanted) expect(seen, which).toContain(name);
    }
  });
});

interface Case {
  name: string;
  path: () => string;
  method?: string;
  headers?: () => Record<string, string>;
  status: number;
  code?: string;
}

const reg = () => registry.host;
const manifestPath = () => `/proxy/${reg()}/v2/${fixtures.whiteout.repository}/manifests/v1`;

const acceptOci = () => ({ Accept: 'application/vnd.oci.image.manifest.v1+json' });

const CASES: Case[] = [
  { name: 'the /v2/ ping', path: () => `/proxy/${reg()}/v2/`, status: 200 },
  { name: 'a manifest by tag', path: manifestPath, headers: acceptOci, status: 200 },
  {
    name: 'HEAD of a manifest',
    path: manifestPath,
    method: 'HEAD',
    headers: acceptOci,
    status: 200,
  },
  {
    name: '/v2/_catalog, paged',
    path: () => `/proxy/${reg()}/v2/_catalog?n=2&last=a`,
    status: 200,
  },
  {
    name: '/v2/_catalog with a parameter other than n and last',
    path: () => `/proxy/${reg()}/v2/_catalog?n=2&q=x`,
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'HEAD of /v2/_catalog',
    path: () => `/proxy/${reg()}/v2/_catalog`,
    method: 'HEAD',
    status: 405,
  },
  {
    name: 'a blob with a malformed digest',
    path: () => `/proxy/${reg()}/v2/test/whiteout/blobs/sha256:abc`,
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'a dot segment, as sent',
    path: () => `/proxy/${reg()}/v2/test/whiteout/../_catalog`,
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'a backslash, as sent',
    path: () => `/proxy/${reg()}/v2/test\\whiteout/tags/list`,
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'an encoded dot segment',
    path: () => `/proxy/${reg()}/v2/%2e%2e/x`,
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'a GET with a request body',
    path: () => `/proxy/${reg()}/v2/`,
    headers: () => ({ 'Transfer-Encoding': 'chunked' }),
    status: 400,
    code: 'BERTH_BAD_REQUEST',
  },
  {
    name: 'POST',
    path: () => `/proxy/${reg()}/v2/`,
    method: 'POST',
    status: 405,
    code: 'BERTH_METHOD_NOT_ALLOWED',
  },
  {
    name: 'DELETE of a manifest',
    path: manifestPath,
    method: 'DELETE',
    status: 405,
    code: 'BERTH_METHOD_NOT_ALLOWED',
  },
  {
    name: 'a loopback host that is not listed',
    path: () => `/proxy/127.0.0.1:${listenerPort}/v2/`,
    status: 403,
    code: 'BERTH_PROXY_DENIED',
  },
  {
    name: 'localhost',
    path: () => `/proxy/localhost:${listenerPort}/v2/`,
    status: 403,
    code: 'BERTH_PROXY_DENIED',
  },
  {
    name: 'the cloud metadata address',
    path: () => '/proxy/169.254.169.254/v2/',
    status: 403,
    code: 'BERTH_PROXY_DENIED',
  },
  {
    name: 'a non-registry path without Berth-Registry',
    path: () => `/proxy/${tokenHost}/token`,
    status: 403,
    code: 'BERTH_PROXY_DENIED',
  },
  {
    name: 'a token realm the registry never announced',
    path: () => `/proxy/${tokenHost}/token?service=x`,
    headers: () => ({ 'Berth-Registry': reg() }),
    status: 403,
    code: 'BERTH_PROXY_DENIED',
  },
  {
    name: 'a listed registry that is down',
    path: () => `/proxy/${closedHost}/v2/`,
    status: 502,
    code: 'BERTH_UPSTREAM_UNREACHABLE',
  },
  { name: 'a preflight', path: () => `/proxy/${reg()}/v2/`, method: 'OPTIONS', status: 204 },
  {
    name: 'OPTIONS /proxy/ (a health check)',
    path: () => '/proxy/',
    method: 'OPTIONS',
    status: 204,
  },
];

const codeOf = (res: RawResponse) => {
  try {
    return (JSON.parse(res.body) as { errors?: { code: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
};

describe('the same policy on workerd as in Node', () => {
  test.each(CASES)('$name: $status $code', async (c) => {
    const opts = { method: c.method ?? 'GET', headers: c.headers?.() ?? {} };
    const [w, n] = await Promise.all([
      rawRequest(workerd.url, c.path(), opts),
      rawRequest(node.url, c.path(), opts),
    ]);
    expect({ status: w.status, code: codeOf(w) }, `workerd: ${w.body}`).toEqual({
      status: c.status,
      code: c.code,
    });
    expect({ status: n.status, code: codeOf(n) }, `node: ${n.body}`).toEqual({
      status: c.status,
      code: c.code,
    });
    for (const res of [w, n]) {
      expect(res.headers['content-security-policy']).toBe(CSP);
      expect(res.headers['content-disposition']).toBe('attachment');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  test('a Host name other than the loopback names is refused on both (DNS rebinding)', async () => {
    for (const [which, base] of Object.entries(servers())) {
      const port = new URL(base).port;
      const evil = await rawRequest(base, `/proxy/${reg()}/v2/`, {
        headers: { Host: `evil.example:${port}` },
      });
      expect(evil.status, which).toBe(403);
      expect(codeOf(evil), which).toBe('BERTH_PROXY_DENIED');
      const local = await rawRequest(base, `/proxy/${reg()}/v2/`, {
        headers: { Host: `localhost:${port}` },
      });
      expect(local.status, which).toBe(200);
    }
  });

  test('paths outside /proxy/ are a 404 on both', async () => {
    for (const base of Object.values(servers())) {
      expect((await rawRequest(base, '/')).status, base).toBe(404);
      expect((await rawRequest(base, '/v2/')).status, base).toBe(404);
    }
  });

  test('CORS headers only for an allowed Origin, on both', async () => {
    for (const [which, base] of Object.entries(servers())) {
      const url = `${base}/proxy/${reg()}/v2/`;
      const allowed = await rawRequest(base, new URL(url).pathname, {
        headers: { Origin: ALLOWED },
      });
      expect(allowed.headers['access-control-allow-origin'], which).toBe(ALLOWED);
      expect(allowed.headers['access-control-expose-headers'], which).toContain(
        'Docker-Content-Digest',
      );
      const preflight = await rawRequest(base, new URL(url).pathname, {
        method: 'OPTIONS',
        headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'GET' },
      });
      expect(preflight.status, which).toBe(204);
      expect(preflight.headers['access-control-allow-origin'], which).toBe(ALLOWED);
      expect(preflight.headers['access-control-allow-methods'], which).toBe('GET, HEAD, OPTIONS');
      const other = await rawRequest(base, new URL(url).pathname, {
        headers: { Origin: 'https://evil.example' },
      });
      expect(other.status, which).toBe(200);
      expect(other.headers['access-control-allow-origin'], which).toBeUndefined();
    }
  });

  test('a name that resolves to a loopback address is refused without connecting', async (ctx) => {
    // The Node server checks the resolved address itself; on workerd the worker's
    // globalOutbound (allow = ["public"]) refuses it. Needs a host name that resolves to a
    // non-public address and is not called localhost; this machine's own name usually does.
    const name = hostname();
    const address = await lookup(name).then(
      (a) => a.address,
      () => undefined,
    );
    if (!address || !isForbiddenAddress(address) || /(^|\.)localhost$/i.test(name)) {
      ctx.skip(`${name} does not resolve to a loopback or private address here`);
    }
    const before = connections;
    for (const [which, base] of Object.entries(servers())) {
      const res = await rawRequest(base, `/proxy/${name}:${listenerPort}/v2/`);
      expect(res.status, `${which}: ${res.body}`).toBe(403);
      expect(codeOf(res), which).toBe('BERTH_PROXY_DENIED');
      expect(JSON.parse(res.body).errors[0].message, which).toContain(
        'loopback, private or reserved address',
      );
    }
    expect(connections - before).toBe(0);
  });
});

describe('streaming', () => {
  test('an upstream cut mid-blob fails the transfer on both, never a short body', async () => {
    const layer = fixtures.whiteout.layers![0]!;
    for (const [which, base] of Object.entries(servers())) {
      const url = `${base}/proxy/${shim.host}/v2/test/whiteout/blobs/${layer.digest}`;
      const res = await fetch(url);
      expect(res.status, which).toBe(200);
      expect(res.headers.get('Content-Length'), which).toBe(String(layer.size));
      await expect(res.arrayBuffer(), which).rejects.toThrow();
    }
  });

  test('an upstream that stalls is cut off after the idle timeout, on both', async () => {
    const layer = fixtures.whiteout.layers![1]!;
    for (const [which, base] of Object.entries(servers())) {
      const url = `${base}/proxy/${shim.host}/v2/test/whiteout/blobs/${layer.digest}`;
      const started = Date.now();
      const res = await fetch(url);
      expect(res.status, which).toBe(200);
      await expect(res.arrayBuffer(), which).rejects.toThrow();
      const took = Date.now() - started;
      // Not cut before the idle timeout; that it is cut at all is the rejection above.
      expect(took, which).toBeGreaterThanOrEqual(IDLE_MS - 100);
    }
  });
});

describe('rate limit', () => {
  test('the same bucket semantics on both; a client-sent CF-Connecting-IP buys nothing', async () => {
    const opts = { insecureRegistries: [registry.host], rateLimit: 2 };
    const w = await startWorkerdProxy(opts);
    const n = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      ...opts,
    }).catch(async (err: unknown) => {
      await w.stop();
      throw err;
    });
    try {
      for (const [which, base] of [
        ['workerd', w.url],
        ['node', n.url],
      ] as const) {
        const statuses: number[] = [];
        let last: RawResponse | undefined;
        for (let i = 0; i < 4; i++) {
          last = await rawRequest(base, `/proxy/${registry.host}/v2/`, {
            headers: { 'CF-Connecting-IP': `203.0.113.${i}` },
          });
          statuses.push(last.status);
        }
        expect(statuses, which).toEqual([200, 200, 429, 429]);
        expect(codeOf(last!), which).toBe('BERTH_RATE_LIMITED');
        expect(Number(last!.headers['retry-after']), which).toBeGreaterThan(0);
        // Preflights are free.
        const preflight = await rawRequest(base, `/proxy/${registry.host}/v2/`, {
          method: 'OPTIONS',
        });
        expect(preflight.status, which).toBe(204);
      }
    } finally {
      await Promise.all([w.stop(), n.close()]);
    }
  });
});

describe('horizontal scaling: instances share nothing a pull needs', () => {
  test('a token-auth pull whose token requests go to an instance that never saw the challenge', async () => {
    const other = await startWorkerdProxy({
      insecureRegistries: [tokenRegistry.host, tokenHost],
      log: true,
    });
    try {
      const a = proxyTransport(workerd.proxyUrl);
      const b = proxyTransport(other.proxyUrl);
      // Registry API requests (and so the 401 challenge) go to the first instance, token
      // requests to the second, which has to learn the realm from the registry itself.
      const split: Transport = (url, init, registryHost) =>
        (new URL(url).pathname.startsWith('/v2/') ? a : b)(url, init, registryHost);
      const fx = fixtures.whiteout;
      const blobs = await pullAll(clientVia(split), {
        ...fx,
        ref: `${tokenRegistry.host}/public/whiteout:v1`,
      });
      expect(blobs).toBe(1 + fx.layers!.length);
      const lines = other.output().filter((l) => / proxy /.test(l));
      expect(lines.length).toBeGreaterThan(0);
      const token = new RegExp(` ${tokenHost.replace(/\./g, '\\.')} /token 200 `);
      for (const line of lines) expect(line).toMatch(token);
      expect(tokenRegistry.tokenServer.requests.some((r) => r.status === 200)).toBe(true);
    } finally {
      await other.stop();
    }
  });

  // The first request's realm probe is awaited by the others: workerd lets a request wait on
  // a promise that another request's I/O settles.
  test('concurrent token requests to a fresh instance all pass', async () => {
    const fresh = await startWorkerdProxy({ insecureRegistries: [tokenRegistry.host, tokenHost] });
    try {
      const path =
        `/proxy/${tokenHost}/token?service=${encodeURIComponent(tokenRegistry.token!.service)}` +
        '&scope=repository:public/whiteout:pull';
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          rawRequest(fresh.url, path, { headers: { 'Berth-Registry': tokenRegistry.host } }),
        ),
      );
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await fresh.stop();
    }
  });
});

describe('configuration', () => {
  test('the committed proxy/workerd.capnp serves as it is', async () => {
    const example = await startWorkerdExample(
      fileURLToPath(new URL('../../proxy/workerd.capnp', import.meta.url)),
    );
    try {
      const port = new URL(example.url).port;
      // Nothing is listed in it: a loopback registry is refused, public hosts would be tried.
      const denied = await rawRequest(example.url, `/proxy/${reg()}/v2/`);
      expect(denied.status).toBe(403);
      expect(codeOf(denied)).toBe('BERTH_PROXY_DENIED');
      const preflight = await rawRequest(example.url, `/proxy/${reg()}/v2/`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://berth.example.com' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://berth.example.com');
      const rebound = await rawRequest(example.url, `/proxy/${reg()}/v2/`, {
        headers: { Host: `evil.example:${port}` },
      });
      expect(rebound.status).toBe(403);
    } finally {
      await example.stop();
    }
  });

  test('without BERTH_INSECURE_NETWORK a listed private registry is refused, not reached', async () => {
    const bare = await startWorkerdProxy({
      insecureRegistries: [registry.host],
      insecureNetwork: false,
    });
    try {
      const res = await rawRequest(bare.url, `/proxy/${reg()}/v2/`);
      expect(res.status).toBe(403);
      expect(codeOf(res)).toBe('BERTH_PROXY_DENIED');
      expect(res.body).toContain('no BERTH_INSECURE_NETWORK service');
    } finally {
      await bare.stop();
    }
  });

  test('a binding that does not parse is named (not its value) in a 500, as Node refuses to start', async () => {
    const bad = await startWorkerdProxy({ bindings: { BERTH_PROXY_TIMEOUT_MS: 'soon' } });
    try {
      const res = await rawRequest(bad.url, `/proxy/${registry.host}/v2/`);
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({
        errors: [
          {
            code: 'BERTH_PROXY_MISCONFIGURED',
            message:
              'the proxy is misconfigured: BERTH_PROXY_TIMEOUT_MS cannot be read; its log says why',
          },
        ],
      });
    } finally {
      await bad.stop();
    }
  });
});
