// mcr.microsoft.com as REGISTRIES.md §6 describes it, driven by Berth's RegistryClient through
// Berth's own proxy: anonymous pulls with blobs from an Azure SAS URL on a data host (double
// slash and all) that refuses a forwarded Authorization, an unpaginated tag list and catalog,
// ACR's wording for a missing tag, the BOM-prefixed Azure XML 404 some tag lists got, a 429
// on an egress spike, and the two guesses about `/v2/` and about tag lists served from storage.
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import {
  MCR_DATA_HOST,
  MCR_FLOW_HOST,
  MCR_HOST,
  type McrOptions,
  mcr,
} from '../harness/internet/mcr.ts';
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
const opts: McrOptions = {};
const REPO = 'dotnet/runtime';
const TAGS = Array.from({ length: 150 }, (_, i) => `8.0.${i}`);

const run = useLocalInternet(
  (ctx) => [mcr(ctx, opts)],
  async (net) => {
    image = await seedImage(net.backend, `mcr/${REPO}`, ['8.0']);
    for (const t of TAGS)
      await putManifest(net.backend, `mcr/${REPO}`, t, image.bytes, image.mediaType);
    await seedImage(net.backend, 'mcr/dotnet/sdk', ['8.0'], 'sdk\n');
    referrer = await seedReferrer(net.backend, `mcr/${REPO}`, image);
  },
);

describe('mcr.microsoft.com', () => {
  test('pulls anonymously; blobs come from the data host by an Azure SAS URL, with no Authorization', async () => {
    const from = run.emulator().log.length;
    const resolved = await fetchChecked(run.net.client(), `${MCR_HOST}/${REPO}:8.0`);
    expect(resolved.descriptor.digest).toBe(image.digest);
    const seen = run.emulator().log.slice(from);
    expect(seen.every((r) => r.headers.authorization === undefined)).toBe(true);
    const data = seen.filter((r) => r.host === MCR_DATA_HOST);
    expect(data.length).toBe(2);
    expect(data[0]!.url).toMatch(/^\/mcrprodeastus[^/]+\/\/docker\/registry\/v2\/blobs\/sha256\//);
    expect(data[0]!.url).toMatch(/[?&]sv=2018-03-28&/);
  });

  test('a range against the data host is a 206', async () => {
    const res = await run.net
      .client()
      .fetchBlob(
        parseReference(`${MCR_HOST}/${REPO}:8.0`),
        { mediaType: 'application/octet-stream', digest: image.blobs[1]!, size: 0 },
        { start: 2, end: 5 },
      );
    expect(res.status).toBe(206);
    expect((await res.arrayBuffer()).byteLength).toBe(4);
  });

  test('tags come unpaginated, whatever n Berth asks; the catalog is open and unpaginated', async () => {
    const from = run.emulator().log.length;
    const tags = await listTags(run.net.client(), parseReference(`${MCR_HOST}/${REPO}`), {
      pageSize: 10,
    });
    expect(tags.filter((t) => !t.startsWith('sha256-')).sort()).toEqual(['8.0', ...TAGS].sort());
    expect(
      run
        .emulator()
        .log.slice(from)
        .filter((r) => r.url.includes('/tags/list')).length,
    ).toBe(1);
    const catalog = await rawEmulated(run.net, MCR_HOST, '/v2/_catalog?n=1');
    expect(catalog.status).toBe(200);
    expect(JSON.parse(catalog.body.toString())).toEqual({
      repositories: ['dotnet/runtime', 'dotnet/sdk'],
    });
    expect(catalog.headers.get('link')).toBeNull();
  });

  test('no referrers API: the tag schema answers', async () => {
    const referrers = await listReferrers(
      run.net.client(),
      parseReference(`${MCR_HOST}/${REPO}`),
      image.digest,
    );
    expect(referrers.via).toBe('tag-schema');
    expect(referrers.descriptors.map((d) => d.digest)).toEqual([referrer.digest]);
  });

  test('a missing tag and a missing repository are not found, in ACR words', async () => {
    const tag = await run.net
      .client()
      .resolve(parseReference(`${MCR_HOST}/${REPO}:1.1.2`))
      .catch((e: unknown) => e);
    expect((tag as RegistryError).kind).toBe('not-found');
    expect((tag as RegistryError).message).toContain('manifest tagged by "1.1.2" is not found');
    const repo = await run.net
      .client()
      .resolve(parseReference(`${MCR_HOST}/dotnet/nothing:1`))
      .catch((e: unknown) => e);
    expect((repo as RegistryError).kind).toBe('not-found');
  });

  test('the data host refuses a forwarded Authorization and an expired SAS with Azure XML after a BOM', async () => {
    const res = await rawEmulated(run.net, MCR_HOST, `/v2/${REPO}/blobs/${image.blobs[1]}`);
    expect(res.status).toBe(307);
    const location = new URL(res.headers.get('location')!);
    const path = location.pathname + location.search;
    const twice = await rawEmulated(run.net, MCR_DATA_HOST, path, {
      headers: { authorization: 'Bearer x' },
    });
    expect(twice.status).toBe(400);
    expect(twice.body.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(twice.body.toString()).toContain('InvalidAuthenticationInfo');
    run.net.advance(11 * 60_000);
    try {
      const expired = await rawEmulated(run.net, MCR_DATA_HOST, path);
      expect(expired.status).toBe(403);
      expect(expired.body.toString()).toContain('AuthenticationFailed');
    } finally {
      run.net.advance(-11 * 60_000);
    }
  });

  test('a tag list that got the BOM-prefixed BlobNotFound 404 reads as not found, not as garbage', async () => {
    opts.brokenTagLists = [REPO];
    try {
      const err = await listTags(run.net.client(), parseReference(`${MCR_HOST}/${REPO}`)).catch(
        (e: unknown) => e,
      );
      expect((err as RegistryError).kind).toBe('not-found');
      expect((err as RegistryError).message).toMatch(/not found \(HTTP 404\)/);
    } finally {
      delete opts.brokenTagLists;
    }
  });

  test('an egress spike: a 429 with no body and no Retry-After reads as a rate limit', async () => {
    opts.throttle = true;
    try {
      const err = await run.net
        .client()
        .resolve(parseReference(`${MCR_HOST}/${REPO}:8.0`))
        .catch((e: unknown) => e);
      expect((err as RegistryError).kind).toBe('rate-limited');
      expect((err as RegistryError).message).toMatch(
        /mcr\.microsoft\.com rate limit reached: wait a while/,
      );
    } finally {
      delete opts.throttle;
    }
  });
});

describe('mcr.microsoft.com, in the guessed forms', () => {
  test('/v2/ with an ACR challenge: after a ping Berth takes an anonymous token, and pulls', async () => {
    opts.ping = 'acr-challenge';
    try {
      const client = run.net.client();
      const challenges = await client.ping(MCR_HOST);
      expect(challenges[0]?.params.realm).toBe(`https://${MCR_HOST}/oauth2/token`);
      const from = run.emulator().log.length;
      await fetchChecked(client, `${MCR_HOST}/dotnet/sdk:8.0`);
      expect(
        run
          .emulator()
          .log.slice(from)
          .some((r) => r.url.startsWith('/oauth2/token?')),
      ).toBe(true);
      // Without a ping nothing asks for a token at all.
      await fetchChecked(run.net.client(), `${MCR_HOST}/dotnet/sdk:8.0`);
    } finally {
      delete opts.ping;
    }
  });

  test('tags served from storage by a redirect to a SAS URL, and Go header case', async () => {
    Object.assign(opts, { tagsVia: 'storage', headerCase: 'canonical' } satisfies McrOptions);
    try {
      const from = run.emulator().log.length;
      const tags = await listTags(run.net.client(), parseReference(`${MCR_HOST}/${REPO}`));
      expect(tags).toContain('8.0.149');
      expect(
        run
          .emulator()
          .log.slice(from)
          .some((r) => r.host === MCR_FLOW_HOST && r.status === 200),
      ).toBe(true);
      const raw = await rawEmulated(run.net, MCR_HOST, '/v2/');
      expect(raw.rawHeaders).toContain('Docker-Distribution-Api-Version');
    } finally {
      delete opts.tagsVia;
      delete opts.headerCase;
    }
  });
});

describe('an expired signed URL', () => {
  test('is refused by the Azure data host, asked for again, and the pull never notices', async () => {
    opts.expireNext = 1;
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(), `${MCR_HOST}/${REPO}:8.0`);
      const refused = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.host === MCR_DATA_HOST && r.status >= 400);
      expect(refused).toHaveLength(1);
    } finally {
      delete opts.expireNext;
    }
  });
});
