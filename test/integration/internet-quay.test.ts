// quay.io as REGISTRIES.md section 3 describes it, emulated over a real distribution registry,
// pulled by Berth's own client through Berth's own proxy: anonymous public content with no
// token at all, `true` as text/html on /v2/, 302 FOUND with an HTML body to a CDN whose
// signature expires, the three tag pagination shapes, a catalog behind a token.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import { rejection } from '../harness/berth.ts';
import {
  buildSeed,
  pushSeed,
  startLocalInternet,
  type LocalInternet,
  type Seed,
} from '../harness/internet/local.ts';
import { pullChecked } from '../harness/internet/pulls.ts';
import {
  QUAY_CDN_HOSTS,
  QUAY_CLOUDFRONT_HOST,
  QuayEmulator,
  quayEmulator,
} from '../harness/internet/quay.ts';

let net: LocalInternet;
let quay: QuayEmulator;
let seed: Seed;
const tags = ['1.0', '2.0', 'latest'];
/** 130 tags: three pages of 50 in the old shape, two of 100 in the new. */
const manyTags = Array.from({ length: 130 }, (_, i) => `t${String(i).padStart(3, '0')}`);
const robot = { username: 'berth+robot', password: 'ROBOTTOKEN0123456789' };

beforeAll(async () => {
  const started = await startLocalInternet([quayEmulator]);
  net = started;
  quay = started.emulators[0] as QuayEmulator;
  seed = await buildSeed('quay', tags);
  await pushSeed(net.backend, quay.backendName('berth/app')!, seed);
  await pushSeed(net.backend, quay.backendName('berth/private')!, seed);
  const many = await buildSeed('quay-many', manyTags);
  await pushSeed(net.backend, quay.backendName('berth/many')!, many);
}, 180_000);

afterAll(async () => {
  await net?.close();
});

function reset() {
  quay.control('reset', undefined);
  quay.log.length = 0;
}

const cdnHosts: string[] = [QUAY_CLOUDFRONT_HOST, ...QUAY_CDN_HOSTS];

describe('quay.io: the answers themselves', () => {
  test('/v2/ is 401 with the body `true` as text/html and a challenge with no scope', async () => {
    reset();
    const res = await net.wire('quay.io', '/v2/');
    expect(res.status).toBe(401);
    expect(res.reason).toBe('UNAUTHORIZED');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toBe('true');
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
    );
  });

  test('a private repository is refused with the 112-byte body and a scoped challenge', async () => {
    reset();
    const res = await net.wire('quay.io', '/v2/berth/private/manifests/1.0');
    expect(res.status).toBe(401);
    expect(Buffer.byteLength(res.body)).toBe(112);
    expect(res.headers['www-authenticate']).toContain('scope="repository:berth/private:pull"');
    const basic = await net.wire('quay.io', '/v2/berth/app/manifests/1.0', {
      headers: { authorization: 'Basic YTpi' },
    });
    expect(basic.body).toBe('{"error": "Invalid bearer token format"}');
  });

  test('a blob GET is 302 FOUND with an HTML body and a year of max-age; HEAD is 200 direct', async () => {
    reset();
    const layer = seed.built.manifests[0]!.image.layers[0]!;
    const path = `/v2/berth/app/blobs/${layer.digest}`;
    const get = await net.wire('quay.io', path);
    expect(get.status).toBe(302);
    expect(get.reason).toBe('FOUND');
    expect(get.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(get.headers['cache-control']).toBe('max-age=31536000');
    expect(get.body).toContain('<title>Redirecting...</title>');
    const location = new URL(get.headers.location as string);
    expect(QUAY_CDN_HOSTS).toContain(location.host);
    expect(location.pathname).toBe(`/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}`);
    expect([...location.searchParams.keys()]).toEqual([
      'Expires',
      'Signature',
      'Key-Pair-Id',
      'namespace',
      'username',
    ]);
    const head = await net.wire('quay.io', path, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(layer.size));
    expect(head.headers['cache-control']).toBe('max-age=31436000');
  });

  test('the CDN: Authorization refused with S3 XML, an expired signature refused, Range served', async () => {
    reset();
    const layer = seed.built.manifests[0]!.image.layers[0]!;
    const get = await net.wire('quay.io', `/v2/berth/app/blobs/${layer.digest}`);
    const location = get.headers.location as string;
    const part = await net.fetch(location, { headers: { range: 'bytes=0-9' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(10);
    const withAuth = await net.fetch(location, { headers: { authorization: 'Bearer x' } });
    expect(withAuth.status).toBe(400);
    expect(await withAuth.text()).toContain('Only one auth mechanism allowed');
    net.advance(11 * 60_000);
    const late = await net.fetch(location);
    expect(late.status).toBe(403);
    expect(await late.text()).toContain('<Code>AccessDenied</Code>');
  });

  test('the catalog needs a token and lists only what its bearer may see', async () => {
    reset();
    const anonymous = await net.wire('quay.io', '/v2/_catalog');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
    const list = async (auth?: string) => {
      const t = await net.fetch(
        'https://quay.io/v2/auth?service=quay.io&scope=registry:catalog:*',
        {
          headers: auth ? { authorization: auth } : {},
        },
      );
      const { token } = (await t.json()) as { token: string };
      const res = await net.fetch('https://quay.io/v2/_catalog', {
        headers: { authorization: `Bearer ${token}` },
      });
      return ((await res.json()) as { repositories: string[] }).repositories;
    };
    expect(await list()).toEqual(['berth/app', 'berth/many']);
    const basic = `Basic ${Buffer.from(`${robot.username}:${robot.password}`).toString('base64')}`;
    expect(await list(basic)).toEqual(['berth/app', 'berth/many', 'berth/private']);
  });

  test('the token answer: {"token"} alone, or with expires_in and issued_at', async () => {
    reset();
    const url = 'https://quay.io/v2/auth?service=quay.io&scope=repository:berth/app:pull';
    expect(Object.keys((await (await net.fetch(url)).json()) as object)).toEqual(['token']);
    quay.control('set', { tokenExpiresIn: true });
    const doc = (await (await net.fetch(url)).json()) as Record<string, unknown>;
    expect(doc.expires_in).toBe(600);
    expect(typeof doc.issued_at).toBe('string');
  });
});

describe('quay.io through Berth', () => {
  for (const cdn of ['quay', 'cloudfront'] as const) {
    test(`a public image pulls anonymously with no token at all (CDN: ${cdn})`, async () => {
      reset();
      quay.control('set', { cdn });
      const { pulled } = await pullChecked(net.client(), 'quay.io/berth/app:1.0');
      expect(pulled.image.target.digest).toBe(seed.index.digest);
      expect(quay.log.filter((r) => r.url.startsWith('/v2/auth'))).toEqual([]);
      expect(quay.log.filter((r) => r.status === 401)).toEqual([]);
      const fromCdn = quay.log.filter((r) => cdnHosts.includes(r.host));
      expect(fromCdn.length).toBeGreaterThan(0);
      for (const r of fromCdn) expect(r.headers.authorization, r.url).toBeUndefined();
      const redirects = quay.log.filter((r) => r.status === 302);
      expect(redirects.length).toBe(fromCdn.length);
    });
  }

  for (const shape of ['last', 'next_page', 'next_page-absolute'] as const) {
    test(`tags: every page followed, in the ${shape} shape, whatever n was asked`, async () => {
      reset();
      quay.control('set', { tagPages: shape });
      const all = [...manyTags, expect.stringMatching(/^sha256-/)];
      const listed = await listTags(net.client(), parseReference('quay.io/berth/many'));
      expect(listed).toEqual(expect.arrayContaining(all));
      expect(listed.length).toBe(all.length);
      const pages = quay.log.filter((r) => r.url.includes('/tags/list'));
      expect(pages.length).toBe(shape === 'last' ? 2 : 3);
    });
  }

  test('referrers come from the sha256-<hex> tag: the API path is a Flask 404 page', async () => {
    reset();
    const found = await listReferrers(
      net.client(),
      parseReference('quay.io/berth/app'),
      seed.index.digest,
    );
    expect(found.via).toBe('tag-schema');
    expect(found.descriptors.map((d) => d.digest)).toEqual([seed.referrer.digest]);
  });

  test('a private or absent repository, anonymously: sign in', async () => {
    reset();
    for (const name of ['quay.io/berth/private:1.0', 'quay.io/berth/nothing:1.0']) {
      const err = await rejection(net.client().resolve(parseReference(name)));
      expect((err as RegistryError).kind, name).toBe('unauthorized');
      expect((err as RegistryError).message, name).toContain(
        'access to the requested resource is not authorized',
      );
      expect((err as RegistryError).message, name).toMatch(/sign in and pull again/);
    }
  });

  for (const twoChallenges of [false, true]) {
    test(`a private repository pulls with a robot account${twoChallenges ? ' (Basic and Bearer challenges on one line)' : ''}`, async () => {
      reset();
      quay.control('set', { twoChallenges });
      const { pulled } = await pullChecked(net.client(robot), 'quay.io/berth/private:2.0');
      expect(pulled.image.target.digest).toBe(seed.index.digest);
      const token = quay.log.filter((r) => r.url.startsWith('/v2/auth'));
      expect(token.length).toBe(1);
      expect(token[0]!.headers.authorization).toMatch(/^Basic /);
    });
  }

  test('wrong credentials are named as such', async () => {
    reset();
    const err = await rejection(
      net
        .client({ username: robot.username, password: 'nope' })
        .resolve(parseReference('quay.io/berth/private:1.0')),
    );
    expect((err as RegistryError).message).toMatch(/refused these credentials/);
  });

  test('a token that expired is asked for again (error="invalid_token")', async () => {
    reset();
    quay.control('set', { tokenLifetimeMs: 1000 });
    const client = net.client(robot);
    const ref = parseReference('quay.io/berth/private:1.0');
    await client.resolve(ref);
    net.advance(2000);
    expect((await client.resolve(ref)).descriptor.digest).toBe(seed.index.digest);
    expect(quay.log.filter((r) => r.url.startsWith('/v2/auth')).length).toBe(2);
  });

  test('a signed CDN URL that expired is never reused: the next blob request gets a new one', async () => {
    reset();
    const client = net.client();
    const ref = parseReference('quay.io/berth/app:1.0');
    const layer = seed.built.manifests[1]!.image.layers[0]!;
    await (await client.fetchBlob(ref, layer)).arrayBuffer();
    net.advance(11 * 60_000);
    const again = await client.fetchBlob(ref, layer);
    expect((await again.arrayBuffer()).byteLength).toBe(layer.size);
    expect(quay.log.filter((r) => cdnHosts.includes(r.host)).map((r) => r.status)).toEqual([
      200, 200,
    ]);
  });

  test('a missing tag is not found', async () => {
    reset();
    const err = await rejection(net.client().resolve(parseReference('quay.io/berth/app:nope')));
    expect((err as RegistryError).kind).toBe('not-found');
  });

  test('a CDN that is down reads as unreachable', async () => {
    reset();
    for (const h of cdnHosts) net.down(h, true);
    try {
      const layer = seed.built.manifests[0]!.image.layers[0]!;
      const err = await rejection(
        net.client().fetchBlob(parseReference('quay.io/berth/app:1.0'), layer),
      );
      expect((err as RegistryError).kind).toBe('unreachable');
      expect((err as RegistryError).message).toMatch(/could not connect to cdn0\d\.quay\.io/);
    } finally {
      for (const h of cdnHosts) net.down(h, false);
    }
  });
});
