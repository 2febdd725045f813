// Verifying an image's signatures: cosign (with a key, or keyless through Sigstore) and
// Notation (COSE). Each verifier is pure: it takes what was found beside the image and what the
// user trusts, and says what it checked.

/** One check a verification made, in words: "the signature verifies with the given key",
 * "the payload names sha256:…". */
export interface Check {
  what: string;
  ok: boolean;
  detail?: string;
}

export interface VerificationResult {
  scheme: 'cosign-key' | 'cosign-keyless' | 'notation';
  /** Every check passed. */
  verified: boolean;
  /** Who signed, as far as the signature says (and, when verified, proves). */
  signer?: {
    /** Keyless: the certificate's identity (SAN: email, URI); Notation: the subject DN. */
    identity?: string;
    /** Keyless: the OIDC issuer (Fulcio extension). */
    issuer?: string;
    /** cosign with a key: the key's SHA-256 fingerprint (hex). */
    keyId?: string;
  };
  /** When it was signed: the transparency log's integrated time, or the signing time the
   * envelope claims (say which in `checks`). ISO 8601. */
  signedAt?: string;
  /** The payload's `optional` annotations (cosign) or the envelope's. */
  annotations?: Record<string, string>;
  /** Every check made, in order; a failed one ends the verification (later ones are absent). */
  checks: Check[];
  /** What was not checked, and why: "no revocation check: offline", "the transparency log
   * entry is not checked against a live log". */
  notChecked: string[];
  /** The first failed check, or why nothing could be checked, in one sentence. */
  error?: string;
}

/** The image a signature must name. */
export interface SignedSubject {
  /** The digest of the manifest signed (the one the reference resolved to). */
  digest: string;
  mediaType?: string;
  size?: number;
  /** The repository, `registry/name`, as cosign writes it in docker-reference. */
  repository?: string;
}

/** A signature found beside an image, read out of its manifest and blobs
 * (signatures/found.ts). Bytes are the blobs as stored. */
export type FoundSignature =
  | {
      kind: 'cosign';
      /** The signature manifest's digest, and where it was found. */
      manifest: string;
      via: 'tag' | 'referrer';
      /** The simple-signing payload (the layer's bytes). */
      payload: Uint8Array;
      /** The `dev.cosignproject.cosign/signature` annotation (base64). */
      signature: string;
      /** Keyless: the leaf certificate and chain (PEM), and the Rekor bundle (JSON text). */
      certificate?: string;
      chain?: string;
      rekorBundle?: string;
    }
  | {
      kind: 'sigstore-bundle';
      manifest: string;
      via: 'tag' | 'referrer';
      /** A Sigstore bundle (v0.1 to v0.3), JSON text. */
      bundle: string;
    }
  | {
      kind: 'notation';
      manifest: string;
      via: 'referrer';
      mediaType: 'application/cose' | 'application/jose+json';
      envelope: Uint8Array;
    };

/** A Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json`), parsed. */
export interface SigstoreTrustRoot {
  /** Fulcio CAs: each chain (root last) with its validity window. */
  certificateAuthorities: { uri?: string; chain: Uint8Array[]; validFrom: Date; validTo?: Date }[];
  /** Rekor logs and CT logs: public key (SPKI DER), log id (hex), validity. */
  tlogs: {
    baseUrl?: string;
    logId: string;
    publicKey: Uint8Array;
    validFrom: Date;
    validTo?: Date;
  }[];
  ctlogs: {
    baseUrl?: string;
    logId: string;
    publicKey: Uint8Array;
    validFrom: Date;
    validTo?: Date;
  }[];
}

/** What a keyless signature must be made by; absent fields are not checked (and the result
 * says so). */
export interface IdentityPolicy {
  /** The certificate identity: exact, or a regular expression when `identityRegExp`. */
  identity?: string;
  identityRegExp?: boolean;
  issuer?: string;
}
