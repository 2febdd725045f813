// Browsing a real registry (CNCF distribution 2.8) through Berth's own proxy server: the
// catalog page by page by distribution's own Link header, a refusal where the registry does not
// list, tags, and Docker Hub's rate-limit headers read from answers Berth makes anyway (a front
// that answers as Docker Hub does adds them over the real registry).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { CatalogRefusedError, catalogPage, listCatalog } from '../../src/lib/registry/catalog.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { readRateLimit, type RateLimit } from '../../src/lib/registry/ratelimit.ts';
import { TagHeads } from '../../src/lib/registry/tag-heads.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import { type Transport, proxyTransport } from '../../src/lib/registry/transport.ts';
import { type HubFront, startHubFront } from '../harness/hub-front.ts';
import { OciLayout, buildImage, pushLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

const REPOS = ['browse/a', 'browse/b', 'browse/c', 'other/d', 'other/e'];
const TAGS = ['1.9', '1.10', 'latest'];

let registry: Registry;
let front: HubFront;
let app: { url: string; close(): Promise<void> };

beforeAll(async () => {
  registry = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), 'berth-browse-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const built = await buildImage({
      layout,
      layers: [{ entries: [{ type: 'file', path: 'etc/hello', content: 'hello\n' }] }],
    });
    await layout.tag(built.descriptor, 'app');
    for (const repository of REPOS) {
      for (const tag of repository === REPOS[0] ? TAGS : ['latest']) {
        await pushLayout({ layout, layoutTag: 'app', registry, repository, tag });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  front = await startHubFront(registry.url);
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    proxyOnly: true,
    insecureRegistries: [registry.host, front.host],
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await front?.close();
  await registry?.stop();
});

function client(onResponse?: (host: string, headers: Headers) => void) {
  const urls: string[] = [];
  const proxied = proxyTransport(`${app.url}/proxy`);
  const transport: Transport = (url, init, host) => {
    urls.push(url);
    return proxied(url, init, host);
  };
  return {
    client: new RegistryClient({
      transport,
      retry: { attempts: 2, baseDelayMs: 10 },
      ...(onResponse ? { onResponse } : {}),
    }),
    urls,
  };
}

describe('catalog through the proxy', () => {
  test("pages of 2 by distribution's own Link, every repository once, in order", async () => {
    const c = client();
    const first = await catalogPage(c.client, registry.host, { pageSize: 2 });
    expect(first.repositories).toEqual(['browse/a', 'browse/b']);
    expect(first.next).toBe('_catalog?last=browse%2Fb&n=2');
    const all = await listCatalog(c.client, registry.host, { pageSize: 2 });
    expect(all).toEqual(REPOS);
    expect(c.urls.slice(1)).toEqual([
      `https://${registry.host}/v2/_catalog?n=2`,
      `https://${registry.host}/v2/_catalog?last=browse%2Fb&n=2`,
      `https://${registry.host}/v2/_catalog?last=other%2Fd&n=2`,
    ]);
  });

  test('one page of the default size holds them all, with no next', async () => {
    const c = client();
    expect(await catalogPage(c.client, registry.host)).toEqual({ repositories: REPOS });
  });

  test('a registry that answers the catalog as Docker Hub does is a refusal, in words', async () => {
    const c = client();
    const err = await catalogPage(c.client, front.host).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CatalogRefusedError);
    // Asked as Docker Hub is asked: the catalog, a token for its scope, the catalog again.
    expect(front.requests.filter((r) => !r.includes('/manifests/'))).toEqual([
      'GET /v2/_catalog?n=100',
      'GET /token?service=registry.docker.io&scope=registry%3Acatalog%3A*',
      'GET /v2/_catalog?n=100',
      'GET /token?service=registry.docker.io&scope=registry%3Acatalog%3A*',
    ]);
    expect((err as Error).message).toMatch(
      /^127\.0\.0\.1:\d+ does not list its repositories; type a repository name\./,
    );
  });

  test('tags of a repository', async () => {
    const c = client();
    const tags = await listTags(c.client, parseReference(`${registry.host}/${REPOS[0]}`));
    expect([...tags].sort()).toEqual([...TAGS].sort());
  });
});

describe("Docker Hub's rate limit", () => {
  test('read from a HEAD through the proxy, which spends no pull', async () => {
    const seen: RateLimit[] = [];
    const c = client((_host, headers) => {
      const limit = readRateLimit(headers);
      if (limit) seen.push(limit);
    });
    const before = front.remaining;
    const desc = await c.client.head(parseReference(`${front.host}/${REPOS[0]}:latest`));
    expect(desc?.digest).toMatch(/^sha256:/);
    expect(front.remaining, 'a HEAD is not a pull').toBe(before);
    expect(
      seen.map(({ limit, remaining, windowSeconds }) => ({ limit, remaining, windowSeconds })),
    ).toEqual([{ limit: 100, remaining: before, windowSeconds: 21600 }]);
    // A GET spends one, and the next answer says so.
    await c.client.resolve(parseReference(`${front.host}/${REPOS[0]}:latest`));
    expect(seen.at(-1)?.remaining).toBe(before - 1);
  });
});

describe('the tag list HEADs its first tag for the rate limit, on any registry', () => {
  test('a registry that is not Docker Hub but states a limit: one HEAD, no pull, the answer kept for the date', async () => {
    const seen: RateLimit[] = [];
    const c = client((_host, headers) => {
      const limit = readRateLimit(headers);
      if (limit) seen.push(limit);
    });
    const repo = parseReference(`${front.host}/${REPOS[0]}`);
    const before = front.remaining;
    const mark = front.requests.length;
    const heads = new TagHeads();
    expect(await heads.headFirst(c.client, repo, TAGS)).toBe('1.9');
    expect(front.requests.slice(mark)).toEqual([`HEAD /v2/${REPOS[0]}/manifests/1.9`]);
    expect(front.remaining, 'a HEAD is not a pull').toBe(before);
    expect(seen.map((l) => l.remaining)).toEqual([before]);
    const kept = heads.take(parseReference(`${front.host}/${REPOS[0]}:1.9`), '1.9');
    expect(kept?.root?.digest).toMatch(/^sha256:/);
  });
});
