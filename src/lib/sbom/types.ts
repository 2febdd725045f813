// Exporting an image's inventory as an SBOM: what the document is about.
import type { Platform } from '../oci/types.ts';

/** The image an SBOM describes. */
export interface SbomSubject {
  /** The reference the user typed, canonical (`docker.io/library/debian:12`), when known. */
  reference?: string;
  /** The digest of the manifest the packages were read from (the platform's image manifest). */
  digest: string;
  /** The digest the reference resolved to, when it is an index (the image's root). */
  rootDigest?: string;
  mediaType: string;
  platform?: Platform;
  configDigest?: string;
  /** When the SBOM was made (ISO 8601, UTC, to the second). */
  created: string;
  /** Berth's version, for the document's tool/creator fields. */
  toolVersion: string;
  /** The image's layers in manifest order (index = PackageEvent.layer), with the history step
   * that made each (its created_by), for each package's attribution. Optional: without it the
   * SBOM says only the layer's index. */
  layers?: { digest: string; diffID?: string; history?: string }[];
}
