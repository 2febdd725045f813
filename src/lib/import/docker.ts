// `docker save`'s manifest.json, and the Docker schema2 manifest an image in the legacy form
// (before Docker 25: no OCI layout, config "<hex>.json", layers "<id>/layer.tar") never had: it
// is built here from the config's bytes and the layer files, as skopeo's docker-archive
// source does.
import { JsonError, parseJsonBounded } from '../json.ts';
import { digestBytes } from '../oci/hasher.ts';
import { maxDocumentBytes } from '../oci/limits.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { InvalidManifestError, validateDescriptor } from '../oci/validate.ts';
import { ImportError } from './errors.ts';

/** One image of manifest.json. Paths are as written, relative to the archive's root. */
export interface DockerImageEntry {
  config: string;
  repoTags: string[];
  layers: string[];
  /** Layers not in the archive (Windows foreign layers), by diffID. */
  layerSources: Record<string, Descriptor>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isStrings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Parses manifest.json, checking the fields read. */
export function parseDockerManifest(bytes: Uint8Array): DockerImageEntry[] {
  const fail = (m: string): never => {
    throw new ImportError(`manifest.json is not a docker save manifest: ${m}`);
  };
  let doc: unknown;
  try {
    doc = parseJsonBounded(bytes, { what: 'it', maxBytes: maxDocumentBytes });
  } catch (e) {
    if (e instanceof JsonError) return fail(e.message);
    throw e;
  }
  if (!Array.isArray(doc)) return fail('it is not a JSON array of images');
  if (doc.length === 0) return fail('it lists no images');
  return doc.map((item: unknown, i) => {
    if (!isObject(item)) return fail(`entry ${i} is not an object`);
    const { Config, RepoTags, Layers, LayerSources } = item;
    if (typeof Config !== 'string' || Config === '') return fail(`entry ${i} has no Config`);
    if (RepoTags !== undefined && RepoTags !== null && !isStrings(RepoTags)) {
      return fail(`RepoTags of entry ${i} is not a list of names`);
    }
    if (!isStrings(Layers)) return fail(`Layers of entry ${i} is not a list of paths`);
    const layerSources: Record<string, Descriptor> = {};
    if (LayerSources !== undefined && LayerSources !== null) {
      if (!isObject(LayerSources)) return fail(`LayerSources of entry ${i} is not an object`);
      for (const [diffID, d] of Object.entries(LayerSources)) {
        try {
          layerSources[diffID] = validateDescriptor(d, `LayerSources[${diffID}]`);
        } catch (e) {
          if (e instanceof InvalidManifestError) fail(`entry ${i}: ${e.message}`);
          throw e;
        }
      }
    }
    return { config: Config, repoTags: RepoTags ?? [], layers: Layers, layerSources };
  });
}

/** The digest a member's name claims, for names that are digests: "<hex>.json" (a legacy
 * config) or "blobs/<alg>/<hex>" (Docker 25). Undefined for other names. */
export function digestInName(path: string): string | undefined {
  const legacy = /^(?:\.\/)?([0-9a-f]{64})\.json$/.exec(path);
  if (legacy) return `sha256:${legacy[1]}`;
  const blob = /^(?:\.\/)?blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(path);
  return blob ? `${blob[1]}:${blob[2]}` : undefined;
}

/** The schema2 manifest of a legacy image: the config's bytes as they are, and the layers in
 * the order of the config's diff_ids. Serialised compactly with the fields in the order Go's
 * encoding/json writes them, as skopeo and docker do. */
export async function buildLegacyManifest(
  config: { digest: string; size: number },
  layers: readonly Descriptor[],
): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  const desc = (d: Descriptor) => ({
    mediaType: d.mediaType,
    size: d.size,
    digest: d.digest,
    ...(d.urls?.length ? { urls: d.urls } : {}),
  });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, size: config.size, digest: config.digest },
    layers: layers.map(desc),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return {
    descriptor: {
      mediaType: MediaType.DockerManifest,
      digest: await digestBytes(bytes),
      size: bytes.byteLength,
    },
    bytes,
  };
}
