// The emulated registries on 127.0.0.1, without the network namespace: for integration tests in
// Node. One http server answers for every emulated host (the Host header chooses the emulator),
// Berth's own proxy handler runs in front of them with a fetch that takes each https URL to
// that server instead of the network, and Berth's RegistryClient talks to that proxy through
// the ordinary proxy transport. So the client's whole flow (challenge, token, redirects followed
// by the proxy with Authorization dropped on the way to another host, pagination, referrers)
// runs as in the browser; only DNS and TLS are left out.
import http from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createProxyHandler } from '../../../proxy/handler.ts';
import { nodeMiddleware } from '../../../proxy/node.ts';
import { type Credentials, RegistryClient } from '../../../src/lib/registry/client.ts';
import { proxyTransport } from '../../../src/lib/registry/transport.ts';
import {
  MT,
  OciLayout,
  buildImage,
  pushLayout,
  sha256Bytes,
  type FetchedManifest,
} from '../oci.ts';
import { startRegistry, type Registry } from '../registry.ts';
import type { Emulator, EmulatorContext } from './emulator.ts';

export interface LocalInternet {
  backend: Registry;
  ctx: EmulatorContext;
  emulators: Emulator[];
  /** The proxy's base URL, `http://127.0.0.1:PORT/proxy`. */
  proxyUrl: string;
  /** The port of the server that answers for every emulated host. */
  emulatorPort: number;
  /** Hosts that refuse connections, as a registry that is down does. */
  down: Set<string>;
  /** Moves the emulators' clock (tokens, signed URLs) forward. */
  advance(ms: number): void;
  /** A RegistryClient through the proxy, with short retries. */
  client(creds?: Credentials): RegistryClient;
  /** Every proxy log line (no queries, no credentials). */
  proxyLog: string[];
  close(): Promise<void>;
}

/** The local internet of one test file, once its `beforeAll` has run. */
export interface LocalRun {
  readonly net: LocalInternet;
  /** The file's one emulator. */
  emulator(): Emulator;
}

/**
 * Registers the file's beforeAll and afterAll: the local internet with the emulators `make`
 * returns, then `seed` to push the file's content to the backend; closed after.
 */
export function useLocalInternet(
  make: (ctx: EmulatorContext) => Emulator[],
  seed: (net: LocalInternet) => Promise<void>,
): LocalRun {
  let net: LocalInternet | undefined;
  beforeAll(async () => {
    net = await startLocalInternet(make);
    await seed(net);
  }, 60_000);
  afterAll(async () => {
    await net?.close();
  });
  const started = () => {
    if (!net) throw new Error('the local internet is not started');
    return net;
  };
  return {
    get net() {
      return started();
    },
    emulator: () => started().emulators[0]!,
  };
}

export async function startLocalInternet(
  make: (ctx: EmulatorContext) => Emulator[],
): Promise<LocalInternet> {
  const backend = await startRegistry();
  let offset = 0;
  const ctx: EmulatorContext = { backend: backend.url, now: () => Date.now() + offset };
  const emulators = make(ctx);
  const byHost = new Map<string, Emulator>();
  for (const e of emulators) for (const h of e.hosts) byHost.set(h, e);

  const internet = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const emulator = byHost.get(host);
    if (!emulator) {
      res.writeHead(421).end();
      return;
    }
    // As the namespace's server does: the log is kept here, not by each emulator.
    res.once('finish', () => {
      emulator.log.push({
        host,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: { ...req.headers },
        status: res.statusCode,
      });
    });
    Promise.resolve(emulator.handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`emulator ${emulator.name} failed: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => internet.listen(0, '127.0.0.1', resolve));
  const internetPort = (internet.address() as AddressInfo).port;
  const down = new Set<string>();

  const fetchVia = emulatorFetch(internetPort, (host) => byHost.has(host) && !down.has(host));
  const proxyLog: string[] = [];
  const handler = createProxyHandler({
    insecureRegistries: [],
    fetch: fetchVia,
    log: (line) => proxyLog.push(line),
  });
  const proxy = http.createServer(nodeMiddleware(handler));
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/proxy`;

  const close = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    backend,
    ctx,
    emulators,
    proxyUrl,
    emulatorPort: internetPort,
    down,
    proxyLog,
    advance(ms) {
      offset += ms;
    },
    client(creds) {
      return new RegistryClient({
        transport: proxyTransport(proxyUrl),
        credentials: () => creds,
        retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      });
    },
    async close() {
      await close(proxy);
      await close(internet);
      await backend.stop();
    },
  };
}

/** A connection failure as undici reports it: TypeError('fetch failed') with a coded cause. */
function fetchFailed(code: string, host: string): TypeError {
  const cause = Object.assign(new Error(`${code} ${host}`), { code });
  return new TypeError('fetch failed', { cause });
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A WHATWG fetch for the proxy that reaches `https://<emulated host>/…` on the local server,
 * with the Host header naming the host. Like undici it never follows redirects when told
 * 'manual', and it decodes a gzip Content-Encoding (undici does; the proxy asks for identity,
 * but a server may compress anyway).
 */
export function emulatorFetch(port: number, reachable: (host: string) => boolean): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.protocol !== 'https:') return Promise.reject(fetchFailed('ECONNREFUSED', url.host));
    if (!reachable(url.hostname)) return Promise.reject(fetchFailed('ECONNREFUSED', url.host));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    headers.host = url.host;
    return new Promise<Response>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: url.pathname + url.search,
          method: init.method ?? 'GET',
          headers,
        },
        (res) => {
          const out = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          }
          const status = res.statusCode ?? 502;
          let body: Readable = res;
          if (/gzip/i.test(out.get('content-encoding') ?? '') && init.method !== 'HEAD') {
            body = res.pipe(createGunzip());
          }
          const noBody = NULL_BODY.has(status) || init.method === 'HEAD';
          if (noBody) res.resume();
          resolve(
            new Response(
              noBody ? null : (Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>),
              { status, headers: out },
            ),
          );
        },
      );
      req.on('error', (err) =>
        reject(Object.assign(new TypeError('fetch failed', { cause: err }))),
      );
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), {
        once: true,
      });
      req.end();
    });
  }) as typeof fetch;
}

// ---------------------------------------------------------------------------------------
// Content

export interface SeededImage extends FetchedManifest {
  /** The image's config and layer digests, for blob requests. */
  blobs: string[];
}

/**
 * Pushes one small image (a layer made by GNU tar, pushed with skopeo) to `repo` of the backend
 * under each of `tags`: the first tag by skopeo, the others by PUT of the same manifest bytes.
 */
export async function seedImage(
  backend: Registry,
  repo: string,
  tags: string[],
  content = 'hello from the emulated registry\n',
): Promise<SeededImage> {
  const work = await mkdtemp(join(tmpdir(), 'berth-emu-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const built = await buildImage({
      layout,
      layers: [{ entries: [{ type: 'file', path: 'etc/hello', content }] }],
    });
    await layout.tag(built.descriptor, 'app');
    const served = await pushLayout({
      layout,
      layoutTag: 'app',
      registry: backend,
      repository: repo,
      tag: tags[0]!,
      expect: built.descriptor,
    });
    for (const tag of tags.slice(1))
      await putManifest(backend, repo, tag, served.bytes, served.mediaType);
    return {
      ...served,
      blobs: [built.configDescriptor.digest, ...built.layers.map((l) => l.digest)],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function putManifest(
  backend: Registry,
  repo: string,
  reference: string,
  bytes: Uint8Array,
  type: string,
): Promise<void> {
  const res = await fetch(`${backend.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': type },
    body: new Uint8Array(bytes),
  });
  if (res.status !== 201)
    throw new Error(`manifest PUT ${reference}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}

async function pushBlob(backend: Registry, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256Bytes(bytes);
  const start = await fetch(`${backend.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload: ${start.status}`);
  const url = new URL(location, backend.url);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  if (put.status !== 201) throw new Error(`blob PUT: ${put.status} ${await put.text()}`);
  await put.body?.cancel();
  return digest;
}

export const IN_TOTO = MT.inToto;

/**
 * An in-toto attestation whose subject is `subject`, pushed by digest, and the referrers tag
 * schema's index (`sha256-<hex>`) listing it: a registry without the referrers API is asked
 * that tag, and an emulator with the API answers from it.
 */
export async function seedReferrer(
  backend: Registry,
  repo: string,
  subject: FetchedManifest,
): Promise<{ digest: string; size: number }> {
  const statement = new TextEncoder().encode(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: repo, digest: { sha256: subject.digest.slice(7) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    }),
  );
  const empty = new TextEncoder().encode('{}');
  const layer = await pushBlob(backend, repo, statement);
  const config = await pushBlob(backend, repo, empty);
  const artifact = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: IN_TOTO,
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: config,
        size: empty.length,
      },
      layers: [{ mediaType: IN_TOTO, digest: layer, size: statement.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
    }),
  );
  const digest = sha256Bytes(artifact);
  await putManifest(backend, repo, digest, artifact, MT.ociManifest);
  const index = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest, size: artifact.length, artifactType: IN_TOTO },
      ],
    }),
  );
  await putManifest(backend, repo, subject.digest.replace(':', '-'), index, MT.ociIndex);
  return { digest, size: artifact.length };
}

/** GET straight to the emulators' server as `host` would get it (no proxy): for the raw
 * shapes of answers (header case, bodies) that the proxy would filter. */
export function rawEmulated(
  internet: LocalInternet,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; rawHeaders: string[]; headers: Headers; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: internet.emulatorPort,
        path,
        method: opts.method ?? 'GET',
        headers: { ...opts.headers, host },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          }
          resolve({
            status: res.statusCode ?? 0,
            rawHeaders: res.rawHeaders,
            headers,
            body: Buffer.concat(chunks),
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
