// Digest strings, `<algorithm>:<hex>`. A digest names content, and Berth uses it as a store key
// and in registry URLs, so only the two registered OCI algorithms in their canonical form (lowercase
// hex, exact length) are accepted: anything looser would let two spellings name one blob, or let a
// crafted string escape a URL path.

export type DigestAlgorithm = 'sha256' | 'sha512';

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export class InvalidDigestError extends Error {
  override name = 'InvalidDigestError';
  constructor(
    readonly digest: string,
    message: string,
  ) {
    super(message);
  }
}

function isAlgorithm(a: string): a is DigestAlgorithm {
  return Object.hasOwn(hexLength, a);
}

/** Splits and validates a digest; throws InvalidDigestError saying what is wrong with it. */
export function parseDigest(d: string): { algorithm: DigestAlgorithm; hex: string } {
  if (typeof d !== 'string') {
    throw new InvalidDigestError(String(d), `digest must be a string, got ${typeof d}`);
  }
  const q = JSON.stringify(d.length > 200 ? d.slice(0, 200) + '…' : d);
  const colon = d.indexOf(':');
  if (colon < 0) {
    throw new InvalidDigestError(
      d,
      /^[0-9a-f]{64}$/.test(d)
        ? `digest ${q} has no algorithm; write it as sha256:${d}`
        : `digest ${q} is not of the form sha256:<64 hex characters>`,
    );
  }
  const algorithm = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  if (!isAlgorithm(algorithm)) {
    const hint = isAlgorithm(algorithm.toLowerCase()) ? ` (write it in lowercase)` : '';
    throw new InvalidDigestError(
      d,
      `digest ${q} uses unsupported algorithm ${JSON.stringify(algorithm)}${hint}; Berth supports sha256 and sha512`,
    );
  }
  const want = hexLength[algorithm];
  const bad = `digest ${q} is not a valid ${algorithm} digest`;
  if (!/^[0-9a-fA-F]*$/.test(hex)) {
    throw new InvalidDigestError(d, `${bad}: the part after "${algorithm}:" must be hexadecimal`);
  }
  if (hex.length !== want) {
    throw new InvalidDigestError(d, `${bad}: it has ${hex.length} hex characters, want ${want}`);
  }
  // Uppercase hex is rejected, not folded: the registry and the store compare digests as strings.
  if (hex !== hex.toLowerCase()) {
    throw new InvalidDigestError(d, `${bad}: hex must be lowercase`);
  }
  return { algorithm, hex };
}

export function isDigest(d: string): boolean {
  try {
    parseDigest(d);
    return true;
  } catch {
    return false;
  }
}

/** The first 12 hex characters, as docker shows image IDs. Throws on an invalid digest, so a
 * display never shows a truncation of something that was never a digest. */
export function shortDigest(d: string): string {
  return parseDigest(d).hex.slice(0, 12);
}

/** The blob's path inside an OCI image layout. Validated first: the result becomes a file path. */
export function digestPath(d: string): string {
  const { algorithm, hex } = parseDigest(d);
  return `blobs/${algorithm}/${hex}`;
}
