// listTags against a scripted Transport: each request is recorded and answered from a list, in
// order, so every case states exactly which requests are made. No network.
import { describe, expect, test } from 'vitest';
import { type Reference, parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import {
  TagListTruncatedError,
  listTags,
  maxTagPageBytes,
  nextPagePath,
} from '../../src/lib/registry/tags.ts';
import type { Transport } from '../../src/lib/registry/transport.ts';
import { type Answer, type Recorded, scriptedTransport } from '../harness/transport.ts';

/** The scripted transport behind a RegistryClient with this file's retry policy. */
/** A client over the scripted answers. The first answer, when there are any, is the registry's
 * answer to a /v2/ ping made here: the client knows how the registry authenticates, as it does
 * after its first request (a client that does not is tested in registry-client.test.ts). */
async function scripted(answers: Answer[], registry = 'registry.example') {
  const script = scriptedTransport(answers);
  const retry = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 };
  const client = new RegistryClient({ transport: script.transport, retry });
  if (answers.length > 0) await client.ping(registry);
  return { ...script, client };
}

const ok = () => new Response(null, { status: 200 });
const page = (name: string, tags: unknown, link?: string) =>
  new Response(JSON.stringify({ name, tags }), {
    status: 200,
    headers: { 'Content-Type': 'application/json', ...(link ? { Link: link } : {}) },
  });
const next = (target: string) => `<${target}>; rel="next"`;

const ref = parseReference('registry.example/team/app:v1');
const base = 'https://registry.example/v2/team/app/tags/list';

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describe('listTags', () => {
  test('one page: GET tags/list?n=1000 with Accept JSON, tags in registry order', async () => {
    const s = await scripted([ok(), page('team/app', ['v2', 'v1', 'latest'])]);
    expect(await listTags(s.client, ref)).toEqual(['v2', 'v1', 'latest']);
    expect(s.requests.map((r) => r.url)).toEqual([
      'https://registry.example/v2/',
      `${base}?n=1000`,
    ]);
    expect(s.requests[1]!.headers.accept).toBe('application/json');
    expect(s.requests[1]!.registryHost).toBe('registry.example');
  });

  test('relative Link pagination (distribution, Docker Hub, ghcr.io form), de-duplicated', async () => {
    const s = await scripted([
      ok(),
      page('team/app', ['a', 'b'], next('/v2/team/app/tags/list?last=b&n=2')),
      page('team/app', ['b', 'c'], next('/v2/team/app/tags/list?last=c&n=2')),
      page('team/app', ['d']),
    ]);
    expect(await listTags(s.client, ref, { pageSize: 2 })).toEqual(['a', 'b', 'c', 'd']);
    expect(s.requests.slice(1).map((r) => r.url)).toEqual([
      `${base}?n=2`,
      `${base}?last=b&n=2`,
      `${base}?last=c&n=2`,
    ]);
  });

  test('absolute Link on the same host is followed (GCR and Artifact Registry form)', async () => {
    const s = await scripted([
      ok(),
      page('team/app', ['a'], next(`${base}?n=1&last=a`)),
      page('team/app', ['b']),
    ]);
    expect(await listTags(s.client, ref, { pageSize: 1 })).toEqual(['a', 'b']);
    expect(s.requests[2]!.url).toBe(`${base}?n=1&last=a`);
  });

  test('quay.io form: an opaque next_page token, unquoted rel, a rel="prev" link first', async () => {
    const s = await scripted([
      ok(),
      page(
        'team/app',
        ['a'],
        `</v2/team/app/tags/list?n=1>; rel="prev", </v2/team/app/tags/list?n=1&next_page=gAAAAABl-x_Y%3D>; rel=next`,
      ),
      page('team/app', ['b']),
    ]);
    expect(await listTags(s.client, ref, { pageSize: 1 })).toEqual(['a', 'b']);
    expect(s.requests[2]!.url).toBe(`${base}?n=1&next_page=gAAAAABl-x_Y%3D`);
  });

  test('Docker Hub: the API host and library/ prefix, and the bearer token for the scope', async () => {
    const hub = parseReference('alpine');
    const s = await scripted(
      [
        new Response(null, {
          status: 401,
          headers: {
            'WWW-Authenticate':
              'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
          },
        }),
        Response.json({ token: 'hub-token', expires_in: 300 }),
        page(
          'library/alpine',
          ['3.19', '3.20'],
          next('/v2/library/alpine/tags/list?last=3.20&n=2'),
        ),
        page('library/alpine', ['edge']),
      ],
      'docker.io',
    );
    expect(await listTags(s.client, hub, { pageSize: 2 })).toEqual(['3.19', '3.20', 'edge']);
    const urls = s.requests.map((r) => r.url);
    expect(urls[2]).toBe('https://registry-1.docker.io/v2/library/alpine/tags/list?n=2');
    expect(urls[3]).toBe('https://registry-1.docker.io/v2/library/alpine/tags/list?last=3.20&n=2');
    expect(new URL(urls[1]!).searchParams.get('scope')).toBe('repository:library/alpine:pull');
    expect(s.requests[3]!.headers.authorization).toBe('Bearer hub-token');
  });

  test.each([
    ['another host, absolute', 'https://evil.example/v2/team/app/tags/list?n=1', /another host/],
    ['another host, scheme-relative', '//evil.example/v2/team/app/tags/list', /another host/],
    ['another repository', '/v2/team/other/tags/list?last=a', /leaves \/v2\/team\/app\/tags\/list/],
    ['a dot-dot escape', '/v2/team/app/../../other/tags/list', /leaves/],
    ['another endpoint', '/v2/team/app/manifests/latest', /leaves/],
    ['a non-http scheme', 'javascript:alert(1)', /javascript:/],
    ['credentials in the URL', 'https://u:p@registry.example/v2/team/app/tags/list', /credentials/],
  ])('a Link to %s is refused and not followed', async (_what, target, message) => {
    const s = await scripted([ok(), page('team/app', ['a'], next(target))]);
    const err = await failure(listTags(s.client, ref));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/refusing to follow/);
    expect(err.message).toMatch(message);
    expect(s.requests).toHaveLength(2);
  });

  test('a Link leading back to a page already read is refused', async () => {
    const s = await scripted([
      ok(),
      page('team/app', ['a'], next('/v2/team/app/tags/list?n=1&last=a')),
      page('team/app', ['b'], next('/v2/team/app/tags/list?n=1&last=a')),
    ]);
    const err = await failure(listTags(s.client, ref, { pageSize: 1 }));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/already read/);
    expect(s.requests).toHaveLength(3);
  });

  test('page cap: more pages than maxPages is a truncation error with the tags read', async () => {
    const endless = (req: Recorded) => {
      const n = Number(new URL(req.url).searchParams.get('last') ?? 0) + 1;
      return page('team/app', [`t${n}`], next(`/v2/team/app/tags/list?n=1&last=${n}`));
    };
    const s = await scripted([ok(), endless, endless, endless, endless]);
    const err = await failure(listTags(s.client, ref, { pageSize: 1, maxPages: 3 }));
    expect(err).toBeInstanceOf(TagListTruncatedError);
    expect(err.message).toMatch(/more than 3 pages/);
    expect((err as TagListTruncatedError).tags).toEqual(['t1', 't2', 't3']);
    expect(s.requests).toHaveLength(4); // ping and three pages, no fourth
  });

  test('tag cap: more tags than maxTags is a truncation error with the first maxTags', async () => {
    const s = await scripted([
      ok(),
      page('team/app', ['a', 'b'], next('/v2/team/app/tags/list?n=2&last=b')),
      page('team/app', ['c', 'd']),
    ]);
    const err = await failure(listTags(s.client, ref, { pageSize: 2, maxTags: 3 }));
    expect(err).toBeInstanceOf(TagListTruncatedError);
    expect(err.message).toMatch(/more than 3 tags/);
    expect((err as TagListTruncatedError).tags).toEqual(['a', 'b', 'c']);
  });

  test('exactly maxTags is fine', async () => {
    const s = await scripted([ok(), page('team/app', ['a', 'b', 'c'])]);
    expect(await listTags(s.client, ref, { maxTags: 3 })).toEqual(['a', 'b', 'c']);
  });

  test('"tags": null means no tags', async () => {
    const s = await scripted([ok(), page('team/app', null)]);
    expect(await listTags(s.client, ref)).toEqual([]);
  });

  test('an empty page with a next link continues', async () => {
    const s = await scripted([
      ok(),
      page('team/app', [], next('/v2/team/app/tags/list?n=2&last=x')),
      page('team/app', ['y']),
    ]);
    expect(await listTags(s.client, ref, { pageSize: 2 })).toEqual(['y']);
  });

  test('an oversized page is refused (streamed past 1 MiB, no Content-Length)', async () => {
    const big = JSON.stringify({ name: 'team/app', tags: ['x'.repeat(maxTagPageBytes)] });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const s = await scripted([ok(), new Response(stream, { status: 200 })]);
    const err = await failure(listTags(s.client, ref));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/over the 1048576-byte limit/);
  });

  test('an oversized page is refused from its Content-Length alone', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(1024));
      },
    });
    const s = await scripted([
      ok(),
      new Response(stream, {
        status: 200,
        headers: { 'Content-Length': String(maxTagPageBytes + 1) },
      }),
    ]);
    const err = await failure(listTags(s.client, ref));
    expect(err.message).toMatch(/over the 1048576-byte limit/);
    expect(pulled).toBeLessThanOrEqual(1);
  });

  test('404 NAME_UNKNOWN is a not-found error naming the repository', async () => {
    const s = await scripted([
      ok(),
      Response.json(
        {
          errors: [
            {
              code: 'NAME_UNKNOWN',
              message: 'repository name not known to registry',
              detail: { name: 'team/app' },
            },
          ],
        },
        { status: 404 },
      ),
    ]);
    const err = await failure(listTags(s.client, ref));
    expect(err.kind).toBe('not-found');
    expect(err.status).toBe(404);
    expect(err.message).toMatch(
      /^registry\.example\/team\/app: tag list: repository name not known/,
    );
  });

  test('401 without credentials says to sign in; 403 is denied', async () => {
    const s1 = await scripted([ok(), new Response(null, { status: 401 })]);
    expect((await failure(listTags(s1.client, ref))).kind).toBe('unauthorized');
    const s2 = await scripted([
      ok(),
      Response.json({ errors: [{ code: 'DENIED' }] }, { status: 403 }),
    ]);
    expect((await failure(listTags(s2.client, ref))).kind).toBe('denied');
  });

  test.each([
    ['not JSON', '<html>login</html>', /not JSON/],
    ['an array', '["a"]', /not a JSON object/],
    ['no name', '{"tags":["a"]}', /"name"/],
    ['tags a string', '{"name":"team/app","tags":"a"}', /neither an array nor null/],
    ['no tags at all', '{"name":"team/app"}', /neither an array nor null/],
    ['a numeric tag', '{"name":"team/app","tags":["a",1]}', /non-string/],
    ['a path in a tag', '{"name":"team/app","tags":["../../x"]}', /not a valid tag/],
    ['a too-long tag', `{"name":"team/app","tags":["${'a'.repeat(129)}"]}`, /not a valid tag/],
    [
      'nested 5000 deep',
      `{"name":"team/app","tags":[${'['.repeat(5000)}${']'.repeat(5000)}]}`,
      /the tag list nests 5002 levels deep; Berth reads at most 64/,
    ],
  ])('a page that is %s is refused', async (_what, body, message) => {
    const s = await scripted([ok(), new Response(body, { status: 200 })]);
    const err = await failure(listTags(s.client, ref));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(message);
  });

  test('invalid caps are a RangeError before any request', async () => {
    const s = await scripted([]);
    await expect(listTags(s.client, ref, { pageSize: 0 })).rejects.toThrow(RangeError);
    await expect(listTags(s.client, ref, { maxPages: 1.5 })).rejects.toThrow(RangeError);
    expect(s.requests).toHaveLength(0);
  });

  test('the signal reaches the transport', async () => {
    const ctl = new AbortController();
    let seen: AbortSignal | undefined;
    const transport: Transport = async (url, init) => {
      if (url.endsWith('/v2/')) return ok();
      seen = init.signal ?? undefined;
      return page('team/app', ['a']);
    };
    const client = new RegistryClient({ transport });
    await listTags(client, ref, { signal: ctl.signal });
    expect(seen).toBe(ctl.signal);
  });
});

describe('nextPagePath', () => {
  const r: Reference = { registry: 'docker.io', repository: 'library/alpine' };
  test.each([
    [null, undefined],
    ['', undefined],
    ['</v2/library/alpine/tags/list?n=1>; rel="prev"', undefined],
    ['</v2/library/alpine/tags/list?last=a&n=1>; rel="next"', 'tags/list?last=a&n=1'],
    ['</v2/library/alpine/tags/list?last=a>;rel=next', 'tags/list?last=a'],
    ['</v2/library/alpine/tags/list?last=a>; REL="Next"', 'tags/list?last=a'],
    ['</v2/library/alpine/tags/list?last=a>; rel="prefetch next"', 'tags/list?last=a'],
    [
      '<https://registry-1.docker.io/v2/library/alpine/tags/list?last=a>; rel="next"',
      'tags/list?last=a',
    ],
    // Params run to the next ',' or ';', quoted or not.
    ['</x>; rel=prev, </v2/library/alpine/tags/list?n=2>; rel=next', 'tags/list?n=2'],
    ['</x>; rel="next, </v2/library/alpine/tags/list?n=2>; rel=next', 'tags/list?n=2'],
    ['</v2/library/alpine/tags/list?n=3>  ;  type=x  ;  rel = "next"', 'tags/list?n=3'],
    ['</v2/library/alpine/tags/list?n=3> rel=next', undefined],
    ['junk </v2/library/alpine/tags/list?n=4>;rel=next', 'tags/list?n=4'],
    ['</v2/library/alpine/tags/list?n=5', undefined],
  ])('%j → %j', (header, want) => {
    expect(nextPagePath(header, r, 'tags/list', 'x')).toBe(want);
  });

  test('a header of a million "<" and no ">" is read in one pass', () => {
    // The regular expression this replaced scanned to the end of the header from every "<":
    // hours for this one (and a 200 KB header froze the page for a minute).
    expect(nextPagePath('<'.repeat(1_000_000), r, 'tags/list', 'x')).toBeUndefined();
    expect(nextPagePath('<a>' + '; x'.repeat(300_000), r, 'tags/list', 'x')).toBeUndefined();
  });

  test('Docker Hub: a Link to docker.io (not the API host) is refused', () => {
    expect(() =>
      nextPagePath(
        '<https://docker.io/v2/library/alpine/tags/list>; rel="next"',
        r,
        'tags/list',
        'x',
      ),
    ).toThrow(/another host \(docker\.io, not registry-1\.docker\.io\)/);
  });
});
