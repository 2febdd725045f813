// The emulators on 127.0.0.1, without the network namespace: one plain-http server answers
// every emulated host (the Host header chooses), and a fetch that sends https://<host>/… there
// stands in for DNS and TLS. Berth's own proxy handler runs over that fetch, unchanged, so a
// RegistryClient on proxyTransport goes through the real flow: challenge, token realm check,
// redirects followed on the server with Authorization dropped across origins.
//
// Also the seed every emulator test pulls: a two-platform image index built with GNU tar and
// gzip, several tags, and an SBOM artifact whose subject is the index, listed in the referrers
// tag schema (`sha256-<hex>`), since none of these registries has a referrers API.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
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
  sha256Bytes,
  type BuiltIndex,
} from '../oci.ts';
import { startRegistry, type Registry } from '../registry.ts';
import type { Emulator, EmulatorContext } from './emulator.ts';

export interface LocalInternet {
  backend: Registry;
  ctx: EmulatorContext;
  /** Moves the emulators' clock (tokens and signed URLs expire on it). */
  advance(ms: number): void;
  /** https://<emulated host>/… over the local server, as the proxy's upstream fetch. */
  fetch: typeof fetch;
  /** Base URL of Berth's proxy handler, for proxyTransport. */
  proxyUrl: string;
  /** A RegistryClient through the proxy, with optional credentials for every registry. */
  client(credentials?: Credentials): RegistryClient;
  /** Takes a host off the network (connections refused) or puts it back. */
  down(host: string, down: boolean): void;
  /** One request to an emulated host as it is on the wire: status line, header names in the
   * case sent, body as text. */
  wire(
    host: string,
    path: string,
    opts?: { method?: string; headers?: Record<string, string> },
  ): Promise<WireAnswer>;
  close(): Promise<void>;
}

export interface WireAnswer {
  status: number;
  reason: string;
  /** Header names exactly as sent, in order. */
  names: string[];
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function wire(
  port: number,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<WireAnswer> {
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
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            names: res.rawHeaders.filter((_, i) => i % 2 === 0),
            headers: res.headers,
            body,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Starts a backend registry, the emulators over it, and Berth's proxy in front. */
export async function startLocalInternet(
  factories: ((ctx: EmulatorContext) => Emulator)[],
): Promise<LocalInternet & { emulators: Emulator[] }> {
  const backend = await startRegistry();
  let offset = 0;
  const ctx: EmulatorContext = { backend: backend.url, now: () => Date.now() + offset };
  const emulators = factories.map((f) => f(ctx));
  const byHost = new Map<string, Emulator>();
  for (const e of emulators) for (const h of e.hosts) byHost.set(h, e);
  const downHosts = new Set<string>();

  const internet = createServer((req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const emulator = byHost.get(host);
    // A host taken down while a kept-alive connection to it was open: that connection breaks.
    if (downHosts.has(host)) {
      req.socket.destroy();
      return;
    }
    if (!emulator) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end(`no emulated host ${host}\n`);
      return;
    }
    // As the namespace's server does: the log is kept here, not by the emulator.
    res.once('finish', () =>
      emulator.log.push({
        host,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: { ...req.headers },
        status: res.statusCode,
      }),
    );
    Promise.resolve()
      .then(() => emulator.handle(req, res))
      .catch((err: unknown) => {
        console.error(`${emulator.name}:`, err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('emulator error\n');
      });
  });
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

  const handler = createProxyHandler({ insecureRegistries: [], fetch: emulatedFetch });
  const proxy = createServer(nodeMiddleware(handler));
  const proxyPort = await listen(proxy);
  const proxyUrl = `http://127.0.0.1:${proxyPort}/proxy`;

  return {
    backend,
    ctx,
    emulators,
    advance: (ms) => {
      offset += ms;
    },
    fetch: emulatedFetch,
    proxyUrl,
    client: (credentials) =>
      new RegistryClient({
        transport: proxyTransport(proxyUrl),
        credentials: () => credentials,
        retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      }),
    wire: (host, path, opts) => wire(internetPort, host, path, opts),
    down: (host, down) => {
      if (down) downHosts.add(host);
      else downHosts.delete(host);
    },
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

// ---------------------------------------------------------------------------------------
// The seed

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
const EMPTY = Buffer.from('{}');

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

    // The artifact: an SPDX document naming the index as its subject, and the referrers tag
    // that lists it, as `oras attach` writes it to a registry without a referrers API.
    const sbom = Buffer.from(
      JSON.stringify({ spdxVersion: 'SPDX-2.3', name: label, SPDXID: 'SPDXRef-DOCUMENT' }),
    );
    blobs.push({
      mediaType: 'application/vnd.oci.empty.v1+json',
      bytes: EMPTY,
      digest: sha256Bytes(EMPTY),
    });
    blobs.push({ mediaType: SPDX, bytes: sbom, digest: sha256Bytes(sbom) });
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: SPDX,
        config: {
          mediaType: 'application/vnd.oci.empty.v1+json',
          digest: sha256Bytes(EMPTY),
          size: 2,
        },
        layers: [{ mediaType: SPDX, digest: sha256Bytes(sbom), size: sbom.length }],
        subject: {
          mediaType: MT.ociIndex,
          digest: built.descriptor.digest,
          size: built.descriptor.size,
        },
        annotations: { 'org.opencontainers.image.created': FIXED_CREATED },
      }),
    );
    const artifactDigest = sha256Bytes(artifact);
    manifests.push({ reference: artifactDigest, mediaType: MT.ociManifest, bytes: artifact });
    const referrers = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          {
            mediaType: MT.ociManifest,
            digest: artifactDigest,
            size: artifact.length,
            artifactType: SPDX,
          },
        ],
      }),
    );
    manifests.push({
      reference: built.descriptor.digest.replace(':', '-'),
      mediaType: MT.ociIndex,
      bytes: referrers,
    });
    return {
      blobs,
      manifests,
      index: {
        digest: built.descriptor.digest,
        size: built.descriptor.size,
        mediaType: built.descriptor.mediaType,
      },
      built,
      tags,
      referrer: { digest: artifactDigest, artifactType: SPDX },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Pushes a seed into a backend repository over the registry API. */
export async function pushSeed(backend: Registry, repository: string, seed: Seed) {
  for (const b of seed.blobs) await uploadBlob(backend, repository, b.bytes, b.digest);
  for (const m of seed.manifests) {
    await putManifest(backend, repository, m.reference, m.bytes, m.mediaType);
  }
}
