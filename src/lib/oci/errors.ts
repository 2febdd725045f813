// Errors about content itself, whoever holds it: the registry, the store, an archive.

/** The bytes of a blob or manifest did not hash to the digest that named them. Final: retrying
 * the same source returns the same bytes (moby's DoNotRetry on verifier failure). */
export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly bytes: number,
    what: string,
  ) {
    super(
      `${what}: content does not match its digest (read ${bytes} bytes, got ${actual}, want ${expected}). ` +
        'The registry or something between it and you served corrupt data; nothing was stored.',
    );
  }
}

export class SizeMismatchError extends Error {
  override name = 'SizeMismatchError';
  constructor(
    readonly expected: number,
    readonly actual: number,
    what: string,
  ) {
    super(`${what}: size mismatch (got ${actual} bytes, want ${expected}); nothing was stored.`);
  }
}
