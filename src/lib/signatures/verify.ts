// The verifiers' entry points.
import type {
  FoundSignature,
  IdentityPolicy,
  SignedSubject,
  SigstoreTrustRoot,
  VerificationResult,
} from './types.ts';

/** cosign with a key: `publicKey` is PEM (ECDSA P-256/P-384, RSA, Ed25519). */
export async function verifyCosignKey(
  _sig: FoundSignature,
  _publicKey: string,
  _subject: SignedSubject,
): Promise<VerificationResult> {
  throw new Error('not built yet');
}

/** cosign keyless (a Fulcio certificate, Rekor bundle), offline, against `root`. `now` is the
 * time the verification is made at (tests pass their own). */
export async function verifyCosignKeyless(
  _sig: FoundSignature,
  _root: SigstoreTrustRoot,
  _subject: SignedSubject,
  _policy: IdentityPolicy,
  _now?: Date,
): Promise<VerificationResult> {
  throw new Error('not built yet');
}

/** Notation (COSE or JWS envelope) against the user's trust roots (PEM certificates). */
export async function verifyNotation(
  _sig: FoundSignature,
  _trustRoots: string[],
  _subject: SignedSubject,
  _now?: Date,
): Promise<VerificationResult> {
  throw new Error('not built yet');
}

/** Parses a Sigstore trusted_root.json (the shipped one, or one the user imports). */
export function parseTrustedRoot(_json: string): SigstoreTrustRoot {
  throw new Error('not built yet');
}
