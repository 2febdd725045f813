// Reading signatures out of the manifests found beside an image: cosign's `.sig` tag manifests
// and referrers, Sigstore bundles, Notation envelopes.
import type { Descriptor, Manifest } from '../oci/types.ts';
import type { FoundSignature } from './types.ts';

export const MEDIA = {
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  cosignArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  notation: 'application/vnd.cncf.notary.signature',
  cose: 'application/cose',
  jws: 'application/jose+json',
} as const;

export const ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;

/** A simple-signing payload is a few hundred bytes; a bundle or an envelope carries a
 * certificate chain and a log entry, a few kilobytes. Anything far larger is not a signature
 * and is not read. */
export const MAX_PAYLOAD = 256 * 1024;
export const MAX_ENVELOPE = 1024 * 1024;
/** A signature manifest has one layer per signature; cosign appends, so a busy image may have
 * dozens. Past this many the rest are ignored. */
export const MAX_LAYERS = 64;

const BUNDLE = /^application\/vnd\.dev\.sigstore\.bundle(\.v0\.[1-3])?\+json(;.*)?$/;

/** The signatures a manifest (a `.sig` tag's, or a referrer's) carries; [] when it carries
 * none (it is not a signature). `blob` reads one of its layers, verified, size-bounded. Throws
 * when a signature layer is larger than the bound (with the sizes), or when `blob` fails. */
export async function readSignatures(
  manifest: Manifest,
  manifestDigest: string,
  via: 'tag' | 'referrer',
  blob: (d: Descriptor) => Promise<Uint8Array>,
): Promise<FoundSignature[]> {
  const layers = Array.isArray(manifest?.layers) ? manifest.layers.slice(0, MAX_LAYERS) : [];
  const type = manifest.artifactType ?? manifest.config?.mediaType;
  const out: FoundSignature[] = [];
  const read = async (d: Descriptor, max: number): Promise<Uint8Array> => {
    if (typeof d.size !== 'number' || d.size > max) {
      throw new Error(
        `the signature layer ${d.digest} is ${d.size} bytes, over the ${max}-byte limit for a signature`,
      );
    }
    const bytes = await blob(d);
    if (bytes.length > max) throw new Error(`the signature layer ${d.digest} is over ${max} bytes`);
    return bytes;
  };

  for (const layer of layers) {
    if (typeof layer?.mediaType !== 'string') continue;
    const a = layer.annotations ?? {};
    const signature = a[ANNOTATION.signature];
    if (layer.mediaType === MEDIA.simpleSigning && typeof signature === 'string') {
      const sig: Extract<FoundSignature, { kind: 'cosign' }> = {
        kind: 'cosign',
        manifest: manifestDigest,
        via,
        payload: await read(layer, MAX_PAYLOAD),
        signature,
      };
      if (a[ANNOTATION.certificate]) sig.certificate = a[ANNOTATION.certificate];
      if (a[ANNOTATION.chain]) sig.chain = a[ANNOTATION.chain];
      if (a[ANNOTATION.bundle]) sig.rekorBundle = a[ANNOTATION.bundle];
      out.push(sig);
    } else if (BUNDLE.test(layer.mediaType)) {
      const bytes = await read(layer, MAX_ENVELOPE);
      let bundle: string;
      try {
        bundle = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        continue;
      }
      out.push({ kind: 'sigstore-bundle', manifest: manifestDigest, via, bundle });
    } else if (
      type === MEDIA.notation &&
      (layer.mediaType === MEDIA.cose || layer.mediaType === MEDIA.jws)
    ) {
      out.push({
        kind: 'notation',
        manifest: manifestDigest,
        // Notation signatures are found only as referrers (or through the referrers tag
        // fallback, which is a referrer too).
        via: 'referrer',
        mediaType: layer.mediaType,
        envelope: await read(layer, MAX_ENVELOPE),
      });
    }
  }
  return out;
}
