// buildkit's containerimage exporter, for a browser: an OCI image layout in a tar, composed as
// one Blob of stored chunk Blobs plus small headers, with a docker manifest.json beside it so
// `docker load` takes the same file.
import { digestPath, shortDigest } from '../oci/digest.ts';
import { Documents, childrenOf, isDocument } from '../images/documents.ts';
import { MediaType, isConfig } from '../oci/mediatypes.ts';
import { isAttestation } from '../oci/platform.ts';
import type { Descriptor, Index, Manifest } from '../oci/types.ts';
import {
  type Reference,
  familiarName,
  repositoryName,
  repositoryOf,
} from '../reference/reference.ts';
import { BlobNotFoundError, type Provider } from '../store/store.ts';
import { endOfArchive, fileHeader, padding } from './tar.ts';

export class ExportError extends Error {
  override name = 'ExportError';
}

export interface ExportRequest {
  reference: Reference;
  /** What index.json points at: one platform manifest, or an index exported whole (every
   * manifest it holds must be stored). */
  target: Descriptor;
}

/** `<repo>_<tag>.tar`, or `<repo>_<short digest>.tar` for a digest reference. */
export function archiveFileName(ref: Reference, manifestDigest: string): string {
  const suffix = ref.tag && !ref.digest ? ref.tag : shortDigest(ref.digest ?? manifestDigest);
  return `${repositoryName(ref)}_${suffix}.tar`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** org.opencontainers.image.ref.name as docker save writes it: the tag, or for a digest
 * reference the full name, which the annotation's grammar also allows. */
function refName(ref: Reference): string {
  if (ref.tag && !ref.digest) return ref.tag;
  return `${repositoryOf(ref)}@${ref.digest}`;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

interface Collected {
  /** Every blob to write, each once, in walk order. */
  blobs: Map<string, { desc: Descriptor; blob: Blob }>;
  /** The image manifests found, for docker's manifest.json. */
  images: { desc: Descriptor; manifest: Manifest }[];
}

/** Walks the stored tree below a descriptor, as the pull walked it from the registry. */
async function collect(
  store: Provider,
  docs: Documents,
  desc: Descriptor,
  out: Collected,
): Promise<void> {
  if (out.blobs.has(desc.digest)) return;
  let blob: Blob;
  try {
    blob = await store.read(desc.digest);
  } catch (err) {
    if (err instanceof BlobNotFoundError) {
      // Foreign layers stay where their urls point, as in docker save.
      if (desc.urls?.length) return;
      throw new ExportError(
        `${desc.digest} (${desc.mediaType}) is not stored: pull the image${isDocument(desc) ? ' with All platforms' : ''} first`,
      );
    }
    throw err;
  }
  if (blob.size !== desc.size) {
    throw new ExportError(
      `${desc.digest}: stored ${blob.size} bytes, the manifest says ${desc.size}`,
    );
  }
  out.blobs.set(desc.digest, { desc, blob });
  if (!isDocument(desc)) return;
  const doc = docs.parse(desc, new Uint8Array(await blob.arrayBuffer()));
  if (doc.kind === 'manifest') out.images.push({ desc, manifest: doc.manifest });
  for (const d of childrenOf(doc)) await collect(store, docs, d, out);
}

export async function buildOciArchive(
  store: Provider,
  req: ExportRequest,
): Promise<{ blob: Blob; fileName: string }> {
  const { reference, target } = req;
  const found: Collected = { blobs: new Map(), images: [] };
  await collect(store, new Documents(store), target, found);

  const entry: Descriptor = {
    mediaType: target.mediaType,
    digest: target.digest,
    size: target.size,
    ...(target.platform ? { platform: target.platform } : {}),
    annotations: {
      'io.containerd.image.name': fullNameOf(reference),
      'org.opencontainers.image.ref.name': refName(reference),
    },
  };
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [entry] };
  // docker load reads manifest.json: one entry per image (attestations are not images), the
  // tag on the first.
  const tagged = reference.tag && !reference.digest ? [familiarName(reference)] : [];
  const dockerManifest = found.images
    .filter(({ desc, manifest }) => !isAttestation(desc) && isConfig(manifest.config.mediaType))
    .map(({ manifest }, i) => ({
      Config: digestPath(manifest.config.digest),
      RepoTags: i === 0 ? tagged : [],
      Layers: manifest.layers.map((l) => digestPath(l.digest)),
    }));

  const parts: BlobPart[] = [];
  const addBytes = (path: string, bytes: Uint8Array) => {
    parts.push(
      fileHeader(path, bytes.byteLength) as Uint8Array<ArrayBuffer>,
      bytes as Uint8Array<ArrayBuffer>,
      padding(bytes.byteLength) as Uint8Array<ArrayBuffer>,
    );
  };
  addBytes('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
  addBytes('index.json', json(index));
  addBytes('manifest.json', json(dockerManifest));
  for (const { desc, blob } of found.blobs.values()) {
    parts.push(
      fileHeader(digestPath(desc.digest), blob.size) as Uint8Array<ArrayBuffer>,
      blob,
      padding(blob.size) as Uint8Array<ArrayBuffer>,
    );
  }
  parts.push(endOfArchive() as Uint8Array<ArrayBuffer>);
  return {
    blob: new Blob(parts, { type: 'application/x-tar' }),
    fileName: archiveFileName(reference, target.digest),
  };
}

function fullNameOf(ref: Reference) {
  const base = repositoryOf(ref);
  if (ref.digest) return `${base}@${ref.digest}`;
  return `${base}:${ref.tag ?? 'latest'}`;
}
