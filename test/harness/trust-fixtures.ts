// An image with packages, an SBOM attestation and a cosign signature, pushed to the real
// registry (distribution 2.8: no referrers API, so referrers go under the `sha256-<hex>` tag, as
// the referrers tag schema says, and the signature under cosign's `sha256-<hex>.sig`).
//
// Real parts: the layer holds stanzas of this machine's own /var/lib/dpkg/status and a real
// package.json from node_modules, tarred by GNU tar and gzipped by gzip -n; the SBOM is an
// in-toto statement whose SPDX predicate lists those same dpkg packages (name, version,
// architecture, as dpkg wrote them); the signature is made with openssl keys by the signing
// harness, over cosign's simple-signing payload. Bad input beside them: a referrer whose
// subject is another image, a "signature" that is not one, and an SBOM over 50 MB.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import type { Registry } from './registry.ts';
import {
  makeCosignKeySignature,
  makeKey,
  makeKeylessSignature,
  makeTestSigstore,
  makeNotationCa,
  makeNotationSignature,
  workDir,
  type Key,
} from './signing.ts';
import { gzipLayer } from './soci.ts';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  intoto: 'application/vnd.in-toto+json',
  spdx: 'application/spdx+json',
  cosignSig: 'application/vnd.dev.cosign.artifact.sig.v1+json',
};

export interface DpkgPackage {
  name: string;
  version: string;
  architecture: string;
}

export interface TrustFixtures {
  /** host/repository:tag of the index. */
  ref: string;
  repository: string;
  index: string;
  image: string;
  /** The packages the image's dpkg status lists (and the SBOM names). */
  packages: DpkgPackage[];
  /** The npm package in the layer. */
  npm: { name: string; version: string };
  /** BuildKit's attestation manifest in the index: an SPDX SBOM about `image`. */
  attestation: string;
  /** cosign's signature under `sha256-<index hex>.sig`, and the key it verifies with. */
  signature: string;
  key: Key;
  wrongKey: Key;
  /** A Notation signature of the index, a referrer, and the root certificate it chains to. */
  notation: { manifest: string; rootPem: string };
  /** cosign 3's keyless signature of the index (a Sigstore bundle referrer), made under a test
   * Sigstore whose trusted root only verifies it; the identity and issuer it was made for. */
  keyless: { manifest: string; trustedRoot: string; identity: string; issuer: string };
  /** An SBOM referrer over 50 MB (its manifest, its document, and the document's size). */
  huge: { manifest: string; layer: string; size: number; packages: number };
  /** A referrer whose subject is another image. */
  foreign: string;
  /** A referrer typed as a cosign signature whose layer is not a signature. */
  notSignature: string;
}

/** The first `n` stanzas of dpkg's real status file, and the packages they name. */
export async function dpkgStatus(n: number): Promise<{ text: string; packages: DpkgPackage[] }> {
  const stanzas = (await readFile('/var/lib/dpkg/status', 'utf8'))
    .split(/\n\n+/)
    .filter((s) => /^Package: /m.test(s) && /^Status: install ok installed$/m.test(s))
    .slice(0, n);
  const field = (s: string, f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(s)?.[1] ?? '';
  return {
    text: stanzas.join('\n\n') + '\n',
    packages: stanzas.map((s) => ({
      name: field(s, 'Package'),
      version: field(s, 'Version'),
      architecture: field(s, 'Architecture'),
    })),
  };
}

/** An in-toto statement about `digest` whose predicate is an SPDX 2.3 document of packages. */
function spdxStatement(digest: string, name: string, packages: DpkgPackage[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1',
      predicateType: 'https://spdx.dev/Document',
      subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }],
      predicate: {
        spdxVersion: 'SPDX-2.3',
        dataLicense: 'CC0-1.0',
        SPDXID: 'SPDXRef-DOCUMENT',
        name,
        documentNamespace: `https://berth.test/spdx/${digest}`,
        creationInfo: { created: '2026-12-06T12:00:00Z', creators: ['Tool: berth-test'] },
        packages: packages.map((p, i) => ({
          name: p.name,
          SPDXID: `SPDXRef-Package-${i}`,
          versionInfo: p.version,
          downloadLocation: 'NOASSERTION',
          licenseConcluded: 'NOASSERTION',
          externalRefs: [
            {
              referenceCategory: 'PACKAGE-MANAGER',
              referenceType: 'purl',
              referenceLocator: `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.architecture}`,
            },
          ],
        })),
      },
    }),
  );
}

export async function buildTrustFixtures(
  registry: Registry,
  repository = 'trust/app',
  /** Packages in the big SBOM: 200,000 make it over 50 MB; tests that do not open it ask for
   * fewer. */
  hugePackages = 200_000,
): Promise<TrustFixtures> {
  const base = `${registry.url}/v2/${repository}`;
  const pushBlob = async (bytes: Uint8Array, mediaType: string) => {
    const digest = sha256(bytes);
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`blob upload: ${start.status}`);
    const location = new URL(start.headers.get('Location')!, registry.url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    if (put.status !== 201) throw new Error(`blob PUT: ${put.status} ${await put.text()}`);
    return { mediaType, digest, size: bytes.byteLength };
  };
  const pushManifest = async (doc: object | Buffer, tag?: string, mediaType = MT.manifest) => {
    const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc));
    const digest = sha256(bytes);
    const res = await fetch(`${base}/manifests/${tag ?? digest}`, {
      method: 'PUT',
      headers: { 'Content-Type': mediaType },
      body: new Uint8Array(bytes),
    });
    if (res.status !== 201) throw new Error(`manifest PUT: ${res.status} ${await res.text()}`);
    return { mediaType, digest, size: bytes.length };
  };

  // The image: dpkg's status and a node package, in one layer.
  const dpkg = await dpkgStatus(40);
  const npmJson = await readFile('node_modules/fflate/package.json');
  const npmPkg = JSON.parse(npmJson.toString()) as { name: string; version: string };
  const layerBytes = await gzipLayer([
    { path: 'var/lib/dpkg/status', content: dpkg.text },
    { path: 'usr/lib/node_modules/fflate/package.json', content: npmJson },
  ]);
  const layer = await pushBlob(layerBytes, MT.layer);
  const config = await pushBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '2026-12-01T00:00:00Z',
        config: {},
        rootfs: { type: 'layers', diff_ids: [sha256(gunzipSync(layerBytes))] },
        history: [{ created_by: 'COPY status and node_modules' }],
      }),
    ),
    MT.config,
  );
  const image = await pushManifest({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config,
    layers: [layer],
  });

  // BuildKit's SBOM attestation for the image, in the index beside it.
  const empty = await pushBlob(Buffer.from('{}'), MT.empty);
  const attestationConfig = await pushBlob(
    Buffer.from(
      JSON.stringify({ architecture: 'unknown', os: 'unknown', rootfs: { type: 'layers' } }),
    ),
    MT.config,
  );
  const statement = await pushBlob(
    spdxStatement(image.digest, repository, dpkg.packages),
    MT.intoto,
  );
  const attestation = await pushManifest({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: attestationConfig,
    layers: [
      { ...statement, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } },
    ],
  });
  const index = await pushManifest(
    {
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [
        { ...image, platform: { architecture: 'amd64', os: 'linux' } },
        {
          ...attestation,
          platform: { architecture: 'unknown', os: 'unknown' },
          annotations: {
            'vnd.docker.reference.type': 'attestation-manifest',
            'vnd.docker.reference.digest': image.digest,
          },
        },
      ],
    },
    'v1',
    MT.index,
  );
  const subject = { mediaType: index.mediaType, digest: index.digest, size: index.size };

  // cosign's signature of the index, under its .sig tag.
  const dir = workDir();
  const key = makeKey(dir, 'right', 'p256');
  const wrongKey = makeKey(dir, 'wrong', 'p256');
  const sig = makeCosignKeySignature(
    { digest: index.digest, repository: `${registry.host}/${repository}` },
    { key, via: 'tag' },
  );
  for (const b of sig.artifact.blobs) await pushBlob(b.bytes, b.mediaType);
  const signature = await pushManifest(sig.artifact.manifestBytes, sig.artifact.tag);

  // Notation's signature of the index, under a test CA, as a referrer.
  const ca = makeNotationCa(dir);
  const notary = makeNotationSignature(ca, {
    digest: index.digest,
    mediaType: index.mediaType,
    size: index.size,
  });
  for (const b of notary.artifact.blobs) await pushBlob(b.bytes, b.mediaType);
  const notation = await pushManifest(notary.artifact.manifestBytes);

  // cosign keyless (cosign 3: a DSSE bundle as a referrer), under a test Sigstore.
  const sigstore = makeTestSigstore(dir);
  const keyless = makeKeylessSignature(
    sigstore,
    { digest: index.digest, mediaType: index.mediaType, size: index.size },
    { dsse: true, identity: 'release@trust.test', issuer: 'https://issuer.trust.test' },
  );
  for (const b of keyless.artifact.blobs) await pushBlob(b.bytes, b.mediaType);
  const keylessManifest = await pushManifest(keyless.artifact.manifestBytes);

  // Referrers under the tag schema: a huge SBOM, one about another image, and a "signature"
  // that is not one.
  const many: DpkgPackage[] = Array.from({ length: hugePackages }, (_, i) => {
    const p = dpkg.packages[i % dpkg.packages.length]!;
    return { ...p, name: `${p.name}-${i}` };
  });
  const hugeDoc = spdxStatement(index.digest, repository, many);
  if (hugePackages >= 200_000 && hugeDoc.length < 50_000_000) {
    throw new Error(`the huge SBOM is ${hugeDoc.length} bytes`);
  }
  const hugeLayer = await pushBlob(hugeDoc, MT.spdx);
  const artifact = (artifactType: string, layers: object[], subj: object = subject) => ({
    schemaVersion: 2,
    mediaType: MT.manifest,
    artifactType,
    config: empty,
    layers,
    subject: subj,
    annotations: { 'org.opencontainers.image.created': '2026-12-06T12:00:00Z' },
  });
  const huge = await pushManifest(artifact(MT.spdx, [hugeLayer]));
  const otherStatement = await pushBlob(
    spdxStatement(config.digest, 'other', dpkg.packages),
    MT.spdx,
  );
  // Another image (the same layer, another config), not part of this one.
  const otherImage = await pushManifest({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: attestationConfig,
    layers: [layer],
  });
  const foreign = await pushManifest(artifact(MT.spdx, [otherStatement], otherImage));
  const notJson = await pushBlob(
    Buffer.from(JSON.stringify({ hello: 'not a signature' })),
    'application/json',
  );
  const notSignature = await pushManifest(artifact(MT.cosignSig, [notJson]));
  await pushManifest(
    {
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [
        { ...huge, artifactType: MT.spdx },
        { ...foreign, artifactType: MT.spdx },
        { ...notSignature, artifactType: MT.cosignSig },
        { ...notation, artifactType: 'application/vnd.cncf.notary.signature' },
        { ...keylessManifest, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' },
      ],
    },
    `sha256-${index.digest.slice('sha256:'.length)}`,
    MT.index,
  );

  return {
    ref: `${registry.host}/${repository}:v1`,
    repository,
    index: index.digest,
    image: image.digest,
    packages: dpkg.packages,
    npm: { name: npmPkg.name, version: npmPkg.version },
    attestation: attestation.digest,
    signature: signature.digest,
    key,
    wrongKey,
    huge: {
      manifest: huge.digest,
      layer: hugeLayer.digest,
      size: hugeLayer.size,
      packages: hugePackages,
    },
    notation: { manifest: notation.digest, rootPem: ca.root.certPem },
    keyless: {
      manifest: keylessManifest.digest,
      trustedRoot: sigstore.trustedRootJson,
      identity: keyless.identity,
      issuer: keyless.issuer,
    },
    foreign: foreign.digest,
    notSignature: notSignature.digest,
  };
}
