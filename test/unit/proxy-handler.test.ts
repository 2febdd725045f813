// The handler on its own, with a scripted upstream fetch: what an edge
// runtime would see. Network behaviour is covered in test/integration.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { proxyError } from '../../proxy/errors.ts';
import { createProxyHandler } from '../../proxy/handler.ts';
import { safeContentType } from '../../proxy/headers.ts';
import { createRateLimiter } from '../../proxy/ratelimit.ts';
import type { ProxyOptions } from '../../proxy/handler.ts';

interface Call {
  url: string;
  method: string;
  headers: Headers;
}

type Route = (call: Call, signal: AbortSignal) => Response | Promise<Response>;

function fakeFetch(routes: Record<string, Route>) {
  const calls: Call[] = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
    };
    calls.push(call);
    const route = routes[call.url.split('?')[0]!];
    if (!route) throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } });
    return route(call, init?.signal ?? new AbortController().signal);
  }) as typeof fetch;
  return { fn, calls };
}

const ORIGIN = 'http://berth.test';

function make(routes: Record<string, Route>, extra: Partial<ProxyOptions> = {}) {
  const upstream = fakeFetch(routes);
  const handler = createProxyHandler({ insecureRegistries: [], fetch: upstream.fn, ...extra });
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    handler(new Request(ORIGIN + path, { method, headers }));
  return { handler, get, calls: upstream.calls };
}

async function errorOf(res: Response) {
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
  return body.errors[0]!;
}

/** A token realm's answer, as token servers send it. */
const tokenAnswer = (body = '{"token":"t"}') =>
  new Response(body, { headers: { 'Content-Type': 'application/json' } });

const challenge = (realm: string) => () =>
  new Response('{}', {
    status: 401,
    headers: { 'WWW-Authenticate': `Basic realm="x", Bearer realm="${realm}",service="s"` },
  });

afterEach(() => vi.useRealTimers());

describe('forwarding', () => {
  it('forwards only the allowed request headers and filters response headers', async () => {
    const { get, calls } = make({
      'https://registry.example/v2/a/manifests/1': () =>
        new Response('{"ok":1}', {
          headers: {
            'Content-Type': 'application/json',
            'Docker-Content-Digest': 'sha256:abc',
            'Set-Cookie': 'session=1',
            'X-Internal': 'secret',
            'Proxy-Authenticate': 'Basic realm="corp"',
            'Proxy-Connection': 'keep-alive',
          },
        }),
    });
    const res = await get('/proxy/registry.example/v2/a/manifests/1', {
      Accept: 'application/json',
      Authorization: 'Bearer t',
      Range: 'bytes=0-1',
      'If-None-Match': '"x"',
      Cookie: 'c=1',
      'X-Forwarded-For': '1.2.3.4',
      'X-Forwarded-Host': 'internal.example',
      'X-Forwarded-Proto': 'https',
      Forwarded: 'for=1.2.3.4;host=internal.example',
      'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0',
      'Proxy-Connection': 'keep-alive',
      'X-Real-IP': '1.2.3.4',
      'Berth-Registry': 'registry.example',
    });
    expect(res.status).toBe(200);
    expect([...calls[0]!.headers.keys()].sort()).toEqual([
      'accept',
      'accept-encoding',
      'authorization',
      'if-none-match',
      'range',
      'user-agent',
    ]);
    expect(calls[0]!.headers.get('user-agent')).toBe('berth-proxy/0.1');
    expect(res.headers.get('docker-content-digest')).toBe('sha256:abc');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('x-internal')).toBeNull();
    expect(res.headers.get('proxy-authenticate')).toBeNull();
    expect(res.headers.get('proxy-connection')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('access-control-expose-headers')).toContain('Docker-Content-Digest');
    expect(await res.text()).toBe('{"ok":1}');
  });

  it('uses http only for insecure-listed hosts', async () => {
    const ok = () => new Response('ok');
    const { get, calls } = make(
      { 'http://10.0.0.5:5000/v2/': ok, 'https://10.0.0.5:5001/v2/': ok },
      { insecureRegistries: ['10.0.0.5:5000'] },
    );
    expect((await get('/proxy/10.0.0.5:5000/v2/')).status).toBe(200);
    const refused = await get('/proxy/10.0.0.5:5001/v2/');
    expect(refused.status).toBe(403);
    expect(await errorOf(refused)).toMatchObject({ code: 'BERTH_PROXY_DENIED' });
    expect(calls.map((c) => c.url)).toEqual(['http://10.0.0.5:5000/v2/']);
  });

  it('refuses private literals and localhost names before fetching', async () => {
    const { get, calls } = make({});
    for (const host of ['127.0.0.1', '[::1]', '169.254.169.254', 'localhost', 'x.localhost']) {
      const res = await get(`/proxy/${host}/v2/`);
      expect(res.status).toBe(403);
      const err = await errorOf(res);
      expect(err.message).toContain(host);
      expect(err.message).toContain('BERTH_INSECURE_REGISTRIES');
    }
    expect(calls).toHaveLength(0);
  });

  it('drops the length when the upstream compressed anyway', async () => {
    const { get } = make({
      'https://r.example/v2/': () =>
        new Response('x', { headers: { 'Content-Encoding': 'gzip', 'Content-Length': '99' } }),
    });
    const res = await get('/proxy/r.example/v2/');
    expect(res.headers.get('content-length')).toBeNull();
  });

  it('sends HEAD upstream and returns no body', async () => {
    const { get, calls } = make({
      'https://r.example/v2/x/manifests/b': () =>
        new Response(null, { headers: { 'Content-Length': '5' } }),
    });
    const res = await get('/proxy/r.example/v2/x/manifests/b', {}, 'HEAD');
    expect(calls[0]!.method).toBe('HEAD');
    expect(res.body).toBeNull();
    expect(res.headers.get('content-length')).toBe('5');
  });

  it('refuses paths the URL parser normalised when the raw target is known', async () => {
    const { handler } = make({ 'https://r.example/x': () => new Response('no') });
    const res = await handler(new Request(`${ORIGIN}/proxy/r.example/x`), {
      rawTarget: '/proxy/r.example/v2/../x',
    });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'BERTH_BAD_REQUEST' });
  });
});

describe('redirects', () => {
  it('drops Authorization cross-origin and keeps it same-origin', async () => {
    const { get, calls } = make({
      'https://r.example/v2/x/manifests/b1': () =>
        new Response(null, { status: 307, headers: { Location: '/v2/x/manifests/b2' } }),
      'https://r.example/v2/x/manifests/b2': () =>
        new Response(null, { status: 302, headers: { Location: 'https://cdn.example/o?sig=1' } }),
      'https://cdn.example/o': () =>
        new Response(null, {
          status: 301,
          headers: { Location: 'https://r.example/v2/x/manifests/b3' },
        }),
      'https://r.example/v2/x/manifests/b3': () => new Response('blob'),
    });
    const res = await get('/proxy/r.example/v2/x/manifests/b1', { Authorization: 'Bearer t' });
    expect(await res.text()).toBe('blob');
    expect(calls.map((c) => [c.url, c.headers.get('authorization')])).toEqual([
      ['https://r.example/v2/x/manifests/b1', 'Bearer t'],
      ['https://r.example/v2/x/manifests/b2', 'Bearer t'],
      ['https://cdn.example/o?sig=1', null],
      ['https://r.example/v2/x/manifests/b3', null], // once dropped, never re-sent
    ]);
  });

  it('applies the policy to every hop', async () => {
    const to = (location: string) => () =>
      new Response(null, { status: 307, headers: { Location: location } });
    const { get, calls } = make({
      'https://r.example/v2/x/manifests/http': to('http://cdn.example/x'),
      'https://r.example/v2/x/manifests/private': to('https://10.1.2.3/x'),
      'https://r.example/v2/x/manifests/metadata': to('https://169.254.169.254/latest/meta-data/'),
      'https://r.example/v2/x/manifests/file': to('file:///etc/passwd'),
      'https://r.example/v2/x/manifests/userinfo': to('https://u:p@cdn.example/x'),
    });
    for (const p of ['http', 'private', 'metadata', 'file', 'userinfo']) {
      const res = await get(`/proxy/r.example/v2/x/manifests/${p}`);
      expect(res.status, p).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
    }
    expect(calls.every((c) => c.url.startsWith('https://r.example/'))).toBe(true);
  });

  it('allows an insecure-listed registry to redirect to other listed hosts and public https', async () => {
    const { get } = make(
      {
        'http://10.0.0.5:5000/v2/x/manifests/b': () =>
          new Response(null, { status: 307, headers: { Location: 'http://mirror.lan/b' } }),
        'http://mirror.lan/b': () => new Response('lan'),
        'http://10.0.0.5:5000/v2/x/manifests/c': () =>
          new Response(null, { status: 307, headers: { Location: 'https://cdn.example/c' } }),
        'https://cdn.example/c': () => new Response('cdn'),
      },
      { insecureRegistries: ['10.0.0.5:5000', 'mirror.lan:80'] },
    );
    expect(await (await get('/proxy/10.0.0.5:5000/v2/x/manifests/b')).text()).toBe('lan');
    expect(await (await get('/proxy/10.0.0.5:5000/v2/x/manifests/c')).text()).toBe('cdn');
  });

  it('refuses redirects from a public registry to insecure-listed hosts', async () => {
    const to = (location: string) => () =>
      new Response(null, { status: 302, headers: { Location: location } });
    const { get, calls } = make(
      {
        'https://r.example/v2/x/manifests/loopback': to('http://127.0.0.1:8500/v1/kv/secret'),
        'https://r.example/v2/x/manifests/loopback-https': to('https://127.0.0.1:8443/x'),
        'https://r.example/v2/x/manifests/named': to('http://mirror.lan/b'),
        'https://r.example/v2/x/manifests/two-step': to('https://cdn.example/bounce'),
        'https://cdn.example/bounce': to('http://127.0.0.1:8500/v1/kv/secret'),
        'http://127.0.0.1:8500/v1/kv/secret': () => new Response('secret'),
        'https://127.0.0.1:8443/x': () => new Response('secret'),
        'http://mirror.lan/b': () => new Response('secret'),
      },
      { insecureRegistries: ['127.0.0.1', 'mirror.lan:80'] },
    );
    for (const p of ['loopback', 'loopback-https', 'named', 'two-step']) {
      const res = await get(`/proxy/r.example/v2/x/manifests/${p}`);
      expect(res.status, p).toBe(403);
      const err = await errorOf(res);
      expect(err.code).toBe('BERTH_PROXY_DENIED');
      expect(err.message).toContain('r.example');
      expect(err.message).toContain('BERTH_INSECURE_REGISTRIES');
    }
    expect(calls.filter((c) => /127\.0\.0\.1|mirror\.lan/.test(c.url))).toEqual([]);
  });

  it('gives up after five redirects', async () => {
    let n = 0;
    const { get, calls } = make({
      'https://r.example/v2/x/manifests/loop': () =>
        new Response(null, { status: 302, headers: { Location: `/v2/x/manifests/loop?${n++}` } }),
    });
    const res = await get('/proxy/r.example/v2/x/manifests/loop');
    expect(res.status).toBe(502);
    expect(calls).toHaveLength(6);
  });
});

describe('token requests', () => {
  it('forwards only to the announced realm and caches it for ten minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const token = () => tokenAnswer();
    const { get, calls } = make({
      'https://registry.example/v2/': challenge('https://auth.example/token?ignored=1'),
      'https://auth.example/token': token,
      'https://auth.example/other': token,
    });
    const headers = { 'Berth-Registry': 'registry.example' };
    const probes = () => calls.filter((c) => c.url === 'https://registry.example/v2/').length;

    expect((await get('/proxy/auth.example/token?scope=a', headers)).status).toBe(200);
    expect((await get('/proxy/auth.example/token?scope=b', headers)).status).toBe(200);
    expect(probes()).toBe(1);

    const other = await get('/proxy/auth.example/other', headers);
    expect(other.status).toBe(403);
    expect((await errorOf(other)).message).toContain('https://auth.example/other');

    vi.advanceTimersByTime(10 * 60 * 1000 + 1);
    expect((await get('/proxy/auth.example/token', headers)).status).toBe(200);
    expect(probes()).toBe(2);
    // The challenge probe carries no client credentials.
    expect(calls.find((c) => c.url.endsWith('/v2/'))!.headers.get('authorization')).toBeNull();
  });

  it("learns the realm from the registry's own 401 to an API request: no /v2/ probe", async () => {
    const { get, calls } = make({
      'https://registry.example/v2/team/app/manifests/1': challenge('https://auth.example/token'),
      'https://registry.example/v2/': challenge('https://auth.example/token'),
      'https://auth.example/token': () => tokenAnswer(),
    });
    const headers = { 'Berth-Registry': 'registry.example' };
    expect((await get('/proxy/registry.example/v2/team/app/manifests/1')).status).toBe(401);
    expect((await get('/proxy/auth.example/token?scope=a', headers)).status).toBe(200);
    expect(calls.map((c) => c.url)).toEqual([
      'https://registry.example/v2/team/app/manifests/1',
      'https://auth.example/token?scope=a',
    ]);
  });

  it('learns nothing from a 401 of a host the registry redirected to', async () => {
    const { get, calls } = make({
      'https://registry.example/v2/team/app/blobs/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':
        () =>
          new Response(null, {
            status: 307,
            headers: { Location: 'https://cdn.example/blob' },
          }),
      'https://cdn.example/blob': challenge('https://evil.example/token'),
      'https://registry.example/v2/': challenge('https://auth.example/token'),
      'https://evil.example/token': () => tokenAnswer(),
    });
    const blob = await get(
      '/proxy/registry.example/v2/team/app/blobs/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    );
    expect(blob.status).toBe(401);
    const res = await get('/proxy/evil.example/token', { 'Berth-Registry': 'registry.example' });
    expect(res.status).toBe(403);
    expect(calls.map((c) => c.url)).not.toContain('https://evil.example/token');
    expect(calls.map((c) => c.url)).toContain('https://registry.example/v2/');
  });

  it('a listed realm learned from a public registry is still refused', async () => {
    const { get, calls } = make(
      {
        'https://registry.example/v2/a/manifests/1': challenge('http://127.0.0.1:8500/token'),
        'http://127.0.0.1:8500/token': () => new Response('secret'),
      },
      { insecureRegistries: ['127.0.0.1'] },
    );
    await get('/proxy/registry.example/v2/a/manifests/1');
    const res = await get('/proxy/127.0.0.1:8500/token', { 'Berth-Registry': 'registry.example' });
    expect(res.status).toBe(403);
    expect(calls.map((c) => c.url)).toEqual(['https://registry.example/v2/a/manifests/1']);
  });

  it('needs a Berth-Registry header naming a registry that announces the realm', async () => {
    const { get } = make({
      'https://registry.example/v2/': challenge('https://auth.example/token'),
      'https://open.example/v2/': () => new Response('{}'),
      'https://auth.example/token': () => new Response('t'),
    });
    expect((await get('/proxy/auth.example/token')).status).toBe(403);
    const open = await get('/proxy/auth.example/token', { 'Berth-Registry': 'open.example' });
    expect(open.status).toBe(403);
    const bad = await get('/proxy/auth.example/token', { 'Berth-Registry': 'a@b' });
    expect(bad.status).toBe(400);
    const down = await get('/proxy/auth.example/token', { 'Berth-Registry': 'down.example' });
    expect(down.status).toBe(502);
  });

  it('refuses an insecure-listed realm announced by a public registry, without probing', async () => {
    const { get, calls } = make(
      {
        'https://registry.example/v2/': challenge('http://127.0.0.1:8500/v1/kv/secret'),
        'http://127.0.0.1:8500/v1/kv/secret': () => new Response('secret'),
      },
      { insecureRegistries: ['127.0.0.1'] },
    );
    const res = await get('/proxy/127.0.0.1:8500/v1/kv/secret', {
      'Berth-Registry': 'registry.example',
    });
    expect(res.status).toBe(403);
    const err = await errorOf(res);
    expect(err.code).toBe('BERTH_PROXY_DENIED');
    expect(err.message).toContain('127.0.0.1:8500');
    expect(err.message).toContain('registry.example');
    expect(calls).toEqual([]);
  });

  it('allows a listed realm for a listed registry, and refuses realm redirects to listed hosts for a public one', async () => {
    const { get, calls } = make(
      {
        'http://10.0.0.5:5000/v2/': challenge('http://10.0.0.6:5001/token'),
        'http://10.0.0.6:5001/token': () => tokenAnswer(),
        'https://registry.example/v2/': challenge('https://auth.example/token'),
        'https://auth.example/token': () =>
          new Response(null, { status: 302, headers: { Location: 'http://10.0.0.6:5001/token' } }),
      },
      { insecureRegistries: ['10.0.0.5:5000', '10.0.0.6:5001'] },
    );
    const ok = await get('/proxy/10.0.0.6:5001/token', { 'Berth-Registry': '10.0.0.5:5000' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('{"token":"t"}');

    const before = calls.filter((c) => c.url.startsWith('http://10.0.0.6')).length;
    const bounced = await get('/proxy/auth.example/token', {
      'Berth-Registry': 'registry.example',
    });
    expect(bounced.status).toBe(403);
    expect((await errorOf(bounced)).message).toContain('registry.example');
    expect(calls.filter((c) => c.url.startsWith('http://10.0.0.6')).length).toBe(before);
  });

  it('refuses a realm probe that a public registry redirects to a listed host', async () => {
    const { get, calls } = make(
      {
        'https://registry.example/v2/': () =>
          new Response(null, { status: 302, headers: { Location: 'http://127.0.0.1:8500/v2/' } }),
        'http://127.0.0.1:8500/v2/': challenge('https://auth.example/token'),
        'https://auth.example/token': () => new Response('t'),
      },
      { insecureRegistries: ['127.0.0.1'] },
    );
    const res = await get('/proxy/auth.example/token', { 'Berth-Registry': 'registry.example' });
    expect(res.status).toBe(403);
    expect(calls.map((c) => c.url)).toEqual(['https://registry.example/v2/']);
  });

  it('does not cache a registry that announced nothing', async () => {
    let announce = false;
    const { get } = make({
      'https://registry.example/v2/': () =>
        announce ? challenge('https://auth.example/token')() : new Response('{}'),
      'https://auth.example/token': () => tokenAnswer(),
    });
    const headers = { 'Berth-Registry': 'registry.example' };
    expect((await get('/proxy/auth.example/token', headers)).status).toBe(403);
    announce = true;
    expect((await get('/proxy/auth.example/token', headers)).status).toBe(200);
  });
});

describe('methods, CORS, errors and logging', () => {
  it('answers OPTIONS itself and rejects other methods', async () => {
    const { get, calls } = make({}, { allowedOrigins: ['https://app.example'] });
    const pre = await get('/proxy/r.example/v2/', { Origin: 'https://app.example' }, 'OPTIONS');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET, HEAD, OPTIONS');
    expect(pre.headers.get('access-control-allow-headers')).toBe(
      'Authorization, Accept, Range, Berth-Registry, Content-Type',
    );
    expect(pre.headers.get('access-control-max-age')).toBe('600');
    expect(pre.headers.get('vary')).toBe('Origin');

    const evil = await get('/proxy/r.example/v2/', { Origin: 'https://evil.example' }, 'OPTIONS');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const self = await get('/proxy/r.example/v2/', { Origin: ORIGIN }, 'OPTIONS');
    expect(self.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await get('/proxy/r.example/v2/', {}, method);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      expect((await errorOf(res)).code).toBe('BERTH_METHOD_NOT_ALLOWED');
    }
    expect(calls).toHaveLength(0);
  });

  it('times out when headers do not arrive', async () => {
    const { get } = make(
      {
        'https://slow.example/v2/': (_call, signal) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () =>
              reject(new DOMException('aborted', 'AbortError')),
            );
          }),
      },
      { timeoutMs: 50 },
    );
    const res = await get('/proxy/slow.example/v2/');
    expect(res.status).toBe(504);
    expect(await errorOf(res)).toMatchObject({ code: 'BERTH_UPSTREAM_TIMEOUT' });
  });

  it('maps connect-time refusals from the injected fetch to 403', async () => {
    const { get } = make({
      'https://rebind.example/v2/': () => {
        throw new TypeError('fetch failed', {
          cause: { code: 'BERTH_PROXY_DENIED', message: 'it resolves to 10.0.0.1' },
        });
      },
    });
    const res = await get('/proxy/rebind.example/v2/');
    expect(res.status).toBe(403);
    expect((await errorOf(res)).message).toMatch(/rebind\.example.*10\.0\.0\.1/);
  });

  it('logs one line without query or credentials', async () => {
    const lines: string[] = [];
    const { get } = make(
      {
        'https://registry.example/v2/': challenge('https://auth.example/token'),
        'https://auth.example/token': () => tokenAnswer(),
      },
      { log: (l) => lines.push(l) },
    );
    await get('/proxy/auth.example/token?account=bob&scope=repository:secret/app:pull', {
      'Berth-Registry': 'registry.example',
      Authorization: 'Basic Ym9iOmh1bnRlcjI=',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^GET auth\.example \/token 200 \d+ms$/);
  });

  it('rejects malformed targets with 400', async () => {
    const { get } = make({});
    for (const p of [
      '/proxy/',
      '/proxy/u@h/v2/',
      '/proxy/h:99999/v2/',
      '/proxy/h/v2/a%2fb',
      // A host the URL parser refuses (bad punycode) used to escape as a TypeError.
      '/proxy/xn--er-kva.example/v2/',
    ]) {
      const res = await get(p);
      expect(res.status, p).toBe(400);
      expect((await errorOf(res)).code).toBe('BERTH_BAD_REQUEST');
    }
  });
});

describe('response hardening', () => {
  const SECURITY = {
    'content-security-policy': "default-src 'none'; sandbox",
    'content-disposition': 'attachment',
    'cross-origin-resource-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
  };
  const expectHardened = (res: Response, what: string) => {
    for (const [name, value] of Object.entries(SECURITY)) {
      expect(res.headers.get(name), `${what}: ${name}`).toBe(value);
    }
  };
  const XSS = '<html><script>parent.stolen = indexedDB</script></html>';

  it.each([
    'text/html',
    'text/html; charset=utf-8',
    'image/svg+xml',
    'text/xml',
    'application/xml',
    'application/xhtml+xml',
    'application/vnd.wap.xhtml+xml',
    'application/vnd.evil+xml',
    'application/vnd.evil.html',
    'application/json, text/html',
    'text/plain',
    'application/javascript',
    'multipart/x-mixed-replace; boundary=x',
    '',
    'application/jsonx',
  ])('serves upstream %j as application/octet-stream, sandboxed', async (type) => {
    const { get } = make({
      'https://evil.example/v2/x/manifests/x': () =>
        new Response(XSS, { headers: { 'Content-Type': type } }),
    });
    const res = await get('/proxy/evil.example/v2/x/manifests/x');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expectHardened(res, type);
    expect(await res.text()).toBe(XSS); // bytes untouched, only their labelling
  });

  it.each([
    ['application/json', 'application/json'],
    ['application/json; charset=utf-8', 'application/json'],
    ['application/octet-stream', 'application/octet-stream'],
    ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.manifest.v1+json'],
    ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.index.v1+json'],
    [
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ],
    [
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
    ],
    [
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
    ],
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
  ])('keeps %j as %j', async (type, expected) => {
    expect(safeContentType(type)).toBe(expected);
    const { get } = make({
      'https://r.example/v2/x/manifests/m': () =>
        new Response('{}', { headers: { 'Content-Type': type } }),
    });
    const res = await get('/proxy/r.example/v2/x/manifests/m');
    expect(res.headers.get('content-type')).toBe(expected);
    expectHardened(res, type);
  });

  it('leaves a missing Content-Type missing, so the client can read the mediaType', async () => {
    const { get } = make({
      'https://r.example/v2/x/manifests/m': () => {
        const res = new Response('{"mediaType":"x"}');
        res.headers.delete('content-type');
        return res;
      },
    });
    const res = await get('/proxy/r.example/v2/x/manifests/m');
    expect(res.headers.get('content-type')).toBeNull();
    expectHardened(res, 'no type');
  });

  it('hardens HEAD, upstream errors and every response of the proxy itself', async () => {
    const { get } = make(
      {
        'https://r.example/v2/x/manifests/head': () =>
          new Response(null, { headers: { 'Content-Type': 'text/html' } }),
        'https://r.example/v2/x/manifests/missing': () =>
          new Response('<h1>404</h1>', { status: 404, headers: { 'Content-Type': 'text/html' } }),
        'https://slow.example/v2/': (_call, signal) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () =>
              reject(new DOMException('aborted', 'AbortError')),
            );
          }),
      },
      { timeoutMs: 50 },
    );
    const head = await get('/proxy/r.example/v2/x/manifests/head', {}, 'HEAD');
    expect(head.headers.get('content-type')).toBe('application/octet-stream');
    expectHardened(head, 'HEAD');
    const missing = await get('/proxy/r.example/v2/x/manifests/missing');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/octet-stream');
    expectHardened(missing, 'upstream 404');

    const own: Array<[string, Promise<Response>, number]> = [
      ['denied', get('/proxy/127.0.0.1/v2/'), 403],
      ['bad request', get('/proxy/u@h/v2/'), 400],
      ['method', get('/proxy/r.example/v2/', {}, 'POST'), 405],
      ['unreachable', get('/proxy/down.example/v2/'), 502],
      ['timeout', get('/proxy/slow.example/v2/'), 504],
      ['preflight', get('/proxy/r.example/v2/', {}, 'OPTIONS'), 204],
    ];
    for (const [what, pending, status] of own) {
      const res = await pending;
      expect(res.status, what).toBe(status);
      expectHardened(res, what);
      if (status !== 204) expect(res.headers.get('content-type'), what).toBe('application/json');
    }
  });

  it('hardens proxyError responses built outside the handler', () => {
    const res = proxyError(403, 'BERTH_PROXY_DENIED', 'Host header not allowed');
    expect(res.headers.get('content-type')).toBe('application/json');
    expectHardened(res, 'proxyError');
  });

  it('still lets allowed origins read responses (CORP does not apply to CORS fetches)', async () => {
    const { get } = make(
      { 'https://r.example/v2/x/manifests/m': () => new Response('{}') },
      { allowedOrigins: ['https://app.example'] },
    );
    const res = await get('/proxy/r.example/v2/x/manifests/m', { Origin: 'https://app.example' });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expectHardened(res, 'cors');
  });
});

const SHA = `sha256:${'ab'.repeat(32)}`;

describe('registry API grammar', () => {
  it.each([
    ['/v2', /with a slash/],
    ['/v2/Library/alpine/manifests/latest', /repository name component "Library"/],
    ['/v2/a/manifests/-latest', /invalid tag "-latest"/],
    ['/v2/a/blobs/sha256:1234', /invalid digest "sha256:1234"/],
    ['/v2/a/referrers/latest', /invalid digest "latest"/],
  ])('refuses %s with 400 naming the problem, without contacting anyone', async (path, why) => {
    const { get, calls } = make({ 'https://r.example/v2/': () => new Response('{}') });
    const res = await get(`/proxy/r.example${path}`);
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('BERTH_BAD_REQUEST');
    expect(err.message).toMatch(why);
    expect(calls).toEqual([]);
  });

  it('refuses paths of no known route unless they are the announced token realm', async () => {
    const { get, calls } = make({
      'https://quay.example/v2/': challenge('https://quay.example/v2/auth'),
      'https://quay.example/v2/auth': () => tokenAnswer(),
      'https://quay.example/v2/a/blobs/uploads/': () => new Response('no'),
    });
    // Quay's realm lives under /v2; the client sends no Berth-Registry for it.
    const token = await get('/proxy/quay.example/v2/auth?scope=repository:a:pull');
    expect(token.status).toBe(200);
    expect(await token.text()).toBe('{"token":"t"}');
    const uploads = await get('/proxy/quay.example/v2/a/blobs/uploads/');
    expect(uploads.status).toBe(400);
    expect((await errorOf(uploads)).message).toMatch(/unknown registry API route/);
    const named = await get('/proxy/quay.example/v2/a/blobs/uploads/', {
      'Berth-Registry': 'quay.example',
    });
    expect(named.status).toBe(400);
    expect(calls.map((c) => c.url)).not.toContain('https://quay.example/v2/a/blobs/uploads/');
  });

  it.each([
    ['/v2/', 'https://r.example/v2/'],
    ['/v2/library/alpine/manifests/3.20', 'https://r.example/v2/library/alpine/manifests/3.20'],
    [`/v2/o/r/blobs/${SHA}`, `https://r.example/v2/o/r/blobs/${SHA}`],
    ['/v2/o/r/tags/list?n=10&last=a', 'https://r.example/v2/o/r/tags/list?n=10&last=a'],
    [
      `/v2/o/r/referrers/${SHA}?artifactType=x`,
      `https://r.example/v2/o/r/referrers/${SHA}?artifactType=x`,
    ],
  ])('forwards %s', async (path, upstream) => {
    const { get, calls } = make({ [upstream.split('?')[0]!]: () => new Response('{}') });
    expect((await get(`/proxy/r.example${path}`)).status).toBe(200);
    expect(calls.map((c) => c.url)).toEqual([upstream]);
  });
});

describe('path decoding and normalisation', () => {
  it('checks the decoded path and forwards exactly that string', async () => {
    const { get, calls } = make({
      'https://r.example/v2/library/manifests/latest': () => new Response('{}'),
    });
    const res = await get('/proxy/r.example/v2/libr%61ry/manifests/lat%65st');
    expect(res.status).toBe(200);
    expect(calls.map((c) => c.url)).toEqual(['https://r.example/v2/library/manifests/latest']);
    // The check runs on the decoded name: an escaped capital is still a capital.
    const upper = await get('/proxy/r.example/v2/%4Cibrary/manifests/latest');
    expect(upper.status).toBe(400);
    expect((await errorOf(upper)).message).toContain('"Library"');
    expect(calls).toHaveLength(1);
  });

  it.each([
    ['/proxy/r.example/v2/a%2Fb/manifests/x', /encoded slash/],
    ['/proxy/r.example/v2/a/manifests/x%2E', /encoded dot/],
    ['/proxy/r.example/v2/a%5Cb/manifests/x', /encoded backslash/],
    ['/proxy/r.example/v2/a%252Fb/manifests/x', /double encoding/],
    ['/proxy/r.example/v2/a@b/manifests/x', /'@'/],
    ['/proxy/r.example/v2/a%40b/manifests/x', /'@'/],
    ['/proxy/r.example/v2/a%00/manifests/x', /control character/],
    ['/proxy/r.example/v2/a/manifests/x#frag', /fragments/],
  ])('refuses %s', async (path, why) => {
    const { get, calls } = make({});
    const res = await get(path);
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(why);
    expect(calls).toHaveLength(0);
  });

  it('refuses a raw target with a backslash, fragment or dot segment the URL parser would hide', async () => {
    const { handler, calls } = make({});
    for (const raw of [
      '/proxy/r.example/v2/a\\b/manifests/x',
      '/proxy/r.example/v2/a/manifests/x#f',
      // WHATWG URL parsing resolves %2e%2e as a dot segment: only the raw target shows it.
      '/proxy/r.example/v2/%2e%2e/x/manifests/y',
    ]) {
      const url = new URL(raw, ORIGIN);
      const res = await handler(new Request(url.origin + url.pathname), { rawTarget: raw });
      expect(res.status, raw).toBe(400);
    }
    expect(calls).toHaveLength(0);
  });
});

describe('request bodies', () => {
  it.each([
    [{ 'Content-Length': '5' }, /bodies are not accepted/],
    [{ 'Transfer-Encoding': 'chunked' }, /Transfer-Encoding/],
    [
      { 'Content-Length': '5', 'Transfer-Encoding': 'chunked' },
      /both Content-Length and Transfer-Encoding/,
    ],
  ])('refuses GET and HEAD with %j', async (headers, why) => {
    const { get, calls } = make({ 'https://r.example/v2/': () => new Response('{}') });
    for (const method of ['GET', 'HEAD']) {
      const res = await get('/proxy/r.example/v2/', headers, method);
      expect(res.status, method).toBe(400);
      if (method === 'GET') expect((await errorOf(res)).message).toMatch(why);
    }
    expect(calls).toHaveLength(0);
    // The handler keeps serving.
    expect((await get('/proxy/r.example/v2/')).status).toBe(200);
  });

  it('accepts an explicit empty body', async () => {
    const { get } = make({ 'https://r.example/v2/': () => new Response('{}') });
    expect((await get('/proxy/r.example/v2/', { 'Content-Length': '0' })).status).toBe(200);
  });
});

describe('body limits and idle timeout', () => {
  it('never buffers the realm probe body: an endless one is cancelled unread', async () => {
    let pulled = 0;
    let cancelled = false;
    const endless = () =>
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled > 64 << 20) return controller.close(); // bound for a broken proxy
          pulled += 65536;
          controller.enqueue(new Uint8Array(65536));
        },
        cancel() {
          cancelled = true;
        },
      });
    const { get } = make({
      'https://registry.example/v2/': () =>
        new Response(endless(), {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer realm="https://auth.example/token"' },
        }),
      'https://auth.example/token': () => tokenAnswer(),
    });
    const res = await get('/proxy/auth.example/token', { 'Berth-Registry': 'registry.example' });
    expect(res.status).toBe(200);
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThanOrEqual(1 << 20);
  });

  it('aborts the upstream and fails the response when the body goes quiet', async () => {
    let cancelReason: unknown;
    const { get } = make(
      {
        [`https://r.example/v2/a/blobs/${SHA}`]: () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start(controller) {
                controller.enqueue(new TextEncoder().encode('first bytes'));
              },
              cancel(reason) {
                cancelReason = reason;
              },
            }),
          ),
      },
      { idleTimeoutMs: 50 },
    );
    const res = await get(`/proxy/r.example/v2/a/blobs/${SHA}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first bytes');
    const started = Date.now();
    await expect(reader.read()).rejects.toThrow(/no body bytes from r\.example for 50 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(cancelReason).toBeInstanceOf(Error);
  });

  it('does not count time the client spends not reading', async () => {
    let n = 0;
    const { get } = make(
      {
        [`https://r.example/v2/a/blobs/${SHA}`]: () =>
          new Response(
            new ReadableStream<Uint8Array>({
              pull(controller) {
                if (n === 3) return controller.close();
                n++;
                controller.enqueue(new Uint8Array([n]));
              },
            }),
          ),
      },
      { idleTimeoutMs: 30 },
    );
    const res = await get(`/proxy/r.example/v2/a/blobs/${SHA}`);
    const reader = res.body!.getReader();
    const seen: number[] = [];
    for (;;) {
      await new Promise((r) => setTimeout(r, 80)); // a slow client, not a slow registry
      const { done, value } = await reader.read();
      if (done) break;
      seen.push(...value);
    }
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('catalog', () => {
  it('forwards GET /v2/_catalog with n and last, as the registry answers it', async () => {
    const { get, calls } = make({
      'https://r.example/v2/_catalog': () =>
        new Response('{"repositories":["a","b"]}', {
          headers: {
            'Content-Type': 'application/json',
            Link: '</v2/_catalog?last=b&n=2>; rel="next"',
          },
        }),
    });
    const res = await get('/proxy/r.example/v2/_catalog?n=2&last=a%2Fb');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ repositories: ['a', 'b'] });
    expect(res.headers.get('link')).toBe('</v2/_catalog?last=b&n=2>; rel="next"');
    expect(calls.map((c) => c.url)).toEqual(['https://r.example/v2/_catalog?n=2&last=a%2Fb']);
    // The registry's own refusal (Docker Hub, GHCR) reaches the page as it was sent.
    const denied = make({
      'https://hub.example/v2/_catalog': () =>
        new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', {
          status: 401,
          headers: {
            'WWW-Authenticate':
              'Bearer realm="https://auth.example/token",scope="registry:catalog:*",error="insufficient_scope"',
          },
        }),
    });
    const refused = await denied.get('/proxy/hub.example/v2/_catalog');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('registry:catalog:*');
  });

  it.each([
    ['?n=1&scope=x', /"scope" is not forwarded to \/v2\/_catalog/],
    ['?n=1&n=2', /given twice/],
    ['?n=ten', /n must be a number/],
  ])('refuses the query %j with 400, without contacting anyone', async (query, why) => {
    const { get, calls } = make({ 'https://r.example/v2/_catalog': () => new Response('{}') });
    const res = await get(`/proxy/r.example/v2/_catalog${query}`);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'BERTH_BAD_REQUEST' });
    expect((await errorOf(await get(`/proxy/r.example/v2/_catalog${query}`))).message).toMatch(why);
    expect(calls).toEqual([]);
  });

  it('refuses HEAD of the catalog with 405', async () => {
    const { get, calls } = make({ 'https://r.example/v2/_catalog': () => new Response('{}') });
    const res = await get('/proxy/r.example/v2/_catalog', {}, 'HEAD');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, OPTIONS');
    expect(calls).toEqual([]);
  });
});

describe('rate-limit headers', () => {
  const RATE = {
    'ratelimit-limit': '100;w=21600',
    'ratelimit-remaining': '99;w=21600',
    'docker-ratelimit-source': '2001:41d0:801:2000::',
  };

  it.each([
    ['GET', 200],
    ['HEAD', 200],
    ['GET', 401],
    ['GET', 429],
  ])(
    'passes them through on a %s answered %i, and lets the page read them',
    async (method, status) => {
      const extra: Record<string, string> = status === 429 ? { 'retry-after': '60' } : {};
      const { get } = make(
        {
          'https://hub.example/v2/library/alpine/manifests/latest': () =>
            new Response(method === 'HEAD' ? null : '{}', {
              status,
              headers: { ...RATE, ...extra },
            }),
        },
        { allowedOrigins: ['https://app.example'] },
      );
      const res = await get(
        '/proxy/hub.example/v2/library/alpine/manifests/latest',
        { Origin: 'https://app.example' },
        method,
      );
      expect(res.status).toBe(status);
      for (const [name, value] of Object.entries({ ...RATE, ...extra })) {
        expect(res.headers.get(name)).toBe(value);
      }
      const exposed = (res.headers.get('access-control-expose-headers') ?? '')
        .toLowerCase()
        .split(/,\s*/);
      for (const name of [...Object.keys(RATE), 'retry-after']) expect(exposed).toContain(name);
    },
  );
});

describe('rate limiting hook', () => {
  it('answers 429 in the registry error shape per client, and only when supplied', async () => {
    let now = 0;
    const rateLimiter = createRateLimiter({ perMinute: 3, now: () => now });
    const { handler } = make(
      { 'https://r.example/v2/': () => new Response('{}') },
      { rateLimiter, allowedOrigins: ['https://app.example'] },
    );
    const get = (client?: string, method = 'GET') =>
      handler(
        new Request(`${ORIGIN}/proxy/r.example/v2/`, {
          method,
          headers: { Origin: 'https://app.example' },
        }),
        client === undefined ? undefined : { client },
      );
    for (let i = 0; i < 3; i++) expect((await get('a')).status).toBe(200);
    const limited = await get('a');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('20');
    expect(limited.headers.get('content-type')).toBe('application/json');
    expect(limited.headers.get('x-content-type-options')).toBe('nosniff');
    // The page must be able to read the 429, so CORS still applies.
    expect(limited.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(limited.headers.get('access-control-expose-headers')).toContain('Retry-After');
    const err = await errorOf(limited);
    expect(err.code).toBe('BERTH_RATE_LIMITED');
    expect(err.message).toMatch(/3 a minute per client; retry in 20 s/);

    expect((await get('b')).status).toBe(200); // another client
    expect((await get('a', 'OPTIONS')).status).toBe(204); // preflights cost nothing upstream
    expect((await get(undefined)).status).toBe(200); // no client named: no limit
    now += 20_000;
    expect((await get('a')).status).toBe(200);
  });
});

/** A response with a status `new Response` refuses, as undici hands one over from the wire. */
function withStatus(status: number, body: BodyInit | null = 'x'): Response {
  const res = new Response(body);
  Object.defineProperty(res, 'status', { value: status });
  return res;
}

describe('the probe of issue 15: what the handler never does', () => {
  it.each([600, 999, 101, 103, 199])(
    'answers an upstream status %i with a clean 502, building no Response from it',
    async (status) => {
      const reported: string[] = [];
      const { get } = make(
        { 'https://r.example/v2/': () => withStatus(status) },
        { reportError: (l) => reported.push(l) },
      );
      const res = await get('/proxy/r.example/v2/');
      expect(res.status).toBe(502);
      const err = await errorOf(res);
      expect(err.code).toBe('BERTH_UPSTREAM_INVALID');
      expect(err.message).toBe(
        `r.example answered with status ${status}, which is not a final HTTP status`,
      );
      expect(reported).toEqual([]);
    },
  );

  it('answers an error nobody expected with a 502, logging one line without query, userinfo or stack', async () => {
    const reported: string[] = [];
    const { get } = make(
      {
        'https://r.example/v2/a/manifests/1': () => {
          // What a runtime's URL parser throws: the message and a property name the input.
          const err = new TypeError(
            'Invalid URL: https://user:pw@r.example/v2/x?X-Amz-Signature=SIG-SECRET#frag',
          );
          Object.assign(err, { input: 'https://r.example/v2/?token=TOKEN-SECRET' });
          return {
            status: 200,
            headers: {
              get() {
                throw err;
              },
            },
          } as unknown as Response;
        },
      },
      { reportError: (l) => reported.push(l) },
    );
    const res = await get('/proxy/r.example/v2/a/manifests/1');
    expect(res.status).toBe(502);
    expect((await errorOf(res)).code).toBe('BERTH_PROXY_INTERNAL');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(reported).toEqual([
      'berth proxy: internal error: TypeError: Invalid URL: https://r.example/v2/x',
    ]);
  });

  it('never quotes a query in an upstream failure sent to the client', async () => {
    const { get } = make({
      'https://r.example/v2/': () => {
        throw new TypeError('fetch failed', {
          cause: new Error('bad thing at https://cdn.example/blob?sig=SIG-SECRET'),
        });
      },
    });
    const res = await get('/proxy/r.example/v2/');
    expect(res.status).toBe(502);
    const { message } = await errorOf(res);
    expect(message).toBe('could not connect to r.example: bad thing at https://cdn.example/blob');
  });

  it.each([
    ['user:password@r.example', 'password'],
    ['user:password%40r.example', 'password'],
    ['xn--zz', 'xn--zz'],
    ['a%0d%0aX-Injected:1', 'Injected'],
  ])('logs a refused host %j as (invalid), never as sent', async (host, secret) => {
    const lines: string[] = [];
    const { get, calls } = make({}, { log: (l) => lines.push(l) });
    const res = await get(`/proxy/${host}/v2/?q=QUERY-SECRET`);
    expect(res.status).toBe(400);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^GET \(invalid\) \/v2\/ 400 \d+ms$/);
    expect(lines[0]).not.toContain(secret);
    expect(calls).toEqual([]);
  });

  it.each(['xn--zz', 'xn--ocalhost-in2e', 'XN--ZZ', 'xn--zz.example', 'a.xn--zz', 'xn--zz:443'])(
    'refuses the punycode host %s that does not decode with a 400 naming it',
    async (host) => {
      const reported: string[] = [];
      const { get, calls } = make({}, { reportError: (l) => reported.push(l) });
      for (const path of [`/proxy/${host}/v2/`, `/proxy/${host}/token?scope=x`]) {
        const res = await get(path);
        expect(res.status, path).toBe(400);
        expect((await errorOf(res)).message, path).toBe(
          `invalid upstream host ${JSON.stringify(host)}`,
        );
      }
      const named = await get('/proxy/auth.example/token', { 'Berth-Registry': host });
      expect(named.status).toBe(400);
      expect((await errorOf(named)).message).toBe('invalid Berth-Registry header');
      expect(calls).toEqual([]);
      expect(reported).toEqual([]);
    },
  );

  it('refuses a redirect to a host that does not parse as a 502 naming the registry', async () => {
    const reported: string[] = [];
    const { get } = make(
      {
        'https://r.example/v2/': () =>
          new Response(null, {
            status: 307,
            headers: { Location: 'https://xn--zz/blob?sig=SIG-SECRET' },
          }),
      },
      { reportError: (l) => reported.push(l) },
    );
    const res = await get('/proxy/r.example/v2/');
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toBe('invalid redirect from r.example');
    expect(reported).toEqual([]);
  });
});

describe('WWW-Authenticate', () => {
  const answer = (value: string) => () =>
    new Response('{}', { status: 401, headers: { 'WWW-Authenticate': value } });

  it.each([
    'Basic realm="Registry Realm"',
    'basic realm=x',
    'Basic realm="x", Bearer realm="https://auth.example/token"',
    'Bearer realm="https://auth.example/token", Basic realm="x"',
    'Bearer realm="https://auth.example/token" Basic realm="x"',
    'Digest realm="x", nonce="y"',
    'Negotiate',
    'NTLM',
  ])('moves %j to Berth-WWW-Authenticate, which the browser does not act on', async (value) => {
    const { get } = make(
      { 'https://r.example/v2/': answer(value) },
      { allowedOrigins: ['https://app.example'] },
    );
    const res = await get('/proxy/r.example/v2/', { Origin: 'https://app.example' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('berth-www-authenticate')).toBe(value);
    expect(res.headers.get('access-control-expose-headers')).toContain('Berth-WWW-Authenticate');
  });

  it.each([
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull",error="insufficient_scope"',
    'Bearer realm="https://gcr.io/v2/token",service=gcr.io',
    'bearer realm="https://a.example/t, Basic realm=\\"x\\""',
    'Bearer realm="https://a.example/t", Bearer realm="https://b.example/t"',
  ])('passes a Bearer-only challenge %j as it is', async (value) => {
    const { get } = make({ 'https://r.example/v2/': answer(value) });
    const res = await get('/proxy/r.example/v2/');
    expect(res.headers.get('www-authenticate')).toBe(value);
    expect(res.headers.get('berth-www-authenticate')).toBeNull();
  });

  it('still learns the Bearer realm of a registry that also offers Basic', async () => {
    const { get } = make({
      'https://r.example/v2/': challenge('https://auth.example/token'),
      'https://auth.example/token': () => tokenAnswer(),
    });
    const res = await get('/proxy/auth.example/token?scope=x', { 'Berth-Registry': 'r.example' });
    expect(res.status).toBe(200);
  });
});

describe('token requests are token requests', () => {
  const registry = {
    'https://r.example/v2/': challenge('https://auth.example/token?realm_param=1'),
  };
  const via = { 'Berth-Registry': 'r.example' };

  it('forwards the token parameters, scope repeated, and the realm’s own', async () => {
    const { get, calls } = make({ ...registry, 'https://auth.example/token': () => tokenAnswer() });
    const query =
      '?service=s&scope=repository:a:pull&scope=repository:b:pull&account=bob' +
      '&client_id=berth&offline_token=true&realm_param=1';
    const res = await get(`/proxy/auth.example/token${query}`, via);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('content-length')).toBe('13');
    expect(await res.text()).toBe('{"token":"t"}');
    expect(calls.at(-1)!.url).toBe(`https://auth.example/token${query}`);
  });

  it.each([
    ['?scope=x&password=hunter2', /"password" is not forwarded to a token realm/],
    ['?scope=x&url=http://169.254.169.254/', /"url" is not forwarded/],
    ['?service=a&service=b', /service is given twice/],
    ['?account=a&account=b', /account is given twice/],
  ])('refuses the query %j with 400 before contacting the realm', async (query, why) => {
    const { get, calls } = make({ ...registry, 'https://auth.example/token': () => tokenAnswer() });
    const res = await get(`/proxy/auth.example/token${query}`, via);
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(why);
    expect(calls.map((c) => c.url)).not.toContain(
      expect.stringMatching(/^https:\/\/auth\.example/),
    );
  });

  it('refuses HEAD of a token realm with 405, also one that lives under /v2', async () => {
    const { get, calls } = make({
      ...registry,
      'https://auth.example/token': () => tokenAnswer(),
      'https://quay.example/v2/': challenge('https://quay.example/v2/auth'),
      'https://quay.example/v2/auth': () => tokenAnswer(),
    });
    for (const path of ['/proxy/auth.example/token', '/proxy/quay.example/v2/auth']) {
      const res = await get(path, path.includes('quay') ? {} : via, 'HEAD');
      expect(res.status, path).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, OPTIONS');
    }
    expect(calls.map((c) => c.url).filter((u) => /token$|auth$/.test(u))).toEqual([]);
  });

  it('refuses a realm that redirects to another host, and follows one on its own host', async () => {
    const { get, calls } = make({
      ...registry,
      'https://auth.example/token': (call) =>
        new Response(null, {
          status: 302,
          headers: {
            Location: call.url.includes('scope=away')
              ? 'https://elsewhere.example/token?scope=x'
              : '/token/?scope=x',
          },
        }),
      'https://auth.example/token/': () => tokenAnswer(),
      'https://elsewhere.example/token': () => tokenAnswer(),
    });
    const away = await get('/proxy/auth.example/token?scope=away', via);
    expect(away.status).toBe(502);
    expect((await errorOf(away)).message).toBe(
      'the token realm auth.example redirected to another host, elsewhere.example; ' +
        'a token is only fetched from the realm the registry announced',
    );
    expect(calls.map((c) => c.url)).not.toContain('https://elsewhere.example/token?scope=x');
    const home = await get('/proxy/auth.example/token?scope=home', via);
    expect(home.status).toBe(200);
  });

  it('refuses a success that is not JSON, or larger than a token', async () => {
    const { get } = make({
      ...registry,
      'https://auth.example/token': (call) =>
        call.url.includes('scope=html')
          ? new Response('<script>x</script>', { headers: { 'Content-Type': 'text/html' } })
          : tokenAnswer(`{"token":"${'a'.repeat(70_000)}"}`),
    });
    const html = await get('/proxy/auth.example/token?scope=html', via);
    expect(html.status).toBe(502);
    expect((await errorOf(html)).message).toBe(
      'the token realm auth.example answered 200 without a JSON body',
    );
    const big = await get('/proxy/auth.example/token?scope=big', via);
    expect(big.status).toBe(502);
    expect((await errorOf(big)).message).toMatch(/answered more than 64 KiB/);
  });

  it('passes a refusal on with its status, its body only when it is JSON', async () => {
    const { get } = make({
      ...registry,
      'https://auth.example/token': (call) =>
        call.url.includes('scope=json')
          ? new Response('{"details":"incorrect username or password"}', {
              status: 401,
              headers: { 'Content-Type': 'application/json; charset=utf-8' },
            })
          : new Response('<h1>Forbidden</h1>', {
              status: 403,
              headers: { 'Content-Type': 'text/html' },
            }),
    });
    const json = await get('/proxy/auth.example/token?scope=json', via);
    expect(json.status).toBe(401);
    expect(await json.json()).toEqual({ details: 'incorrect username or password' });
    const html = await get('/proxy/auth.example/token?scope=html', via);
    expect(html.status).toBe(403);
    expect(html.headers.get('content-type')).toBeNull();
    expect(await html.text()).toBe('');
  });
});

describe('cases the probe missed', () => {
  it.each(['https://localhost./x', 'https://LOCALHOST../x', 'https://a.localhost./x'])(
    'refuses a redirect to %s before fetching it (a name written fully qualified)',
    async (location) => {
      const { get, calls } = make({
        'https://r.example/v2/': () =>
          new Response(null, { status: 307, headers: { Location: location } }),
      });
      const res = await get('/proxy/r.example/v2/');
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('BERTH_PROXY_DENIED');
      expect(calls.map((c) => c.url)).toEqual(['https://r.example/v2/']);
    },
  );

  it.each([
    'http://2130706433/x',
    'http://0x7f.1/x',
    'http://0177.0.0.1/x',
    'http://127.1/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::ffff:7f00:1]/x',
    'https://[64:ff9b::a00:1]/x',
    'https://[2002:a00:1::]/x',
    'https://169.254.169.254./x',
  ])('refuses a redirect to %s, however the address is written', async (location) => {
    const { get, calls } = make({
      'https://r.example/v2/': () =>
        new Response(null, { status: 307, headers: { Location: location } }),
    });
    const res = await get('/proxy/r.example/v2/');
    expect(res.status).toBe(403);
    expect(calls).toHaveLength(1);
  });

  it.each(['bytes=0-0,2-2,4-4', 'bytes=0-1, 3-4', 'items=0-1', 'bytes=1-2-3', 'bytes=', 'bytes=-'])(
    'refuses Range %j: one byte range only',
    async (range) => {
      const { get, calls } = make({
        [`https://r.example/v2/a/blobs/${SHA}`]: () => new Response('x'),
      });
      const res = await get(`/proxy/r.example/v2/a/blobs/${SHA}`, { Range: range });
      expect(res.status).toBe(400);
      expect((await errorOf(res)).message).toMatch(/only a single byte range is forwarded/);
      expect(calls).toEqual([]);
    },
  );

  it.each(['bytes=0-1023', 'bytes=100-', 'bytes=-500'])('forwards Range %j', async (range) => {
    const { get, calls } = make({
      [`https://r.example/v2/a/blobs/${SHA}`]: () => new Response('x'),
    });
    expect((await get(`/proxy/r.example/v2/a/blobs/${SHA}`, { Range: range })).status).toBe(200);
    expect(calls[0]!.headers.get('range')).toBe(range);
  });
});
