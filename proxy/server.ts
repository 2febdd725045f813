// `npm start`: serves the built app from dist/ and mounts the proxy at /proxy/.
//
//   HOST=127.0.0.1 PORT=8080 tsx proxy/server.ts [--proxy-only]
//
// Env: BERTH_INSECURE_REGISTRIES, BERTH_ALLOWED_ORIGINS, BERTH_PROXY_LOG=1,
// BERTH_PROXY_TIMEOUT_MS, BERTH_PROXY_IDLE_TIMEOUT_MS, BERTH_PROXY_RATE_LIMIT,
// BERTH_ALLOWED_HOSTS (see hostGuard), BERTH_MAX_CONNECTIONS, BERTH_MAX_CLIENT_CONNECTIONS.

import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { proxyError } from './errors.ts';
import { createNodeProxy, isProxyPath, proxyOptionsFromEnv, writeWebResponse } from './node.ts';
import { insecureListWarnings, parseHostPort, parseInsecureList } from './policy.ts';
import { clientKey, createRateLimiter, DEFAULT_RATE_LIMIT } from './ratelimit.ts';

export interface ServerOptions {
  host: string;
  port: number;
  /** Built app; unused with proxyOnly. */
  distDir: string;
  insecureRegistries: string[];
  proxyOnly?: boolean;
  allowedOrigins?: string[];
  /** Upstream connect/headers timeout. Default 30 s. */
  timeoutMs?: number;
  /** Longest upstream silence in a response body. Default 60 s. */
  idleTimeoutMs?: number;
  /** Proxy requests per minute per client address; 0 disables. Default 600. */
  rateLimit?: number;
  log?: (line: string) => void;
  /** Receives start-up warnings (port-less insecure entries). Default console.warn. */
  warn?: (line: string) => void;
  /**
   * Host header names accepted besides the server's own; `['*']` accepts any.
   * See hostGuard for why this exists.
   */
  allowedHosts?: string[];
  /** Open connections at once, all clients together. Default 1024. */
  maxConnections?: number;
  /**
   * Open connections at once per client address (IPv6 by /64). Default 256: a browser opens
   * six, but a program's burst of 50 requests can briefly hold twice that while the sockets
   * of the previous burst are still closing.
   */
  maxClientConnections?: number;
  /** Longest a client may take to send a request's headers. Default 10 s. */
  headersTimeoutMs?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CLIENT_CONNECTIONS = 256;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  // Settings may name a proxy on another origin, or talk to CORS-enabled registries directly.
  "connect-src 'self' https: http:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const APP_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';

function isLoopbackName(name: string): boolean {
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    name === '[::1]'
  );
}

/**
 * The Host names a bind answers to by itself: the loopback names always; the bound address
 * when it is one; for a wildcard bind (0.0.0.0, ::) every address of the machine's interfaces
 * and its host name. Anything else (the name a team reaches it by, a reverse proxy's public
 * name) is listed in BERTH_ALLOWED_HOSTS.
 */
export function bindHostNames(bind: string): Set<string> {
  const names = new Set<string>();
  const add = (name: string) => {
    const hp = parseHostPort(name);
    if (hp) names.add(hp.host);
  };
  const bare = bind.toLowerCase().replace(/^\[|\]$/g, '');
  if (bare === '0.0.0.0' || bare === '::' || bare === '') {
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? [])
        add(a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address);
    }
    add(os.hostname());
  } else {
    add(bare.includes(':') ? `[${bare}]` : bare);
  }
  return names;
}

/**
 * DNS rebinding guard, on every bind. A page on evil.example can rebind its name to the
 * server's address (127.0.0.1, or the LAN address of a team's server) and then talk to Berth
 * "same-origin", reaching insecure-listed private registries through the proxy. So the server
 * only answers to its own names (bindHostNames, loopback names) and BERTH_ALLOWED_HOSTS, like
 * Vite's server.allowedHosts and the workerd entry's explicit list.
 */
function hostGuard(bind: string, extra: readonly string[]): (host: string | undefined) => boolean {
  if (extra.includes('*')) return () => true;
  const allowed = bindHostNames(bind);
  for (const name of extra) {
    // A bare IPv6 address is accepted as written (`::1`), as well as bracketed.
    const hp = parseHostPort(/^[^[].*:.*:/.test(name) ? `[${name}]` : name);
    if (hp) allowed.add(hp.host);
  }
  return (hostHeader) => {
    const hp = hostHeader === undefined ? null : parseHostPort(hostHeader);
    return !!hp && (isLoopbackName(hp.host) || allowed.has(hp.host));
  };
}

function sendText(res: ServerResponse, status: number, text: string, extra = {}) {
  res.writeHead(status, {
    ...APP_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(text);
}

async function statFile(file: string): Promise<Stats | null> {
  try {
    const st = await fs.stat(file);
    return st.isFile() ? st : null;
  } catch {
    return null;
  }
}

async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  st: Stats,
  cacheControl: string,
) {
  const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = {
    ...APP_HEADERS,
    'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Cache-Control': cacheControl,
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': st.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(createReadStream(file), res).catch(() => res.destroy());
}

/**
 * Static files from distRoot (already realpath'd). The request path is
 * decoded once and then must not contain dot segments, backslashes or NULs;
 * on top of that the resolved file must lie inside distRoot, symlinks included.
 */
async function serveStatic(req: IncomingMessage, res: ServerResponse, distRoot: string) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, 'Method not allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    sendText(res, 400, 'Bad request\n');
    return;
  }
  const segments = decoded.split('/');
  if (
    !decoded.startsWith('/') ||
    /[\\\0]/.test(decoded) ||
    segments.some((s) => s === '.' || s === '..')
  ) {
    sendText(res, 400, 'Bad request\n');
    return;
  }

  const index = path.join(distRoot, 'index.html');
  const candidate = path.resolve(distRoot, `.${decoded}`);
  if (candidate !== distRoot && !candidate.startsWith(distRoot + path.sep)) {
    sendText(res, 400, 'Bad request\n');
    return;
  }
  if (!decoded.endsWith('/')) {
    const st = await statFile(candidate);
    if (st) {
      const real = await fs.realpath(candidate);
      if (real.startsWith(distRoot + path.sep)) {
        // Only assets/ names are content-hashed. Everything else, sw.js, its workbox-*.js and
        // manifest.webmanifest included, is revalidated, or updates would go unnoticed.
        const cache = decoded.startsWith('/assets/') ? IMMUTABLE : 'no-cache';
        await serveFile(req, res, real, st, cache);
        return;
      }
    }
  }
  // SPA routes have no extension; a missing /foo.js is a real 404, not the app.
  if (path.posix.extname(decoded) !== '') {
    sendText(res, 404, 'Not found\n');
    return;
  }
  const st = await statFile(index);
  if (!st) {
    sendText(res, 404, 'Not found\n');
    return;
  }
  await serveFile(req, res, index, st, 'no-cache');
}

/** An answer written straight to a socket the server will not serve, then closed. */
function refuseSocket(socket: Socket, status: 429 | 503, message: string, retryAfter: number) {
  const body = JSON.stringify({
    errors: [{ code: status === 429 ? 'BERTH_RATE_LIMITED' : 'BERTH_PROXY_BUSY', message }],
  });
  const reason = status === 429 ? 'Too Many Requests' : 'Service Unavailable';
  socket.on('error', () => {});
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${retryAfter}\r\n` +
      "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; sandbox\r\n" +
      `Connection: close\r\n\r\n${body}`,
  );
  // Whatever the client still sends is not read: the socket goes soon in any case.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * Closes a connection that sends nothing within the headers timeout. Caps open connections,
 * per client address and overall, and counts new connections against
 * a per-client budget of `perMinute` (the rate limit's number, in a bucket of its own, so a
 * client that opens connections without sending requests is limited too). A connection over
 * a cap gets a 503 (429 over the budget) and is closed before the HTTP server reads from it.
 * Returns the refused sockets, whose requests, if any arrive, are not served.
 */
function limitConnections(
  server: http.Server,
  opts: {
    maxConnections: number;
    maxClientConnections: number;
    perMinute: number;
    headersTimeoutMs: number;
  },
): WeakSet<Socket> {
  const refused = new WeakSet<Socket>();
  const perClient = new Map<string, number>();
  const budget = opts.perMinute > 0 ? createRateLimiter({ perMinute: opts.perMinute }) : null;
  let open = 0;
  // Before the HTTP server's own listener, so a refused socket is marked before it is parsed.
  server.prependListener('connection', (socket: Socket) => {
    const key = clientKey(socket.remoteAddress);
    const mine = perClient.get(key) ?? 0;
    if (open >= opts.maxConnections) {
      refused.add(socket);
      refuseSocket(socket, 503, `the server has ${open} open connections, its limit`, 1);
      return;
    }
    if (mine >= opts.maxClientConnections) {
      refused.add(socket);
      refuseSocket(
        socket,
        503,
        `too many open connections from one address: the limit is ${opts.maxClientConnections}`,
        1,
      );
      return;
    }
    const wait = budget?.take(key) ?? 0;
    if (wait > 0) {
      refused.add(socket);
      refuseSocket(
        socket,
        429,
        `too many new connections: the server allows ${opts.perMinute} a minute per client; ` +
          `retry in ${wait} s`,
        wait,
      );
      return;
    }
    open++;
    perClient.set(key, mine + 1);
    // Node's headersTimeout only starts with the first byte: a connection that sends nothing
    // would otherwise stay open for as long as its client likes.
    const silent = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, opts.headersTimeoutMs);
    silent.unref();
    socket.once('close', () => {
      clearTimeout(silent);
      open--;
      const left = (perClient.get(key) ?? 1) - 1;
      if (left > 0) perClient.set(key, left);
      else perClient.delete(key);
    });
  });
  return refused;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const distRoot = opts.proxyOnly ? '' : await fs.realpath(opts.distDir);
  const warn = opts.warn ?? ((line: string) => console.warn(`berth: warning: ${line}`));
  for (const line of insecureListWarnings(parseInsecureList(opts.insecureRegistries))) warn(line);
  const proxy = createNodeProxy({
    insecureRegistries: opts.insecureRegistries,
    allowedOrigins: opts.allowedOrigins,
    timeoutMs: opts.timeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    rateLimit: opts.rateLimit,
    log: opts.log,
  });
  const isHostAllowed = hostGuard(opts.host, opts.allowedHosts ?? []);
  const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;

  const server = http.createServer(
    {
      // Slow-header (slowloris) connections are closed: the headers must arrive within
      // headersTimeout, checked every second rather than Node's default 30 s.
      headersTimeout,
      requestTimeout: headersTimeout * 2,
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
      keepAliveTimeout: 5000,
    },
    (req, res) => {
      if (refusedSockets.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      handle(req, res);
    },
  );
  server.maxRequestsPerSocket = 1000;
  const refusedSockets = limitConnections(server, {
    maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxClientConnections: opts.maxClientConnections ?? DEFAULT_MAX_CLIENT_CONNECTIONS,
    perMinute: opts.rateLimit ?? DEFAULT_RATE_LIMIT,
    headersTimeoutMs: headersTimeout,
  });

  function handle(req: IncomingMessage, res: ServerResponse) {
    const toProxy = isProxyPath(req.url);
    if (!isHostAllowed(req.headers.host)) {
      const msg = 'Host header not allowed; set BERTH_ALLOWED_HOSTS to accept it';
      if (toProxy) void writeWebResponse(res, proxyError(403, 'BERTH_PROXY_DENIED', msg));
      else sendText(res, 403, `${msg}\n`);
      return;
    }
    if (toProxy) {
      proxy.middleware(req, res);
      return;
    }
    if (opts.proxyOnly) {
      sendText(res, 404, 'Not found (proxy-only mode)\n');
      return;
    }
    serveStatic(req, res, distRoot).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'Internal error\n');
      else res.destroy();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const shownHost = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${shownHost}:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Long blob downloads would otherwise hold close() open indefinitely.
        server.closeAllConnections();
      });
      await proxy.close();
    },
  };
}

/** A positive whole number from the environment, or undefined when unset. */
function envCount(name: string): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number`);
  return n;
}

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--proxy-only');
  if (unknown.length > 0) {
    console.error(`unknown argument ${unknown[0]}; usage: tsx proxy/server.ts [--proxy-only]`);
    process.exit(2);
  }
  const proxyOnly = args.includes('--proxy-only');
  const host = process.env.HOST || '127.0.0.1';
  const port = Number(process.env.PORT || 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid PORT ${process.env.PORT}`);
  }
  // BERTH_DIST_DIR serves a build kept elsewhere; by default the checkout's own dist/.
  const distDir = process.env.BERTH_DIST_DIR
    ? path.resolve(process.env.BERTH_DIST_DIR)
    : fileURLToPath(new URL('../dist/', import.meta.url));
  if (!proxyOnly) {
    try {
      await fs.access(path.join(distDir, 'index.html'));
    } catch {
      throw new Error(
        `${path.join(distDir, 'index.html')} not found: run \`vite build\` first, or use --proxy-only`,
      );
    }
  }
  const env = proxyOptionsFromEnv(process.env);
  const server = await startServer({
    host,
    port,
    distDir,
    proxyOnly,
    ...env,
    allowedHosts: (process.env.BERTH_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    maxConnections: envCount('BERTH_MAX_CONNECTIONS'),
    maxClientConnections: envCount('BERTH_MAX_CLIENT_CONNECTIONS'),
  });
  console.log(`Berth listening on ${server.url}`);

  let closing = false;
  const shutdown = () => {
    if (closing) process.exit(1); // second signal: give up waiting
    closing = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  main().catch((err: unknown) => {
    console.error(`berth: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
