// The referrers of a manifest (signatures, SBOMs, attestations): the OCI 1.1 referrers API
// (GET /v2/<name>/referrers/<digest>), and for registries without it the referrers tag schema,
// an index pushed to the tag `<alg>-<hex>` by the clients that attach artifacts.
import { parseDigest } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { InvalidManifestError, parseManifestDocument } from '../oci/validate.ts';
import { type Reference, repositoryOf } from '../reference/reference.ts';
import { type RegistryClient, maxManifestBytes } from './client.ts';
import { RegistryError } from './errors.ts';
import { nextPagePath, readPage } from './tags.ts';

export interface Referrers {
  descriptors: Descriptor[];
  /** 'api': the registry's referrers API answered; 'tag-schema': it has none, and the list came
   * from the `<alg>-<hex>` tag (empty when that tag does not exist). */
  via: 'api' | 'tag-schema';
}

export interface ListReferrersOptions {
  signal?: AbortSignal;
  /** Only referrers of this artifact type: asked of the registry, and applied here when the
   * registry did not say (OCI-Filters-Applied) that it applied it. */
  artifactType?: string;
  /** Ask for the referrers tag beside the referrers API's first page instead of after it, so
   * a registry without the API costs one round trip, not two. Its answer is dropped when the
   * API answers. */
  tagInParallel?: boolean;
}

/** Pages of the referrers API followed at most; each page is bounded by maxManifestBytes. */
export const maxReferrerPages = 20;
/** Referrers listed at most, over all pages. */
export const maxReferrers = 10_000;

/**
 * The tag the referrers tag schema uses for a subject: `<alg>-<hex>`, the hex cut to 64
 * characters as the distribution spec says (so that a sha512 tag stays within the 128-character
 * tag limit).
 */
export function referrersTag(subject: string): string {
  const { algorithm, hex } = parseDigest(subject);
  return `${algorithm}-${hex.slice(0, 64)}`;
}

/**
 * Lists the manifests whose `subject` is `subject` in ref's repository (ref's tag and digest
 * are ignored). Tries the referrers API; a 404, 400 or 405 means the registry has none (the spec
 * says 404; distribution 2.8 and some proxies answer the others), and the list then comes from
 * the tag schema. Errors are RegistryErrors: an unknown repository is 'not-found', a document
 * that is not an index is 'protocol'.
 */
export async function listReferrers(
  client: RegistryClient,
  ref: Reference,
  subject: string,
  opts: ListReferrersOptions = {},
): Promise<Referrers> {
  parseDigest(subject); // it goes into a URL path and a tag
  const repo: Reference = { registry: ref.registry, repository: ref.repository };
  const what = `${repositoryOf(ref)}@${subject}: referrers`;
  // The tag schema's answer, asked for at once when told to; its request is stopped, and its
  // failure ignored, when the API answers.
  const stopTag = new AbortController();
  let early: Promise<Referrers> | undefined;
  if (opts.tagInParallel) {
    const signal = opts.signal ? AbortSignal.any([opts.signal, stopTag.signal]) : stopTag.signal;
    early = viaTagSchema(client, repo, subject, { ...opts, signal }, what);
    early.catch(() => {});
  }
  try {
    return (
      (await viaApi(client, repo, subject, opts, what)) ??
      (await (early ?? viaTagSchema(client, repo, subject, opts, what)))
    );
  } finally {
    stopTag.abort();
  }
}

/** The referrers API's pages, or undefined when the registry has no referrers API. */
async function viaApi(
  client: RegistryClient,
  repo: Reference,
  subject: string,
  opts: ListReferrersOptions,
  what: string,
): Promise<Referrers | undefined> {
  const endpoint = `referrers/${subject}`;
  const query = opts.artifactType
    ? `?${new URLSearchParams({ artifactType: opts.artifactType })}`
    : '';
  const found = new Map<string, Descriptor>();
  const requested = new Set<string>();
  let filtered = true;
  let path: string | undefined = `${endpoint}${query}`;
  for (let page = 1; path !== undefined; page++) {
    if (page > maxReferrerPages) {
      throw new RegistryError(
        `${what}: the registry has more than ${maxReferrerPages} pages of referrers; Berth reads at most ${maxReferrerPages}`,
        'protocol',
        200,
      );
    }
    requested.add(path);
    const res = await client.repositoryRequest(repo, path, {
      method: 'GET',
      headers: { Accept: MediaType.OciIndex },
      signal: opts.signal,
    });
    if (page === 1 && (res.status === 404 || res.status === 400 || res.status === 405)) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    if (res.status !== 200) throw await client.failure(res, what, repo.registry);
    const bytes = await readPage(res, maxManifestBytes, what);
    // Artifact Registry redirects the referrers path to Google's HTML sign-in page, which
    // answers 200: a first answer that is neither typed as an index nor JSON at all is a
    // registry without the API, not a broken list.
    if (page === 1 && notAnIndexAnswer(res.headers.get('Content-Type'), bytes)) return undefined;
    const next = nextPagePath(res.headers.get('Link'), repo, endpoint, what);
    if (!filterApplied(res.headers.get('OCI-Filters-Applied'))) filtered = false;
    for (const d of indexManifests(bytes, res.headers.get('Content-Type'), what)) {
      if (found.has(d.digest)) continue;
      if (found.size >= maxReferrers) {
        throw new RegistryError(
          `${what}: the subject has more than ${maxReferrers} referrers; Berth lists at most ${maxReferrers}`,
          'protocol',
          200,
        );
      }
      found.set(d.digest, d);
    }
    if (next !== undefined && requested.has(next)) {
      throw new RegistryError(
        `${what}: the registry's next-page link leads back to a page already read, so the list would never end`,
        'protocol',
        200,
      );
    }
    path = next;
  }
  const descriptors = [...found.values()];
  return {
    descriptors: filtered ? descriptors : byArtifactType(descriptors, opts.artifactType),
    via: 'api',
  };
}

async function viaTagSchema(
  client: RegistryClient,
  repo: Reference,
  subject: string,
  opts: ListReferrersOptions,
  what: string,
): Promise<Referrers> {
  const tag = referrersTag(subject);
  let resolved;
  try {
    resolved = await client.resolve({ ...repo, tag }, opts.signal);
  } catch (e) {
    // No tag means no referrers; an unknown repository is still an error.
    if (
      e instanceof RegistryError &&
      e.kind === 'not-found' &&
      !e.errors.some((x) => x.code === 'NAME_UNKNOWN')
    ) {
      return { descriptors: [], via: 'tag-schema' };
    }
    throw e;
  }
  const manifests = indexManifests(
    resolved.bytes,
    resolved.descriptor.mediaType,
    `${what} (tag ${tag})`,
  );
  return { descriptors: byArtifactType(manifests, opts.artifactType), via: 'tag-schema' };
}

/** The manifests of an index document; anything else is a 'protocol' error. */
function indexManifests(bytes: Uint8Array, contentType: string | null, what: string) {
  let doc;
  try {
    doc = parseManifestDocument(bytes, { contentType });
  } catch (e) {
    if (e instanceof InvalidManifestError) {
      throw new RegistryError(`${what}: ${e.message}`, 'protocol', 200);
    }
    throw e;
  }
  if (doc.kind !== 'index') {
    throw new RegistryError(
      `${what}: the registry answered with an image manifest (${doc.mediaType}), not the index that lists referrers`,
      'protocol',
      200,
    );
  }
  return doc.index.manifests;
}

/** Is this answer neither typed as the OCI index nor JSON (an HTML page, say)? */
function notAnIndexAnswer(contentType: string | null, bytes: Uint8Array): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === MediaType.OciIndex) return false;
  let i = 0;
  // Whitespace, then the first byte of a JSON document.
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  return bytes[i] !== 0x7b;
}

function filterApplied(header: string | null): boolean {
  return (header ?? '').split(',').some((f) => f.trim().toLowerCase() === 'artifacttype');
}

function byArtifactType(ds: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? ds.filter((d) => d.artifactType === artifactType) : ds;
}

const cosignSignature = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const cosignSignatureAnnotation = 'dev.cosignproject.cosign/signature';
const inTotoPredicateAnnotation = 'in-toto.io/predicate-type';

/** A short human label for a referrer: "cosign signature", "SBOM (SPDX)", "in-toto
 * attestation", …, else its artifactType or media type. */
export function describeReferrer(d: Descriptor): string {
  const type = (d.artifactType ?? '').toLowerCase();
  const annotations = d.annotations ?? {};
  if (type === cosignSignature || cosignSignatureAnnotation in annotations) {
    return 'cosign signature';
  }
  if (type.startsWith('application/vnd.dev.sigstore.bundle')) return 'Sigstore bundle';
  if (type === 'application/vnd.cncf.notary.signature') return 'Notation signature';
  if (type === 'application/spdx+json' || type === 'text/spdx' || type.startsWith('text/spdx+')) {
    return 'SBOM (SPDX)';
  }
  if (type.startsWith('application/vnd.cyclonedx')) return 'SBOM (CycloneDX)';
  if (type === 'application/vnd.syft+json') return 'SBOM (Syft)';
  if (type === MediaType.InTotoAttestation || type.startsWith('application/vnd.in-toto.')) {
    const predicate = annotations[inTotoPredicateAnnotation];
    return predicate ? `in-toto attestation (${predicate})` : 'in-toto attestation';
  }
  return d.artifactType || d.mediaType;
}
