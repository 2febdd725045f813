// registry.gitlab.com as REGISTRIES.md section 7 describes it, emulated over a real distribution
// registry, pulled by Berth's own client through Berth's own proxy: the token realm on another
// host (gitlab.com) with service=container_registry, 403 from the realm for a private project,
// tokens that expire after 15 minutes, 307s to the CDN or to signed GCS URLs, a catalog that is
// never granted.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import { rejection } from '../harness/berth.ts';
import {
  GCS_HOST,
  GITLAB_CDN_HOST,
  GITLAB_HOST,
  GitlabEmulator,
  gitlabEmulator,
} from '../harness/internet/gitlab.ts';
import { pullChecked } from '../harness/internet/pulls.ts';
import {
  buildSeed,
  pushSeed,
  startLocalInternet,
  type LocalInternet,
  type Seed,
} from '../harness/internet/local.ts';

let net: LocalInternet;
let gitlab: GitlabEmulator;
let seed: Seed;
const tags = ['main', 'v1.0.0', 'v1.1.0', 'v2.0.0'];
const user = { username: 'berth-user', password: 'glpat-berthtesttoken' };

beforeAll(async () => {
  const started = await startLocalInternet([gitlabEmulator]);
  net = started;
  gitlab = started.emulators[0] as GitlabEmulator;
  seed = await buildSeed('gitlab', tags);
  await pushSeed(net.backend, gitlab.backendName('berth-group/app')!, seed);
  await pushSeed(net.backend, gitlab.backendName('berth-group/private')!, seed);
}, 120_000);

afterAll(async () => {
  await net?.close();
});

function reset() {
  gitlab.control('reset', undefined);
  gitlab.log.length = 0;
}

const blobHosts: string[] = [GITLAB_CDN_HOST, GCS_HOST];

async function token(scope: string, auth?: string, service = 'container_registry') {
  const res = await net.fetch(
    `https://gitlab.com/jwt/auth?service=${service}&scope=${encodeURIComponent(scope)}`,
    { headers: auth ? { authorization: auth } : {} },
  );
  return { status: res.status, doc: (await res.json()) as Record<string, unknown> };
}

describe('registry.gitlab.com: the answers themselves', () => {
  test('/v2/ challenges for gitlab.com/jwt/auth with service=container_registry', async () => {
    reset();
    const res = await net.wire('registry.gitlab.com', '/v2/');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="https://gitlab.com/jwt/auth",service="container_registry"',
    );
    expect(JSON.parse(res.body)).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }],
    });
  });

  test('the realm: {"token"} for a public project, 403 for a private one without sign-in', async () => {
    reset();
    const pub = await token('repository:berth-group/app:pull');
    expect(pub.status).toBe(200);
    expect(Object.keys(pub.doc)).toEqual(['token']);
    const priv = await token('repository:berth-group/private:pull');
    expect(priv.status).toBe(403);
    expect(priv.doc).toEqual({ errors: [{ code: 'DENIED', message: 'access forbidden' }] });
  });

  test('a token asked for another service is not valid for the scope', async () => {
    reset();
    const { doc } = await token(
      'repository:berth-group/app:pull',
      undefined,
      'registry.gitlab.com',
    );
    const res = await net.wire('registry.gitlab.com', '/v2/berth-group/app/manifests/main', {
      headers: { authorization: `Bearer ${doc.token as string}`, accept: MediaType.OciIndex },
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  test('the catalog: 401 of 145 bytes, and still 401 insufficient_scope with any token', async () => {
    reset();
    const res = await net.wire('registry.gitlab.com', '/v2/_catalog');
    expect(res.status).toBe(401);
    expect(res.headers['content-length']).toBe('145');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    const { doc } = await token('registry:catalog:*', basic);
    const again = await net.wire('registry.gitlab.com', '/v2/_catalog', {
      headers: { authorization: `Bearer ${doc.token as string}` },
    });
    expect(again.status).toBe(401);
    expect(again.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  for (const blobHost of ['cdn', 'gcs'] as const) {
    test(`blob GET: 307 with Go's HTML to ${blobHost}; Authorization there is refused; the signature expires`, async () => {
      reset();
      gitlab.control('set', { blobHost });
      const { doc } = await token('repository:berth-group/app:pull');
      const layer = seed.built.manifests[0]!.image.layers[0]!;
      const res = await net.wire(
        'registry.gitlab.com',
        `/v2/berth-group/app/blobs/${layer.digest}`,
        {
          headers: { authorization: `Bearer ${doc.token as string}` },
        },
      );
      expect(res.status).toBe(307);
      expect(res.body).toMatch(/^<a href="https:\/\/.*">Temporary Redirect<\/a>\.\n\n$/);
      const location = res.headers.location as string;
      expect(new URL(location).host).toBe(blobHost === 'cdn' ? GITLAB_CDN_HOST : GCS_HOST);
      expect(location).toContain(
        `/docker/registry/v2/blobs/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}/data?`,
      );
      const ok = await net.fetch(location, { headers: { range: 'bytes=1-4' } });
      expect(ok.status).toBe(206);
      expect(ok.headers.get('cache-control')).toBe('private, max-age=0');
      await ok.arrayBuffer();
      const withAuth = await net.fetch(location, { headers: { authorization: 'Bearer x' } });
      expect(withAuth.status).toBe(400);
      await withAuth.arrayBuffer();
      net.advance(11 * 60_000);
      const late = await net.fetch(location);
      expect([400, 403]).toContain(late.status);
      await late.arrayBuffer();
    });
  }
});

describe('registry.gitlab.com through Berth', () => {
  for (const blobHost of ['cdn', 'gcs'] as const) {
    test(`a public project's image pulls, blobs from ${blobHost} with no Authorization`, async () => {
      reset();
      gitlab.control('set', { blobHost });
      const { pulled } = await pullChecked(
        net.client(),
        'registry.gitlab.com/berth-group/app:main',
      );
      expect(pulled.image.target.digest).toBe(seed.index.digest);
      const tokens = gitlab.log.filter((r) => r.host === GITLAB_HOST);
      expect(tokens.length).toBe(1);
      expect(tokens[0]!.url).toContain('service=container_registry');
      const blobs = gitlab.log.filter((r) => blobHosts.includes(r.host));
      expect(blobs.length).toBeGreaterThan(0);
      for (const r of blobs) expect(r.headers.authorization, r.url).toBeUndefined();
    });
  }

  test('tags: distribution Link pages when n is given, all at once when the registry ignores n', async () => {
    reset();
    const ref = parseReference('registry.gitlab.com/berth-group/app');
    const all = [...tags, seed.index.digest.replace(':', '-')].sort();
    expect(await listTags(net.client(), ref, { pageSize: 2 })).toEqual(all);
    const pages = gitlab.log.filter((r) => r.url.includes('/tags/list') && r.status === 200);
    expect(pages.map((r) => r.url)).toEqual([
      '/v2/berth-group/app/tags/list?n=2',
      `/v2/berth-group/app/tags/list?last=${all[1]}&n=2`,
      `/v2/berth-group/app/tags/list?last=${all[3]}&n=2`,
    ]);
    reset();
    gitlab.control('set', { tagPages: 'all' });
    expect(await listTags(net.client(), ref, { pageSize: 2 })).toEqual(all);
  });

  test('referrers come from the sha256-<hex> tag when the API path is 404 page not found', async () => {
    reset();
    const found = await listReferrers(
      net.client(),
      parseReference('registry.gitlab.com/berth-group/app'),
      seed.index.digest,
    );
    expect(found.via).toBe('tag-schema');
    expect(found.descriptors.map((d) => d.digest)).toEqual([seed.referrer.digest]);
  });

  test('a private project without sign-in: the realm says 403, Berth says to sign in', async () => {
    reset();
    const err = await rejection(
      net.client().resolve(parseReference('registry.gitlab.com/berth-group/private:main')),
    );
    expect((err as RegistryError).kind).toBe('unauthorized');
    expect((err as RegistryError).message).toMatch(/needs credentials\. Sign in/);
  });

  test('a private project with a personal access token pulls; a wrong one is named', async () => {
    reset();
    const { pulled } = await pullChecked(
      net.client(user),
      'registry.gitlab.com/berth-group/private:v2.0.0',
    );
    expect(pulled.image.target.digest).toBe(seed.index.digest);
    const tokenRequest = gitlab.log.find((r) => r.host === GITLAB_HOST)!;
    expect(tokenRequest.url).toContain('account=berth-user');
    expect(tokenRequest.headers.authorization).toMatch(/^Basic /);
    const err = await rejection(
      net
        .client({ username: user.username, password: 'glpat-wrong' })
        .resolve(parseReference('registry.gitlab.com/berth-group/private:main')),
    );
    expect((err as RegistryError).message).toMatch(/refused these credentials/);
  });

  test('signed in, a project that does not exist: not found, or private, never refused credentials', async () => {
    reset();
    const err = await rejection(
      net.client(user).resolve(parseReference('registry.gitlab.com/berth-group/nothing:main')),
    );
    expect((err as RegistryError).kind).toBe('denied');
    expect((err as RegistryError).message).toMatch(/not found, or private/);
    expect((err as RegistryError).message).not.toMatch(/refused/);
    const challenged = gitlab.log.filter((r) => r.status === 401).at(-1)!;
    expect(challenged.url).toBe('/v2/berth-group/nothing/manifests/main');
  });

  test('a token past its 15 minutes is refused as invalid_token and asked for again', async () => {
    reset();
    const client = net.client();
    const ref = parseReference('registry.gitlab.com/berth-group/app:main');
    await client.resolve(ref);
    net.advance(16 * 60_000);
    expect((await client.resolve(ref)).descriptor.digest).toBe(seed.index.digest);
    expect(gitlab.log.filter((r) => r.host === GITLAB_HOST).length).toBe(2);
    expect(gitlab.log.some((r) => r.status === 401)).toBe(true);
  });

  test('the realm host down: the token request reads as unreachable', async () => {
    reset();
    net.down(GITLAB_HOST, true);
    try {
      const err = await rejection(
        net.client().resolve(parseReference('registry.gitlab.com/berth-group/app:main')),
      );
      expect((err as RegistryError).kind).toBe('unreachable');
      expect((err as RegistryError).message).toMatch(/could not connect to gitlab\.com/);
    } finally {
      net.down(GITLAB_HOST, false);
    }
  });

  test('a missing tag is not found', async () => {
    reset();
    const err = await rejection(
      net.client().resolve(parseReference('registry.gitlab.com/berth-group/app:nope')),
    );
    expect((err as RegistryError).kind).toBe('not-found');
  });
});
