// Notation signatures, in COSE_Sign1 (application/cose) or JWS (application/jose+json)
// envelopes, verified against trust roots the user imports. cbor2 decodes the envelope: it is ESM, has no dependencies that touch Node,
// and handles what hand-written CBOR readers get wrong (indefinite lengths, tags, maps with
// mixed keys).
import { decode, Tag } from 'cbor2';
import { bytesText, concatBytes, fromBase64, pemBlocks, textBytes } from './bytes.ts';
import { keyInfo, verifySignature, type SigAlg } from './keys.ts';
import { Checks } from './result.ts';
import type { FoundSignature, SignedSubject, VerificationResult } from './types.ts';
import {
  buildPath,
  extKeyUsages,
  isCA,
  keyUsage,
  nameText,
  OID,
  parseCertificate,
  type Certificate,
} from './x509.ts';

const H = {
  alg: 1,
  crit: 2,
  contentType: 3,
  x5chain: 33,
  scheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  expiry: 'io.cncf.notary.expiry',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
} as const;

const PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';

/** The algorithms Notation signs with: COSE numbers (RFC 9053 / RFC 8230) and JWS names. */
const ALGS: { cose: number; name: string; alg: SigAlg }[] = [
  { cose: -7, name: 'ES256', alg: { kind: 'ecdsa', hash: 'SHA-256' } },
  { cose: -35, name: 'ES384', alg: { kind: 'ecdsa', hash: 'SHA-384' } },
  { cose: -36, name: 'ES512', alg: { kind: 'ecdsa', hash: 'SHA-512' } },
  { cose: -37, name: 'PS256', alg: { kind: 'rsa-pss', hash: 'SHA-256', saltLength: 32 } },
  { cose: -38, name: 'PS384', alg: { kind: 'rsa-pss', hash: 'SHA-384', saltLength: 48 } },
  { cose: -39, name: 'PS512', alg: { kind: 'rsa-pss', hash: 'SHA-512', saltLength: 64 } },
];

/** An envelope, COSE or JWS, reduced to what the checks read. Signatures are raw (r||s for
 * ECDSA) in both formats. */
interface Envelope {
  format: 'COSE' | 'JWS';
  /** The protected headers, by label (Notation's own labels are strings in both formats). */
  headers: Map<unknown, unknown>;
  alg: unknown;
  crit: unknown;
  cty: unknown;
  chainDer: Uint8Array[];
  payload: Uint8Array;
  signature: Uint8Array;
  /** The bytes the signature covers. */
  signed: Uint8Array;
}

function readCose(c: Checks, bytes: Uint8Array): Envelope {
  c.step('reading the COSE envelope');
  let top: unknown;
  try {
    top = decode(bytes, { preferMap: true });
  } catch (e) {
    c.fail('the envelope is COSE_Sign1', `it is not CBOR (${(e as Error).message})`);
  }
  const parts = top instanceof Tag ? (top.tag === 18 ? top.contents : undefined) : top;
  if (
    !Array.isArray(parts) ||
    parts.length !== 4 ||
    !(parts[0] instanceof Uint8Array) ||
    !(parts[1] instanceof Map) ||
    !(parts[2] instanceof Uint8Array) ||
    !(parts[3] instanceof Uint8Array)
  ) {
    c.fail('the envelope is COSE_Sign1', 'it is CBOR of another shape');
  }
  const [protectedBytes, unprotected, payload, signature] = parts as [
    Uint8Array,
    Map<unknown, unknown>,
    Uint8Array,
    Uint8Array,
  ];
  const headers = decode(protectedBytes, { preferMap: true });
  if (!(headers instanceof Map)) {
    c.fail('the envelope is COSE_Sign1', 'its protected header is not a map');
  }
  c.pass('the envelope is COSE_Sign1');
  const x5 = unprotected.get(H.x5chain);
  return {
    format: 'COSE',
    headers,
    alg: headers.get(H.alg),
    crit: headers.get(H.crit),
    cty: headers.get(H.contentType),
    chainDer: (Array.isArray(x5) ? x5 : [x5]).filter(
      (x): x is Uint8Array => x instanceof Uint8Array,
    ),
    payload,
    signature,
    signed: sigStructure(protectedBytes, payload),
  };
}

/** JWS JSON serialisation, flattened, as Notation writes it (its default format). */
function readJws(c: Checks, bytes: Uint8Array): Envelope {
  c.step('reading the JWS envelope');
  let doc: {
    payload?: unknown;
    protected?: unknown;
    header?: { x5c?: unknown };
    signature?: unknown;
  };
  try {
    doc = JSON.parse(bytesText(bytes)) as typeof doc;
  } catch {
    c.fail('the envelope is JWS', 'it is not JSON');
  }
  if (
    typeof doc?.payload !== 'string' ||
    typeof doc.protected !== 'string' ||
    typeof doc.signature !== 'string'
  ) {
    c.fail('the envelope is JWS', 'it has no payload, protected header or signature');
  }
  let headers: Record<string, unknown>;
  try {
    headers = JSON.parse(bytesText(fromBase64(doc.protected))) as Record<string, unknown>;
  } catch {
    c.fail('the envelope is JWS', 'its protected header is not base64url JSON');
  }
  if (typeof headers !== 'object' || headers === null) {
    c.fail('the envelope is JWS', 'its protected header is not an object');
  }
  c.pass('the envelope is JWS');
  const x5c = Array.isArray(doc.header?.x5c) ? doc.header.x5c : [];
  return {
    format: 'JWS',
    headers: new Map(Object.entries(headers)),
    alg: headers.alg,
    crit: headers.crit,
    cty: headers.cty,
    chainDer: x5c.filter((x): x is string => typeof x === 'string').map((x) => fromBase64(x)),
    payload: fromBase64(doc.payload),
    signature: fromBase64(doc.signature),
    signed: textBytes(`${doc.protected}.${doc.payload}`),
  };
}

function bstr(b: Uint8Array): Uint8Array {
  // CBOR major type 2 header for a definite length.
  const n = b.length;
  const head =
    n < 24
      ? Uint8Array.of(0x40 | n)
      : n < 0x100
        ? Uint8Array.of(0x58, n)
        : n < 0x10000
          ? Uint8Array.of(0x59, n >> 8, n & 0xff)
          : Uint8Array.of(0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  return concatBytes(head, b);
}

/** COSE Sig_structure for COSE_Sign1: ["Signature1", protected, external_aad = h'', payload]. */
function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return concatBytes(
    Uint8Array.of(0x84, 0x6a),
    textBytes('Signature1'),
    bstr(protectedBytes),
    Uint8Array.of(0x40),
    bstr(payload),
  );
}

function asDate(v: unknown): Date | undefined {
  if (v instanceof Date) return v;
  // JWS writes times as RFC 3339 text.
  if (typeof v === 'string') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  if (v instanceof Tag && v.tag === 1 && typeof v.contents === 'number') {
    return new Date(v.contents * 1000);
  }
  return undefined;
}

function pemCertificates(pems: string[]): Certificate[] {
  const out: Certificate[] = [];
  for (const pem of pems) {
    for (const b of pemBlocks(pem))
      if (b.label === 'CERTIFICATE') out.push(parseCertificate(b.der));
  }
  return out;
}

export async function verifyNotationEnvelope(
  sig: FoundSignature,
  trustRoots: string[],
  subject: SignedSubject,
  now: Date = new Date(),
): Promise<VerificationResult> {
  const c: Checks = new Checks('notation');
  const fill: Partial<VerificationResult> = {};
  return c.run(fill, async () => {
    if (sig.kind !== 'notation') {
      c.fail('the signature is a Notation signature', `it is a ${sig.kind} signature`);
    }
    const env =
      sig.mediaType === 'application/cose' ? readCose(c, sig.envelope) : readJws(c, sig.envelope);
    const prot = env.headers;

    // Critical headers: every one listed must be understood and present (Notation's rule).
    const crit = env.crit;
    const known = new Set<unknown>([H.scheme, H.expiry, H.authenticSigningTime, H.signingTime]);
    if (!Array.isArray(crit) || !crit.includes(H.scheme)) {
      c.fail(
        'the critical headers are understood',
        'io.cncf.notary.signingScheme is not marked critical',
      );
    }
    const unknown = crit.filter((h) => !known.has(h) || !prot.has(h));
    c.expect(
      unknown.length === 0,
      'the critical headers are understood',
      `${unknown.map(String).join(', ')} is critical but unknown or absent`,
    );
    const scheme = prot.get(H.scheme);
    if (scheme !== 'notary.x509' && scheme !== 'notary.x509.signingAuthority') {
      c.fail('the signing scheme is notary.x509', `it is ${String(scheme)}`);
    }
    c.expect(
      env.cty === PAYLOAD_TYPE,
      `the payload type is ${PAYLOAD_TYPE}`,
      `it is ${String(env.cty)}`,
    );
    const claimed = asDate(
      prot.get(scheme === 'notary.x509' ? H.signingTime : H.authenticSigningTime),
    );
    if (claimed) fill.signedAt = claimed.toISOString();

    c.step('reading the certificate chain');
    if (env.chainDer.length === 0) {
      c.fail('the envelope carries its certificate chain', 'it has none');
    }
    const chain = env.chainDer.slice(0, 8).map(parseCertificate);
    const leaf = chain[0]!;
    fill.signer = { identity: nameText(leaf.subject) };

    c.step('verifying the signature');
    const alg = ALGS.find((a) => a.cose === env.alg || a.name === env.alg);
    if (!alg) c.fail('the signature algorithm is one Notation uses', `it is ${String(env.alg)}`);
    const info = keyInfo(leaf.spki);
    const fits =
      (alg.alg.kind === 'ecdsa' && info.kind === 'ec') ||
      (alg.alg.kind === 'rsa-pss' && info.kind === 'rsa');
    if (!fits) c.fail(`the signing certificate's key fits ${alg.name}`, `it is ${info.kind}`);
    c.expect(
      await verifySignature(leaf.spki, alg.alg, env.signature, env.signed, true),
      "the signature verifies with the signing certificate's key",
      'it does not: the envelope was changed, or another key signed it',
      `${env.format}, ${alg.name}`,
    );
    const payload = env.payload;

    c.step('reading the payload');
    let target: { mediaType?: unknown; digest?: unknown; size?: unknown } | undefined;
    try {
      target = (JSON.parse(bytesText(payload)) as { targetArtifact?: typeof target })
        .targetArtifact;
    } catch {
      c.fail('the payload names a target artifact', 'it is not JSON');
    }
    if (typeof target !== 'object' || target === null) {
      c.fail('the payload names a target artifact', 'it has no targetArtifact');
    }
    c.expect(
      target.digest === subject.digest,
      `the payload names this image, ${subject.digest}`,
      `it names ${String(target.digest)}`,
    );
    if (subject.size !== undefined) {
      c.expect(
        target.size === subject.size,
        `the payload's size is the image manifest's, ${subject.size} bytes`,
        `it says ${String(target.size)}`,
      );
    }
    if (subject.mediaType !== undefined) {
      c.expect(
        target.mediaType === subject.mediaType,
        `the payload's media type is ${subject.mediaType}`,
        `it says ${String(target.mediaType)}`,
      );
    }
    const ann = (target as { annotations?: unknown }).annotations;
    if (typeof ann === 'object' && ann !== null) {
      fill.annotations = Object.fromEntries(
        Object.entries(ann).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
      );
    }

    const expiry = asDate(prot.get(H.expiry));
    if (expiry) {
      c.expect(
        now.getTime() <= expiry.getTime(),
        'the signature has not expired',
        `it expired at ${expiry.toISOString()}`,
        `expires ${expiry.toISOString()}`,
      );
    }

    c.step('building the certificate chain');
    if (trustRoots.length === 0)
      c.fail('the chain ends at a trusted root', 'no trust root was given');
    let roots: Certificate[];
    try {
      roots = pemCertificates(trustRoots);
    } catch (e) {
      c.fail('the trust roots are certificates', (e as Error).message);
    }
    if (roots.length === 0)
      c.fail('the trust roots are certificates', 'no CERTIFICATE block in them');
    const path = await buildPath(leaf, chain.slice(1), roots);
    if (!path) {
      c.fail(
        'the chain ends at a trusted root',
        'the signing certificate was not issued under any of them',
      );
    }
    if (path.slice(1).some((p) => !isCA(p))) {
      c.fail('the chain ends at a trusted root', 'an issuer in the chain is not a CA');
    }
    c.pass('the chain ends at a trusted root', nameText(path[path.length - 1]!.subject));
    // notary.x509 signing times are the signer's claim, so the chain must be valid now;
    // signingAuthority times are authenticated, so the chain must be valid then.
    const at = scheme === 'notary.x509' ? now : (claimed ?? now);
    const invalid = path.find((p) => at < p.notBefore || at > p.notAfter);
    c.expect(
      !invalid,
      `the chain is valid ${scheme === 'notary.x509' ? 'now' : 'at the signing time'}`,
      invalid
        ? `${nameText(invalid.subject)} is valid ${invalid.notBefore.toISOString()} – ${invalid.notAfter.toISOString()}`
        : '',
    );
    const usage = keyUsage(leaf);
    c.expect(
      !isCA(leaf) && (usage === undefined || usage.digitalSignature),
      'the signing certificate is for signing',
      'it is a CA certificate, or its key usage lacks digitalSignature',
    );
    c.expect(
      (extKeyUsages(leaf) ?? []).includes(OID.codeSigning),
      'the signing certificate is for code signing',
      'its extended key usage does not include code signing',
    );
    c.notChecked.push('no revocation check: offline');
    if (scheme === 'notary.x509') {
      c.notChecked.push(
        'the signing time is what the signer claims: no timestamp countersignature is checked',
      );
    }
    c.notChecked.push(
      'no trust policy: any certificate under the imported roots is accepted, whatever its subject',
    );
  });
}
