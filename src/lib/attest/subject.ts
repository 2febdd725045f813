// Whether a document is about the image it was found with: an attestation or a signature
// names its subject by digest, and one that names another image must say so, not pass for
// this image's.
import type { DocumentSummary } from './types.ts';

export type SubjectCheck =
  /** The document names this image's digest. */
  | { result: 'matches' }
  /** It names digests, none of them this image's: the names it gives, for the message. */
  | { result: 'other'; named: string[] }
  /** It names no subject (an SBOM on its own, a plain JSON file). */
  | { result: 'none' };

/** Checks a document's subjects (an in-toto statement's, or a cosign payload's image digest)
 * against the digests of the image: its manifest and, for a platform of an index, the index. */
export function checkSubject(summary: DocumentSummary, digests: string[]): SubjectCheck {
  const wanted = new Set(digests.map((d) => d.toLowerCase()));
  const named: string[] = [];
  for (const s of summary.statement?.subjects ?? []) {
    for (const [alg, hex] of Object.entries(s.digest)) named.push(`${alg}:${hex}`.toLowerCase());
  }
  if (summary.kind === 'cosign-simplesigning') {
    const digest = summary.facts.find(([label]) => label === 'Image digest')?.[1];
    if (digest) named.push(digest.toLowerCase());
  }
  if (named.length === 0) return { result: 'none' };
  return named.some((d) => wanted.has(d)) ? { result: 'matches' } : { result: 'other', named };
}
