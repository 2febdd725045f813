// The proxy's limits over real sockets on 127.0.0.1: idle timeout, per-client
// rate limit, request smuggling, resolved-address refusal on every hop, and
// what BERTH_PROXY_LOG=1 writes.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProxyHandler } from '../../proxy/handler.ts';
import { createGuardedFetch, proxyOptionsFromEnv } from '../../proxy/node.ts';
import { startServer } from '../../proxy/server.ts';
import type { RunningServer } from '../../proxy/server.ts';
import { type Upstream, upstream } from '../harness/upstream.ts';

/** Sends bytes as they are and collects the answer until the server closes (at most 3 s). */
function rawExchange(base: string, data: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, 3000);
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (out += c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(data);
  });
}

const digestOf = (name: string) => `sha256:${createHash('sha256').update(name).digest('hex')}`;
const blobPath = (name: string) => `/v2/lib/blobs/${digestOf(name)}`;

async function errorOf(res: Response) {
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
  return body.errors[0]!;
}

let registry: Upstream;
let tokens: Upstream;
let cdn: Upstream;
let stalled: Promise<boolean> = Promise.resolve(true);
const base = { host: '127.0.0.1', port: 0, distDir: '', proxyOnly: true, warn: () => {} };
const servers: RunningServer[] = [];

async function server(env: Record<string, string>): Promise<RunningServer> {
  const s = await startServer({
    ...base,
    ...proxyOptionsFromEnv({ BERTH_INSECURE_REGISTRIES: '127.0.0.1', ...env }),
  });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  tokens = await upstream((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"token":"TOKEN-SECRET"}');
  });
  cdn = await upstream((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.end('cdn-blob');
  });
  registry = await upstream((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/v2/') {
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="http://${tokens.host}/token",service="fake"`,
      });
      res.end('{}');
    } else if (path === blobPath('signed')) {
      res.writeHead(307, {
        Location: `http://${cdn.host}/blob?X-Amz-Credential=AKID-SECRET&X-Amz-Signature=SIG-SECRET`,
      });
      res.end();
    } else if (path === blobPath('stall')) {
      // Headers and a first piece, then silence with the connection open.
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '1000' });
      res.write(Buffer.alloc(10, 1));
      stalled = new Promise((resolve) => res.once('close', () => resolve(res.writableFinished)));
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"NOT_FOUND"}]}');
    }
  });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all([registry, tokens, cdn].map((u) => u?.close()));
});

describe('idle timeout', () => {
  it('cuts off a body that goes quiet (BERTH_PROXY_IDLE_TIMEOUT_MS) and releases the upstream', async () => {
    const proxy = await server({ BERTH_PROXY_IDLE_TIMEOUT_MS: '300' });
    const res = await fetch(`${proxy.url}/proxy/${registry.host}${blobPath('stall')}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let received = 0;
    const started = Date.now();
    const outcome = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'complete';
        received += value.byteLength;
      }
    })().catch(() => 'cut off');
    expect(outcome).toBe('cut off');
    expect(received).toBe(10);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await stalled).toBe(false); // the upstream connection was closed unfinished
  });

  it('defaults to 60 s and refuses nonsense', () => {
    expect(proxyOptionsFromEnv({}).idleTimeoutMs).toBeUndefined();
    expect(proxyOptionsFromEnv({ BERTH_PROXY_IDLE_TIMEOUT_MS: '250' }).idleTimeoutMs).toBe(250);
    expect(() => proxyOptionsFromEnv({ BERTH_PROXY_IDLE_TIMEOUT_MS: '-1' })).toThrow(
      /BERTH_PROXY_IDLE_TIMEOUT_MS/,
    );
    expect(() => proxyOptionsFromEnv({ BERTH_PROXY_RATE_LIMIT: 'lots' })).toThrow(
      /BERTH_PROXY_RATE_LIMIT/,
    );
  });
});

describe('rate limit', () => {
  it('answers a flood with 429s and keeps serving', async () => {
    const proxy = await server({ BERTH_PROXY_RATE_LIMIT: '100' });
    const target = `${proxy.url}/proxy/${registry.host}/v2/`;
    const statuses: number[] = [];
    let limited: Response | undefined;
    const started = Date.now();
    for (let batch = 0; batch < 6 && Date.now() - started < 20_000; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(target)));
      for (const res of answers) {
        statuses.push(res.status);
        if (res.status === 429 && !limited) limited = res;
        else await res.body?.cancel();
      }
    }
    expect(statuses).toHaveLength(300);
    const served = statuses.filter((s) => s === 401).length;
    expect(served).toBeGreaterThanOrEqual(100);
    // 100 a minute refill 5 every 3 s: beyond the first 100, only what the time taken refilled.
    const refilled = Math.ceil(((Date.now() - started) / 60_000) * 100);
    expect(served).toBeLessThanOrEqual(100 + refilled);
    expect(statuses.filter((s) => s === 429).length).toBe(300 - served);

    expect(limited!.headers.get('retry-after')).toBe('1');
    expect(limited!.headers.get('content-type')).toBe('application/json');
    expect(await errorOf(limited!)).toMatchObject({ code: 'BERTH_RATE_LIMITED' });

    // Preflights are not counted, so the page still learns it was limited.
    expect((await fetch(target, { method: 'OPTIONS' })).status).toBe(204);
    // After the advertised wait the same client is served again.
    await new Promise((r) => setTimeout(r, 1100));
    const again = await fetch(target);
    expect(again.status).toBe(401);
    await again.body?.cancel();
  });

  it('is off with BERTH_PROXY_RATE_LIMIT=0', async () => {
    const proxy = await server({ BERTH_PROXY_RATE_LIMIT: '0' });
    const target = `${proxy.url}/proxy/${registry.host}/v2/`;
    const statuses: number[] = [];
    for (let batch = 0; batch < 3; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(target)));
      for (const res of answers) {
        statuses.push(res.status);
        await res.body?.cancel();
      }
    }
    expect(statuses.every((s) => s === 401)).toBe(true);
  });
});

describe('request smuggling', () => {
  let proxy: RunningServer;
  beforeAll(async () => {
    proxy = await server({});
  });
  const smuggled = () =>
    `GET /proxy/${registry.host}/v2/smuggled/manifests/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const seenSmuggled = () => registry.requests.some((r) => r.url.includes('smuggled'));

  it('refuses Content-Length together with Transfer-Encoding', async () => {
    const inner = smuggled();
    const out = await rawExchange(
      proxy.url,
      `GET /proxy/${registry.host}/v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(seenSmuggled()).toBe(false);
  });

  it.each(['GET', 'HEAD'])('refuses a %s with a Content-Length body', async (method) => {
    const inner = smuggled();
    const out = await rawExchange(
      proxy.url,
      `${method} /proxy/${registry.host}/v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Content-Length: ${inner.length}\r\n\r\n${inner}`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out.toLowerCase()).toContain('connection: close');
    if (method === 'GET') expect(out).toContain('BERTH_BAD_REQUEST');
    expect(out.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(seenSmuggled()).toBe(false);
  });

  it('refuses a GET with a chunked body', async () => {
    const inner = smuggled();
    const out = await rawExchange(
      proxy.url,
      `GET /proxy/${registry.host}/v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).toContain('Transfer-Encoding');
    expect(seenSmuggled()).toBe(false);
  });

  it('keeps serving afterwards', async () => {
    const res = await fetch(`${proxy.url}/proxy/${registry.host}/v2/`);
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });
});

describe('resolved-address refusal on every hop', () => {
  // public.example is a scripted internet registry; every other host goes
  // through the real guarded fetch, whose fake DNS maps <name>.internal.test
  // to the private addresses below. Nothing is insecure-listed.
  const PRIVATE: Array<[string, string, number]> = [
    ['loopback', '127.0.0.1', 4],
    ['private', '10.1.2.3', 4],
    ['metadata', '169.254.169.254', 4],
    ['loopback6', '::1', 6],
  ];
  const lookup = ((
    hostname: string,
    options: { all?: boolean },
    cb: (...args: unknown[]) => void,
  ) => {
    const hit = PRIVATE.find(([name]) => hostname === `${name}.internal.test`);
    if (!hit) return cb(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
    if (options.all) cb(null, [{ address: hit[1], family: hit[2] }]);
    else cb(null, hit[1], hit[2]);
  }) as Parameters<typeof createGuardedFetch>[0]['lookup'];

  function publicRegistryProxy(script: (url: URL) => Response | undefined) {
    const guarded = createGuardedFetch({ insecureRegistries: [], lookup });
    const f = ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.hostname.endsWith('public.example')) {
        return Promise.resolve(script(url) ?? new Response('{}', { status: 404 }));
      }
      return guarded(input, init);
    }) as typeof fetch;
    const handler = createProxyHandler({ insecureRegistries: [], fetch: f });
    const get = (path: string, headers: Record<string, string> = {}) =>
      handler(new Request(`http://berth.test/proxy/${path}`, { headers }));
    return { get, close: () => guarded.close() };
  }

  const literal = (address: string) => (address.includes(':') ? `[${address}]` : address);
  const targets = PRIVATE.flatMap(([name, address]) => [
    [address, literal(address)],
    [`${name}.internal.test (${address})`, `${name}.internal.test`],
  ]);

  it.each(targets)('refuses %s as a direct target', async (_what, host) => {
    const p = publicRegistryProxy(() => undefined);
    try {
      const res = await p.get(`${host}/v2/`);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await p.close();
    }
  });

  it.each(targets)('refuses %s as a redirect target', async (_what, host) => {
    const p = publicRegistryProxy((url) =>
      url.pathname === blobPath('x')
        ? new Response(null, { status: 302, headers: { Location: `https://${host}/blob?sig=1` } })
        : undefined,
    );
    try {
      const res = await p.get(`registry.public.example${blobPath('x')}`);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await p.close();
    }
  });

  it.each(targets)('refuses %s as an announced token realm', async (_what, host) => {
    const p = publicRegistryProxy((url) =>
      url.pathname === '/v2/'
        ? new Response('{}', {
            status: 401,
            headers: { 'WWW-Authenticate': `Bearer realm="https://${host}/token"` },
          })
        : undefined,
    );
    try {
      const res = await p.get(`${host}/token`, { 'Berth-Registry': 'registry.public.example' });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
    } finally {
      await p.close();
    }
  });
});

describe('BERTH_PROXY_LOG=1', () => {
  it('logs token requests and signed redirects without credentials or queries', async () => {
    const captured: string[] = [];
    const capture = (...args: unknown[]) => void captured.push(args.map(String).join(' '));
    const spies = [
      vi.spyOn(console, 'log').mockImplementation(capture),
      vi.spyOn(console, 'info').mockImplementation(capture),
      vi.spyOn(console, 'warn').mockImplementation(capture),
      vi.spyOn(console, 'error').mockImplementation(capture),
    ];
    try {
      const proxy = await server({ BERTH_PROXY_LOG: '1' });
      const token = await fetch(
        `${proxy.url}/proxy/${tokens.host}/token?scope=repository:lib:pull&account=bob&service=hunter2`,
        {
          headers: { 'Berth-Registry': registry.host, Authorization: 'Basic Ym9iOmh1bnRlcjI=' },
        },
      );
      expect(await token.text()).toContain('TOKEN-SECRET');
      const blob = await fetch(`${proxy.url}/proxy/${registry.host}${blobPath('signed')}`, {
        headers: { Authorization: 'Bearer TOKEN-SECRET' },
      });
      expect(await blob.text()).toBe('cdn-blob');
      expect(cdn.requests.at(-1)!.url).toContain('X-Amz-Signature=SIG-SECRET');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const text = captured.join('\n');
    expect(captured.filter((l) => l.startsWith('proxy GET '))).toHaveLength(2);
    expect(text).toContain(`proxy GET ${tokens.host} /token 200 `);
    expect(text).toContain(`proxy GET ${registry.host} ${blobPath('signed')} 200 `);
    for (const secret of [
      '?',
      'hunter2',
      'Ym9iOmh1bnRlcjI',
      'Basic',
      'Bearer',
      'TOKEN-SECRET',
      'SIG-SECRET',
      'AKID-SECRET',
      'X-Amz',
      'scope=',
      cdn.host,
    ]) {
      expect(text, secret).not.toContain(secret);
    }
  });
});
