// `npm start`: serves the built app from dist/ and mounts the proxy at /proxy/.
//
//   HOST=127.0.0.1 PORT=8080 tsx proxy/server.ts [--proxy-only]
//
// Env: BERTH_INSECURE_REGISTRIES, BERTH_ALLOWED_ORIGINS, BERTH_PROXY_LOG=1,
// BERTH_PROXY_TIMEOUT_MS, BERTH_PROXY_IDLE_TIMEOUT_MS, BERTH_PROXY_RATE_LIMIT,
// BERTH_ALLOWED_HOSTS (see isHostAllowed).

import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { proxyError } from './errors.ts';
import { createNodeProxy, isProxyPath, proxyOptionsFromEnv, writeWebResponse } from './node.ts';
import { insecureListWarnings, parseInsecureList } from './policy.ts';

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
   * Host header names accepted besides the defaults; `['*']` accepts any.
   * See isHostAllowed for why this exists.
   */
  allowedHosts?: string[];
}

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

function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * DNS rebinding guard. A page on evil.example can rebind its name to
 * 127.0.0.1 and then talk to a loopback-bound Berth "same-origin", reaching
 * insecure-listed private registries through the proxy. When bound to
 * loopback we therefore only answer to loopback Host names (like Vite's
 * server.allowedHosts). Bound elsewhere, the operator owns the exposure.
 */
function isHostAllowed(hostHeader: string | undefined, loopback: boolean, extra: Set<string>) {
  if (!loopback || extra.has('*')) return true;
  if (!hostHeader) return false;
  const name = hostHeader
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    name === '::1' ||
    extra.has(name)
  );
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
  const loopback = isLoopbackBind(opts.host);
  const extraHosts = new Set((opts.allowedHosts ?? []).map((h) => h.toLowerCase()));

  const server = http.createServer((req, res) => {
    const toProxy = isProxyPath(req.url);
    if (!isHostAllowed(req.headers.host, loopback, extraHosts)) {
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
  });

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
