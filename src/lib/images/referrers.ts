// What is attached to an image, and whether it is what it claims: referrers (OCI 1.1 API or
// its tag schema), cosign's `sha256-<hex>.sig/.att/.sbom` tags, and BuildKit's attestation
// manifests inside an index. Pure: the images worker fetches, this decides what each one is,
// which image it describes, and what is wrong with it. Nothing flagged here is stored.
import { parseDigest } from '../oci/digest.ts';
import type { Descriptor, Index, Manifest } from '../oci/types.ts';
import type { ReferrerRecord } from '../store/store.ts';

export type ReferrerKind =
  | 'sbom-spdx'
  | 'sbom-cyclonedx'
  | 'slsa-provenance'
  | 'in-toto'
  | 'cosign-signature'
  | 'notation-signature'
  | 'sigstore-bundle'
  | 'unknown';

/** Each kind in words, as the page shows it. */
export const kindLabels: Record<ReferrerKind, string> = {
  'sbom-spdx': 'SBOM (SPDX)',
  'sbom-cyclonedx': 'SBOM (CycloneDX)',
  'slsa-provenance': 'SLSA provenance',
  'in-toto': 'in-toto attestation',
  'cosign-signature': 'cosign signature',
  'notation-signature': 'Notation signature',
  'sigstore-bundle': 'Sigstore bundle',
  unknown: 'unknown',
};

export const cosignSignatureType = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const cosignSimpleSigning = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const cosignSignatureAnnotation = 'dev.cosignproject.cosign/signature';
export const notationSignatureType = 'application/vnd.cncf.notary.signature';
const predicateAnnotation = 'in-toto.io/predicate-type';
const referenceType = 'vnd.docker.reference.type';
const referenceDigest = 'vnd.docker.reference.digest';
const createdAnnotation = 'org.opencontainers.image.created';

/** Layers of a referrer fetched with its manifest; bigger ones wait until they are opened. */
export const eagerBlobBytes = 1 << 20;
/** The largest layer of a referrer Berth fetches at all (an SBOM of a big image is tens of
 * megabytes; beyond this it is refused with its size). */
export const maxReferrerBlobBytes = 64 << 20;

/** A manifest found beside an image, before it is fetched. */
export interface ReferrerCandidate extends ReferrerRecord {
  /** The manifest's bytes when they came with the finding (a resolved tag). */
  bytes?: Uint8Array;
}

/** The tags cosign pushes beside an image on registries without the referrers API. */
export function cosignTags(subject: string): { tag: string; what: 'sig' | 'att' | 'sbom' }[] {
  const { algorithm, hex } = parseDigest(subject);
  return (['sig', 'att', 'sbom'] as const).map((what) => ({
    tag: `${algorithm}-${hex}.${what}`,
    what,
  }));
}

/** BuildKit's attestation manifests in an index (platform unknown/unknown, annotated with the
 * digest of the image each describes). */
export function indexAttestations(index: Index): ReferrerCandidate[] {
  return index.manifests
    .filter((d) => d.annotations?.[referenceType] === 'attestation-manifest')
    .map((descriptor) => ({
      descriptor,
      subject: descriptor.annotations?.[referenceDigest] ?? '',
      via: 'index' as const,
    }));
}

/** Is this index entry an attestation manifest rather than a platform's image? */
export function isAttestationEntry(d: Descriptor): boolean {
  return d.annotations?.[referenceType] === 'attestation-manifest';
}

/** What a referrer manifest carries, from its artifact type, config and layers. */
export function kindOf(manifest: Manifest, descriptor?: Descriptor): ReferrerKind {
  const types = [
    manifest.artifactType,
    descriptor?.artifactType,
    manifest.config.mediaType,
    ...manifest.layers.map((l) => l.mediaType),
  ].map((t) => (t ?? '').toLowerCase());
  const predicates = manifest.layers
    .map((l) => l.annotations?.[predicateAnnotation] ?? '')
    .concat(descriptor?.annotations?.[predicateAnnotation] ?? '');
  const has = (f: (t: string) => boolean) => types.some(f);
  if (has((t) => t === notationSignatureType)) return 'notation-signature';
  if (has((t) => t.startsWith('application/vnd.dev.sigstore.bundle'))) return 'sigstore-bundle';
  if (
    has((t) => t === cosignSignatureType) ||
    manifest.layers.some((l) => l.annotations?.[cosignSignatureAnnotation] !== undefined)
  ) {
    return 'cosign-signature';
  }
  if (predicates.some((p) => p.includes('spdx'))) return 'sbom-spdx';
  if (predicates.some((p) => p.includes('cyclonedx'))) return 'sbom-cyclonedx';
  if (predicates.some((p) => p.startsWith('https://slsa.dev/provenance'))) {
    return 'slsa-provenance';
  }
  if (has((t) => t === 'application/spdx+json' || t.startsWith('text/spdx'))) return 'sbom-spdx';
  if (has((t) => t.startsWith('application/vnd.cyclonedx'))) return 'sbom-cyclonedx';
  if (has((t) => t.startsWith('application/vnd.in-toto') || t.includes('dsse'))) return 'in-toto';
  return 'unknown';
}

/** The label of a referrer: its kind, with the predicate type of a plain in-toto statement. */
export function labelOf(manifest: Manifest, descriptor?: Descriptor): string {
  const kind = kindOf(manifest, descriptor);
  if (kind !== 'in-toto' && kind !== 'unknown') return kindLabels[kind];
  const predicate = manifest.layers.map((l) => l.annotations?.[predicateAnnotation]).find(Boolean);
  if (predicate) return `in-toto attestation (${predicate})`;
  return kind === 'unknown'
    ? manifest.artifactType || descriptor?.artifactType || manifest.config.mediaType
    : kindLabels[kind];
}

/** When the referrer says it was made (its manifest's or descriptor's annotation). */
export function createdOf(manifest: Manifest, descriptor?: Descriptor): string | undefined {
  return manifest.annotations?.[createdAnnotation] ?? descriptor?.annotations?.[createdAnnotation];
}

/**
 * What is wrong with a referrer found for `candidate.subject`, in one sentence, or undefined
 * when nothing is. `imageDigests` are the digests this image is made of (its root, and for an
 * index every manifest it lists): a referrer that describes anything else is another image's.
 */
export function problemOf(
  candidate: ReferrerRecord,
  manifest: Manifest,
  imageDigests: ReadonlySet<string>,
): string | undefined {
  if (candidate.via === 'index') {
    if (!candidate.subject) {
      return 'This attestation manifest does not say which image it describes (no vnd.docker.reference.digest annotation).';
    }
    if (!imageDigests.has(candidate.subject)) {
      return `This attestation describes ${candidate.subject}, which is not part of this image.`;
    }
  }
  const subject = manifest.subject?.digest;
  if (subject && subject !== candidate.subject && !imageDigests.has(subject)) {
    return `This referrer's subject is ${subject}, another image: it was listed for ${candidate.subject}.`;
  }
  const kind = kindOf(manifest);
  if (kind === 'cosign-signature') {
    const bad = manifest.layers.find(
      (l) =>
        l.mediaType !== cosignSimpleSigning ||
        typeof l.annotations?.[cosignSignatureAnnotation] !== 'string',
    );
    if (manifest.layers.length === 0 || bad) {
      return bad
        ? `This is marked as a cosign signature, but a layer (${bad.mediaType}) is not a signed simple-signing payload: it is not a signature.`
        : 'This is marked as a cosign signature, but it has no layers: it is not a signature.';
    }
  }
  if (kind === 'notation-signature') {
    const envelope = manifest.layers[0]?.mediaType;
    if (
      manifest.layers.length !== 1 ||
      (envelope !== 'application/cose' && envelope !== 'application/jose+json')
    ) {
      return 'This is marked as a Notation signature, but it does not hold one COSE or JWS envelope: it is not a signature.';
    }
  }
  for (const l of manifest.layers) {
    if (l.size > maxReferrerBlobBytes) continue; // refused when opened, with its size
    if (!Number.isSafeInteger(l.size) || l.size < 0)
      return `A layer's size (${l.size}) is not valid.`;
  }
  return undefined;
}
