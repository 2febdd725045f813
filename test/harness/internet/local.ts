// The emulated registries on 127.0.0.1, without the network namespace: for integration tests in
// Node. One plain-http server answers for every emulated host (the Host header chooses the
// emulator), and Berth's own proxy handler runs in front of it with a fetch whose connections
// to `https://<emulated host>/…` go to that server instead: that stands in for DNS and TLS.
// Berth's RegistryClient talks to the proxy through the ordinary proxy transport, so the
// client's whole flow (challenge, token realm check, redirects followed by the proxy with
// Authorization dropped on the way to another host, pagination, referrers) runs as in the
// browser.
//
// Also the content the tests pull, pushed to the backend over the registry API: a two-platform
// index built with GNU tar and gzip (`buildSeed`), or one small image pushed with skopeo
// (`seedImage`), and artifacts that refer to them, listed in the referrers tag schema
// (`sha256-<hex>`), from which an emulator with the referrers API answers.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { createProxyHandler } from '../../../proxy/handler.ts';
import { nodeMiddleware } from '../../../proxy/node.ts';
import { RegistryClient, type Credentials } from '../../../src/lib/registry/client.ts';
import { proxyTransport } from '../../../src/lib/registry/transport.ts';
import { putManifest, uploadBlob } from '../formats.ts';
import {
  buildImage,
  buildIndex,
  FIXED_CREATED,
  MT,
  OciLayout,
  pushLayout,
  sha256Bytes,
  type BuiltIndex,
  type FetchedManifest,
} from '../oci.ts';
import { startRegistry, type Registry } from '../registry.ts';
import {
  emulatorHandler,
  type Emulator,
  type EmulatorContext,
  type EmulatorFactory,
} from './emulator.ts';

export { putManifest } from '../formats.ts';

/** Hosts taken off the network: `down(host, true)`, or `down.add(host)` as on a Set. A host
 * that is down refuses connections, and a kept-alive connection to it breaks. */
export interface DownHosts {
  (host: string, down: boolean): void;
  add(host: string): void;
  delete(host: string): void;
  has(host: string): boolean;
}

export interface LocalInternet {
  backend: Registry;
  ctx: EmulatorContext;
  emulators: Emulator[];
  /** Moves the emulators' clock (tokens and signed URLs expire on it). */
  advance(ms: number): void;
  /** https://<emulated host>/… over the local server, as the proxy's upstream fetch. A name
   * no emulator answers does not resolve. */
  fetch: typeof fetch;
  /** Base URL of Berth's proxy handler, `http://127.0.0.1:PORT/proxy`, for proxyTransport. */
  proxyUrl: string;
  /** The port of the server that answers for every emulated host. */
  emulatorPort: number;
  /** A RegistryClient through the proxy, with short retries and optional credentials. */
  client(credentials?: Credentials): RegistryClient;
  down: DownHosts;
  /** One request to an emulated host as it is on the wire, with no proxy: status line, header
   * names in the case sent, body as text. */
  wire(
    host: string,
    path: string,
    opts?: { method?: string; headers?: Record<string, string> },
  ): Promise<WireAnswer>;
  /** Every proxy log line (no queries, no credentials). */
  proxyLog: string[];
  close(): Promise<void>;
}

export interface WireAnswer {
  status: number;
  reason: string;
  /** Header names exactly as sent, in order. */
  names: string[];
  headers: IncomingHttpHeaders;
  body: string;
}

interface RawAnswer {
  status: number;
  reason: string;
  /** [name, value, name, value, …] as sent. */
  rawHeaders: string[];
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(
  port: number,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { ...opts.headers, host },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            rawHeaders: res.rawHeaders,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET (or `opts.method`) straight to the emulators' server as `host` would get it (no
 * proxy): for the raw shapes of answers (header case, bodies) that the proxy would filter. */
export async function rawEmulated(
  internet: LocalInternet,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; rawHeaders: string[]; headers: Headers; body: Buffer }> {
  const raw = await rawRequest(internet.emulatorPort, host, path, opts);
  const headers = new Headers();
  for (let i = 0; i < raw.rawHeaders.length; i += 2) {
    headers.append(raw.rawHeaders[i]!, raw.rawHeaders[i + 1]!);
  }
  return { status: raw.status, rawHeaders: raw.rawHeaders, headers, body: raw.body };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Starts a backend registry, the emulators over it (one factory each, or one function that
 * makes them all), and Berth's proxy in front. */
export async function startLocalInternet(
  make: readonly EmulatorFactory[] | ((ctx: EmulatorContext) => Emulator[]),
): Promise<LocalInternet> {
  const backend = await startRegistry();
  let offset = 0;
  const ctx: EmulatorContext = { backend: backend.url, now: () => Date.now() + offset };
  const emulators = typeof make === 'function' ? make(ctx) : make.map((f) => f(ctx));
  const byHost = new Map<string, Emulator>();
  for (const e of emulators) for (const h of e.hosts) byHost.set(h, e);
  const downHosts = new Set<string>();

  const internet = createServer(emulatorHandler(byHost, (host) => downHosts.has(host)));
  const internetPort = await listen(internet);

  // Every emulated name "resolves" to the local server; any other name does not exist.
  const agent = new Agent({
    connect(opts, callback) {
      const host = opts.hostname.toLowerCase();
      const fail = (code: string) =>
        callback(Object.assign(new Error(`${code} ${host}`), { code }), null);
      if (!byHost.has(host)) return fail('ENOTFOUND');
      if (downHosts.has(host)) return fail('ECONNREFUSED');
      const socket = net.connect(internetPort, '127.0.0.1');
      socket.once('connect', () => callback(null, socket));
      socket.once('error', (err) => callback(err, null));
    },
  });
  const emulatedFetch = ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as string, {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    })) as unknown as typeof fetch;

  const proxyLog: string[] = [];
  const handler = createProxyHandler({
    insecureRegistries: [],
    fetch: emulatedFetch,
    log: (line) => proxyLog.push(line),
  });
  const proxy = createServer(nodeMiddleware(handler));
  const proxyUrl = `http://127.0.0.1:${await listen(proxy)}/proxy`;

  const down = Object.assign(
    (host: string, isDown: boolean) => {
      if (isDown) downHosts.add(host);
      else downHosts.delete(host);
    },
    {
      add: (host: string) => void downHosts.add(host),
      delete: (host: string) => void downHosts.delete(host),
      has: (host: string) => downHosts.has(host),
    },
  );

  return {
    backend,
    ctx,
    emulators,
    advance: (ms) => {
      offset += ms;
    },
    fetch: emulatedFetch,
    proxyUrl,
    emulatorPort: internetPort,
    client: (credentials) =>
      new RegistryClient({
        transport: proxyTransport(proxyUrl),
        credentials: () => credentials,
        retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      }),
    down,
    wire: async (host, path, opts) => {
      const raw = await rawRequest(internetPort, host, path, opts);
      return {
        status: raw.status,
        reason: raw.reason,
        names: raw.rawHeaders.filter((_, i) => i % 2 === 0),
        headers: raw.headers,
        body: raw.body.toString('utf8'),
      };
    },
    proxyLog,
    close: async () => {
      proxy.closeAllConnections();
      internet.closeAllConnections();
      await Promise.all([
        new Promise((r) => proxy.close(r)),
        new Promise((r) => internet.close(r)),
        agent.destroy(),
      ]);
      await backend.stop();
    },
  };
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

// ---------------------------------------------------------------------------------------
// Content

export interface SeedBlob {
  mediaType: string;
  bytes: Buffer;
  digest: string;
}

export interface SeedManifest {
  /** A tag or a digest. */
  reference: string;
  mediaType: string;
  bytes: Buffer;
}

/** Pushes blobs, then manifests in order (children before the documents that name them). */
async function pushParts(
  backend: Registry,
  repository: string,
  blobs: SeedBlob[],
  manifests: SeedManifest[],
): Promise<void> {
  for (const b of blobs) await uploadBlob(backend, repository, b.bytes, b.digest);
  for (const m of manifests) {
    await putManifest(backend, repository, m.reference, m.bytes, m.mediaType);
  }
}

const EMPTY = Buffer.from('{}');
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';

/**
 * An artifact of `artifactType` whose one layer is `content` and whose subject is `subject`,
 * and the referrers tag schema's index (`sha256-<hex>` of the subject) listing it, as
 * `oras attach` writes them to a registry without the referrers API.
 */
function referrerParts(
  subject: { mediaType: string; digest: string; size: number },
  artifactType: string,
  content: Buffer,
  annotations?: Record<string, string>,
): { blobs: SeedBlob[]; manifests: SeedManifest[]; digest: string; size: number } {
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType,
      config: { mediaType: EMPTY_TYPE, digest: sha256Bytes(EMPTY), size: EMPTY.length },
      layers: [{ mediaType: artifactType, digest: sha256Bytes(content), size: content.length }],
      subject,
      ...(annotations ? { annotations } : {}),
    }),
  );
  const digest = sha256Bytes(artifact);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [{ mediaType: MT.ociManifest, digest, size: artifact.length, artifactType }],
    }),
  );
  return {
    blobs: [
      { mediaType: EMPTY_TYPE, bytes: EMPTY, digest: sha256Bytes(EMPTY) },
      { mediaType: artifactType, bytes: content, digest: sha256Bytes(content) },
    ],
    manifests: [
      { reference: digest, mediaType: MT.ociManifest, bytes: artifact },
      { reference: subject.digest.replace(':', '-'), mediaType: MT.ociIndex, bytes: index },
    ],
    digest,
    size: artifact.length,
  };
}

export interface Seed {
  blobs: SeedBlob[];
  /** In push order: children before the documents that name them. */
  manifests: SeedManifest[];
  /** The index every tag names. */
  index: { digest: string; size: number; mediaType: string };
  built: BuiltIndex;
  tags: string[];
  /** The SBOM artifact whose subject is the index. */
  referrer: { digest: string; artifactType: string };
}

const SPDX = 'application/spdx+json';

/**
 * A two-platform index (linux/amd64, linux/arm64) of one-layer images made with GNU tar and
 * gzip, tagged with every name in `tags`, and an SPDX artifact that refers to it.
 */
export async function buildSeed(label: string, tags: string[]): Promise<Seed> {
  const work = await mkdtemp(join(tmpdir(), 'berth-seed-'));
  try {
    const layout = await OciLayout.create(work);
    const image = (architecture: string) =>
      buildImage({
        layout,
        layers: [
          {
            entries: [
              { type: 'file', path: 'etc/os-release', content: `NAME=${label}\n` },
              { type: 'file', path: 'etc/arch', content: `${architecture}\n` },
              { type: 'copy', path: 'bin/busybox', from: '/bin/busybox', size: 64 * 1024 },
            ],
            createdBy: `ADD ${label}-${architecture}.tar /`,
          },
        ],
        config: { architecture, os: 'linux', config: { Labels: { 'berth.test.seed': label } } },
      });
    const images = [await image('amd64'), await image('arm64')];
    const built = await buildIndex({ layout, manifests: images.map((i) => ({ image: i })) });

    const blobs: SeedBlob[] = [];
    const manifests: SeedManifest[] = [];
    const read = (digest: string) => readFile(layout.blobPath(digest));
    for (const i of images) {
      for (const d of [i.configDescriptor, ...i.layers]) {
        blobs.push({ mediaType: d.mediaType, bytes: await read(d.digest), digest: d.digest });
      }
      manifests.push({
        reference: i.descriptor.digest,
        mediaType: i.descriptor.mediaType,
        bytes: await read(i.descriptor.digest),
      });
    }
    const indexBytes = await read(built.descriptor.digest);
    for (const tag of tags) {
      manifests.push({ reference: tag, mediaType: MT.ociIndex, bytes: indexBytes });
    }

    const sbom = Buffer.from(
      JSON.stringify({ spdxVersion: 'SPDX-2.3', name: label, SPDXID: 'SPDXRef-DOCUMENT' }),
    );
    const index = {
      digest: built.descriptor.digest,
      size: built.descriptor.size,
      mediaType: built.descriptor.mediaType,
    };
    const referrer = referrerParts(
      { mediaType: MT.ociIndex, digest: index.digest, size: index.size },
      SPDX,
      sbom,
      { 'org.opencontainers.image.created': FIXED_CREATED },
    );
    blobs.push(...referrer.blobs);
    manifests.push(...referrer.manifests);
    return {
      blobs,
      manifests,
      index,
      built,
      tags,
      referrer: { digest: referrer.digest, artifactType: SPDX },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Pushes a seed into a backend repository over the registry API. */
export async function pushSeed(backend: Registry, repository: string, seed: Seed) {
  await pushParts(backend, repository, seed.blobs, seed.manifests);
}

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
    for (const tag of tags.slice(1)) {
      await putManifest(backend, repo, tag, served.bytes, served.mediaType);
    }
    return {
      ...served,
      blobs: [built.configDescriptor.digest, ...built.layers.map((l) => l.digest)],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
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
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: repo, digest: { sha256: subject.digest.slice(7) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    }),
  );
  const parts = referrerParts(
    { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
    IN_TOTO,
    statement,
  );
  await pushParts(backend, repo, parts.blobs, parts.manifests);
  return { digest: parts.digest, size: parts.size };
}
