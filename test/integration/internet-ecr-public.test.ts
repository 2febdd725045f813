// Amazon ECR Public (`public.ecr.aws`) as REGISTRIES.md §5 describes it, driven by Berth's
// RegistryClient through Berth's own proxy: the `scope="aws"` challenge with a trailing-slash
// realm, the global anonymous token (and a token that covers only the scopes asked), blobs by
// 307 to CloudFront that refuses a forwarded Authorization, tags paged with an absolute Link
// and an opaque cursor, the referrers API, the anonymous pull throttle, and sign-in.
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import {
  ECR_CDN_HOST,
  ECR_PUBLIC_HOST,
  type EcrPublicOptions,
  ecrPublic,
} from '../harness/internet/ecr-public.ts';
import {
  type SeededImage,
  putManifest,
  rawEmulated,
  seedImage,
  seedReferrer,
  useLocalInternet,
} from '../harness/internet/local.ts';
import { fetchChecked } from '../harness/internet/pulls.ts';

let image: SeededImage;
let referrer: { digest: string };
const opts: EcrPublicOptions = { authTokens: ['ecr-public-auth-token'] };
const REPO = 'berth/app';
const TAGS = Array.from({ length: 105 }, (_, i) => `t${String(i).padStart(3, '0')}`);

const run = useLocalInternet(
  (ctx) => [ecrPublic(ctx, opts)],
  async (net) => {
    image = await seedImage(net.backend, `ecrpublic/${REPO}`, ['latest']);
    for (const t of TAGS) {
      await putManifest(net.backend, `ecrpublic/${REPO}`, t, image.bytes, image.mediaType);
    }
    referrer = await seedReferrer(net.backend, `ecrpublic/${REPO}`, image);
  },
);

describe('public.ecr.aws', () => {
  test('the challenge has the scope "aws" and a realm with a trailing slash', async () => {
    const res = await rawEmulated(run.net, ECR_PUBLIC_HOST, `/v2/${REPO}/manifests/latest`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"',
    );
  });

  test('pulls with the global anonymous token; blobs come from CloudFront with no Authorization', async () => {
    const from = run.emulator().log.length;
    const resolved = await fetchChecked(run.net.client(), `${ECR_PUBLIC_HOST}/${REPO}:latest`);
    expect(resolved.descriptor.digest).toBe(image.digest);
    const seen = run.emulator().log.slice(from);
    expect(seen.filter((r) => r.url.startsWith('/token/')).length).toBe(1);
    const cdn = seen.filter((r) => r.host === ECR_CDN_HOST);
    expect(cdn.length).toBe(2);
    expect(cdn.every((r) => r.status === 200 && r.headers.authorization === undefined)).toBe(true);
  });

  test('a range of a blob is a 206 from CloudFront', async () => {
    const r = parseReference(`${ECR_PUBLIC_HOST}/${REPO}:latest`);
    const res = await run.net.client().fetchBlob(
      r,
      { mediaType: 'application/octet-stream', digest: image.blobs[1]!, size: 0 },
      {
        start: 0,
        end: 9,
      },
    );
    expect(res.status).toBe(206);
    expect((await res.arrayBuffer()).byteLength).toBe(10);
  });

  test('tags: pages of 1000 asked; an absolute Link with an opaque cursor is followed', async () => {
    const ref = parseReference(`${ECR_PUBLIC_HOST}/${REPO}`);
    const all = await listTags(run.net.client(), ref);
    expect(all).toEqual(['latest', ...TAGS].sort());
    const from = run.emulator().log.length;
    const paged = await listTags(run.net.client(), ref, { pageSize: 40 });
    expect(paged).toEqual(all);
    const pages = run
      .emulator()
      .log.slice(from)
      .filter((r) => r.url.includes('/tags/list'));
    // The Link carries no `n`, so the second page is ECR's default 100: 40 + 66.
    expect(pages.filter((r) => r.status === 200).length).toBe(2);
    expect(pages.at(-1)!.url).not.toContain('n=');
    const raw = await rawEmulated(run.net, ECR_PUBLIC_HOST, `/v2/${REPO}/tags/list`, {
      headers: { authorization: `Bearer ${await anonymousToken()}` },
    });
    expect(raw.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(raw.headers.get('link')).toMatch(
      /^<https:\/\/public\.ecr\.aws\/v2\/berth\/app\/tags\/list\?last=[^&>]+>; rel="next"$/,
    );
    const tooMany = await listTags(run.net.client(), ref, { pageSize: 1001 }).catch(
      (e: unknown) => e,
    );
    expect((tooMany as RegistryError).message).toMatch(/less than or equal to 1000/);
  });

  test('referrers come from the API', async () => {
    const referrers = await listReferrers(
      run.net.client(),
      parseReference(`${ECR_PUBLIC_HOST}/${REPO}`),
      image.digest,
    );
    expect(referrers).toMatchObject({ via: 'api' });
    expect(referrers.descriptors.map((d) => d.digest)).toEqual([referrer.digest]);
  });

  test('a missing repository and a missing tag are not found', async () => {
    for (const ref of [`${ECR_PUBLIC_HOST}/berth/nothing:v1`, `${ECR_PUBLIC_HOST}/${REPO}:nope`]) {
      const err = await run.net
        .client()
        .resolve(parseReference(ref))
        .catch((e: unknown) => e);
      expect((err as RegistryError).kind, ref).toBe('not-found');
    }
  });

  test('CloudFront refuses a forwarded Authorization with S3 XML, and an expired URL', async () => {
    const token = await anonymousToken();
    const res = await rawEmulated(run.net, ECR_PUBLIC_HOST, `/v2/${REPO}/blobs/${image.blobs[1]}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(307);
    const location = new URL(res.headers.get('location')!);
    expect(location.host).toBe(ECR_CDN_HOST);
    const path = location.pathname + location.search;
    const twice = await rawEmulated(run.net, ECR_CDN_HOST, path, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(twice.status).toBe(400);
    expect(twice.body.toString()).toContain('Only one auth mechanism allowed');
    run.net.advance(11 * 60_000);
    try {
      expect((await rawEmulated(run.net, ECR_CDN_HOST, path)).status).toBe(403);
    } finally {
      run.net.advance(-11 * 60_000);
    }
  });

  test('HEAD on a blob is 401 even with a token', async () => {
    const res = await rawEmulated(run.net, ECR_PUBLIC_HOST, `/v2/${REPO}/blobs/${image.blobs[1]}`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${await anonymousToken()}` },
    });
    expect(res.status).toBe(401);
  });

  test('a token that covers only the scopes asked still pulls: Berth asks for the repository too', async () => {
    opts.tokenScope = 'repository';
    try {
      await fetchChecked(run.net.client(), `${ECR_PUBLIC_HOST}/${REPO}:t001`);
    } finally {
      delete opts.tokenScope;
    }
  });

  test('the anonymous throttle: a 429 without Retry-After is retried; signed in there is none', async () => {
    opts.anonymousPullsPerSecond = 1;
    try {
      const client = run.net.client();
      const ref = parseReference(`${ECR_PUBLIC_HOST}/${REPO}:latest`);
      await client.resolve(ref);
      const from = run.emulator().log.length;
      const results = await Promise.allSettled([client.resolve(ref), client.resolve(ref)]);
      const limited = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect((r.reason as RegistryError).kind).toBe('rate-limited');
          expect((r.reason as RegistryError).message).toMatch(
            /public\.ecr\.aws rate limit reached/,
          );
        }
      }
      const signedIn = run.net.client({ username: 'AWS', password: 'ecr-public-auth-token' });
      await Promise.all([signedIn.resolve(ref), signedIn.resolve(ref), signedIn.resolve(ref)]);
    } finally {
      delete opts.anonymousPullsPerSecond;
    }
  });

  test('a wrong sign-in is refused in words that say so', async () => {
    const err = await run.net
      .client({ username: 'AWS', password: 'stale' })
      .resolve(parseReference(`${ECR_PUBLIC_HOST}/${REPO}:latest`))
      .catch((e: unknown) => e);
    expect((err as RegistryError).kind).toBe('unauthorized');
    expect((err as RegistryError).message).toMatch(/refused/);
  });
});

async function anonymousToken(): Promise<string> {
  const res = await rawEmulated(
    run.net,
    ECR_PUBLIC_HOST,
    `/token/?service=public.ecr.aws&scope=repository:${REPO}:pull`,
  );
  return (JSON.parse(res.body.toString()) as { token: string }).token;
}

describe('an expired signed URL', () => {
  test('is refused by CloudFront, asked for again, and the pull never notices', async () => {
    opts.expireNext = 1;
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(), `${ECR_PUBLIC_HOST}/${REPO}:latest`);
      const refused = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.host === ECR_CDN_HOST && r.status >= 400);
      expect(refused).toHaveLength(1);
    } finally {
      delete opts.expireNext;
    }
  });
});
