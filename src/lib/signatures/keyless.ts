// cosign keyless, offline: the Fulcio certificate, its embedded SCT, the Rekor entry and its
// signed entry timestamp, all checked against a Sigstore trusted root the caller passes.
//
// Not @sigstore/verify: it runs on @sigstore/core, which imports Node's `crypto` (synchronous
// crypto.verify, createPublicKey) and builds on Buffer throughout, so it does not run in a
// browser or a Web Worker without polyfills of both. The checks it makes are reproduced here
// with WebCrypto and the small X.509 reader in x509.ts.
import {
  bytesText,
  concatBytes,
  encodeLength,
  equalBytes,
  fromBase64,
  hex,
  pemBlocks,
  readTlv,
  sha256,
  textBytes,
} from './bytes.ts';
import { checkPayload } from './cosign.ts';
import { checkStatement, pae } from './dsse.ts';
import { defaultSigAlg, keyInfo, verifySignature, type SigAlg } from './keys.ts';
import { Checks } from './result.ts';
import { within } from './trustroot.ts';
import type {
  FoundSignature,
  IdentityPolicy,
  SignedSubject,
  SigstoreTrustRoot,
  VerificationResult,
} from './types.ts';
import {
  buildPath,
  extKeyUsages,
  extension,
  fulcioIssuer,
  isCA,
  OID,
  parseCertificate,
  subjectAltNames,
  type Certificate,
} from './x509.ts';

/** What a keyless signature is made of, whether it came as cosign annotations or a bundle. */
interface Material {
  leaf: Certificate;
  /** The signature, and the payload it vouches for. */
  signature: Uint8Array;
  payload: Uint8Array;
  /** A DSSE envelope: the signature is over PAE(payloadType, payload), and the payload is an
   * in-toto statement (cosign 3's image signatures). Otherwise the signature is over the
   * simple-signing payload itself. */
  dsse?: { payloadType: string };
  /** Why there is no entry, when the signature says more than "none". */
  noEntry?: string;
  entry?: {
    set: Uint8Array;
    body: string;
    integratedTime: number;
    logIndex: number;
    logId: string;
  };
}

function isoOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** The canonical JSON of the SET's payload (RFC 8785 for these four fields: sorted keys, no
 * spaces, integers as integers). */
function canonicalEntry(e: NonNullable<Material['entry']>): Uint8Array {
  return textBytes(
    `{"body":${JSON.stringify(e.body)},"integratedTime":${e.integratedTime},"logID":${JSON.stringify(e.logId)},"logIndex":${e.logIndex}}`,
  );
}

function integer(v: unknown): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error('not an integer');
  return n;
}

function leafFromPem(pem: string): Certificate {
  const blocks = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new Error('no certificate in it');
  return parseCertificate(blocks[0]!.der);
}

function materialFromCosign(c: Checks, sig: Extract<FoundSignature, { kind: 'cosign' }>): Material {
  c.step('reading the certificate');
  if (!sig.certificate) {
    c.fail(
      'the signature carries a Fulcio certificate',
      'it has none: it was made with a key, verify it with the public key',
    );
  }
  const leaf = leafFromPem(sig.certificate);
  c.step('reading the signature');
  const signature = fromBase64(sig.signature);
  const m: Material = { leaf, signature, payload: sig.payload };
  if (sig.rekorBundle) {
    c.step('reading the Rekor bundle');
    const b = JSON.parse(sig.rekorBundle) as {
      SignedEntryTimestamp?: unknown;
      Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
    };
    const p = b?.Payload;
    if (typeof b?.SignedEntryTimestamp !== 'string' || typeof p?.body !== 'string') {
      throw new Error('it has no SignedEntryTimestamp or Payload.body');
    }
    m.entry = {
      set: fromBase64(b.SignedEntryTimestamp),
      body: p.body,
      integratedTime: integer(p.integratedTime),
      logIndex: integer(p.logIndex),
      logId: String(p.logID ?? ''),
    };
  }
  return m;
}

interface BundleJson {
  mediaType?: unknown;
  verificationMaterial?: {
    certificate?: { rawBytes?: string };
    x509CertificateChain?: { certificates?: { rawBytes?: string }[] };
    tlogEntries?: {
      logIndex?: unknown;
      logId?: { keyId?: string };
      kindVersion?: { kind?: string; version?: string };
      integratedTime?: unknown;
      inclusionPromise?: { signedEntryTimestamp?: string };
      canonicalizedBody?: string;
    }[];
  };
  messageSignature?: {
    messageDigest?: { algorithm?: string; digest?: string };
    signature?: string;
  };
  dsseEnvelope?: unknown;
}

/** A Sigstore bundle (v0.1 to v0.3) carrying cosign's simple-signing payload as a message
 * signature: the payload travels beside it (the `payload` of a cosign signature found with it),
 * or, when the bundle alone is given, cannot be checked beyond its digest. */
function materialFromBundle(
  c: Checks,
  sig: Extract<FoundSignature, { kind: 'sigstore-bundle' }>,
  payload: Uint8Array | undefined,
): Material {
  c.step('reading the Sigstore bundle');
  const b = JSON.parse(sig.bundle) as BundleJson;
  if (typeof b !== 'object' || b === null || typeof b.mediaType !== 'string') {
    throw new Error('it is not a Sigstore bundle');
  }
  const vm = b.verificationMaterial;
  const raw = vm?.certificate?.rawBytes ?? vm?.x509CertificateChain?.certificates?.[0]?.rawBytes;
  if (typeof raw !== 'string') {
    c.fail('the bundle carries a Fulcio certificate', 'it has none (a key-signed bundle)');
  }
  const leaf = parseCertificate(fromBase64(raw));
  const m = b.dsseEnvelope
    ? materialFromDsse(c, leaf, b.dsseEnvelope)
    : materialFromMessage(c, leaf, b.messageSignature, payload);
  const t = vm?.tlogEntries?.[0];
  if (t?.inclusionPromise?.signedEntryTimestamp && typeof t.canonicalizedBody === 'string') {
    m.entry = {
      set: fromBase64(t.inclusionPromise.signedEntryTimestamp),
      body: t.canonicalizedBody,
      integratedTime: integer(t.integratedTime),
      logIndex: integer(t.logIndex),
      logId: hex(fromBase64(t.logId?.keyId ?? '')),
    };
  } else if (t) {
    m.noEntry =
      'its log entry has no signed entry timestamp (a Rekor v2 entry, proven by an inclusion proof against a signed checkpoint, which Berth does not check yet)';
  }
  return m;
}

/** cosign 3 signs an image as a DSSE envelope holding an in-toto statement about it. */
function materialFromDsse(c: Checks, leaf: Certificate, env: unknown): Material {
  const e = env as { payload?: unknown; payloadType?: unknown; signatures?: { sig?: unknown }[] };
  if (typeof e?.payload !== 'string' || typeof e.payloadType !== 'string') {
    c.fail('the bundle carries a DSSE envelope', 'it has no payload or payload type');
  }
  const sig = Array.isArray(e.signatures) ? e.signatures[0]?.sig : undefined;
  if (typeof sig !== 'string') c.fail('the bundle carries a DSSE envelope', 'it has no signature');
  return {
    leaf,
    signature: fromBase64(sig),
    payload: fromBase64(e.payload),
    dsse: { payloadType: e.payloadType },
  };
}

function materialFromMessage(
  c: Checks,
  leaf: Certificate,
  ms: BundleJson['messageSignature'],
  payload: Uint8Array | undefined,
): Material {
  if (typeof ms?.signature !== 'string') {
    c.fail('the bundle carries a message signature', 'it has none');
  }
  if (!payload) {
    c.fail(
      'the signed payload is at hand',
      "a bundle holds only the payload's digest; the payload itself was not found beside it",
    );
  }
  return { leaf, signature: fromBase64(ms.signature), payload };
}

/** The leaf's TBS with the SCT list extension taken out: what the CT log signed (the
 * precertificate's TBS, less the poison extension, equals it). */
function tbsWithoutSct(leaf: Certificate): Uint8Array {
  const ext = extension(leaf, OID.sctList);
  const x = leaf.extensionsTlv;
  if (!ext || !x) throw new Error('no SCT extension');
  const d = leaf.der;
  const seqValue = concatBytes(
    d.subarray(x.seq.valueStart, ext.tlv.start),
    d.subarray(ext.tlv.end, x.seq.end),
  );
  const seq = concatBytes(Uint8Array.of(0x30), encodeLength(seqValue.length), seqValue);
  const outer = concatBytes(Uint8Array.of(0xa3), encodeLength(seq.length), seq);
  const tbsValue = concatBytes(
    d.subarray(leaf.tbsTlv.valueStart, x.outer.start),
    outer,
    d.subarray(x.outer.end, leaf.tbsTlv.end),
  );
  return concatBytes(Uint8Array.of(0x30), encodeLength(tbsValue.length), tbsValue);
}

interface Sct {
  logId: string;
  timestamp: number;
  extensions: Uint8Array;
  hashAlg: number;
  sigAlg: number;
  signature: Uint8Array;
}

function parseScts(leaf: Certificate): Sct[] {
  const ext = extension(leaf, OID.sctList);
  if (!ext) return [];
  // extnValue wraps an OCTET STRING holding the TLS-encoded list.
  const o = readTlv(ext.value, 0);
  const b = ext.value.subarray(o.valueStart, o.end);
  const u16 = (at: number) => (b[at]! << 8) | b[at + 1]!;
  const out: Sct[] = [];
  const total = u16(0);
  if (total + 2 !== b.length) throw new Error('the SCT list has a bad length');
  for (let at = 2; at < b.length;) {
    const len = u16(at);
    const s = b.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    if (s.length < 47 || s[0] !== 0) throw new Error('an SCT of an unknown version or too short');
    let ts = 0;
    for (let i = 33; i < 41; i++) ts = ts * 256 + s[i]!;
    const extLen = (s[41]! << 8) | s[42]!;
    const e = 43 + extLen;
    const sigLen = (s[e + 2]! << 8) | s[e + 3]!;
    if (e + 4 + sigLen !== s.length) throw new Error('an SCT has a bad length');
    out.push({
      logId: hex(s.subarray(1, 33)),
      timestamp: ts,
      extensions: s.subarray(43, e),
      hashAlg: s[e]!,
      sigAlg: s[e + 1]!,
      signature: s.subarray(e + 4),
    });
  }
  return out;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 7, x = n; i >= 0; i--, x = Math.floor(x / 256)) out[i] = x % 256;
  return out;
}

/** A Rekor `dsse` entry records the payload's hash and each signature with its verifier (the
 * certificate). Its envelope hash is over Rekor's own serialisation, so it is not compared. */
async function checkDsseEntry(
  c: Checks,
  body: {
    kind?: string;
    spec?: {
      payloadHash?: { algorithm?: string; value?: string };
      signatures?: { signature?: string; verifier?: string }[];
    };
  },
  m: Material,
): Promise<void> {
  if (body?.kind !== 'dsse') {
    c.fail('the log entry records this signature', `it is a ${String(body?.kind)} entry, not dsse`);
  }
  const payloadHash = hex(await sha256(m.payload));
  const ph = body.spec?.payloadHash;
  c.expect(
    ph?.algorithm === 'sha256' && ph.value === payloadHash,
    "the log entry records the payload's hash",
    `it records ${String(ph?.value)}, the payload's is ${payloadHash}`,
  );
  const sigs = body.spec?.signatures ?? [];
  const match = sigs.find(
    (s) => typeof s?.signature === 'string' && equalBytes(fromBase64(s.signature), m.signature),
  );
  c.expect(
    match !== undefined,
    'the log entry records this signature',
    'it records another signature',
  );
  const verifier = match?.verifier
    ? pemBlocks(bytesText(fromBase64(match.verifier)))[0]?.der
    : undefined;
  c.expect(
    verifier !== undefined && equalBytes(verifier, m.leaf.der),
    'the log entry records this certificate',
    'it records another certificate or key',
  );
}

function matchIdentity(policy: IdentityPolicy, sans: string[]): boolean {
  if (policy.identity === undefined) return true;
  if (policy.identityRegExp) {
    // As cosign's --certificate-identity-regexp: Go's MatchString, not anchored.
    const re = new RegExp(policy.identity);
    return sans.some((s) => re.test(s));
  }
  return sans.includes(policy.identity);
}

/**
 * Verifies a keyless cosign signature (annotations, or a Sigstore bundle with its payload)
 * against `root`, at time `now`. `payload` is only for a bundle: the simple-signing payload
 * found with it.
 */
export async function verifyKeyless(
  sig: FoundSignature,
  root: SigstoreTrustRoot,
  subject: SignedSubject,
  policy: IdentityPolicy,
  now: Date = new Date(),
  payload?: Uint8Array,
): Promise<VerificationResult> {
  const c: Checks = new Checks('cosign-keyless');
  const fill: Partial<VerificationResult> = {};
  return c.run(fill, async () => {
    if (sig.kind === 'notation') {
      c.fail('the signature is a Sigstore signature', 'it is a Notation signature');
    }
    const m =
      sig.kind === 'cosign' ? materialFromCosign(c, sig) : materialFromBundle(c, sig, payload);
    const leaf = m.leaf;
    const sans = subjectAltNames(leaf);
    const issuer = fulcioIssuer(leaf);
    fill.signer = {};
    if (sans[0]) fill.signer.identity = sans[0];
    if (issuer) fill.signer.issuer = issuer;

    // The transparency log entry first: its time is the trusted signing time.
    c.step('checking the transparency log entry');
    if (!m.entry) {
      c.fail(
        'the signature carries a transparency log entry',
        m.noEntry ??
          'it has none, so the signing time cannot be known and the short-lived certificate cannot be checked',
      );
    }
    const e = m.entry;
    const t = new Date(e.integratedTime * 1000);
    const tlog = root.tlogs.find((l) => l.logId === e.logId);
    if (!tlog) {
      c.fail(
        'the log entry is from a transparency log in the trusted root',
        `log ${e.logId} is not in it`,
      );
    }
    c.expect(
      within(t, tlog.validFrom, tlog.validTo),
      'the log entry is from a transparency log in the trusted root',
      `its time ${t.toISOString()} is outside the log key's validity`,
      tlog.baseUrl ?? e.logId,
    );
    const setOk = await verifySignature(
      tlog.publicKey,
      defaultSigAlg(keyInfo(tlog.publicKey)),
      e.set,
      canonicalEntry(e),
    );
    c.expect(
      setOk,
      "the log's signed entry timestamp verifies with the log's key",
      'it does not: the entry, its time or its index was changed, or another log signed it',
      `entry ${e.logIndex}, integrated ${t.toISOString()}`,
    );
    fill.signedAt = t.toISOString();

    c.step('reading the log entry');
    const body = JSON.parse(bytesText(fromBase64(e.body))) as {
      kind?: string;
      apiVersion?: string;
      spec?: {
        data?: { hash?: { algorithm?: string; value?: string } };
        signature?: { content?: string; publicKey?: { content?: string } };
        payloadHash?: { algorithm?: string; value?: string };
        signatures?: { signature?: string; verifier?: string }[];
      };
    };
    if (m.dsse) {
      await checkDsseEntry(c, body, m);
    } else if (body?.kind !== 'hashedrekord') {
      c.fail(
        'the log entry records this signature',
        `it is a ${String(body?.kind)} entry, not hashedrekord`,
      );
    } else {
      const spec = body.spec;
      const payloadHash = hex(await sha256(m.payload));
      c.expect(
        spec?.data?.hash?.algorithm === 'sha256' && spec.data.hash.value === payloadHash,
        "the log entry records the payload's hash",
        `it records ${String(spec?.data?.hash?.value)}, the payload's is ${payloadHash}`,
      );
      const loggedSig = spec?.signature?.content ? fromBase64(spec.signature.content) : undefined;
      c.expect(
        loggedSig !== undefined && equalBytes(loggedSig, m.signature),
        'the log entry records this signature',
        'it records another signature',
      );
      const loggedKey = spec?.signature?.publicKey?.content
        ? pemBlocks(bytesText(fromBase64(spec.signature.publicKey.content)))[0]?.der
        : undefined;
      c.expect(
        loggedKey !== undefined && equalBytes(loggedKey, leaf.der),
        'the log entry records this certificate',
        'it records another certificate or key',
      );
    }

    c.step('verifying the signature');
    let alg: SigAlg;
    try {
      alg = defaultSigAlg(keyInfo(leaf.spki));
    } catch (err) {
      c.fail('the certificate holds a key Berth can verify with', String((err as Error).message));
    }
    // Fulcio certificates hold ECDSA keys, and cosign signs with SHA-256 whatever the curve.
    if (alg.kind === 'ecdsa') alg = { kind: 'ecdsa', hash: 'SHA-256' };
    c.expect(
      await verifySignature(
        leaf.spki,
        alg,
        m.signature,
        m.dsse ? pae(m.dsse.payloadType, m.payload) : m.payload,
      ),
      "the signature verifies with the certificate's key",
      'it does not: the payload was changed, or another key signed it',
    );

    c.expect(
      within(t, leaf.notBefore, leaf.notAfter),
      "the log entry's time falls inside the certificate's validity",
      `${t.toISOString()} is outside ${leaf.notBefore.toISOString()} – ${leaf.notAfter.toISOString()}: the certificate had expired or was not yet valid`,
      `${leaf.notBefore.toISOString()} – ${leaf.notAfter.toISOString()}`,
    );

    c.step('building the certificate chain');
    let path: Certificate[] | undefined;
    let caUri: string | undefined;
    for (const ca of root.certificateAuthorities) {
      if (!within(t, ca.validFrom, ca.validTo) || ca.chain.length === 0) continue;
      const certs = ca.chain.map(parseCertificate);
      const rootCert = certs[certs.length - 1]!;
      path = await buildPath(leaf, certs.slice(0, -1), [rootCert]);
      if (path) {
        caUri = ca.uri;
        break;
      }
    }
    if (!path) {
      c.fail(
        'the certificate chains to a Fulcio CA in the trusted root',
        'no CA in the trusted root, valid at the signing time, issued it',
      );
    }
    const expired = path.find((p) => !within(t, p.notBefore, p.notAfter));
    if (expired) {
      c.fail(
        'the certificate chains to a Fulcio CA in the trusted root',
        'a CA certificate was not valid at the signing time',
      );
    }
    if (path.slice(1).some((p) => !isCA(p))) {
      c.fail(
        'the certificate chains to a Fulcio CA in the trusted root',
        'an issuer in the chain is not a CA',
      );
    }
    c.pass(
      'the certificate chains to a Fulcio CA in the trusted root',
      `${path.length} certificates${caUri ? `, ${caUri}` : ''}, valid at the signing time`,
    );
    c.expect(
      (extKeyUsages(leaf) ?? []).includes(OID.codeSigning),
      'the certificate is for code signing',
      'it has no code-signing extended key usage',
    );

    c.step('checking the signed certificate timestamp');
    const scts = parseScts(leaf);
    if (scts.length === 0) {
      c.fail('the certificate carries a signed certificate timestamp', 'it has none');
    }
    const issuerCert = path[1]!;
    const tbs = tbsWithoutSct(leaf);
    const issuerKeyHash = await sha256(issuerCert.spki);
    let sctOk: Sct | undefined;
    for (const s of scts) {
      const log = root.ctlogs.find((l) => l.logId === s.logId);
      if (!log || !within(new Date(s.timestamp), log.validFrom, log.validTo)) continue;
      const hash = ({ 4: 'SHA-256', 5: 'SHA-384', 6: 'SHA-512' } as const)[s.hashAlg as 4 | 5 | 6];
      if (!hash) continue;
      const info = keyInfo(log.publicKey);
      const sigAlg: SigAlg =
        info.kind === 'rsa'
          ? { kind: 'rsa-pkcs1', hash }
          : info.kind === 'ec'
            ? { kind: 'ecdsa', hash }
            : { kind: 'ed25519' };
      const len = tbs.length;
      const signed = concatBytes(
        Uint8Array.of(0, 0),
        u64(s.timestamp),
        Uint8Array.of(0, 1),
        issuerKeyHash,
        Uint8Array.of((len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff),
        tbs,
        Uint8Array.of((s.extensions.length >> 8) & 0xff, s.extensions.length & 0xff),
        s.extensions,
      );
      if (await verifySignature(log.publicKey, sigAlg, s.signature, signed)) {
        sctOk = s;
        break;
      }
    }
    if (!sctOk) {
      const known = scts.some((s) => root.ctlogs.some((l) => l.logId === s.logId));
      c.fail(
        'the certificate carries a signed certificate timestamp from a CT log in the trusted root',
        known
          ? "its signature does not verify with the CT log's key: the certificate or the SCT was changed"
          : 'no SCT is from a CT log in the trusted root',
      );
    }
    c.pass(
      'the certificate carries a signed certificate timestamp from a CT log in the trusted root',
      `logged ${new Date(sctOk.timestamp).toISOString()}`,
    );

    c.step('checking the identity');
    if (policy.identity === undefined) {
      c.notChecked.push(
        `the identity is not checked: none was given (the certificate says ${sans.join(', ') || 'nothing'})`,
      );
    } else {
      c.expect(
        matchIdentity(policy, sans),
        `the certificate's identity ${policy.identityRegExp ? 'matches' : 'is'} ${policy.identity}`,
        `it is ${sans.join(', ') || 'absent'}`,
      );
    }
    if (policy.issuer === undefined) {
      c.notChecked.push(
        `the OIDC issuer is not checked: none was given (the certificate says ${issuer ?? 'nothing'})`,
      );
    } else {
      c.expect(
        issuer === policy.issuer,
        `the certificate's OIDC issuer is ${policy.issuer}`,
        `it is ${issuer ?? 'absent'}`,
      );
    }
    // What is signed comes last: who signed it, and when, first.
    if (m.dsse) checkStatement(c, m.dsse.payloadType, m.payload, subject);
    else fill.annotations = checkPayload(c, m.payload, subject);
    c.notChecked.push('no revocation check: offline');
    c.notChecked.push(
      'the transparency log entry is not checked against a live log: its signed entry timestamp is checked, its inclusion proof is not',
    );
    if (now.getTime() > leaf.notAfter.getTime()) {
      // Expected: Fulcio certificates live ten minutes; the log's time is what counts.
      c.notChecked.push(
        `the certificate expired at ${leaf.notAfter.toISOString()}; what counts is that it was valid when the log recorded the signature (${isoOf(e.integratedTime)})`,
      );
    }
  });
}
