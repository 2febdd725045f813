// Artifact Registry (`us-docker.pkg.dev`) as REGISTRIES.md §4 describes it, driven by Berth's
// RegistryClient through Berth's own proxy: a `/v2/` challenge with no service, tokens for
// public repositories, blobs by a relative 302 to a download path on the same host, tags with
// a 405 for a page that is too large, and a referrers path that leads to Google's sign-in page
// (Berth must fall back to the tag schema).
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import {
  AR_HOST,
  type ArtifactRegistryOptions,
  GOOGLE_SIGNIN_HOST,
  artifactRegistry,
} from '../harness/internet/artifact-registry.ts';
import {
  type SeededImage,
  rawEmulated,
  seedImage,
  seedReferrer,
  useLocalInternet,
} from '../harness/internet/local.ts';
import { fetchChecked } from '../harness/internet/pulls.ts';

let image: SeededImage;
let referrer: { digest: string };
const opts: ArtifactRegistryOptions = { users: { oauth2accesstoken: 'ya29.emulated' } };
const REPO = 'berth-proj/containers/app';
const PRIVATE = 'berth-proj/private/app';

const run = useLocalInternet(
  (ctx) => [artifactRegistry(ctx, opts)],
  async (net) => {
    image = await seedImage(net.backend, `artifactregistry/${REPO}`, ['v1', 'v2']);
    await seedImage(net.backend, `artifactregistry/${PRIVATE}`, ['v1'], 'private\n');
    referrer = await seedReferrer(net.backend, `artifactregistry/${REPO}`, image);
  },
);

describe('Artifact Registry', () => {
  test('/v2/ challenges with a realm only; a resource adds service and scope', async () => {
    const base = await rawEmulated(run.net, AR_HOST, '/v2/');
    expect(base.status).toBe(401);
    expect(base.headers.get('www-authenticate')).toBe(`Bearer realm="https://${AR_HOST}/v2/token"`);
    const challenges = await run.net.client().ping(AR_HOST);
    expect(challenges[0]?.params).toEqual({ realm: `https://${AR_HOST}/v2/token` });
    const res = await rawEmulated(run.net, AR_HOST, `/v2/${REPO}/manifests/v1`);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="https://${AR_HOST}/v2/token",service="${AR_HOST}",scope="repository:${REPO}:pull"`,
    );
  });

  test('a public image pulls with an anonymous token, blobs by a relative 302 on the same host', async () => {
    const from = run.emulator().log.length;
    // After a ping, the client knows the service-less /v2/ challenge first.
    const client = run.net.client();
    await client.ping(AR_HOST);
    const resolved = await fetchChecked(client, `${AR_HOST}/${REPO}:v1`);
    expect(resolved.descriptor.digest).toBe(image.digest);
    const seen = run.emulator().log.slice(from);
    const downloads = seen.filter((r) => r.url.startsWith('/artifacts-downloads/'));
    expect(downloads.length).toBe(2);
    expect(downloads.every((r) => r.status === 200 && r.host === AR_HOST)).toBe(true);
    expect(downloads[0]!.url.length).toBeGreaterThan(900);
  });

  test('the referrers path leads to the Google sign-in page; Berth falls back to the tag schema', async () => {
    const from = run.emulator().log.length;
    const referrers = await listReferrers(
      run.net.client(),
      parseReference(`${AR_HOST}/${REPO}`),
      image.digest,
    );
    expect(referrers.via).toBe('tag-schema');
    expect(referrers.descriptors.map((d) => d.digest)).toEqual([referrer.digest]);
    expect(
      run
        .emulator()
        .log.slice(from)
        .some((r) => r.host === GOOGLE_SIGNIN_HOST),
    ).toBe(true);
  });

  test('tags: Berth asks pages of 1000 and follows the relative Link; n=10000 gets 405', async () => {
    const tags = await listTags(run.net.client(), parseReference(`${AR_HOST}/${REPO}`), {
      pageSize: 1,
    });
    expect(tags.filter((t) => !t.startsWith('sha256-'))).toEqual(['v1', 'v2']);
    expect(await listTags(run.net.client(), parseReference(`${AR_HOST}/${REPO}`))).toHaveLength(3);
    const big = await listTags(run.net.client(), parseReference(`${AR_HOST}/${REPO}`), {
      pageSize: 10000,
    }).catch((e: unknown) => e);
    expect((big as RegistryError).status).toBe(405);
  });

  test('a private repository is denied anonymously, in words that say it may not exist; signed in it pulls', async () => {
    const err = await run.net
      .client()
      .resolve(parseReference(`${AR_HOST}/${PRIVATE}:v1`))
      .catch((e: unknown) => e);
    expect((err as RegistryError).kind).toBe('denied');
    expect((err as RegistryError).message).toMatch(/or it may not exist/);
    await fetchChecked(
      run.net.client({ username: 'oauth2accesstoken', password: 'ya29.emulated' }),
      `${AR_HOST}/${PRIVATE}:v1`,
    );
    const wrong = await run.net
      .client({ username: 'oauth2accesstoken', password: 'expired' })
      .resolve(parseReference(`${AR_HOST}/${PRIVATE}:v1`))
      .catch((e: unknown) => e);
    expect((wrong as RegistryError).kind).toBe('unauthorized');
    expect((wrong as RegistryError).message).toMatch(/refused/);
  });

  test('a missing repository: anonymously the same denial, signed in not found', async () => {
    const anon = await run.net
      .client()
      .resolve(parseReference(`${AR_HOST}/berth-proj/containers/nothing:v1`))
      .catch((e: unknown) => e);
    expect((anon as RegistryError).kind).toBe('denied');
    const signedIn = await run.net
      .client({ username: 'oauth2accesstoken', password: 'ya29.emulated' })
      .resolve(parseReference(`${AR_HOST}/berth-proj/containers/nothing:v1`))
      .catch((e: unknown) => e);
    expect((signedIn as RegistryError).kind).toBe('not-found');
  });

  test('an expired download link is refused; a new redirect works', async () => {
    const r = parseReference(`${AR_HOST}/${REPO}:v1`);
    const res = await rawEmulated(run.net, AR_HOST, `/v2/${REPO}/blobs/${image.blobs[1]}`, {
      headers: { authorization: `Bearer ${await anonymousToken()}` },
    });
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(
      location.startsWith(
        '/artifacts-downloads/namespaces/berth-proj/repositories/containers/downloads/',
      ),
    ).toBe(true);
    run.net.advance(11 * 60_000);
    try {
      expect((await rawEmulated(run.net, AR_HOST, location)).status).toBe(403);
      await fetchChecked(run.net.client(), `${AR_HOST}/${r.repository}:v1`);
    } finally {
      run.net.advance(-11 * 60_000);
    }
  });

  test('a token-only answer and Go header case work the same', async () => {
    Object.assign(opts, {
      tokenFields: 'token-only',
      headerCase: 'canonical',
    } satisfies ArtifactRegistryOptions);
    try {
      const raw = await rawEmulated(run.net, AR_HOST, '/v2/');
      expect(raw.rawHeaders).toContain('Www-Authenticate');
      await fetchChecked(run.net.client(), `${AR_HOST}/${REPO}:v2`);
    } finally {
      delete opts.tokenFields;
      delete opts.headerCase;
    }
  });
});

async function anonymousToken(): Promise<string> {
  const res = await rawEmulated(
    run.net,
    AR_HOST,
    `/v2/token?service=${AR_HOST}&scope=repository:${REPO}:pull`,
  );
  return (JSON.parse(res.body.toString()) as { token: string }).token;
}

describe('an expired signed URL', () => {
  test('is refused by Artifact Registry, asked for again, and the pull never notices', async () => {
    opts.expireNext = 1;
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(), `${AR_HOST}/${REPO}:v1`);
      const refused = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.url.startsWith('/artifacts-downloads/') && r.status === 403);
      expect(refused).toHaveLength(1);
    } finally {
      delete opts.expireNext;
    }
  });
});
