// The verifiers' entry points.
import { verifyCosignKey as cosignKey } from './cosign.ts';
import { verifyKeyless } from './keyless.ts';
import { verifyNotationEnvelope } from './notation.ts';
import { parseTrustedRoot as parseRoot } from './trustroot.ts';
import type {
  FoundSignature,
  IdentityPolicy,
  SignedSubject,
  SigstoreTrustRoot,
  VerificationResult,
} from './types.ts';

/** cosign with a key: `publicKey` is PEM (ECDSA P-256/P-384, RSA, Ed25519). */
export async function verifyCosignKey(
  sig: FoundSignature,
  publicKey: string,
  subject: SignedSubject,
): Promise<VerificationResult> {
  return cosignKey(sig, publicKey, subject);
}

/** cosign keyless (a Fulcio certificate, Rekor bundle), offline, against `root`. `now` is the
 * time the verification is made at (tests pass their own). A Sigstore bundle holds only its
 * payload's digest: `payload` is the simple-signing payload found with it. */
export async function verifyCosignKeyless(
  sig: FoundSignature,
  root: SigstoreTrustRoot,
  subject: SignedSubject,
  policy: IdentityPolicy,
  now?: Date,
  payload?: Uint8Array,
): Promise<VerificationResult> {
  return verifyKeyless(sig, root, subject, policy, now, payload);
}

/** Notation (COSE or JWS envelope) against the user's trust roots (PEM certificates). */
export async function verifyNotation(
  sig: FoundSignature,
  trustRoots: string[],
  subject: SignedSubject,
  now?: Date,
): Promise<VerificationResult> {
  return verifyNotationEnvelope(sig, trustRoots, subject, now);
}

/** Parses a Sigstore trusted_root.json (the shipped one, or one the user imports). */
export function parseTrustedRoot(json: string): SigstoreTrustRoot {
  return parseRoot(json);
}
