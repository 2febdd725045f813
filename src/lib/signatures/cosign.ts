// cosign with a key: the signature over the simple-signing payload, and what the payload says.
import { bytesText, fromBase64, hex, pemBlocks, sha256 } from './bytes.ts';
import { defaultSigAlg, describeKey, keyInfo, verifySignature, type SigAlg } from './keys.ts';
import { checkStatement, pae } from './dsse.ts';
import { Checks } from './result.ts';
import type { FoundSignature, SignedSubject, VerificationResult } from './types.ts';

export const COSIGN_TYPE = 'cosign container image signature';

/**
 * The checks on a simple-signing payload every cosign verification makes: it is JSON of
 * cosign's shape, its type, and the digest it names is the subject's. Returns the `optional`
 * annotations as text.
 */
export function checkPayload(
  c: Checks,
  payload: Uint8Array,
  subject: SignedSubject,
): Record<string, string> {
  c.step('reading the payload');
  let doc: unknown;
  try {
    doc = JSON.parse(bytesText(payload));
  } catch {
    c.fail('the payload is cosign simple-signing JSON', 'it is not JSON');
  }
  const critical = (doc as { critical?: unknown } | null)?.critical as
    | {
        type?: unknown;
        image?: { 'docker-manifest-digest'?: unknown };
        identity?: { 'docker-reference'?: unknown };
      }
    | undefined;
  if (typeof critical !== 'object' || critical === null) {
    c.fail('the payload is cosign simple-signing JSON', 'it has no "critical" section');
  }
  c.expect(
    critical.type === COSIGN_TYPE,
    `the payload's type is "${COSIGN_TYPE}"`,
    `it is ${JSON.stringify(critical.type)}`,
  );
  const named = critical.image?.['docker-manifest-digest'];
  c.expect(
    named === subject.digest,
    `the payload names this image, ${subject.digest}`,
    `it names ${typeof named === 'string' ? named : 'no digest'}`,
  );
  const ref = critical.identity?.['docker-reference'];
  if (typeof ref === 'string' && ref !== '') {
    if (subject.repository && ref !== subject.repository) {
      c.notChecked.push(
        `the payload names the repository ${ref}, not ${subject.repository}: like cosign, Berth does not require them to match (images are copied between registries)`,
      );
    } else {
      c.notChecked.push(
        `the payload's repository (${ref}) is shown, not checked: cosign does not check it either`,
      );
    }
  }
  const optional = (doc as { optional?: unknown }).optional;
  const annotations: Record<string, string> = {};
  if (typeof optional === 'object' && optional !== null) {
    for (const [k, v] of Object.entries(optional)) {
      annotations[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return annotations;
}

/** The SubjectPublicKeyInfo of a PEM public key; throws with what the text is instead. */
export function publicKeyFromPem(pem: string): Uint8Array {
  const blocks = pemBlocks(pem);
  const key = blocks.find((b) => b.label === 'PUBLIC KEY');
  if (key) return key.der;
  if (blocks.some((b) => b.label.includes('PRIVATE KEY'))) {
    throw new Error('that is a private key; give the public key (cosign.pub)');
  }
  if (blocks.some((b) => b.label === 'RSA PUBLIC KEY')) {
    throw new Error(
      'a PKCS#1 RSA key: give it as a "PUBLIC KEY" (openssl rsa -RSAPublicKey_in -pubout)',
    );
  }
  if (blocks.some((b) => b.label === 'CERTIFICATE')) {
    throw new Error('that is a certificate, not a public key');
  }
  throw new Error('no "-----BEGIN PUBLIC KEY-----" block');
}

/** The hash, when the algorithm has one apart (Ed25519 hashes inside the signature). */
function describeHash(alg: SigAlg): string {
  return alg.kind === 'ed25519' ? '' : `, ${alg.hash}`;
}

export async function verifyCosignKey(
  sig: FoundSignature,
  publicKey: string,
  subject: SignedSubject,
): Promise<VerificationResult> {
  const c: Checks = new Checks('cosign-key');
  const fill: Partial<VerificationResult> = {};
  return c.run(fill, async () => {
    if (sig.kind === 'notation') {
      c.fail(
        'the signature is a cosign signature',
        'it is a Notation signature: verify it with a trust root certificate',
      );
    }
    c.step('reading the public key');
    let spki: Uint8Array;
    try {
      spki = publicKeyFromPem(publicKey);
      keyInfo(spki);
    } catch (e) {
      c.fail('the public key is readable', e instanceof Error ? e.message : String(e));
    }
    const info = keyInfo(spki);
    fill.signer = { keyId: hex(await sha256(spki)) };
    c.pass('the public key is readable', `${describeKey(info)}, SHA-256 ${fill.signer.keyId}`);

    c.step('reading the signature');
    // cosign 3 signs with a key into a Sigstore bundle: a DSSE envelope, the key named by a
    // hint. Its signature covers the envelope's PAE, and its statement names the image.
    let raw: Uint8Array;
    let signed: Uint8Array;
    let dsse: { payloadType: string; payload: Uint8Array } | undefined;
    if (sig.kind === 'sigstore-bundle') {
      const env = (JSON.parse(sig.bundle) as { dsseEnvelope?: unknown }).dsseEnvelope as
        { payload?: unknown; payloadType?: unknown; signatures?: { sig?: unknown }[] } | undefined;
      const first = Array.isArray(env?.signatures) ? env.signatures[0]?.sig : undefined;
      if (
        typeof env?.payload !== 'string' ||
        typeof env.payloadType !== 'string' ||
        typeof first !== 'string'
      ) {
        c.fail(
          'the bundle carries a signed DSSE envelope',
          'it has none: a bundle with a certificate is verified keyless',
        );
      }
      dsse = { payloadType: env.payloadType, payload: fromBase64(env.payload) };
      raw = fromBase64(first);
      signed = pae(dsse.payloadType, dsse.payload);
    } else {
      try {
        raw = fromBase64(sig.signature);
      } catch {
        c.fail('the signature annotation is base64', 'it is not');
      }
      signed = sig.payload;
    }
    // cosign signs with the key's default hash (sigstore's LoadDefaultVerifier): SHA-384 for
    // P-384. Releases before 2.4 used SHA-256 for every ECDSA key, so P-384 tries both.
    const algs: SigAlg[] = [defaultSigAlg(info)];
    if (info.kind === 'ec' && info.curve !== 'P-256') algs.push({ kind: 'ecdsa', hash: 'SHA-256' });
    c.step('verifying the signature');
    let used: SigAlg | undefined;
    for (const alg of algs) {
      if (await verifySignature(spki, alg, raw, signed)) {
        used = alg;
        break;
      }
    }
    if (!used) {
      c.fail(
        'the signature verifies with the given key',
        'it does not: signed by another key, or the payload was changed',
      );
    }
    c.pass(
      'the signature verifies with the given key',
      `${describeKey(info)}${info.kind === 'rsa' ? ' PKCS#1 v1.5' : ''}${describeHash(used)}, over ${dsse ? 'the DSSE envelope' : `the payload's ${signed.length} bytes`}`,
    );
    if (dsse) checkStatement(c, dsse.payloadType, dsse.payload, subject);
    else fill.annotations = checkPayload(c, signed, subject);
    if (sig.kind === 'sigstore-bundle') {
      c.notChecked.push(
        'the transparency log entry in the bundle is not checked when verifying with a key',
      );
    } else if (sig.rekorBundle) {
      c.notChecked.push(
        'the transparency log entry beside the signature is not checked when verifying with a key',
      );
    } else {
      c.notChecked.push('no transparency log entry: the signing time is not known');
    }
    c.notChecked.push('the key is trusted as given: whose key it is is up to you');
  });
}
