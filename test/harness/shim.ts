/**
 * A streaming reverse proxy in front of a harness registry that can tamper with response
 * bodies (same length, so only a digest check notices) and counts the bytes it serves.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, pipeline } from 'node:stream';

export interface ShimRequest {
  method: string;
  /** Path with query, as asked by the client. */
  path: string;
  /** Upstream status (0 until it answers, 502 when it could not be reached). */
  status: number;
  /** Response body bytes sent to the client so far. */
  bytes: number;
  /** Request body bytes forwarded upstream. */
  requestBytes: number;
  /** Whether the body went through a mutator. */
  mutated: boolean;
  /** True once the response was fully sent. */
  done: boolean;
  /** The client's Range header, if any. */
  range?: string;
  /** True when cutAfter cut this response short. */
  cut?: boolean;
  /** True when stallAfter stopped this response. */
  stalled?: boolean;
  /** When the request arrived and when its response was sent, in epoch milliseconds
   * (performance.timeOrigin + now: comparable with a page's clock), and which client
   * connection (numbered from 1 in order of arrival) carried it: what a count of serial
   * round trips needs. */
  startedAt: number;
  endedAt?: number;
  connection: number;
}

export type Mutator = (chunk: Buffer) => Buffer;

export interface ShimOptions {
  /** GET /v2/<name>/blobs/<corruptDigest> gets one bit flipped in every body chunk. */
  corruptDigest?: string;
  /** General hook: return a chunk mapper (must keep the length) to alter a response body. */
  mutate?: (path: string, method: string) => Mutator | undefined;
  /** Drop the client's Range header, like a registry or CDN that ignores it (answers 200). */
  ignoreRange?: boolean | ((request: ShimRequest) => boolean);
  /** Cut the connection after this many body bytes of the response (a network failure
   * mid-download). Called per request; undefined lets it through whole. */
  cutAfter?: (request: ShimRequest) => number | undefined;
  /** Stop sending after this many body bytes and hold the connection open (a stalled
   * download, for cancel and reload tests). The connection ends when the shim stops. */
  stallAfter?: (request: ShimRequest) => number | undefined;
  /** Forward the request only once this settles: a download held back until a test releases
   * it, with no timing involved. Undefined forwards it at once. */
  hold?: (request: ShimRequest) => Promise<void> | undefined;
  /** Answer the request itself, without asking the registry (a 500, a 429, a huge manifest). */
  respond?: (
    request: ShimRequest,
  ) => { status: number; headers?: Record<string, string>; body?: Buffer } | undefined;
  /** Change the registry's response headers (a wrong Content-Length or Docker-Content-Digest). */
  rewriteHeaders?: (request: ShimRequest, headers: OutgoingHttpHeaders) => OutgoingHttpHeaders;
  /** Send only the first `truncateTo` body bytes, then end cleanly; or append bytes. Combine
   * with rewriteHeaders to make Content-Length agree or disagree. */
  alterBody?: (request: ShimRequest) => { truncateTo?: number; append?: Buffer } | undefined;
}

export interface Shim {
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** Every request seen, in arrival order (live objects: bytes grow while streaming). */
  requests: ShimRequest[];
  /** Sum of response body bytes served (optionally only for paths matching). */
  bytesServed(match?: RegExp): number;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  }
  return out;
}

/** Flip the lowest bit of the middle byte of every chunk: same length, different digest. */
export const flipMiddleBit: Mutator = (chunk) => {
  if (chunk.length === 0) return chunk;
  const out = Buffer.from(chunk);
  const mid = out.length >> 1;
  out[mid] = (out[mid] ?? 0) ^ 0x01;
  return out;
};

export function blobPathMatches(path: string, digest: string): boolean {
  const bare = path.split('?')[0] ?? '';
  return bare.startsWith('/v2/') && bare.endsWith(`/blobs/${digest}`);
}

/** Start the proxy on 127.0.0.1 forwarding everything to upstream ('http://127.0.0.1:PORT'). */
export async function startShim(upstream: string, opts: ShimOptions = {}): Promise<Shim> {
  const up = new URL(upstream);
  const requests: ShimRequest[] = [];
  const sockets = new Set<Socket>();
  const connectionIds = new WeakMap<Socket, number>();
  let connectionCount = 0;
  const now = () => performance.timeOrigin + performance.now();

  const pickMutator = (path: string, method: string): Mutator | undefined => {
    const custom = opts.mutate?.(path, method);
    if (custom) return custom;
    if (opts.corruptDigest && method === 'GET' && blobPathMatches(path, opts.corruptDigest)) {
      return flipMiddleBit;
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const entry: ShimRequest = {
      method,
      path,
      ...(typeof req.headers.range === 'string' ? { range: req.headers.range } : {}),
      status: 0,
      bytes: 0,
      requestBytes: 0,
      mutated: false,
      done: false,
      startedAt: now(),
      connection: connectionIds.get(req.socket) ?? 0,
    };
    requests.push(entry);
    res.on('finish', () => (entry.endedAt = now()));
    const held = opts.hold?.(entry);
    if (held) {
      req.pause();
      void held.then(() => answer(req, res, entry));
    } else answer(req, res, entry);
  });

  const answer = (req: IncomingMessage, res: ServerResponse, entry: ShimRequest) => {
    const { path, method } = entry;
    const canned = opts.respond?.(entry);
    if (canned) {
      entry.status = canned.status;
      const body = canned.body ?? Buffer.alloc(0);
      res.writeHead(canned.status, { 'content-length': String(body.length), ...canned.headers });
      entry.bytes = method === 'HEAD' ? 0 : body.length;
      res.end(method === 'HEAD' ? undefined : body, () => (entry.done = true));
      req.resume();
      return;
    }

    // Keep the client's Host: the registry builds upload Location URLs from it, so they
    // point back at the shim.
    const upReq = httpRequest({
      host: up.hostname,
      port: up.port,
      method,
      path,
      headers: (() => {
        const h = endToEnd(req.headers);
        const ignore =
          typeof opts.ignoreRange === 'function' ? opts.ignoreRange(entry) : opts.ignoreRange;
        if (ignore) delete h.range;
        return h;
      })(),
    });
    req.on('data', (c: Buffer) => (entry.requestBytes += c.length));
    pipeline(req, upReq, () => {
      // Errors surface on upReq's 'error'.
    });

    upReq.on('response', (upRes) => {
      entry.status = upRes.statusCode ?? 502;
      const mutator = pickMutator(path, method);
      entry.mutated = mutator !== undefined;
      const headers = endToEnd(upRes.headers);
      res.writeHead(
        entry.status,
        upRes.statusMessage,
        opts.rewriteHeaders ? opts.rewriteHeaders(entry, headers) : headers,
      );
      const alter = opts.alterBody?.(entry);
      const cut = opts.cutAfter?.(entry);
      const stall = opts.stallAfter?.(entry);
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          let out = mutator ? mutator(chunk) : chunk;
          if (out.length !== chunk.length) {
            cb(new Error(`mutator changed chunk length ${chunk.length} → ${out.length}`));
            return;
          }
          if (cut !== undefined && entry.bytes + out.length >= cut) {
            out = out.subarray(0, cut - entry.bytes);
            entry.bytes += out.length;
            entry.cut = true;
            res.write(out, () => res.destroy());
            upRes.destroy();
            return;
          }
          if (alter?.truncateTo !== undefined && entry.bytes + out.length >= alter.truncateTo) {
            out = out.subarray(0, alter.truncateTo - entry.bytes);
            entry.bytes += out.length;
            res.end(out);
            upRes.destroy();
            return;
          }
          if (stall !== undefined && entry.bytes + out.length >= stall) {
            out = out.subarray(0, stall - entry.bytes);
            entry.bytes += out.length;
            entry.stalled = true;
            res.write(out);
            upRes.pause(); // never calls cb: nothing more is sent until the shim stops
            return;
          }
          entry.bytes += out.length;
          cb(null, out);
        },
        flush(cb) {
          if (alter?.append) {
            entry.bytes += alter.append.length;
            cb(null, alter.append);
          } else cb();
        },
      });
      pipeline(upRes, counter, res, (err) => {
        if (!err) entry.done = true;
      });
    });
    upReq.on('error', (err) => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`shim: upstream error: ${err.message}\n`);
      } else {
        res.destroy(err);
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
  };
  server.on('connection', (s) => {
    connectionIds.set(s, ++connectionCount);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    host,
    url: `http://${host}`,
    requests,
    bytesServed: (match) =>
      requests.filter((r) => !match || match.test(r.path)).reduce((n, r) => n + r.bytes, 0),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return stopped;
    },
  };
}

/** A shim that corrupts every GET of the blob corruptDigest (and anything opts.mutate picks). */
export function startCorruptingShim(
  upstream: string,
  opts: ShimOptions & { corruptDigest: string },
): Promise<Shim> {
  return startShim(upstream, opts);
}
