// A Harbor 2.x at harbor.berth.test as REGISTRIES.md §8 describes it, driven by Berth's
// RegistryClient through Berth's own proxy: the doubled "unauthorized: unauthorized" challenge
// in Go's header case, tokens with expires_in 1800 (gzipped even when not asked, as a switch),
// public and private projects and sign-in, the 401 for a repository that does not exist, the
// empty tag list for one, Link pagination, the referrers API, the catalog behind its own
// scope, and blobs served directly or by 307 to S3.
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import {
  HARBOR_HOST,
  HARBOR_S3_HOST,
  type HarborOptions,
  harbor,
} from '../harness/internet/harbor.ts';
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
const opts: HarborOptions = {
  users: {
    admin: { password: 'Harbor12345', admin: true },
    alice: { password: 'alice-secret', projects: ['team'] },
    bob: { password: 'bob-secret' },
  },
};
const alice = { username: 'alice', password: 'alice-secret' };
const REPO = 'library/app';
const TAGS = ['1.0', '1.1', '2.0', 'latest', 'stable'];

const run = useLocalInternet(
  (ctx) => [harbor(ctx, opts)],
  async (net) => {
    image = await seedImage(net.backend, `harbor/${REPO}`, TAGS);
    await seedImage(net.backend, 'harbor/team/secret', ['v1'], 'team only\n');
    await seedImage(net.backend, 'harbor/library/other', ['v1'], 'other\n');
    referrer = await seedReferrer(net.backend, `harbor/${REPO}`, image);
  },
);

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as RegistryError,
  );

describe('Harbor', () => {
  test('/v2 redirects to /v2/, which challenges in Go header case with the doubled message', async () => {
    const slashless = await rawEmulated(run.net, HARBOR_HOST, '/v2');
    expect(slashless.status).toBe(301);
    expect(slashless.headers.get('location')).toBe(`https://${HARBOR_HOST}/v2/`);
    const res = await rawEmulated(run.net, HARBOR_HOST, '/v2/');
    expect(res.status).toBe(401);
    expect(res.rawHeaders).toContain('Www-Authenticate');
    expect(res.rawHeaders).toContain('Set-Cookie');
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="https://${HARBOR_HOST}/service/token",service="harbor-registry"`,
    );
    expect(JSON.parse(res.body.toString())).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: unauthorized' }],
    });
  });

  test('a public project pulls anonymously with a token; blobs are served directly', async () => {
    const from = run.emulator().log.length;
    const resolved = await fetchChecked(run.net.client(), `${HARBOR_HOST}/${REPO}:latest`);
    expect(resolved.descriptor.digest).toBe(image.digest);
    const seen = run.emulator().log.slice(from);
    expect(seen.filter((r) => r.url.startsWith('/service/token?')).length).toBe(1);
    expect(seen.some((r) => r.host === HARBOR_S3_HOST)).toBe(false);
  });

  test('a token gzipped even though the proxy asked for identity is still read', async () => {
    opts.gzipToken = 'always';
    try {
      await fetchChecked(run.net.client(), `${HARBOR_HOST}/${REPO}:1.0`);
    } finally {
      delete opts.gzipToken;
    }
  });

  test('a private project: anonymously a sign-in is asked for; a member pulls; a non-member is refused', async () => {
    const anon = await failure(
      run.net.client().resolve(parseReference(`${HARBOR_HOST}/team/secret:v1`)),
    );
    expect(anon?.kind).toBe('unauthorized');
    expect(anon?.message).toMatch(/sign in/i);
    await fetchChecked(run.net.client(alice), `${HARBOR_HOST}/team/secret:v1`);
    const bob = await failure(
      run.net
        .client({ username: 'bob', password: 'bob-secret' })
        .resolve(parseReference(`${HARBOR_HOST}/team/secret:v1`)),
    );
    expect(bob?.status).toBe(401);
    expect(bob?.message).toContain('team/secret');
    // A granted token still refused: Harbor does not say whether the project is absent or
    // closed to this account, and the credentials themselves were fine.
    expect(bob?.message).toMatch(/not found, or private/);
    expect(bob?.message).not.toMatch(/refused/);
    const wrong = await failure(
      run.net
        .client({ username: 'alice', password: 'nope' })
        .resolve(parseReference(`${HARBOR_HOST}/team/secret:v1`)),
    );
    expect(wrong?.kind).toBe('unauthorized');
    expect(wrong?.message).toMatch(/refused/);
  });

  test('a repository that does not exist is a 401 with its detail, even with a token; its tag list is empty', async () => {
    const err = await failure(
      run.net.client().resolve(parseReference(`${HARBOR_HOST}/library/nothing:v1`)),
    );
    expect(err?.status).toBe(401);
    expect(err?.message).toContain('library/nothing');
    expect(err?.message).toMatch(/not found, or private/);
    const tags = await listTags(run.net.client(), parseReference(`${HARBOR_HOST}/library/nothing`));
    expect(tags).toEqual([]);
  });

  test('a missing tag is a 404 not found', async () => {
    const err = await failure(
      run.net.client().resolve(parseReference(`${HARBOR_HOST}/${REPO}:nope`)),
    );
    expect(err?.kind).toBe('not-found');
    expect(err?.message).toContain(`artifact ${REPO}:nope not found`);
  });

  test('tags page by Link; the tag schema tags are not listed; referrers come from the API', async () => {
    const from = run.emulator().log.length;
    const tags = await listTags(run.net.client(), parseReference(`${HARBOR_HOST}/${REPO}`), {
      pageSize: 2,
    });
    expect(tags).toEqual([...TAGS].sort());
    expect(
      run
        .emulator()
        .log.slice(from)
        .filter((r) => r.url.includes('/tags/list') && r.status === 200).length,
    ).toBe(3);
    const referrers = await listReferrers(
      run.net.client(),
      parseReference(`${HARBOR_HOST}/${REPO}`),
      image.digest,
    );
    expect(referrers.via).toBe('api');
    expect(referrers.descriptors.map((d) => d.digest)).toEqual([referrer.digest]);
  });

  test('the catalog needs a token for registry:catalog:*, granted to signed-in users, paged by Link', async () => {
    const anon = await rawEmulated(run.net, HARBOR_HOST, '/v2/_catalog');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toContain('scope="registry:catalog:*"');
    const basic = `Basic ${Buffer.from('alice:alice-secret').toString('base64')}`;
    const tokenRes = await rawEmulated(
      run.net,
      HARBOR_HOST,
      '/service/token?service=harbor-registry&scope=registry:catalog:*',
      {
        headers: { authorization: basic },
      },
    );
    const { token, expires_in, issued_at } = JSON.parse(tokenRes.body.toString()) as {
      token: string;
      expires_in: number;
      issued_at: string;
    };
    expect(expires_in).toBe(1800);
    expect(issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const page1 = await rawEmulated(run.net, HARBOR_HOST, '/v2/_catalog?n=2', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(JSON.parse(page1.body.toString())).toEqual({
      repositories: ['library/app', 'library/other'],
    });
    expect(page1.headers.get('link')).toBe('</v2/_catalog?last=library%2Fother&n=2>; rel="next"');
    const page2 = await rawEmulated(run.net, HARBOR_HOST, '/v2/_catalog?last=library%2Fother&n=2', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(JSON.parse(page2.body.toString())).toEqual({ repositories: ['team/secret'] });
  });

  test('with S3 storage, blobs are a 307 to a presigned URL that gets no Authorization and expires', async () => {
    opts.blobs = 's3';
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(alice), `${HARBOR_HOST}/team/secret:v1`);
      const s3 = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.host === HARBOR_S3_HOST);
      expect(s3.length).toBe(2);
      expect(s3.every((r) => r.status === 200 && r.headers.authorization === undefined)).toBe(true);
      expect(s3[0]!.url).toContain('X-Amz-Expires=1200');
      run.net.advance(21 * 60_000);
      try {
        expect((await rawEmulated(run.net, HARBOR_S3_HOST, s3[0]!.url)).status).toBe(403);
      } finally {
        run.net.advance(-21 * 60_000);
      }
      const twice = await rawEmulated(run.net, HARBOR_S3_HOST, s3[0]!.url, {
        headers: { authorization: 'Bearer x' },
      });
      expect(twice.status).toBe(400);
      expect(twice.body.toString()).toContain('Only one auth mechanism allowed');
    } finally {
      delete opts.blobs;
    }
  });

  test('an expired token is refused and Berth fetches a new one', async () => {
    const client = run.net.client();
    await client.resolve(parseReference(`${HARBOR_HOST}/${REPO}:2.0`));
    run.net.advance(31 * 60_000);
    try {
      await fetchChecked(client, `${HARBOR_HOST}/${REPO}:2.0`);
    } finally {
      run.net.advance(-31 * 60_000);
    }
  });

  test('a Harbor that is down reads as unreachable', async () => {
    run.net.down.add(HARBOR_HOST);
    try {
      const err = await failure(
        run.net.client().resolve(parseReference(`${HARBOR_HOST}/${REPO}:1.0`)),
      );
      expect(err?.kind).toBe('unreachable');
    } finally {
      run.net.down.delete(HARBOR_HOST);
    }
  });
});

describe('an expired signed URL', () => {
  test('is refused by S3, asked for again, and the pull never notices', async () => {
    opts.blobs = 's3';
    opts.expireNext = 1;
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(alice), `${HARBOR_HOST}/team/secret:v1`);
      const refused = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.host === HARBOR_S3_HOST && r.status >= 400);
      expect(refused).toHaveLength(1);
    } finally {
      delete opts.expireNext;
      delete opts.blobs;
    }
  });
});
