// Issue 15, section 3: the outside probe's findings, over real sockets, on the Node server and
// on workerd alike where both apply: hosts that do not parse, userinfo and queries kept out of
// the log, upstream statuses that are not HTTP, Basic challenges kept from the browser, token
// realms narrowed to token requests; and for the Node server, slow-header connections, the
// connection caps and the Host guard on a wildcard bind.
import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { proxyOptionsFromEnv } from '../../proxy/node.ts';
import { bindHostNames, startServer, type RunningServer } from '../../proxy/server.ts';
import { rawRequest, type RawResponse } from '../harness/http.ts';
import { type Upstream, upstream } from '../harness/upstream.ts';
import { startWorkerdProxy, type WorkerdProxy } from '../harness/workerd.ts';

/** Answers with the status line its path asks for (`/v2/s/manifests/<status>`), as is. */
let rawStatus: net.Server;
let rawStatusHost: string;
/** A registry whose /v2/ offers Basic and Bearer, and its token realm. */
let registry: Upstream;
let tokens: Upstream;
let node: RunningServer;
let workerd: WorkerdProxy;
const nodeLines: string[] = [];
const stops: (() => Promise<unknown>)[] = [];

const codeOf = (res: RawResponse) =>
  (JSON.parse(res.body) as { errors: { code: string; message: string }[] }).errors[0]!;

beforeAll(async () => {
  rawStatus = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (d) => {
      const status = d.toString('latin1').split(' ')[1]?.split('/')[4] ?? '500';
      socket.end(
        `HTTP/1.1 ${status} Strange\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      );
    });
  });
  await new Promise<void>((resolve) => rawStatus.listen(0, '127.0.0.1', resolve));
  stops.push(() => new Promise((resolve) => rawStatus.close(resolve)));
  rawStatusHost = `127.0.0.1:${(rawStatus.address() as net.AddressInfo).port}`;
  tokens = await upstream((req, res) => {
    if ((req.url ?? '').startsWith('/away')) {
      res.writeHead(302, { Location: `http://127.0.0.2:${tokens.port}/token` });
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"token":"TOKEN-SECRET"}');
  });
  stops.push(() => tokens.close());
  registry = await upstream((_req, res) => {
    res.writeHead(401, {
      'Content-Type': 'application/json',
      'WWW-Authenticate': `Basic realm="registry", Bearer realm="http://${tokens.host}/token",service="s"`,
    });
    res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  });
  stops.push(() => registry.close());

  const insecure = [rawStatusHost, registry.host, tokens.host, `127.0.0.2:${tokens.port}`];
  node = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: '',
    proxyOnly: true,
    warn: () => {},
    ...proxyOptionsFromEnv({ BERTH_INSECURE_REGISTRIES: insecure.join(',') }),
    log: (line) => nodeLines.push(line),
  });
  stops.push(() => node.close());
  workerd = await startWorkerdProxy({ insecureRegistries: insecure, log: true });
  stops.push(() => workerd.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

const both = () => ({ node: node.url, workerd: workerd.url });

/** Everything both proxies logged, after a moment for workerd's output to arrive. */
async function logged(): Promise<string> {
  await new Promise((r) => setTimeout(r, 300));
  return [...nodeLines, ...workerd.output()].join('\n');
}

describe('hosts that do not parse', () => {
  it.each(['xn--zz', 'xn--ocalhost-in2e', 'xn--zz.example'])(
    '%s is a 400 naming it on both, with nothing in the log but the refusal',
    async (host) => {
      const errors = vi.spyOn(console, 'error');
      try {
        for (const [which, base] of Object.entries(both())) {
          const res = await rawRequest(base, `/proxy/${host}/v2/?q=QUERY-SECRET`);
          expect(res.status, which).toBe(400);
          expect(codeOf(res), which).toEqual({
            code: 'BERTH_BAD_REQUEST',
            message: `invalid upstream host ${JSON.stringify(host)}`,
          });
        }
        expect(errors).not.toHaveBeenCalled();
      } finally {
        errors.mockRestore();
      }
      const text = await logged();
      expect(text).not.toContain('QUERY-SECRET');
      expect(text).not.toContain('internal error');
    },
  );

  it('an invalid Host header is a 400 that says so, on the Node server', async () => {
    const res = await rawRequest(node.url, `/proxy/${registry.host}/v2/`, {
      headers: { Host: 'xn--zz' },
    });
    expect(res.status).toBe(403); // the Host guard comes first
    const anyHost = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: [registry.host],
      allowedHosts: ['*'],
    });
    try {
      const bad = await rawRequest(anyHost.url, `/proxy/${registry.host}/v2/`, {
        headers: { Host: 'xn--zz' },
      });
      expect(bad.status).toBe(400);
      expect(codeOf(bad).message).toBe('invalid Host header');
    } finally {
      await anyHost.close();
    }
  });
});

describe('BERTH_PROXY_LOG=1', () => {
  it('never logs userinfo of a refused host, nor a query, on either runtime', async () => {
    for (const base of Object.values(both())) {
      for (const host of ['user:hunter2@registry.example', 'user:hunter2%40registry.example']) {
        const res = await rawRequest(base, `/proxy/${host}/v2/?token=QUERY-SECRET`);
        expect(res.status).toBe(400);
      }
    }
    const text = await logged();
    expect(text).toMatch(/GET \(invalid\) \/v2\/ 400 /);
    for (const secret of ['hunter2', 'user:', 'QUERY-SECRET', '?']) {
      expect(text, secret).not.toContain(secret);
    }
  });
});

describe('upstream statuses that are not HTTP', () => {
  it.each(['600', '999', '101', '100', '199', '1000'])(
    'status %s is a clean 502 on both, with no stack in the log',
    async (status) => {
      const errors = vi.spyOn(console, 'error');
      try {
        for (const [which, base] of Object.entries(both())) {
          const res = await rawRequest(base, `/proxy/${rawStatusHost}/v2/s/manifests/${status}`);
          expect(res.status, which).toBe(502);
          const err = codeOf(res);
          expect(err.code, which).toMatch(/^BERTH_UPSTREAM_(INVALID|UNREACHABLE)$/);
          expect(err.message, which).toMatch(
            /not a final HTTP status|did not answer with a valid HTTP response/,
          );
        }
        expect(errors).not.toHaveBeenCalled();
      } finally {
        errors.mockRestore();
      }
      const text = await logged();
      expect(text).not.toMatch(/internal error|RangeError|\n\s+at /);
    },
  );
});

describe('a Basic challenge never reaches the browser as one', () => {
  it('is moved to Berth-WWW-Authenticate, exposed, on both', async () => {
    for (const [which, base] of Object.entries(both())) {
      const res = await rawRequest(base, `/proxy/${registry.host}/v2/`, {
        headers: { Origin: base },
      });
      expect(res.status, which).toBe(401);
      expect(res.headers['www-authenticate'], which).toBeUndefined();
      expect(res.headers['berth-www-authenticate'], which).toContain('Basic realm="registry"');
      expect(res.headers['access-control-expose-headers'], which).toContain(
        'Berth-WWW-Authenticate',
      );
    }
  });
});

describe('token realms get token requests only', () => {
  const via = { 'Berth-Registry': '' };
  it('forwards the token parameters and refuses others, HEAD, and a redirect elsewhere, on both', async () => {
    via['Berth-Registry'] = registry.host;
    for (const [which, base] of Object.entries(both())) {
      const ok = await rawRequest(
        base,
        `/proxy/${tokens.host}/token?service=s&scope=repository:a:pull&scope=repository:b:pull`,
        { headers: via },
      );
      expect(ok.status, which).toBe(200);
      expect(JSON.parse(ok.body), which).toEqual({ token: 'TOKEN-SECRET' });
      const before = tokens.requests.length;
      const extra = await rawRequest(base, `/proxy/${tokens.host}/token?scope=x&next=/admin`, {
        headers: via,
      });
      expect(extra.status, which).toBe(400);
      expect(codeOf(extra).message, which).toMatch(/"next" is not forwarded to a token realm/);
      const head = await rawRequest(base, `/proxy/${tokens.host}/token?scope=x`, {
        method: 'HEAD',
        headers: via,
      });
      expect(head.status, which).toBe(405);
      expect(tokens.requests.length, which).toBe(before);
    }
  });
});

describe('the Node server and slow clients', () => {
  let slow: RunningServer;
  beforeAll(async () => {
    slow = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: [registry.host],
      headersTimeoutMs: 1000,
      maxClientConnections: 4,
      rateLimit: 0,
    });
  });
  afterAll(() => slow?.close());

  /** Opens a socket and dribbles a request's headers a byte every 200 ms; resolves with what
   * the server sent and whether it closed the socket before the dribble was done. */
  function dribble(base: string, bytes: number): Promise<{ closedEarly: boolean; out: string }> {
    const url = new URL(base);
    const text = `GET /proxy/${registry.host}/v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'a'.repeat(bytes)}`;
    return new Promise((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname);
      let out = '';
      let i = 0;
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => (out += c));
      socket.on('error', () => {});
      const timer = setInterval(() => {
        if (i >= text.length) {
          clearInterval(timer);
          socket.destroy();
          resolve({ closedEarly: false, out });
          return;
        }
        socket.write(text[i++]!);
      }, 200);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ closedEarly: i < text.length, out });
      });
    });
  }

  it('closes a connection whose headers dribble in, and one that sends nothing', async () => {
    // About 60 bytes at 5 a second: far longer than the 1 s allowed for headers.
    const [dribbled, silent] = await Promise.all([
      dribble(slow.url, 10),
      new Promise<boolean>((resolve) => {
        const url = new URL(slow.url);
        const socket = net.connect(Number(url.port), url.hostname);
        socket.on('error', () => {});
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(false);
        }, 15_000);
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      }),
    ]);
    expect(dribbled.closedEarly).toBe(true);
    expect(dribbled.out).toMatch(/^(HTTP\/1\.1 408|$)/);
    expect(silent).toBe(true);
    // The server still serves.
    expect((await rawRequest(slow.url, `/proxy/${registry.host}/v2/`)).status).toBe(401);
  });

  it('caps open connections per client address; a freed slot serves again', async () => {
    const url = new URL(slow.url);
    const open = async () => {
      const socket = net.connect(Number(url.port), url.hostname);
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      return socket;
    };
    const held = await Promise.all([open(), open(), open(), open()]);
    const extra = await open();
    const answer = await new Promise<string>((resolve) => {
      let out = '';
      extra.setEncoding('latin1');
      extra.on('data', (c: string) => (out += c));
      extra.on('close', () => resolve(out));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toContain('"code":"BERTH_PROXY_BUSY"');
    expect(answer).toContain('too many open connections from one address: the limit is 4');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect((await rawRequest(slow.url, `/proxy/${registry.host}/v2/`)).status).toBe(401);
  });

  it('counts new connections against the rate limit, in a bucket of their own', async () => {
    const limited = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: [registry.host],
      rateLimit: 3,
    });
    try {
      const url = new URL(limited.url);
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) {
        // A connection that never sends a request: the request limit alone never sees it.
        answers.push(
          await new Promise<string>((resolve) => {
            const socket = net.connect(Number(url.port), url.hostname);
            let out = '';
            socket.setEncoding('latin1');
            socket.on('error', () => {});
            socket.on('data', (c: string) => (out += c));
            socket.on('connect', () => setTimeout(() => socket.destroy(), 300));
            socket.on('close', () => resolve(out));
          }),
        );
      }
      expect(answers.slice(0, 3)).toEqual(['', '', '']);
      expect(answers[3]).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
      expect(answers[3]).toMatch(/\r\nRetry-After: \d+\r\n/);
      expect(answers[3]).toContain('too many new connections');
    } finally {
      await limited.close();
    }
  });
});

describe('the Host guard on a wildcard bind (DNS rebinding)', () => {
  it('answers its own names and the listed ones, and refuses a foreign Host with no CORS grant', async () => {
    const wide = await startServer({
      host: '0.0.0.0',
      port: 0,
      distDir: '',
      proxyOnly: true,
      insecureRegistries: [registry.host],
      allowedHosts: ['berth.team.example'],
    });
    try {
      const port = new URL(wide.url).port;
      const base = `http://127.0.0.1:${port}`;
      const ask = (host: string) =>
        rawRequest(base, `/proxy/${registry.host}/v2/`, {
          headers: { Host: `${host}:${port}`, Origin: `http://${host}:${port}` },
        });
      const evil = await ask('evil.example');
      expect(evil.status).toBe(403);
      expect(codeOf(evil).code).toBe('BERTH_PROXY_DENIED');
      expect(evil.headers['access-control-allow-origin']).toBeUndefined();
      for (const host of ['localhost', '127.0.0.1', 'berth.team.example', os.hostname()]) {
        const res = await ask(host.toLowerCase());
        expect(res.status, host).toBe(401);
        expect(res.headers['access-control-allow-origin'], host).toBe(
          `http://${host.toLowerCase()}:${port}`,
        );
      }
    } finally {
      await wide.close();
    }
  });

  it('names for a wildcard bind: the interfaces and the host name; a named bind: itself', () => {
    const wild = bindHostNames('0.0.0.0');
    expect(wild.has('127.0.0.1')).toBe(true);
    expect(wild.has(os.hostname().toLowerCase())).toBe(true);
    expect(wild.has('evil.example')).toBe(false);
    expect([...bindHostNames('10.1.2.3')]).toEqual(['10.1.2.3']);
    expect([...bindHostNames('::1')]).toEqual(['[::1]']);
  });
});
