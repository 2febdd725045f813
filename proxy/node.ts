// Node glue for the proxy: an address-guarded fetch and http adapters.

import dns from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { proxySettings } from './settings.ts';
import { internalError, proxyError } from './errors.ts';
import { createProxyHandler } from './handler.ts';
import { DEFAULT_IDLE_TIMEOUT_MS } from './upstream.ts';
import type { ProxyHandler, ProxyOptions } from './handler.ts';
import {
  DENIED_CODE,
  formatHostPort,
  isForbiddenAddress,
  isInsecureHost,
  parseHostPort,
  parseInsecureList,
} from './policy.ts';
import { clientKey, createRateLimiter, DEFAULT_RATE_LIMIT } from './ratelimit.ts';

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
type Lookup = (
  hostname: string,
  options: LookupOneOptions | LookupAllOptions,
  callback: LookupCallback,
) => void;

export interface GuardedFetchOptions {
  insecureRegistries: readonly string[];
  /** Connect and response-headers timeout. Default 30 s. */
  timeoutMs?: number;
  /** Longest silence between body chunks. Default 60 s (the handler enforces it too). */
  idleTimeoutMs?: number;
  /** Resolver to guard; defaults to dns.lookup. Tests substitute fake DNS. */
  lookup?: Lookup;
}

/** `close()` aborts in-flight upstream requests and frees the sockets. */
export type GuardedFetch = typeof fetch & { close(): Promise<void> };

function deniedError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: DENIED_CODE });
}

/**
 * Wraps a resolver so forbidden addresses never reach connect(). Because the
 * socket connects to exactly what this returns, there is no window for DNS
 * rebinding between check and use.
 */
function guardLookup(base: Lookup): Lookup {
  return (hostname, options, callback) => {
    base(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const all = addresses as LookupAddress[];
      const allowed = all.filter((a) => !isForbiddenAddress(a.address));
      if (allowed.length === 0) {
        const shown = all.map((a) => a.address).join(', ') || 'nothing';
        return callback(
          deniedError(`it resolves to ${shown}, a loopback, private or reserved address`),
          [],
        );
      }
      // Node asks for all addresses when happy-eyeballs is on, one otherwise.
      if ((options as LookupAllOptions).all) return callback(null, allowed);
      const first = allowed[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/**
 * A fetch whose connections obey the address policy: hosts not in the
 * insecure list may only connect to public addresses, checked on the resolved
 * IP at connect time.
 */
export function createGuardedFetch(opts: GuardedFetchOptions): GuardedFetch {
  const insecure = parseInsecureList(opts.insecureRegistries);
  const timeout = opts.timeoutMs ?? 30_000;
  const baseLookup = opts.lookup ?? (dns.lookup as unknown as Lookup);
  // A plain `connect: { lookup }` cannot see the port, but list entries may
  // name one; so pick between a guarded and an unguarded connector per call.
  const guarded = buildConnector({ timeout, lookup: guardLookup(baseLookup) });
  const trusted = buildConnector({ timeout, lookup: baseLookup });

  const agent = new Agent({
    headersTimeout: timeout,
    bodyTimeout: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    connect(options, callback) {
      const port = options.port || (options.protocol === 'https:' ? '443' : '80');
      const host = net.isIPv6(options.hostname) ? `[${options.hostname}]` : options.hostname;
      const listed = isInsecureHost(formatHostPort({ host, port }), insecure);
      if (listed) return trusted(options, callback);
      // IP literals skip lookup entirely, so judge them here.
      if (net.isIP(options.hostname) && isForbiddenAddress(options.hostname)) {
        return callback(deniedError('it is a loopback, private or reserved address'), null);
      }
      return guarded(options, callback);
    },
  });

  const guardedFetch = ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as string, {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    })) as unknown as GuardedFetch;
  // destroy, not close: close() waits for in-flight requests, and a stalled
  // upstream would then hold shutdown open forever.
  guardedFetch.close = () => agent.destroy();
  return guardedFetch;
}

/** A request toWebRequest cannot convert, with the reason to tell the client. */
class BadRequest extends Error {}

/**
 * Converts a Node request into a WHATWG Request. The proxy never needs a
 * request body, so none is attached (and the incoming one is discarded).
 * When `res` is given, the Request's signal aborts if the client goes away
 * before the response is finished.
 */
export function toWebRequest(req: IncomingMessage, res?: ServerResponse): Request {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const host = req.headers.host ?? 'localhost';
  // A Host the URL parser would refuse or rewrite (`xn--zz`, userinfo, spaces) is named as
  // the problem, not left to throw from inside URL parsing.
  const hp = parseHostPort(host);
  if (!hp) throw new BadRequest('invalid Host header');
  const base = `${encrypted ? 'https' : 'http'}://${formatHostPort(hp)}`;
  let url: URL;
  try {
    url = new URL(req.url ?? '/', base);
  } catch {
    throw new BadRequest('malformed request target');
  }
  if (url.origin !== new URL(base).origin)
    throw new BadRequest('request target must be origin-form');

  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }

  const controller = new AbortController();
  if (res) {
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
  }
  req.resume();
  return new Request(url, { method: req.method ?? 'GET', headers, signal: controller.signal });
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes a WHATWG Response to a Node response, streaming the body with
 * backpressure so a blob is never held in memory. If the client leaves, the
 * upstream body is cancelled so the registry connection is released.
 */
export async function writeWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!res.write(value)) await waitForDrain(res);
    }
    res.end();
  } catch {
    // Upstream died mid-body: cut the connection so the client sees a
    // truncated transfer instead of a short body that looks complete.
    res.destroy();
    reader.cancel().catch(() => {});
  } finally {
    res.off('close', onClose);
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && length.trim() !== '0';
}

export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse) => void;

/** Adapts a proxy handler to Node's (req, res). */
export function nodeMiddleware(handler: ProxyHandler): NodeMiddleware {
  return (req, res) => {
    void (async () => {
      let request: Request;
      try {
        request = toWebRequest(req, res);
      } catch (err) {
        const why = err instanceof BadRequest ? err.message : 'malformed request';
        await writeWebResponse(res, proxyError(400, 'BERTH_BAD_REQUEST', why));
        return;
      }
      // Whatever the answer, a connection that carried a request body is not
      // reused: its bytes are never parsed as a request of their own.
      if (req.headers['transfer-encoding'] !== undefined || hasBody(req)) {
        res.setHeader('Connection', 'close');
      }
      let response: Response;
      try {
        response = await handler(request, {
          rawTarget: req.url ?? '/',
          client: clientKey(req.socket.remoteAddress),
        });
      } catch (err) {
        // The handler answers its own errors; this is the last line, logged as sparingly.
        response = internalError(err, (line) => console.error(line));
      }
      await writeWebResponse(res, response);
    })().catch(() => res.destroy());
  };
}

/** Handler options for Node: the fetch is built here, the limiter from `rateLimit`. */
export type NodeProxyOptions = Omit<ProxyOptions, 'fetch' | 'rateLimiter'> & {
  /** Requests per minute per client address (IPv6 by /64); 0 disables. Default 600. */
  rateLimit?: number;
};

/** Proxy settings from the environment, shared by the server and the Vite plugin. */
export function proxyOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NodeProxyOptions {
  return proxySettings(env);
}

export interface NodeProxy {
  handler: ProxyHandler;
  middleware: NodeMiddleware;
  close(): Promise<void>;
}

/** Handler + guarded fetch + Node middleware in one, for servers. */
export function createNodeProxy(opts: NodeProxyOptions): NodeProxy {
  const { rateLimit = DEFAULT_RATE_LIMIT, ...rest } = opts;
  const guardedFetch = createGuardedFetch({
    insecureRegistries: opts.insecureRegistries,
    timeoutMs: opts.timeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
  });
  const handler = createProxyHandler({
    ...rest,
    fetch: guardedFetch,
    rateLimiter: rateLimit > 0 ? createRateLimiter({ perMinute: rateLimit }) : undefined,
  });
  return { handler, middleware: nodeMiddleware(handler), close: () => guardedFetch.close() };
}

/** Does this raw request target belong to the proxy mount? */
export function isProxyPath(rawUrl: string | undefined, mountPath = '/proxy'): boolean {
  return !!rawUrl && (rawUrl === mountPath || rawUrl.startsWith(`${mountPath}/`));
}
