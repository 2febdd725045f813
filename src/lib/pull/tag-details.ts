// What one tag is, for the repository view: its digest, how many platforms it offers, its size
// and its build date (the config's `created`). The manifest and config are fetched into the
// content store, where they are content-addressed: a digest seen before costs no GET.
import { parseJsonBounded } from '../json.ts';
import { maxDocumentBytes } from '../oci/limits.ts';
import {
  defaultPlatform,
  readPlatform,
  selectManifest,
  selectablePlatforms,
} from '../oci/platform.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { parseCreated } from '../registry/catalog.ts';
import { type FetchContext, fetchDescriptor } from './fetch.ts';

export interface TagDetails {
  /** What the tag points at now: a manifest or an index. */
  digest: string;
  /** The platforms an index offers; 0 for a single manifest. */
  platforms: number;
  /** Compressed bytes of the config and layers of the manifest dated (for an index, the
   * platform chosen as a pull would choose it). */
  size: number;
  /** The config's `created` (ms since the epoch), when it has a real one. */
  created?: number;
}

/** The details of the manifest or index `root`, fetching what the store lacks. For an index,
 * the platform dated is the one a pull would choose given `preferred`. */
export async function readTagDetails(
  fctx: FetchContext,
  root: Descriptor,
  preferred: string | undefined,
  signal: AbortSignal,
): Promise<TagDetails> {
  const read = async (d: Descriptor) => {
    await fetchDescriptor(fctx, d, signal);
    return fctx.store.readBytes(d.digest);
  };
  let doc = parseManifestDocument(await read(root), { descriptorMediaType: root.mediaType });
  let platforms = 0;
  if (doc.kind === 'index') {
    const offered = selectablePlatforms(doc.index);
    platforms = offered.length;
    const want = defaultPlatform(offered, readPlatform(preferred));
    // An index of no platforms (attestations only, or artifacts) has no image to date.
    if (!want) return { digest: root.digest, platforms, size: 0 };
    const child = selectManifest(doc.index, want);
    doc = parseManifestDocument(await read(child), { descriptorMediaType: child.mediaType });
    if (doc.kind !== 'manifest') return { digest: root.digest, platforms, size: 0 };
  }
  const { config, layers } = doc.manifest;
  const size = config.size + layers.reduce((n, l) => n + l.size, 0);
  if (config.size > maxDocumentBytes) return { digest: root.digest, platforms, size };
  let created: number | undefined;
  try {
    const parsed = parseJsonBounded(await read(config), {
      what: 'the config',
      maxBytes: maxDocumentBytes,
    }) as { created?: unknown } | null;
    created = parseCreated(parsed?.created);
  } catch {
    // An artifact's config (a signature, an SBOM) need not be JSON with a date.
  }
  return { digest: root.digest, platforms, size, ...(created === undefined ? {} : { created }) };
}
