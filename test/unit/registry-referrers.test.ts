// listReferrers against a scripted Transport: the referrers API, its pagination and filters, and
// the fallback to the referrers tag schema. No network.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { InvalidDigestError } from '../../src/lib/oci/digest.ts';
import { MediaType, manifestAccept } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { describeReferrer, listReferrers, referrersTag } from '../../src/lib/registry/referrers.ts';
import { type Answer, scriptedTransport } from '../harness/transport.ts';

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

const enc = new TextEncoder();
const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const subject = sha256('the subject manifest');
const subjectHex = subject.slice('sha256:'.length);
const ref = parseReference('registry.example/team/app:v1');
const api = `https://registry.example/v2/team/app/referrers/${subject}`;
const tagUrl = `https://registry.example/v2/team/app/manifests/sha256-${subjectHex}`;

const SPDX = 'application/spdx+json';
const INTOTO = MediaType.InTotoAttestation;
const COSIGN = 'application/vnd.dev.cosign.artifact.sig.v1+json';

const referrer = (name: string, artifactType: string, extra: Partial<Descriptor> = {}) => ({
  mediaType: MediaType.OciManifest,
  digest: sha256(name),
  size: 500 + name.length,
  artifactType,
  ...extra,
});
const sbom = referrer('sbom', SPDX, { annotations: { 'org.opencontainers.image.created': 'x' } });
const provenance = referrer('provenance', INTOTO);
const signature = referrer('signature', COSIGN);

const ok = () => new Response(null, { status: 200 });
const indexBytes = (manifests: unknown[]) =>
  enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
const indexPage = (manifests: unknown[], headers: Record<string, string> = {}) =>
  new Response(indexBytes(manifests), {
    status: 200,
    headers: { 'Content-Type': MediaType.OciIndex, ...headers },
  });
const manifestAnswer = (bytes: Uint8Array<ArrayBuffer>, mediaType: string) =>
  new Response(bytes, {
    status: 200,
    headers: { 'Content-Type': mediaType, 'Docker-Content-Digest': sha256(bytes) },
  });
const registryError = (status: number, code: string, message: string) =>
  Response.json({ errors: [{ code, message }] }, { status });
const manifestUnknown = () => registryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown');

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describe('listReferrers: the referrers API', () => {
  test('200 with an index: its manifests, via api, asked with Accept OCI index', async () => {
    const s = await scripted([ok(), indexPage([sbom, provenance])]);
    expect(await listReferrers(s.client, ref, subject)).toEqual({
      descriptors: [sbom, provenance],
      via: 'api',
    });
    expect(s.requests.map((r) => r.url)).toEqual(['https://registry.example/v2/', api]);
    expect(s.requests[1]!.headers.accept).toBe(MediaType.OciIndex);
  });

  test('ref tag and digest are ignored: the request is for the subject', async () => {
    const s = await scripted([ok(), indexPage([])]);
    const withDigest = parseReference(`registry.example/team/app:v1@${sha256('other')}`);
    expect(await listReferrers(s.client, withDigest, subject)).toEqual({
      descriptors: [],
      via: 'api',
    });
    expect(s.requests[1]!.url).toBe(api);
  });

  test('Link pagination, relative and absolute, de-duplicated by digest', async () => {
    const s = await scripted([
      ok(),
      indexPage([sbom], { Link: `</v2/team/app/referrers/${subject}?next_token=p2>; rel="next"` }),
      indexPage([sbom, provenance], { Link: `<${api}?next_token=p3>; rel="next"` }),
      indexPage([signature]),
    ]);
    const got = await listReferrers(s.client, ref, subject);
    expect(got.descriptors).toEqual([sbom, provenance, signature]);
    expect(s.requests.slice(1).map((r) => r.url)).toEqual([
      api,
      `${api}?next_token=p2`,
      `${api}?next_token=p3`,
    ]);
  });

  test('a Link to another host or another subject is refused', async () => {
    for (const target of [
      `https://evil.example/v2/team/app/referrers/${subject}`,
      `/v2/team/app/referrers/${sha256('other')}`,
    ]) {
      const s = await scripted([ok(), indexPage([sbom], { Link: `<${target}>; rel="next"` })]);
      const err = await failure(listReferrers(s.client, ref, subject));
      expect(err.kind).toBe('protocol');
      expect(err.message).toMatch(/refusing to follow/);
      expect(s.requests).toHaveLength(2);
    }
  });

  test('artifactType is asked of the server; OCI-Filters-Applied: trusted, not re-filtered', async () => {
    // The header says the server filtered; the result is passed through as the server sent it.
    const s = await scripted([
      ok(),
      indexPage([sbom, provenance], { 'OCI-Filters-Applied': 'artifactType' }),
    ]);
    const got = await listReferrers(s.client, ref, subject, { artifactType: SPDX });
    expect(got.descriptors).toEqual([sbom, provenance]);
    expect(s.requests[1]!.url).toBe(`${api}?artifactType=application%2Fspdx%2Bjson`);
  });

  test('artifactType without OCI-Filters-Applied: filtered here', async () => {
    const s = await scripted([ok(), indexPage([sbom, provenance, signature])]);
    const got = await listReferrers(s.client, ref, subject, { artifactType: SPDX });
    expect(got).toEqual({ descriptors: [sbom], via: 'api' });
  });

  test('a filter header naming another filter does not count', async () => {
    const s = await scripted([
      ok(),
      indexPage([sbom, provenance], { 'OCI-Filters-Applied': 'other' }),
    ]);
    const got = await listReferrers(s.client, ref, subject, { artifactType: INTOTO });
    expect(got.descriptors).toEqual([provenance]);
  });

  test('a descriptor that fails validation refuses the answer', async () => {
    const bad = { ...sbom, digest: 'sha256:NOTHEX' };
    const s = await scripted([ok(), indexPage([provenance, bad])]);
    const err = await failure(listReferrers(s.client, ref, subject));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/manifests\[1\]: digest/);
  });

  test('an image manifest where the index should be is refused', async () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256('c'), size: 1 },
      layers: [],
    };
    const s = await scripted([
      ok(),
      new Response(JSON.stringify(manifest), {
        status: 200,
        headers: { 'Content-Type': MediaType.OciManifest },
      }),
    ]);
    const err = await failure(listReferrers(s.client, ref, subject));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/not the index/);
  });

  test('401, 403 and 5xx are errors, not a fallback', async () => {
    const s1 = await scripted([ok(), new Response(null, { status: 401 })]);
    expect((await failure(listReferrers(s1.client, ref, subject))).kind).toBe('unauthorized');
    const s2 = await scripted([ok(), registryError(403, 'DENIED', 'denied')]);
    expect((await failure(listReferrers(s2.client, ref, subject))).kind).toBe('denied');
    const s3 = await scripted([
      ok(),
      new Response(null, { status: 503 }),
      new Response(null, { status: 503 }),
    ]);
    expect((await failure(listReferrers(s3.client, ref, subject))).kind).toBe('server');
    expect(s3.requests).toHaveLength(3);
  });

  test('an invalid subject digest is refused before any request', async () => {
    const s = await scripted([]);
    await expect(listReferrers(s.client, ref, 'sha256:../../x')).rejects.toThrow(
      InvalidDigestError,
    );
    expect(s.requests).toHaveLength(0);
  });
});

describe('listReferrers: the tag schema fallback', () => {
  const tagIndex = indexBytes([sbom, provenance]);

  test('404 from the API: the index at sha256-<hex>, via tag-schema', async () => {
    const s = await scripted([
      ok(),
      new Response('404 page not found\n', {
        status: 404,
        headers: { 'Content-Type': 'text/plain' },
      }),
      manifestAnswer(tagIndex, MediaType.OciIndex),
    ]);
    expect(await listReferrers(s.client, ref, subject)).toEqual({
      descriptors: [sbom, provenance],
      via: 'tag-schema',
    });
    expect(s.requests.map((r) => r.url)).toEqual(['https://registry.example/v2/', api, tagUrl]);
    expect(s.requests[2]!.headers.accept).toBe(manifestAccept);
  });

  test.each([400, 405])('%i from the API also falls back', async (status) => {
    const s = await scripted([
      ok(),
      registryError(status, 'UNSUPPORTED', 'the operation is unsupported'),
      manifestAnswer(tagIndex, MediaType.OciIndex),
    ]);
    expect((await listReferrers(s.client, ref, subject)).via).toBe('tag-schema');
  });

  test('an HTML page where the API should be (a redirect to a sign-in page) also falls back', async () => {
    // Artifact Registry redirects the referrers path to accounts.google.com, which answers
    // 200 with HTML; the proxy passes it on as application/octet-stream.
    for (const type of ['text/html; charset=utf-8', 'application/octet-stream']) {
      const s = await scripted([
        ok(),
        new Response('<!doctype html><html><title>Sign in - Google Accounts</title></html>', {
          status: 200,
          headers: { 'Content-Type': type },
        }),
        manifestAnswer(tagIndex, MediaType.OciIndex),
      ]);
      expect(await listReferrers(s.client, ref, subject), type).toEqual({
        descriptors: [sbom, provenance],
        via: 'tag-schema',
      });
    }
  });

  test('HTML typed as the OCI index is still refused: that registry claims the API', async () => {
    const s = await scripted([
      ok(),
      new Response('<html></html>', {
        status: 200,
        headers: { 'Content-Type': MediaType.OciIndex },
      }),
    ]);
    expect((await failure(listReferrers(s.client, ref, subject))).kind).toBe('protocol');
  });

  test('no tag: an empty list', async () => {
    const s = await scripted([ok(), manifestUnknown(), manifestUnknown()]);
    expect(await listReferrers(s.client, ref, subject)).toEqual({
      descriptors: [],
      via: 'tag-schema',
    });
    expect(s.requests[2]!.url).toBe(tagUrl);
  });

  test('an unknown repository is a not-found error, not an empty list', async () => {
    const unknown = () =>
      registryError(404, 'NAME_UNKNOWN', 'repository name not known to registry');
    const s = await scripted([ok(), unknown(), unknown()]);
    const err = await failure(listReferrers(s.client, ref, subject));
    expect(err.kind).toBe('not-found');
  });

  test('artifactType is always applied to the tag index', async () => {
    const s = await scripted([
      ok(),
      manifestUnknown(),
      manifestAnswer(tagIndex, MediaType.OciIndex),
    ]);
    const got = await listReferrers(s.client, ref, subject, { artifactType: INTOTO });
    expect(got).toEqual({ descriptors: [provenance], via: 'tag-schema' });
  });

  test('an image manifest at the tag is refused', async () => {
    const manifest = enc.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: sha256('c'), size: 1 },
        layers: [],
      }),
    );
    const s = await scripted([
      ok(),
      manifestUnknown(),
      manifestAnswer(manifest, MediaType.OciManifest),
    ]);
    const err = await failure(listReferrers(s.client, ref, subject));
    expect(err.kind).toBe('protocol');
    expect(err.message).toContain(`(tag sha256-${subjectHex})`);
    expect(err.message).toMatch(/image manifest/);
  });

  test('a document that is not JSON at the tag is refused', async () => {
    const s = await scripted([
      ok(),
      manifestUnknown(),
      manifestAnswer(enc.encode('<html></html>'), 'text/html'),
    ]);
    const err = await failure(listReferrers(s.client, ref, subject));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/not JSON/);
  });

  test('a sha512 subject uses sha512-<first 64 hex>, within the 128-character tag limit', async () => {
    const hex = createHash('sha512').update('s').digest('hex');
    const s512 = `sha512:${hex}`;
    expect(referrersTag(s512)).toBe(`sha512-${hex.slice(0, 64)}`);
    expect(referrersTag(subject)).toBe(`sha256-${subjectHex}`);
    const s = await scripted([ok(), manifestUnknown(), manifestUnknown()]);
    await listReferrers(s.client, ref, s512);
    expect(s.requests[1]!.url).toBe(`https://registry.example/v2/team/app/referrers/${s512}`);
    expect(s.requests[2]!.url).toBe(
      `https://registry.example/v2/team/app/manifests/sha512-${hex.slice(0, 64)}`,
    );
  });
});

describe('listReferrers: the referrers tag asked for beside the API', () => {
  /** Routes by path: the API, the tag's manifest; the tag's answer waits to be aborted. */
  function routed(api: () => Response) {
    const seen: string[] = [];
    let tagSignal: AbortSignal | undefined;
    const client = new RegistryClient({
      transport: async (url, init) => {
        const path = new URL(url).pathname;
        seen.push(path.includes('/referrers/') ? 'api' : 'tag');
        if (path.includes('/referrers/')) return api();
        tagSignal = init.signal ?? undefined;
        return new Promise<Response>((_, reject) =>
          tagSignal!.addEventListener('abort', () => reject(tagSignal!.reason)),
        );
      },
    });
    return { client, seen, tagSignal: () => tagSignal };
  }

  test('the API answers: its list is taken, and the tag request is stopped', async () => {
    const r = routed(() => indexPage([sbom]));
    const got = await listReferrers(r.client, ref, subject, { tagInParallel: true });
    expect(got).toEqual({ descriptors: [sbom], via: 'api' });
    expect(r.seen.sort()).toEqual(['api', 'tag']);
    expect(r.tagSignal()?.aborted, 'the tag request was stopped').toBe(true);
  });

  test('no API: the tag asked for at once answers, without a second request', async () => {
    const seen: string[] = [];
    const client = new RegistryClient({
      transport: async (url) => {
        const path = new URL(url).pathname;
        seen.push(path.includes('/referrers/') ? 'api' : 'tag');
        if (path.includes('/referrers/')) return registryError(404, 'UNSUPPORTED', 'no');
        return manifestAnswer(indexBytes([sbom]), MediaType.OciIndex);
      },
    });
    const got = await listReferrers(client, ref, subject, { tagInParallel: true });
    expect(got).toEqual({ descriptors: [sbom], via: 'tag-schema' });
    expect(seen.sort()).toEqual(['api', 'tag']);
  });
});

describe('describeReferrer', () => {
  const d = (artifactType: string | undefined, annotations?: Record<string, string>) => ({
    mediaType: MediaType.OciManifest,
    digest: subject,
    size: 1,
    ...(artifactType !== undefined && { artifactType }),
    ...(annotations && { annotations }),
  });
  test.each([
    [d(COSIGN), 'cosign signature'],
    [d(undefined, { 'dev.cosignproject.cosign/signature': 'MEUCIQ…' }), 'cosign signature'],
    [d(SPDX), 'SBOM (SPDX)'],
    [d('application/vnd.cyclonedx+json'), 'SBOM (CycloneDX)'],
    [d(INTOTO), 'in-toto attestation'],
    [
      d(INTOTO, { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' }),
      'in-toto attestation (https://slsa.dev/provenance/v1)',
    ],
    [d('application/vnd.cncf.notary.signature'), 'Notation signature'],
    [d('application/vnd.dev.sigstore.bundle.v0.3+json'), 'Sigstore bundle'],
    [d('application/vnd.example.thing'), 'application/vnd.example.thing'],
    [d(undefined), MediaType.OciManifest],
  ])('%j → %s', (desc, label) => {
    expect(describeReferrer(desc)).toBe(label);
  });
});
