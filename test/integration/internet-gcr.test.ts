// gcr.io as REGISTRIES.md §4 describes it, driven by Berth's RegistryClient through Berth's own
// proxy: public content with no token, the unquoted `service=gcr.io` challenge (and the older
// quoted one), sign-in for a private repository, the 302 to a signed Cloud Storage URL that
// expires, the GCR tag-list fields, and no referrers API (the tag schema answers instead).
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { listReferrers } from '../../src/lib/registry/referrers.ts';
import { listTags } from '../../src/lib/registry/tags.ts';
import { type GcrOptions, gcr, GCS_HOST } from '../harness/internet/gcr.ts';
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
const users = { _json_key: '{"type":"service_account"}', oauth2accesstoken: 'ya29.emulated' };
/** Read by the emulator on every request: tests switch the unconfirmed facts here. */
const opts: GcrOptions = { users };

const run = useLocalInternet(
  (ctx) => [gcr(ctx, opts)],
  async (net) => {
    image = await seedImage(net.backend, 'gcr/berth-proj/app', ['v1', 'v2', 'latest']);
    await seedImage(net.backend, 'gcr/berth-proj/private/app', ['v1'], 'private bytes\n');
    referrer = await seedReferrer(net.backend, 'gcr/berth-proj/app', image);
  },
);

describe('gcr.io', () => {
  test('a public image pulls with no token at all, blobs from a signed Cloud Storage URL without Authorization', async () => {
    const from = run.emulator().log.length;
    const resolved = await fetchChecked(run.net.client(), 'gcr.io/berth-proj/app:v1');
    expect(resolved.descriptor.digest).toBe(image.digest);
    const seen = run.emulator().log.slice(from);
    expect(seen.some((r) => r.url.startsWith('/v2/token'))).toBe(false);
    const storage = seen.filter((r) => r.host === GCS_HOST);
    expect(storage.length).toBe(2);
    for (const r of storage) {
      expect(r.headers.authorization).toBeUndefined();
      expect(r.status).toBe(200);
    }
  });

  test('the /v2/ challenge carries an unquoted service and no scope', async () => {
    const res = await rawEmulated(run.net, 'gcr.io', '/v2/');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://gcr.io/v2/token",service=gcr.io',
    );
    const challenges = await run.net.client().ping('gcr.io');
    expect(challenges[0]?.params).toEqual({ realm: 'https://gcr.io/v2/token', service: 'gcr.io' });
  });

  test('a private repository needs a sign-in; with it the pull works, without it the error says to sign in', async () => {
    const err = await run.net
      .client()
      .resolve(parseReference('gcr.io/berth-proj/private/app:v1'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe('unauthorized');
    expect((err as RegistryError).message).toMatch(/sign in/i);

    const signedIn = run.net.client({ username: 'oauth2accesstoken', password: 'ya29.emulated' });
    await fetchChecked(signedIn, 'gcr.io/berth-proj/private/app:v1');

    const wrong = await run.net
      .client({ username: 'oauth2accesstoken', password: 'nope' })
      .resolve(parseReference('gcr.io/berth-proj/private/app:v1'))
      .catch((e: unknown) => e);
    expect((wrong as RegistryError).kind).toBe('unauthorized');
    expect((wrong as RegistryError).message).toMatch(/refused/);
  });

  test('the token endpoint refuses the OAuth POST with 404, as containerd notes', async () => {
    const res = await rawEmulated(run.net, 'gcr.io', '/v2/token', { method: 'POST' });
    expect(res.status).toBe(404);
  });

  test('tags come all at once with the GCR fields, and the tag schema stands in for referrers', async () => {
    const ref = parseReference('gcr.io/berth-proj/app');
    const tags = await listTags(run.net.client(), ref);
    expect(tags.filter((t) => !t.startsWith('sha256-')).sort()).toEqual(['latest', 'v1', 'v2']);
    const raw = await rawEmulated(run.net, 'gcr.io', '/v2/berth-proj/app/tags/list');
    const doc = JSON.parse(raw.body.toString()) as {
      manifest: Record<string, { tag: string[]; imageSizeBytes: string; timeUploadedMs: string }>;
    };
    expect(doc.manifest[image.digest]?.tag.sort()).toEqual(['latest', 'v1', 'v2']);
    expect(typeof doc.manifest[image.digest]?.imageSizeBytes).toBe('string');

    const referrers = await listReferrers(run.net.client(), ref, image.digest);
    expect(referrers.via).toBe('tag-schema');
    expect(referrers.descriptors.map((d) => d.digest)).toEqual([referrer.digest]);
  });

  test('a missing repository is not found, and says so', async () => {
    const err = await run.net
      .client()
      .resolve(parseReference('gcr.io/berth-proj/nothing:v1'))
      .catch((e: unknown) => e);
    expect((err as RegistryError).kind).toBe('not-found');
    expect((err as RegistryError).message).toMatch(/not found/);
  });

  test('an expired signed URL is refused by Cloud Storage, and a forwarded Authorization too', async () => {
    const blob = image.blobs[1]!;
    const redirect = await rawEmulated(run.net, 'gcr.io', `/v2/berth-proj/app/blobs/${blob}`);
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location')!);
    expect(location.host).toBe(GCS_HOST);
    const path = location.pathname + location.search;
    const withAuth = await rawEmulated(run.net, GCS_HOST, path, {
      headers: { authorization: 'Bearer x' },
    });
    expect(withAuth.status).toBe(400);
    expect(withAuth.body.toString()).toContain('InvalidArgument');
    run.net.advance(11 * 60_000);
    try {
      const expired = await rawEmulated(run.net, GCS_HOST, path);
      expect(expired.status).toBe(400);
      expect(expired.body.toString()).toContain('ExpiredToken');
      // A fresh redirect is signed anew and works.
      await fetchChecked(run.net.client(), 'gcr.io/berth-proj/app:v1');
    } finally {
      run.net.advance(-11 * 60_000);
    }
  });

  test('a registry that is down reads as unreachable', async () => {
    run.net.down.add('gcr.io');
    try {
      const err = await run.net
        .client()
        .resolve(parseReference('gcr.io/berth-proj/app:v1'))
        .catch((e: unknown) => e);
      expect((err as RegistryError).kind).toBe('unreachable');
      expect((err as RegistryError).message).toMatch(/gcr\.io/);
    } finally {
      run.net.down.delete('gcr.io');
    }
  });
});

describe('gcr.io, in the older or unconfirmed forms', () => {
  test('a quoted service, public manifests behind a token, a token-only answer, Go header case, paged tags', async () => {
    Object.assign(opts, {
      quotedService: true,
      anonymousPublic: false,
      tokenFields: 'token-only',
      headerCase: 'canonical',
      tagPaging: 'link-relative',
    } satisfies GcrOptions);
    try {
      const raw = await rawEmulated(run.net, 'gcr.io', '/v2/');
      expect(raw.rawHeaders).toContain('Www-Authenticate');
      expect(raw.headers.get('www-authenticate')).toBe(
        'Bearer realm="https://gcr.io/v2/token",service="gcr.io"',
      );
      const from = run.emulator().log.length;
      const client = run.net.client();
      await fetchChecked(client, 'gcr.io/berth-proj/app:v2');
      expect(
        run
          .emulator()
          .log.slice(from)
          .some((r) => r.url.startsWith('/v2/token?')),
      ).toBe(true);
      const paged = await rawEmulated(run.net, 'gcr.io', '/v2/berth-proj/app/tags/list?n=1', {
        headers: { authorization: 'Bearer nothing' },
      });
      expect(paged.status).toBe(401);
      const tags = await listTags(client, parseReference('gcr.io/berth-proj/app'), { pageSize: 1 });
      expect(tags.filter((t) => !t.startsWith('sha256-'))).toEqual(['latest', 'v1', 'v2']);
    } finally {
      for (const k of [
        'quotedService',
        'anonymousPublic',
        'tokenFields',
        'headerCase',
        'tagPaging',
      ]) {
        delete (opts as Record<string, unknown>)[k];
      }
    }
  });

  test('a missing repository answered like a private one reads as a sign-in problem', async () => {
    opts.missing = 'unauthorized';
    try {
      const err = await run.net
        .client()
        .resolve(parseReference('gcr.io/berth-proj/nothing:v1'))
        .catch((e: unknown) => e);
      expect((err as RegistryError).kind).toBe('unauthorized');
      expect((err as RegistryError).message).toMatch(/sign in/i);
      // Signed in, the repository is plainly not there.
      const signedIn = await run.net
        .client({ username: 'oauth2accesstoken', password: 'ya29.emulated' })
        .resolve(parseReference('gcr.io/berth-proj/nothing:v1'))
        .catch((e: unknown) => e);
      expect((signedIn as RegistryError).kind).toBe('not-found');
    } finally {
      delete opts.missing;
    }
  });
});

describe('an expired signed URL', () => {
  test('is refused by gcr.io, asked for again, and the pull never notices', async () => {
    opts.expireNext = 1;
    try {
      const from = run.emulator().log.length;
      await fetchChecked(run.net.client(), 'gcr.io/berth-proj/app:v1');
      const refused = run
        .emulator()
        .log.slice(from)
        .filter((r) => r.host === GCS_HOST && r.status >= 400);
      expect(refused).toHaveLength(1);
    } finally {
      delete opts.expireNext;
    }
  });
});
