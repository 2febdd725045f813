// Reading signatures out of the manifests found beside an image: cosign's `.sig` tag manifests
// and referrers, Sigstore bundles, Notation envelopes.
import type { Descriptor, Manifest } from '../oci/types.ts';
import type { FoundSignature } from './types.ts';

/** The signatures a manifest (a `.sig` tag's, or a referrer's) carries; [] when it carries
 * none (it is not a signature). `blob` reads one of its layers, verified, size-bounded. */
export async function readSignatures(
  _manifest: Manifest,
  _manifestDigest: string,
  _via: 'tag' | 'referrer',
  _blob: (d: Descriptor) => Promise<Uint8Array>,
): Promise<FoundSignature[]> {
  throw new Error('signature reading is not built yet');
}
