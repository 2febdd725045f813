// The catalog (GET /v2/_catalog) page by page, the refusals of registries that do not list,
// the order of tag rows, and Docker Hub's rate-limit headers, against a scripted Transport: each
// request is recorded and answered from a list, in order. No network.
import { describe, expect, test } from 'vitest';
import {
  CatalogRefusedError,
  catalogPage,
  isReferrerTag,
  listCatalog,
  parseCreated,
  sortTagRows,
  type TagRow,
} from '../../src/lib/registry/catalog.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { readRateLimit, type RateLimit } from '../../src/lib/registry/ratelimit.ts';
import { type Answer, scriptedTransport } from '../harness/transport.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';

function scripted(answers: Answer[], opts: { onResponse?: (h: string, x: Headers) => void } = {}) {
  const script = scriptedTransport(answers);
  const client = new RegistryClient({
    transport: script.transport,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    ...opts,
  });
  return { ...script, client };
}

const json = (body: unknown, headers: Record<string, string> = {}, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
const page = (repositories: unknown, link?: string) =>
  json({ repositories }, link ? { Link: `<${link}>; rel="next"` } : {});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('it did not fail');
}

describe('catalogPage', () => {
  test('first page asks n=100; the Link is followed as written, relative or absolute', async () => {
    const s = scripted([
      page(['a/one', 'a/two'], '/v2/_catalog?last=a%2Ftwo&n=100'),
      page(['b'], 'https://registry.example/v2/_catalog?next_page=gAAAA%3D%3D&n=50'),
      page(['c']),
    ]);
    const first = await catalogPage(s.client, 'registry.example');
    expect(first).toEqual({
      repositories: ['a/one', 'a/two'],
      next: '_catalog?last=a%2Ftwo&n=100',
    });
    const second = await catalogPage(s.client, 'registry.example', { cursor: first.next! });
    expect(second.next).toBe('_catalog?next_page=gAAAA%3D%3D&n=50');
    const third = await catalogPage(s.client, 'registry.example', { cursor: second.next! });
    expect(third).toEqual({ repositories: ['c'] });
    expect(s.requests.map((r) => r.url)).toEqual([
      'https://registry.example/v2/_catalog?n=100',
      'https://registry.example/v2/_catalog?last=a%2Ftwo&n=100',
      'https://registry.example/v2/_catalog?next_page=gAAAA%3D%3D&n=50',
    ]);
    expect(s.requests[0]!.headers.accept).toBe('application/json');
  });

  test('listCatalog walks every page and drops repeats', async () => {
    const s = scripted([
      page(['x', 'y'], '/v2/_catalog?last=y&n=2'),
      page(['y', 'z'], '/v2/_catalog?last=z&n=2'),
      page([]),
    ]);
    expect(await listCatalog(s.client, 'registry.example', { pageSize: 2 })).toEqual([
      'x',
      'y',
      'z',
    ]);
    expect(s.requests[0]!.url).toBe('https://registry.example/v2/_catalog?n=2');
  });

  test('listCatalog stops on a Link that leads back to a page already read', async () => {
    const s = scripted([
      page(['x'], '/v2/_catalog?last=x&n=1'),
      page(['y'], '/v2/_catalog?last=y&n=1'),
      page(['x'], '/v2/_catalog?last=x&n=1'),
    ]);
    const err = await rejection(listCatalog(s.client, 'registry.example'));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toMatch(/already read/);
  });

  test('an empty registry: [], null or no field at all', async () => {
    for (const body of [{ repositories: [] }, { repositories: null }, {}]) {
      const s = scripted([json(body)]);
      expect(await catalogPage(s.client, 'registry.example'), JSON.stringify(body)).toEqual({
        repositories: [],
      });
    }
  });

  test.each([
    ['a Link to another host', page(['a'], 'https://evil.example/v2/_catalog?n=1'), /another host/],
    ['a Link off the catalog', page(['a'], '/v2/team/app/tags/list'), /leaves \/v2\/_catalog/],
    ['a Link to the same page', page(['a'], '/v2/_catalog?n=100'), /same page/],
    ['a name that is no repository', page(['ok', '../etc']), /not a repository name/],
    ['a non-string name', page(['ok', 7]), /non-string/],
    ['not JSON', new Response('<html>', { status: 200 }), /not JSON/],
    ['an array', json(['a']), /JSON object/],
  ])('refuses %s', async (_name, answer, message) => {
    const s = scripted([answer]);
    const err = await rejection(catalogPage(s.client, 'registry.example'));
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).not.toBeInstanceOf(CatalogRefusedError);
    expect((err as RegistryError).kind).toBe('protocol');
    expect((err as Error).message).toMatch(message);
  });

  test('Docker Hub: a token for registry:catalog:*, then 401 insufficient_scope is a refusal', async () => {
    const realm = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"';
    const unauthorized = (extra = '') =>
      json(
        {
          errors: [
            {
              code: 'UNAUTHORIZED',
              message: 'authentication required',
              detail: [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }],
            },
          ],
        },
        { 'www-authenticate': `${realm},scope="registry:catalog:*"${extra}` },
        401,
      );
    const s = scripted([
      unauthorized(),
      json({ token: 't', expires_in: 300 }),
      unauthorized(',error="insufficient_scope"'),
      // The same scope refused with a token: the client asks once more, and gets the same.
      json({ token: 't', expires_in: 300 }),
    ]);
    const err = await rejection(catalogPage(s.client, 'docker.io'));
    expect(err).toBeInstanceOf(CatalogRefusedError);
    expect((err as Error).message).toBe(
      'Docker Hub does not list its repositories; type a repository name. Some registries list them to a signed-in user only.',
    );
    expect(s.requests.map((r) => r.url)).toEqual([
      'https://registry-1.docker.io/v2/_catalog?n=100',
      'https://auth.docker.io/token?service=registry.docker.io&scope=registry%3Acatalog%3A*',
      'https://registry-1.docker.io/v2/_catalog?n=100',
      'https://auth.docker.io/token?service=registry.docker.io&scope=registry%3Acatalog%3A*',
    ]);
    expect(s.requests[2]!.headers.authorization).toBe('Bearer t');
  });

  test('GHCR DENIED without a challenge, and a 404, are refusals; signed in, no sign-in hint', async () => {
    const denied = json(
      { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] },
      {},
      403,
    );
    const s = scripted([denied, new Response('404 page not found\n', { status: 404 })]);
    const e1 = await rejection(catalogPage(s.client, 'ghcr.io', { signedIn: true }));
    expect(e1).toBeInstanceOf(CatalogRefusedError);
    expect((e1 as Error).message).toBe(
      'ghcr.io does not list its repositories; type a repository name.',
    );
    const e2 = await rejection(catalogPage(s.client, 'registry.example'));
    expect(e2).toBeInstanceOf(CatalogRefusedError);
  });

  test('a token server that refuses the catalog scope (GitLab answers 403) is a refusal too', async () => {
    const s = scripted([
      json(
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        {
          'www-authenticate':
            'Bearer realm="https://gitlab.com/jwt/auth",service="container_registry",scope="registry:catalog:*"',
        },
        401,
      ),
      json({ errors: [{ code: 'DENIED', message: 'access forbidden' }] }, {}, 403),
    ]);
    const err = await rejection(catalogPage(s.client, 'registry.gitlab.com'));
    expect(err).toBeInstanceOf(CatalogRefusedError);
    expect(s.requests[1]!.url).toBe(
      'https://gitlab.com/jwt/auth?service=container_registry&scope=registry%3Acatalog%3A*',
    );
  });

  test("the proxy's own refusal stays the proxy's words, not a registry's refusal", async () => {
    const s = scripted([
      json(
        { errors: [{ code: 'BERTH_PROXY_DENIED', message: '/v2/_catalog is not forwarded' }] },
        {},
        403,
      ),
    ]);
    const err = await rejection(catalogPage(s.client, 'registry.example'));
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).not.toBeInstanceOf(CatalogRefusedError);
    expect((err as RegistryError).kind).toBe('proxy-denied');
  });

  test('a server error is an error, not a refusal', async () => {
    const s = scripted([new Response('', { status: 503 })]);
    const err = await rejection(catalogPage(s.client, 'registry.example'));
    expect(err).not.toBeInstanceOf(CatalogRefusedError);
    expect((err as RegistryError).kind).toBe('server');
  });

  test('a cursor that is not a catalog path is refused before any request', async () => {
    const s = scripted([]);
    await expect(
      catalogPage(s.client, 'registry.example', { cursor: 'team/app/tags/list' }),
    ).rejects.toThrow(RangeError);
    expect(s.requests).toEqual([]);
  });
});

describe('tag rows', () => {
  const rows = (spec: [string, string?][]): TagRow[] =>
    spec.map(([tag, at]) => (at ? { tag, created: Date.parse(at) } : { tag }));

  test('by name: versions in numeric order, then code points', () => {
    const sorted = sortTagRows(
      rows([['1.10'], ['latest'], ['1.9'], ['1.9.1'], ['1.2-alpine'], ['1.2'], ['Z'], ['a']]),
      'name',
    ).map((r) => r.tag);
    expect(sorted).toEqual(['1.2', '1.2-alpine', '1.9', '1.9.1', '1.10', 'a', 'latest', 'Z']);
  });

  test('by date: newest first, ties and undated rows by name, undated last', () => {
    const sorted = sortTagRows(
      rows([
        ['old', '2020-01-01T00:00:00Z'],
        ['b-undated'],
        ['new', '2026-11-30T10:00:00Z'],
        ['a-undated'],
        ['same-b', '2024-05-05T00:00:00Z'],
        ['same-a', '2024-05-05T00:00:00Z'],
      ]),
      'date',
    ).map((r) => r.tag);
    expect(sorted).toEqual(['new', 'same-a', 'same-b', 'old', 'a-undated', 'b-undated']);
  });

  test.each([
    ['sha256-' + 'a'.repeat(64), true],
    ['sha256-' + 'a'.repeat(64) + '.sig', true],
    ['sha256-' + 'a'.repeat(64) + '.att', true],
    ['sha256-' + 'a'.repeat(63), false],
    ['sha256-' + 'A'.repeat(64), false],
    ['sha256', false],
    ['v1-sha256-' + 'a'.repeat(64), false],
    ['latest', false],
  ])('isReferrerTag(%s) = %s', (tag, want) => {
    expect(isReferrerTag(tag)).toBe(want);
  });

  test.each([
    ['2024-05-05T12:00:00.123456789Z', Date.UTC(2024, 4, 5, 12, 0, 0, 123)],
    ['2015-10-31T22:22:56.015925234Z', Date.UTC(2015, 9, 31, 22, 22, 56, 15)],
    ['1970-01-01T00:00:00Z', undefined],
    ['0001-01-01T00:00:00Z', undefined],
    ['yesterday', undefined],
    [42, undefined],
    [undefined, undefined],
  ])('parseCreated(%s) = %s', (value, want) => {
    expect(parseCreated(value)).toBe(want);
  });
});

describe('rate limit', () => {
  const h = (o: Record<string, string>) => new Headers(o);

  test.each<[string, Record<string, string>, Omit<RateLimit, 'seenAt'> | undefined]>([
    [
      'Docker Hub, lower case',
      { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' },
      { limit: 100, remaining: 76, windowSeconds: 21600 },
    ],
    [
      'canonical case, remaining 0',
      { 'RateLimit-Limit': '200;w=21600', 'RateLimit-Remaining': '0;w=21600' },
      { limit: 200, remaining: 0, windowSeconds: 21600 },
    ],
    [
      'no window',
      { 'ratelimit-limit': '100', 'ratelimit-remaining': '5' },
      { limit: 100, remaining: 5 },
    ],
    [
      'a reset in seconds',
      { 'ratelimit-limit': '10;w=60', 'ratelimit-remaining': '3;w=60', 'ratelimit-reset': '30' },
      { limit: 10, remaining: 3, windowSeconds: 60, resetsAt: 1_000_000 + 30_000 },
    ],
    ['only a limit', { 'ratelimit-limit': '100;w=21600' }, undefined],
    ['garbage', { 'ratelimit-limit': 'lots', 'ratelimit-remaining': 'some' }, undefined],
    ['none', {}, undefined],
  ])('%s', (_name, headers, want) => {
    const got = readRateLimit(h(headers), 1_000_000);
    expect(got).toEqual(want === undefined ? undefined : { ...want, seenAt: 1_000_000 });
  });

  test('the client shows every registry answer to onResponse, a HEAD and a 401 included, and not the token realm', async () => {
    const seen: [string, RateLimit | undefined][] = [];
    const limits = (remaining: number) => ({
      'ratelimit-limit': '100;w=21600',
      'ratelimit-remaining': `${remaining};w=21600`,
    });
    const s = scripted(
      [
        new Response(null, {
          status: 401,
          headers: {
            'www-authenticate':
              'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
            ...limits(9),
          },
        }),
        json({ token: 't' }, limits(1)),
        new Response(null, {
          status: 200,
          headers: {
            'docker-content-digest': 'sha256:' + 'a'.repeat(64),
            'content-type': 'application/vnd.oci.image.index.v1+json',
            'content-length': '100',
            ...limits(8),
          },
        }),
      ],
      { onResponse: (host, headers) => seen.push([host, readRateLimit(headers, 5)]) },
    );
    await s.client.head(parseReference('alpine'));
    expect(seen).toEqual([
      ['registry-1.docker.io', { limit: 100, remaining: 9, windowSeconds: 21600, seenAt: 5 }],
      ['registry-1.docker.io', { limit: 100, remaining: 8, windowSeconds: 21600, seenAt: 5 }],
    ]);
    expect(s.requests.map((r) => r.method)).toEqual(['HEAD', 'GET', 'HEAD']);
  });
});
