// DSSE envelopes as cosign 3 writes image signatures: the signature is over DSSE's
// pre-authentication encoding of an in-toto statement naming the image.
import { bytesText, concatBytes, textBytes } from './bytes.ts';
import type { Checks } from './result.ts';
import type { SignedSubject } from './types.ts';

/** DSSE's pre-authentication encoding: what a DSSE signature signs. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = textBytes(payloadType);
  return concatBytes(
    textBytes(`DSSEv1 ${type.length} `),
    type,
    textBytes(` ${payload.length} `),
    payload,
  );
}

export const SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** The checks on cosign 3's signed statement: an in-toto statement whose predicate type is
 * cosign's signature and whose subject is this image. */
export function checkStatement(
  c: Checks,
  payloadType: string | undefined,
  payload: Uint8Array,
  subject: SignedSubject,
): void {
  c.step('reading the signed statement');
  c.expect(
    payloadType === 'application/vnd.in-toto+json',
    'the envelope holds an in-toto statement',
    `its payload type is ${String(payloadType)}`,
  );
  let st: { predicateType?: unknown; subject?: { digest?: Record<string, unknown> }[] };
  try {
    st = JSON.parse(bytesText(payload)) as typeof st;
  } catch {
    c.fail('the envelope holds an in-toto statement', 'its payload is not JSON');
  }
  c.expect(
    st?.predicateType === SIGN_PREDICATE,
    `the statement is a cosign signature (${SIGN_PREDICATE})`,
    `it is a ${String(st?.predicateType)} attestation, not a signature`,
  );
  const [algo, want] = subject.digest.split(':');
  const names = (Array.isArray(st.subject) ? st.subject : []).map((s) => s?.digest?.[algo ?? '']);
  c.expect(
    names.includes(want),
    `the statement names this image, ${subject.digest}`,
    `it names ${names.map((n) => `${algo}:${String(n)}`).join(', ') || 'nothing'}`,
  );
}
