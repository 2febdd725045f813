// ghcr.io as REGISTRIES.md section 2 describes it, emulated over a real distribution registry,
// pulled by Berth's own client through Berth's own proxy: the token-only answer, the
// placeholder scope on /v2/, DENIED without a challenge, 307s to the Azure blob host whose SAS
// expires, relative Link pages, and the referrers tag fallback.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import { rejection } from '../harness/berth.ts';
import {
  GHCR_BLOB_HOST,
  GHCR_PLACEHOLDER_SCOPE,
  GhcrEmulator,
  ghcrEmulator,
} from '../harness/internet/ghcr.ts';
import { pullChecked } from '../harness/internet/pulls.ts';
import {
  buildSeed,
  pushSeed,
  startLocalInternet,
  type LocalInternet,
  type Seed,
} from '../harness/internet/local.ts';

let net: LocalInternet;
let ghcr: GhcrEmulator;
let seed: Seed;
const tags = ['1.0', '1.1', '1.2', '2.0', 'latest', 'v1'];
const user = { username: 'berth-user', password: 'ghp_berthtesttoken' };

beforeAll(async () => {
  const started = await startLocalInternet([ghcrEmulator]);
  net = started;
  ghcr = started.emulators[0] as GhcrEmulator;
  seed = await buildSeed('ghcr', tags);
  await pushSeed(net.backend, ghcr.backendName('berth-org/app')!, seed);
  await pushSeed(net.backend, ghcr.backendName('berth-org/private')!, seed);
}, 120_000);

afterAll(async () => {
  await net?.close();
});

function reset() {
  ghcr.control('reset', undefined);
  ghcr.log.length = 0;
}

const raw = (url: string, headers: Record<string, string> = {}) => net.fetch(url, { headers });

describe('ghcr.io: the answers themselves', () => {
  test('/v2/ challenges with the placeholder scope; a resource with its own', async () => {
    reset();
    const base = await raw('https://ghcr.io/v2/');
    expect(base.status).toBe(401);
    expect(base.headers.get('www-authenticate')).toBe(
      `Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="${GHCR_PLACEHOLDER_SCOPE}"`,
    );
    expect(await base.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }],
    });
    const res = await raw('https://ghcr.io/v2/berth-org/app/manifests/v1');
    expect(res.headers.get('www-authenticate')).toContain('scope="repository:berth-org/app:pull"');
  });

  test('the token answer is {"token"} only, base64 of v1:<repo>:<nanos>', async () => {
    reset();
    const res = await raw('https://ghcr.io/token?scope=repository:berth-org/app:pull');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, string>;
    expect(Object.keys(doc)).toEqual(['token']);
    expect(Buffer.from(doc.token!, 'base64').toString()).toMatch(/^v1:berth-org\/app:\d+$/);
  });

  test('Basic, unknown and expired tokens get DENIED with no challenge; an empty bearer does not', async () => {
    reset();
    ghcr.control('set', { tokenLifetimeMs: 60_000 });
    const url = 'https://ghcr.io/v2/berth-org/app/manifests/v1';
    for (const auth of ['Basic YTpi', 'Bearer bm9wZQ==']) {
      const res = await raw(url, { authorization: auth });
      expect(res.status, auth).toBe(403);
      expect(res.headers.get('www-authenticate'), auth).toBeNull();
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    }
    const { token } = (await (
      await raw('https://ghcr.io/token?scope=repository:berth-org/app:pull')
    ).json()) as { token: string };
    const ok = await raw(url, { authorization: `Bearer ${token}`, accept: MediaType.OciIndex });
    expect(ok.status).toBe(200);
    // Without the index type in Accept, GHCR says so, as distribution does.
    const refused = await raw(url, { authorization: `Bearer ${token}` });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({
      errors: [
        {
          code: 'MANIFEST_UNKNOWN',
          message: 'OCI index found, but Accept header does not support OCI indexes',
        },
      ],
    });
    net.advance(61_000);
    const expired = await raw(url, { authorization: `Bearer ${token}` });
    expect(expired.status).toBe(403);
    expect(expired.headers.get('www-authenticate')).toBeNull();
    const empty = await raw(url, { authorization: 'Bearer' });
    expect(empty.status).toBe(401);
    expect(await empty.text()).toContain('authentication token not provided');
  });

  test('Bearer QQ== fetches a public blob but not a manifest', async () => {
    reset();
    const layer = seed.built.manifests[0]!.image.layers[0]!;
    const blob = await raw(`https://ghcr.io/v2/berth-org/app/blobs/${layer.digest}`, {
      authorization: 'Bearer QQ==',
    });
    expect(blob.status).toBe(200);
    expect(blob.url).toContain(`https://${GHCR_BLOB_HOST}/ghcrblobs07/blobs/${layer.digest}?se=`);
    expect(Buffer.from(await blob.arrayBuffer()).byteLength).toBe(layer.size);
    const manifest = await raw('https://ghcr.io/v2/berth-org/app/manifests/v1', {
      authorization: 'Bearer QQ==',
    });
    expect(manifest.status).toBe(401);
  });

  test('the blob host: a SAS that expires, Authorization refused with Azure XML, Range served', async () => {
    reset();
    const layer = seed.built.manifests[0]!.image.layers[0]!;
    const tokenRes = await raw('https://ghcr.io/token?scope=repository:berth-org/app:pull');
    const { token } = (await tokenRes.json()) as { token: string };
    const redirect = await net.fetch(`https://ghcr.io/v2/berth-org/app/blobs/${layer.digest}`, {
      headers: { authorization: `Bearer ${token}` },
      redirect: 'manual',
    });
    expect(redirect.status).toBe(307);
    const location = redirect.headers.get('location')!;
    expect(location).toMatch(
      /\?se=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ&sig=.+&sr=b&sv=2025-01-05&hmac=/,
    );

    const part = await raw(location, { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${layer.size}`);
    expect((await part.arrayBuffer()).byteLength).toBe(10);

    const withAuth = await raw(location, { authorization: `Bearer ${token}` });
    expect(withAuth.status).toBe(400);
    // Azure's XML starts with a byte-order mark, which text() would drop.
    const xml = Buffer.from(await withAuth.arrayBuffer()).toString('utf8');
    expect(xml).toMatch(/^\ufeff<\?xml.*<Code>InvalidAuthenticationInfo<\/Code>/);

    const forged = await raw(location.replace(/sig=[^&]+/, 'sig=AAAA'));
    expect(forged.status).toBe(403);

    net.advance(11 * 60_000);
    const late = await raw(location);
    expect(late.status).toBe(403);
    expect(await late.text()).toContain('<Code>AuthenticationFailed</Code>');
  });

  test('the catalog is refused: challenged for registry:catalog:*, whose token is refused, DENIED with any token', async () => {
    reset();
    const anonymous = await net.wire('ghcr.io', '/v2/_catalog');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
    const refused = await raw('https://ghcr.io/token?scope=registry:catalog:*&service=ghcr.io');
    expect(refused.status).toBe(401);
    const { token } = (await (
      await raw('https://ghcr.io/token?scope=repository:berth-org/app:pull')
    ).json()) as { token: string };
    const withToken = await raw('https://ghcr.io/v2/_catalog', {
      authorization: `Bearer ${token}`,
    });
    expect(withToken.status).toBe(403);
    expect(withToken.headers.get('www-authenticate')).toBeNull();
  });

  test('header names are lower case by default, Go canonical when asked', async () => {
    reset();
    const lower = await net.wire('ghcr.io', '/v2/');
    expect(lower.names).toContain('www-authenticate');
    expect(lower.names).toContain('docker-distribution-api-version');
    ghcr.control('set', { headerCase: 'canonical' });
    const canonical = await net.wire('ghcr.io', '/v2/');
    expect(canonical.names).toContain('Www-Authenticate');
    expect(canonical.names).toContain('Docker-Distribution-Api-Version');
  });
});

describe('ghcr.io through Berth', () => {
  test('a public image pulls, every platform, with no Authorization reaching the blob host', async () => {
    reset();
    const { pulled } = await pullChecked(net.client(), 'ghcr.io/berth-org/app:v1');
    expect(pulled.image.target.digest).toBe(seed.index.digest);
    const blobHost = ghcr.log.filter((r) => r.host === GHCR_BLOB_HOST);
    expect(blobHost.length).toBeGreaterThan(0);
    for (const r of blobHost) expect(r.headers.authorization, r.url).toBeUndefined();
    expect(
      blobHost.some((r) => r.status === 206),
      'pieces come as Range requests',
    ).toBe(true);
    // One anonymous token, asked without credentials.
    const tokenRequests = ghcr.log.filter((r) => r.url.startsWith('/token'));
    expect(tokenRequests.length).toBe(1);
    expect(tokenRequests[0]!.url).toContain('scope=repository%3Aberth-org%2Fapp%3Apull');
  });

  test('after a ping the placeholder scope is not used: tokens name the repository', async () => {
    reset();
    const client = net.client();
    const challenges = await client.ping('ghcr.io');
    expect(challenges[0]!.params.scope).toBe(GHCR_PLACEHOLDER_SCOPE);
    const r = await client.resolve(parseReference('ghcr.io/berth-org/app:latest'));
    expect(r.descriptor.digest).toBe(seed.index.digest);
    const token = ghcr.log.find((x) => x.url.startsWith('/token'))!;
    expect(token.url).not.toContain('user%2Fimage');
  });

  test('tags: relative Link pages, followed to the end, whatever page size either side picks', async () => {
    reset();
    const ref = parseReference('ghcr.io/berth-org/app');
    const all = [...tags, seed.index.digest.replace(':', '-')].sort();
    expect(await listTags(net.client(), ref, { pageSize: 2 })).toEqual(all);
    const pages = ghcr.log.filter((r) => r.url.includes('/tags/list') && r.status === 200);
    expect(pages.map((r) => r.url).slice(0, 3)).toEqual([
      '/v2/berth-org/app/tags/list?n=2',
      '/v2/berth-org/app/tags/list?last=1.1&n=2',
      '/v2/berth-org/app/tags/list?last=2.0&n=2',
    ]);
    // The registry cuts pages shorter than asked.
    reset();
    ghcr.control('set', { maxPageSize: 3 });
    expect(await listTags(net.client(), ref)).toEqual(all);
  });

  test('referrers come from the sha256-<hex> tag: GHCR has no referrers API', async () => {
    reset();
    const ref = parseReference('ghcr.io/berth-org/app');
    const found = await listReferrers(net.client(), ref, seed.index.digest);
    expect(found.via).toBe('tag-schema');
    expect(found.descriptors.map((d) => d.digest)).toEqual([seed.referrer.digest]);
  });

  for (const shape of ['unauthorized', 'denied'] as const) {
    test(`a private or absent package, anonymously (token refused as ${shape}): sign in`, async () => {
      reset();
      ghcr.control('set', { refusedToken: shape });
      for (const name of ['ghcr.io/berth-org/private:v1', 'ghcr.io/berth-org/nothing:v1']) {
        const err = await rejection(net.client().resolve(parseReference(name)));
        expect(err, name).toBeInstanceOf(RegistryError);
        expect((err as RegistryError).kind, name).toBe('unauthorized');
        expect((err as RegistryError).message, name).toMatch(/needs credentials\. Sign in/);
      }
    });
  }

  test('a private package with credentials pulls; wrong credentials are named as such', async () => {
    reset();
    const { pulled } = await pullChecked(net.client(user), 'ghcr.io/berth-org/private:v1');
    expect(pulled.image.target.digest).toBe(seed.index.digest);
    const tokenRequest = ghcr.log.find((r) => r.url.startsWith('/token'))!;
    expect(tokenRequest.headers.authorization).toMatch(/^Basic /);
    const err = await rejection(
      net
        .client({ username: 'berth-user', password: 'wrong' })
        .resolve(parseReference('ghcr.io/berth-org/private:v1')),
    );
    expect((err as RegistryError).message).toMatch(/refused these credentials/);
  });

  test('a missing tag of a public package is not found', async () => {
    reset();
    const err = await rejection(net.client().resolve(parseReference('ghcr.io/berth-org/app:nope')));
    expect((err as RegistryError).kind).toBe('not-found');
  });

  test('a signed URL that expired is never reused: the next blob request gets a new one', async () => {
    reset();
    const client = net.client();
    const ref = parseReference('ghcr.io/berth-org/app:v1');
    const layer = seed.built.manifests[1]!.image.layers[0]!;
    const first = await client.fetchBlob(ref, layer);
    await first.arrayBuffer();
    net.advance(11 * 60_000);
    const again = await client.fetchBlob(ref, layer);
    expect(again.status).toBe(200);
    expect((await again.arrayBuffer()).byteLength).toBe(layer.size);
    const sas = ghcr.log.filter((r) => r.host === GHCR_BLOB_HOST).map((r) => r.url);
    expect(new Set(sas).size).toBe(2);
  });

  test('a registry that is down reads as unreachable, with what to check', async () => {
    reset();
    net.down('ghcr.io', true);
    try {
      const err = await rejection(net.client().resolve(parseReference('ghcr.io/berth-org/app:v1')));
      expect((err as RegistryError).kind).toBe('unreachable');
      expect((err as RegistryError).message).toMatch(/could not connect to ghcr\.io/);
    } finally {
      net.down('ghcr.io', false);
    }
  });
});

describe('ghcr.io: a token that GHCR stopped accepting before the client thought it would', () => {
  test('its 403 DENIED "invalid token", with no challenge, gets one fresh token and one retry', async () => {
    reset();
    // GHCR's token answer states no lifetime, so the client guesses one; this one ends sooner.
    ghcr.control('set', { tokenLifetimeMs: 10_000 });
    const client = net.client();
    const ref = parseReference('ghcr.io/berth-org/app:v1');
    await client.resolve(ref);
    net.advance(11_000);
    const again = await client.resolve(ref);
    expect(again.descriptor.digest).toBe(seed.index.digest);
    const manifests = ghcr.log.filter((r) => r.url.includes('/manifests/'));
    expect(manifests.map((r) => r.status)).toEqual([401, 200, 403, 200]);
    expect(ghcr.log.filter((r) => r.url.startsWith('/token'))).toHaveLength(2);
  });

  test('a HEAD (as the repository view dates a tag) is renewed the same way', async () => {
    reset();
    ghcr.control('set', { tokenLifetimeMs: 10_000 });
    const client = net.client();
    const ref = parseReference('ghcr.io/berth-org/app:v1');
    await client.resolve(ref);
    net.advance(11_000);
    expect((await client.head(ref))?.digest).toBe(seed.index.digest);
    const manifests = ghcr.log.filter((r) => r.url.includes('/manifests/'));
    expect(manifests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 401',
      'GET 200',
      'HEAD 403',
      'HEAD 200',
    ]);
  });

  test('a fresh token refused too is the answer: one retry only, the words DENIED', async () => {
    reset();
    ghcr.control('set', { tokenLifetimeMs: 10_000 });
    const client = net.client();
    const ref = parseReference('ghcr.io/berth-org/app:v1');
    await client.resolve(ref);
    net.advance(11_000);
    // Every token GHCR hands out from now on is already over.
    ghcr.control('set', { tokenLifetimeMs: -1 });
    const err = await rejection(client.resolve(ref));
    expect((err as RegistryError).kind).toBe('denied');
    expect((err as RegistryError).message).toMatch(/invalid token/);
    const manifests = ghcr.log.filter((r) => r.url.includes('/manifests/'));
    expect(manifests.map((r) => r.status)).toEqual([401, 200, 403, 403]);
  });
});
