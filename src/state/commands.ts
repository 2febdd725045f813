// What the command lines of a view are built from: plain values taken from the summaries the
// views already hold. The page cannot see the proxy's list of plain-http registries, so a
// registry counts as insecure when it is on a loopback address, which is the one case the page
// itself reaches over plain http (and docker does too, without being told).
import type { ImageTarget, LayerTarget } from '../lib/commands/commands.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import { isIndex } from '../lib/oci/mediatypes.ts';
import { parseReference } from '../lib/reference/reference.ts';
import { isLoopbackHost } from '../lib/registry/transport.ts';

/** The image a summary describes, as the command builders take it; null when its name is not
 * a reference (an imported archive's name, for one). */
export function imageTarget(summary: ImageSummary): ImageTarget | null {
  let ref;
  try {
    ref = parseReference(summary.name);
  } catch {
    return null;
  }
  return {
    ref,
    manifestDigest: summary.manifest.digest,
    ...(isIndex(summary.rootMediaType) && summary.platform ? { platform: summary.platform } : {}),
    insecure: isLoopbackHost(ref.registry),
  };
}

/** A layer of a summary, as the builders take it. */
export function layerTarget(summary: ImageSummary, index: number): LayerTarget | undefined {
  const d = summary.layers[index]?.descriptor;
  return d && { digest: d.digest, mediaType: d.mediaType };
}
