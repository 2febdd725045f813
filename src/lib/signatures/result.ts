// Building a VerificationResult: checks are recorded in order, and the first failure ends the
// verification with its sentence as the error. Verifiers never throw: anything unexpected
// (bad base64, broken DER, a key WebCrypto refuses) becomes a failed check.
import type { Check, VerificationResult } from './types.ts';

class Failed extends Error {}

export class Checks {
  readonly checks: Check[] = [];
  readonly notChecked: string[] = [];
  /** What is being checked now, so an unexpected throw is reported against it. */
  private current = 'reading the signature';

  constructor(readonly scheme: VerificationResult['scheme']) {}

  /** Names the step that follows (used when it throws). */
  step(what: string): void {
    this.current = what;
  }

  pass(what: string, detail?: string): void {
    this.checks.push(detail === undefined ? { what, ok: true } : { what, ok: true, detail });
  }

  /** Records a failed check and ends the verification. */
  fail(what: string, detail?: string): never {
    this.checks.push(detail === undefined ? { what, ok: false } : { what, ok: false, detail });
    throw new Failed(detail ? `${what}: ${detail}` : what);
  }

  /** `ok` passes `what`, otherwise fails it with `why`. */
  expect(ok: boolean, what: string, why: string, detail?: string): void {
    if (ok) this.pass(what, detail);
    else this.fail(what, why);
  }

  /** Runs a verification body and turns its end (normal, failed check, or throw) into a
   * result. `fill` holds the signer, time and annotations found so far. */
  async run(
    fill: Partial<VerificationResult>,
    body: () => Promise<void>,
  ): Promise<VerificationResult> {
    let error: string | undefined;
    try {
      if (typeof crypto === 'undefined' || crypto.subtle === undefined) {
        this.fail(
          'WebCrypto is available',
          'it is not: the page is not a secure context (served over HTTPS or from localhost)',
        );
      }
      await body();
    } catch (e) {
      if (e instanceof Failed) error = e.message;
      else {
        const why = e instanceof Error ? e.message : String(e);
        this.checks.push({ what: this.current, ok: false, detail: why });
        error = `${this.current}: ${why}`;
      }
    }
    const result: VerificationResult = {
      scheme: this.scheme,
      verified: error === undefined,
      checks: this.checks,
      notChecked: this.notChecked,
    };
    if (fill.signer && Object.keys(fill.signer).length > 0) result.signer = fill.signer;
    if (fill.signedAt) result.signedAt = fill.signedAt;
    if (fill.annotations && Object.keys(fill.annotations).length > 0) {
      result.annotations = fill.annotations;
    }
    if (error !== undefined) result.error = error;
    return result;
  }
}
