// buildkit's containerimage exporter, for a browser: an OCI image layout in a tar, composed as
// one Blob of stored chunk Blobs plus small headers, with a docker manifest.json beside it so
// `docker load` takes the same file.
import { digestPath, shortDigest } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, Index, Manifest } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { type Reference, familiarName, repositoryName } from '../reference/reference.ts';
import { type ContentStore, BlobNotFoundError } from '../store/content.ts';
import { endOfArchive, fileHeader, padding } from './tar.ts';

export class ExportError extends Error {
  override name = 'ExportError';
}

export interface ExportRequest {
  reference: Reference;
  /** The platform manifest to export, as stored. */
  manifest: Descriptor;
}

export interface ExportProgress {
  step: 'collecting' | 'composing' | 'done';
  blobs: number;
  bytes: number;
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
  return `${ref.registry}/${ref.repository}@${ref.digest}`;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

export async function buildOciArchive(
  store: ContentStore,
  req: ExportRequest,
  onProgress: (p: ExportProgress) => void = () => {},
): Promise<{ blob: Blob; fileName: string }> {
  const { reference, manifest } = req;
  const read = async (d: Descriptor) => {
    try {
      return await store.read(d.digest);
    } catch (err) {
      if (err instanceof BlobNotFoundError) {
        throw new ExportError(`${d.digest} (${d.mediaType}) is not stored: pull the image first`);
      }
      throw err;
    }
  };
  const manifestBlob = await read(manifest);
  const doc = parseManifestDocument(new Uint8Array(await manifestBlob.arrayBuffer()), {
    descriptorMediaType: manifest.mediaType,
  });
  if (doc.kind !== 'manifest') throw new ExportError(`${manifest.digest} is not an image manifest`);
  const m: Manifest = doc.manifest;
  const blobs: [Descriptor, Blob][] = [[manifest, manifestBlob]];
  for (const d of [m.config, ...m.layers]) {
    // Foreign layers stay where their urls point, as in docker save.
    if (d.urls?.length && !(await store.info(d.digest))) continue;
    blobs.push([d, await read(d)]);
    onProgress({ step: 'collecting', blobs: blobs.length, bytes: 0 });
  }

  const fullName = familiarName(reference);
  const entry: Descriptor = {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    ...(manifest.platform ? { platform: manifest.platform } : {}),
    annotations: {
      'io.containerd.image.name': fullNameOf(reference),
      'org.opencontainers.image.ref.name': refName(reference),
    },
  };
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [entry] };
  const dockerManifest = [
    {
      Config: digestPath(m.config.digest),
      RepoTags: reference.tag && !reference.digest ? [fullName] : [],
      Layers: m.layers.map((l) => digestPath(l.digest)),
    },
  ];

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
  const seen = new Set<string>();
  let bytes = 0;
  for (const [d, blob] of blobs) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    if (blob.size !== d.size) {
      throw new ExportError(`${d.digest}: stored ${blob.size} bytes, the manifest says ${d.size}`);
    }
    parts.push(
      fileHeader(digestPath(d.digest), blob.size) as Uint8Array<ArrayBuffer>,
      blob,
      padding(blob.size) as Uint8Array<ArrayBuffer>,
    );
    bytes += blob.size;
  }
  parts.push(endOfArchive() as Uint8Array<ArrayBuffer>);
  onProgress({ step: 'composing', blobs: seen.size, bytes });
  const blob = new Blob(parts, { type: 'application/x-tar' });
  onProgress({ step: 'done', blobs: seen.size, bytes });
  return { blob, fileName: archiveFileName(reference, manifest.digest) };
}

function fullNameOf(ref: Reference) {
  const base = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return `${base}@${ref.digest}`;
  return `${base}:${ref.tag ?? 'latest'}`;
}
