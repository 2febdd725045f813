// Tag listing and referrers against a real registry (CNCF distribution 2.8), through Berth's own
// proxy server, and the referrers tag schema that clients fall back to on a registry without the
// referrers API.
//
// Pagination: distribution 2.8.2 (the build the harness runs) ignores `n` and `last` on
// tags/list and sends no Link header: it answers every tag in one page, in storage order. Tag
// pagination came with distribution v3. So the paging tests put a small front in between that
// does what v3 does (sorted tags, `last`/`n`, `Link: </v2/<name>/tags/list?last=…&n=…>;
// rel="next"`) over the real registry's list; everything else it forwards unchanged.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { describeReferrer, listReferrers, referrersTag } from '../../src/lib/registry/referrers.ts';
import { TagListTruncatedError, listTags } from '../../src/lib/registry/tags.ts';
import { type Transport, proxyTransport } from '../../src/lib/registry/transport.ts';
import {
  MT,
  OciLayout,
  buildImage,
  fetchManifest,
  pushLayout,
  sha256Bytes,
  type FetchedManifest,
} from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

const REPO = 'catalog/app';
const TAG_COUNT = 120;
const tagName = (i: number) => `t${String(i).padStart(3, '0')}`;
const IN_TOTO = MT.inToto;
const EMPTY = 'application/vnd.oci.empty.v1+json';

let registry: Registry;
let front: { host: string; close(): Promise<void> };
let app: { url: string; close(): Promise<void> };
let image: FetchedManifest;
let attestation: { digest: string; size: number };

/** Uploads a blob in two steps (POST, then PUT with the digest), as every registry supports. */
async function pushBlob(repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256Bytes(bytes);
  const start = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload: ${start.status}`);
  const url = new URL(location, registry.url);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  if (put.status !== 201) throw new Error(`blob PUT: ${put.status} ${await put.text()}`);
  return digest;
}

async function putManifest(repository: string, reference: string, bytes: Buffer, type: string) {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': type },
    body: new Uint8Array(bytes),
  });
  if (res.status !== 201) {
    throw new Error(`manifest PUT ${reference}: ${res.status} ${await res.text()}`);
  }
  await res.body?.cancel();
}

/** Distribution v3's tags/list paging over the real registry's answer; all else forwarded. */
async function startPagingFront(): Promise<{ host: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://front');
      const headers: Record<string, string> = {};
      for (const name of ['accept', 'authorization', 'range']) {
        const v = req.headers[name];
        if (typeof v === 'string') headers[name] = v;
      }
      const upstream = await fetch(
        `${registry.url}${url.pathname}` + (url.pathname.endsWith('/tags/list') ? '' : url.search),
        { method: req.method ?? 'GET', headers },
      );
      const body = Buffer.from(await upstream.arrayBuffer());
      const out: Record<string, string> = {};
      for (const [k, v] of upstream.headers) {
        if (!['content-length', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
      }
      if (!url.pathname.endsWith('/tags/list') || upstream.status !== 200) {
        res.writeHead(upstream.status, out).end(body);
        return;
      }
      const doc = JSON.parse(body.toString('utf8')) as { name: string; tags: string[] | null };
      let tags = [...(doc.tags ?? [])].sort();
      const last = url.searchParams.get('last');
      if (last !== null) tags = tags.filter((t) => t > last);
      const n = url.searchParams.get('n');
      if (n !== null && Number(n) < tags.length) {
        tags = tags.slice(0, Number(n));
        const next = new URLSearchParams({ last: tags.at(-1)!, n });
        out.link = `<${url.pathname}?${next}>; rel="next"`;
      }
      res.writeHead(200, out).end(JSON.stringify({ name: doc.name, tags }));
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

beforeAll(async () => {
  registry = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), 'berth-catalog-'));
  try {
    // One small image, pushed once with skopeo…
    const layout = await OciLayout.create(join(work, 'layout'));
    const built = await buildImage({
      layout,
      layers: [{ entries: [{ type: 'file', path: 'etc/hello', content: 'hello\n' }] }],
    });
    await layout.tag(built.descriptor, 'app');
    image = await pushLayout({
      layout,
      layoutTag: 'app',
      registry,
      repository: REPO,
      tag: tagName(0),
      expect: built.descriptor,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  // …then tagged 119 more times by PUT of the same manifest bytes.
  for (let i = 1; i < TAG_COUNT; i++) {
    await putManifest(REPO, tagName(i), image.bytes, image.mediaType);
  }

  // An in-toto attestation artifact whose subject is the image (OCI 1.1 artifact manifest:
  // artifactType, the empty config, one layer), and the referrers tag schema's index listing it.
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: REPO, digest: { sha256: image.digest.slice(7) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    }),
  );
  const emptyConfig = Buffer.from('{}');
  const layerDigest = await pushBlob(REPO, statement);
  const configDigest = await pushBlob(REPO, emptyConfig);
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: IN_TOTO,
      config: { mediaType: EMPTY, digest: configDigest, size: emptyConfig.length },
      layers: [{ mediaType: IN_TOTO, digest: layerDigest, size: statement.length }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length },
    }),
  );
  attestation = { digest: sha256Bytes(artifact), size: artifact.length };
  await putManifest(REPO, attestation.digest, artifact, MT.ociManifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        {
          mediaType: MT.ociManifest,
          digest: attestation.digest,
          size: attestation.size,
          artifactType: IN_TOTO,
          annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' },
        },
      ],
    }),
  );
  await putManifest(REPO, referrersTag(image.digest), index, MT.ociIndex);

  front = await startPagingFront();
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    proxyOnly: true,
    insecureRegistries: [registry.host, front.host],
  });
});

afterAll(async () => {
  await app?.close();
  await front?.close();
  await registry?.stop();
});

/** A client through the proxy, recording the URLs it asks for. */
function client() {
  const urls: string[] = [];
  const proxied = proxyTransport(`${app.url}/proxy`);
  const transport: Transport = (url, init, host) => {
    urls.push(url);
    return proxied(url, init, host);
  };
  return {
    client: new RegistryClient({ transport, retry: { attempts: 2, baseDelayMs: 10 } }),
    urls,
  };
}

describe('listTags', () => {
  const expected = Array.from({ length: TAG_COUNT }, (_, i) => tagName(i));

  test(`${TAG_COUNT} tags in pages of 50: three pages by Link headers, through the proxy`, async () => {
    const c = client();
    const ref = parseReference(`${front.host}/${REPO}:${tagName(0)}`);
    const tags = await listTags(c.client, ref, { pageSize: 50 });
    // Sorted, as v3 sends them; the referrers tag (sha256-…) sorts before the t… tags.
    expect(tags).toEqual([referrersTag(image.digest), ...expected]);
    expect(c.urls.filter((u) => u.includes('/tags/list'))).toEqual([
      `https://${front.host}/v2/${REPO}/tags/list?n=50`,
      `https://${front.host}/v2/${REPO}/tags/list?last=${tagName(48)}&n=50`,
      `https://${front.host}/v2/${REPO}/tags/list?last=${tagName(98)}&n=50`,
    ]);
  });

  test('caps hold against the paging registry', async () => {
    const ref = parseReference(`${front.host}/${REPO}`);
    const err = await listTags(client().client, ref, { pageSize: 50, maxPages: 2 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TagListTruncatedError);
    expect((err as TagListTruncatedError).tags).toHaveLength(100);
  });

  test('distribution 2.8 itself ignores n: one page with every tag, in its own order', async () => {
    const c = client();
    const ref = parseReference(`${registry.host}/${REPO}:${tagName(0)}`);
    const tags = await listTags(c.client, ref, { pageSize: 50 });
    expect(tags).toHaveLength(TAG_COUNT + 1);
    expect([...tags].sort()).toEqual([referrersTag(image.digest), ...expected]);
    expect(c.urls.filter((u) => u.includes('/tags/list'))).toEqual([
      `https://${registry.host}/v2/${REPO}/tags/list?n=50`,
    ]);
  });

  test('an unknown repository is a typed not-found error', async () => {
    const err = await listTags(client().client, parseReference(`${registry.host}/no/such`)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe('not-found');
    expect((err as RegistryError).message).toContain(`${registry.host}/no/such: tag list`);
  });
});

describe('listReferrers on a registry without the referrers API', () => {
  test('the attestation comes from the sha256-<hex> tag, via tag-schema', async () => {
    const c = client();
    const ref = parseReference(`${registry.host}/${REPO}:${tagName(0)}`);
    const got = await listReferrers(c.client, ref, image.digest);
    expect(got.via).toBe('tag-schema');
    expect(got.descriptors).toEqual([
      {
        mediaType: MT.ociManifest,
        digest: attestation.digest,
        size: attestation.size,
        artifactType: IN_TOTO,
        annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' },
      },
    ]);
    expect(describeReferrer(got.descriptors[0]!)).toBe(
      'in-toto attestation (https://slsa.dev/provenance/v1)',
    );
    // The referrers API was asked first (no /v2/ ping before it), then the tag.
    expect(c.urls).toEqual([
      `https://${registry.host}/v2/${REPO}/referrers/${image.digest}`,
      `https://${registry.host}/v2/${REPO}/manifests/${referrersTag(image.digest)}`,
    ]);
    // And the listed manifest is really there, with the image as its subject.
    const fetched = await fetchManifest(registry, REPO, attestation.digest);
    expect((fetched.json.subject as { digest: string }).digest).toBe(image.digest);
  });

  test('an artifactType filter is applied to the tag index', async () => {
    const ref = parseReference(`${registry.host}/${REPO}`);
    const sboms = await listReferrers(client().client, ref, image.digest, {
      artifactType: 'application/spdx+json',
    });
    expect(sboms).toEqual({ descriptors: [], via: 'tag-schema' });
    const attestations = await listReferrers(client().client, ref, image.digest, {
      artifactType: IN_TOTO,
    });
    expect(attestations.descriptors.map((d) => d.digest)).toEqual([attestation.digest]);
  });

  test('a subject without referrers has none', async () => {
    const ref = parseReference(`${registry.host}/${REPO}`);
    const got = await listReferrers(client().client, ref, attestation.digest);
    expect(got).toEqual({ descriptors: [], via: 'tag-schema' });
  });

  test('an unknown repository: distribution 2.8 says MANIFEST_UNKNOWN, so the list is empty', async () => {
    // 2.8 answers a tag GET in an unknown repository with MANIFEST_UNKNOWN, not NAME_UNKNOWN,
    // so it cannot be told from "no referrers" (a registry that says NAME_UNKNOWN gets an error).
    const got = await listReferrers(
      client().client,
      parseReference(`${registry.host}/no/such`),
      image.digest,
    );
    expect(got).toEqual({ descriptors: [], via: 'tag-schema' });
  });
});
