// What is attached to a stored image, found, checked and stored (lib/images/attached.ts):
// referrers through the tag schema (the memory registry has no referrers API, as distribution
// 2.8), cosign's `.sig` tag, and BuildKit's attestation manifests in an index. Bad referrers are
// flagged and leave the store as it was; stored ones live and die with the image.
import { describe, expect, test } from 'vitest';
import {
  fetchReferrerBlob,
  findReferrers,
  storedReferrers,
} from '../../src/lib/images/attached.ts';
import { collectGarbage, deleteImage } from '../../src/lib/images/gc.ts';
import { eagerBlobBytes } from '../../src/lib/images/referrers.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { berth } from '../harness/berth.ts';
import { pushImage } from '../harness/images.ts';
import { sha256 } from '../harness/memory-registry.ts';

const name = 'registry.test/team/app:v1';
const repo = 'team/app';
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));
const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(json({})), size: 2 };

/** An in-toto statement about `digest` with an SPDX predicate listing real-looking packages. */
function statement(digest: string, packages = 2) {
  return json({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'app', digest: { sha256: digest.slice(7) } }],
    predicateType: 'https://spdx.dev/Document',
    predicate: {
      spdxVersion: 'SPDX-2.3',
      name: 'app',
      packages: Array.from({ length: packages }, (_, i) => ({
        name: `pkg-${i}`,
        versionInfo: `1.${i}`,
        SPDXID: `SPDXRef-${i}`,
      })),
    },
  });
}

async function fixture() {
  const b = berth();
  const reg = b.registry;
  reg.blob(repo, json({}), empty.mediaType);
  const img = await pushImage(reg, repo, { layers: [{ 'etc/os-release': enc.encode('ID=x\n') }] });
  const other = sha256(enc.encode('another image'));
  // BuildKit's attestation manifests: one for the image, one naming a digest not in the index.
  const attestation = (describes: string, bytes: Uint8Array) => {
    const layer = reg.blob(repo, bytes, MediaType.InTotoAttestation);
    const m = reg.manifest(repo, {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: reg.blob(repo, json({ architecture: 'unknown', os: 'unknown' }), MediaType.OciConfig),
      layers: [
        { ...layer, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } },
      ],
    } as { mediaType: string });
    return {
      ...m,
      platform: { architecture: 'unknown', os: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': describes,
      },
    };
  };
  const good = attestation(img.manifest.digest, statement(img.manifest.digest));
  const foreign = attestation(other, statement(other));
  const index = reg.manifest(
    repo,
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...img.manifest, platform: { architecture: 'amd64', os: 'linux' } },
        good,
        foreign,
      ],
    } as { mediaType: string },
    'v1',
  );
  const subject = { mediaType: index.mediaType, digest: index.digest, size: index.size };
  // Referrers in the tag schema's index: an SBOM (its SPDX document over the eager bound, so it
  // waits to be opened), a "signature" that is not one, and one whose subject is another image.
  const artifact = (artifactType: string, layers: Descriptor[], subj: Descriptor = subject) => ({
    ...reg.manifest(repo, {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType,
      config: empty,
      layers,
      subject: subj,
      annotations: { 'org.opencontainers.image.created': '2026-12-06T12:00:00Z' },
    } as { mediaType: string }),
    artifactType,
  });
  const bigSpdx = statement(img.manifest.digest, 20_000);
  expect(bigSpdx.byteLength).toBeGreaterThan(eagerBlobBytes);
  const sbomLayer = reg.blob(repo, bigSpdx, 'application/spdx+json');
  const sbom = artifact('application/spdx+json', [sbomLayer]);
  const notSig = artifact('application/vnd.dev.cosign.artifact.sig.v1+json', [
    reg.blob(repo, json({ hello: 'world' }), 'application/json'),
  ]);
  const elsewhere = artifact(
    'application/spdx+json',
    [reg.blob(repo, statement(other), 'application/spdx+json')],
    { mediaType: MediaType.OciManifest, digest: other, size: 100 },
  );
  reg.manifest(
    repo,
    { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [sbom, notSig, elsewhere] } as {
      mediaType: string;
    },
    `sha256-${index.digest.slice(7)}`,
  );
  // cosign's signature tag: a simple-signing payload, signed (the signature is not checked here).
  const payload = reg.blob(
    repo,
    json({
      critical: {
        identity: { 'docker-reference': 'registry.test/team/app' },
        image: { 'docker-manifest-digest': index.digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
    'application/vnd.dev.cosign.simplesigning.v1+json',
  );
  const sig = reg.manifest(
    repo,
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: reg.blob(
        repo,
        json({ rootfs: { type: 'layers', diff_ids: [] } }),
        MediaType.OciConfig,
      ),
      layers: [{ ...payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' } }],
    } as { mediaType: string },
    `sha256-${index.digest.slice(7)}.sig`,
  );
  await pullImage(parseReference(name), { os: 'linux', architecture: 'amd64' }, b.pullContext());
  return { b, img, index, good, foreign, sbom, sbomLayer, notSig, elsewhere, sig };
}

const ctx = (b: ReturnType<typeof berth>) => ({
  client: b.client,
  store: b.store,
  signal: new AbortController().signal,
});
const storedDigests = async (b: ReturnType<typeof berth>) =>
  new Set((await b.store.content.list()).map((x) => x.digest));

describe('findReferrers', () => {
  test('stores what checks out, flags the rest, and keeps the store as it was for those', async () => {
    const f = await fixture();
    const listing = await findReferrers(ctx(f.b), name);
    expect(listing.listedVia).toBe('tag-schema');
    const byDigest = new Map(listing.referrers.map((r) => [r.descriptor.digest, r]));
    expect(byDigest.get(f.sbom.digest)).toMatchObject({
      kind: 'sbom-spdx',
      via: 'tag-schema',
      subject: f.index.digest,
      created: '2026-12-06T12:00:00Z',
    });
    expect(byDigest.get(f.good.digest)).toMatchObject({
      kind: 'sbom-spdx',
      via: 'index',
      subject: f.img.manifest.digest,
    });
    expect(byDigest.get(f.sig.digest)).toMatchObject({
      kind: 'cosign-signature',
      via: 'cosign-tag',
    });
    expect(listing.referrers).toHaveLength(3);
    // cosign's tags are asked for with HEAD (Docker Hub does not count those): no GET by tag.
    const tagGets = f.b.registry.requests.filter(
      (r) => r.kind === 'manifest' && r.method === 'GET' && /\.(sig|att|sbom)$/.test(r.id),
    );
    expect(tagGets).toEqual([]);
    // The SBOM's document is over the eager bound: listed with its size, not stored yet.
    const sbomBlob = byDigest.get(f.sbom.digest)!.blobs.find((x) => x.role === 'layer')!;
    expect(sbomBlob).toMatchObject({ stored: false, descriptor: { size: f.sbomLayer.size } });

    const flagged = new Map(listing.flagged.map((x) => [x.descriptor.digest, x.problem]));
    expect(flagged.get(f.foreign.digest)).toMatch(/describes sha256:.*not part of this image/);
    expect(flagged.get(f.notSig.digest)).toMatch(/not a signature/);
    expect(flagged.get(f.elsewhere.digest)).toMatch(/subject is sha256:.*another image/);
    expect(flagged.size).toBe(3);
    const stored = await storedDigests(f.b);
    for (const d of [f.foreign.digest, f.notSig.digest, f.elsewhere.digest]) {
      expect(stored).not.toContain(d);
    }
    for (const d of [f.sbom.digest, f.good.digest, f.sig.digest]) expect(stored).toContain(d);

    // Offline afterwards: read from the store, no request made.
    const before = f.b.registry.requests.length;
    const offline = await storedReferrers(f.b.store, name);
    expect(offline.map((r) => r.descriptor.digest).sort()).toEqual(
      listing.referrers.map((r) => r.descriptor.digest).sort(),
    );
    expect(f.b.registry.requests.length).toBe(before);
  });

  test('a second look changes nothing stored', async () => {
    const f = await fixture();
    await findReferrers(ctx(f.b), name);
    const record = await f.b.store.images.get(name);
    const blobs = await storedDigests(f.b);
    await findReferrers(ctx(f.b), name);
    expect(await f.b.store.images.get(name)).toEqual(record);
    expect(await storedDigests(f.b)).toEqual(blobs);
  });

  test('garbage collection keeps referrers with the image, and removes them with it', async () => {
    const f = await fixture();
    await findReferrers(ctx(f.b), name);
    await fetchReferrerBlob(ctx(f.b), name, f.sbom.digest, f.sbomLayer.digest);
    await collectGarbage(f.b.store);
    const kept = await storedDigests(f.b);
    for (const d of [f.sbom.digest, f.sbomLayer.digest, f.good.digest, f.sig.digest]) {
      expect(kept).toContain(d);
    }
    await deleteImage(f.b.store, name);
    expect(await storedDigests(f.b)).toEqual(new Set());
  });

  test("a blob over the bound, or not a stored referrer's, is refused", async () => {
    const f = await fixture();
    await findReferrers(ctx(f.b), name);
    await expect(
      fetchReferrerBlob(ctx(f.b), name, f.notSig.digest, f.sbomLayer.digest),
    ).rejects.toThrow(/not a referrer stored/);
    await expect(
      fetchReferrerBlob(ctx(f.b), name, f.sbom.digest, f.img.layers[0]!.digest),
    ).rejects.toThrow(/not a blob of/);
  });

  test('a registry that cannot be reached leaves what was stored, and says why', async () => {
    const f = await fixture();
    await findReferrers(ctx(f.b), name);
    f.b.registry.fault({
      when: (r) => r.kind === 'manifest',
      fault: { kind: 'unavailable' },
      times: 100,
    });
    const listing = await findReferrers(ctx(f.b), name);
    expect(listing.unreachable).toBeTruthy();
    expect(listing.referrers).toHaveLength(3);
  });

  test('a referrer whose blob does not match its digest is flagged, and nothing of it stored', async () => {
    const f = await fixture();
    const payload = f.sig.digest;
    f.b.registry.fault({
      when: (r) => r.kind === 'blob' && r.id !== f.sbomLayer.digest && r.repository === repo,
      fault: { kind: 'wrong' },
      times: 100,
    });
    const before = await storedDigests(f.b);
    const listing = await findReferrers(ctx(f.b), name);
    expect(listing.referrers).toHaveLength(0);
    expect(listing.flagged.find((x) => x.descriptor.digest === payload)?.problem).toMatch(
      /could not be read/,
    );
    expect(await storedDigests(f.b)).toEqual(before);
    expect((await f.b.store.images.get(name))?.referrers).toBeUndefined();
  });

  test('a pull of the image in progress is not ended; a later pull keeps what was recorded', async () => {
    const f = await fixture();
    const image = (await f.b.store.images.get(name))!;
    await f.b.store.images.startPull({ name, target: image.target, platform: 'linux/arm64' });
    await findReferrers(ctx(f.b), name);
    expect(await f.b.store.images.getPull(name)).toBeDefined();
    expect((await f.b.store.images.get(name))?.referrers).toBeUndefined();
    await f.b.store.images.deletePull(name);
    await findReferrers(ctx(f.b), name);
    const recorded = (await f.b.store.images.get(name))?.referrers;
    expect(recorded).toHaveLength(3);
    // Pulled again (same target): the record keeps its referrers.
    await pullImage(
      parseReference(name),
      { os: 'linux', architecture: 'amd64' },
      f.b.pullContext(),
    );
    expect((await f.b.store.images.get(name))?.referrers).toEqual(recorded);
  });

  test('an artifact Berth cannot open is stored as its manifest; its blobs wait to be asked for', async () => {
    const b = berth();
    const reg = b.registry;
    await pushImage(reg, repo, { tag: 'v1', layers: [{ a: enc.encode('a') }] });
    const root = (await b.client.resolve(parseReference(name))).descriptor;
    const cfg = reg.blob(repo, json({}), empty.mediaType);
    const blob = reg.blob(repo, enc.encode('a zTOC, say'), 'application/octet-stream');
    const soci = reg.manifest(repo, {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.amazon.soci.index.v2+json',
      config: cfg,
      layers: [blob],
      subject: root,
    } as { mediaType: string });
    reg.manifest(
      repo,
      { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [soci] } as {
        mediaType: string;
      },
      `sha256-${root.digest.slice(7)}`,
    );
    await pullImage(parseReference(name), undefined, b.pullContext());
    const listing = await findReferrers(ctx(b), name);
    expect(listing.referrers.map((r) => [r.kind, r.blobs.map((x) => x.stored)])).toEqual([
      ['unknown', [false, false]],
    ]);
    expect(b.registry.blobRequests(blob.digest)).toEqual([]);
    await fetchReferrerBlob(ctx(b), name, soci.digest, blob.digest);
    expect((await storedReferrers(b.store, name))[0]!.blobs[1]!.stored).toBe(true);
  });
});
