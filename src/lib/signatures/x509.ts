// A small X.509 reader: only what chain checks, Fulcio identities and SCTs need. Written here
// rather than taken from @peculiar/x509 because that library needs a global reflect-metadata
// polyfill and a dependency-injection container, and adds about 218 KB (55 KB gzipped) to the
// bundle; the checks below read a few fields of DER that bytes.ts already walks.
import { children, equalBytes, oidText, readTlv, type Tlv } from './bytes.ts';
import { sigAlgFromAlgId, verifySignature, type SigAlg } from './keys.ts';

export const OID = {
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  sctList: '1.3.6.1.4.1.11129.2.4.2',
  ctPoison: '1.3.6.1.4.1.11129.2.4.3',
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
} as const;

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue's content (what the OCTET STRING wraps). */
  value: Uint8Array;
  /** The whole Extension element, for removing it from the TBS (SCT checks). */
  tlv: Tlv;
}

export interface Certificate {
  der: Uint8Array;
  /** The tbsCertificate element, bytes as signed. */
  tbs: Uint8Array;
  tbsTlv: Tlv;
  sigAlg: SigAlg;
  signature: Uint8Array;
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Extension[];
  /** The [3] extensions wrapper and the SEQUENCE inside it (for TBS surgery). */
  extensionsTlv?: { outer: Tlv; seq: Tlv };
}

function parseTime(der: Uint8Array, t: Tlv): Date {
  const s = new TextDecoder().decode(der.subarray(t.valueStart, t.end));
  let m: RegExpMatchArray | null;
  if (t.tag === 0x17 && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const y = Number(m[1]);
    return new Date(
      Date.UTC(y >= 50 ? 1900 + y : 2000 + y, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!),
    );
  }
  if (t.tag === 0x18 && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(s))) {
    return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  }
  throw new Error('certificate: bad time');
}

/** Parses one certificate (DER); throws with a short reason when it is not one. */
export function parseCertificate(der: Uint8Array): Certificate {
  const cert = readTlv(der, 0);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw new Error('not a certificate');
  const [tbsTlv, algId, sigBits] = children(der, cert);
  if (tbsTlv?.tag !== 0x30 || algId?.tag !== 0x30 || sigBits?.tag !== 0x03) {
    throw new Error('not a certificate');
  }
  const f = children(der, tbsTlv);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++;
  const [serial, , issuer, validity, subject, spki] = f.slice(i, i + 6);
  if (!serial || !issuer || validity?.tag !== 0x30 || !subject || spki?.tag !== 0x30) {
    throw new Error('not a certificate');
  }
  const [nb, na] = children(der, validity);
  if (!nb || !na) throw new Error('certificate: bad validity');
  const extensions: Extension[] = [];
  let extensionsTlv: Certificate['extensionsTlv'];
  const outer = f.slice(i + 6).find((t) => t.tag === 0xa3);
  if (outer) {
    const seq = readTlv(der, outer.valueStart, outer.end);
    extensionsTlv = { outer, seq };
    for (const e of children(der, seq)) {
      const parts = children(der, e);
      const oid = parts[0];
      const critical = parts[1]?.tag === 0x01 && der[parts[1].valueStart] !== 0;
      const value = parts[parts.length - 1];
      if (oid?.tag !== 0x06 || value?.tag !== 0x04) throw new Error('certificate: bad extension');
      extensions.push({
        oid: oidText(der.subarray(oid.valueStart, oid.end)),
        critical,
        value: der.subarray(value.valueStart, value.end),
        tlv: e,
      });
    }
  }
  return {
    der,
    tbs: der.subarray(tbsTlv.start, tbsTlv.end),
    tbsTlv,
    sigAlg: sigAlgFromAlgId(der, algId.start, algId.end),
    // BIT STRING: the first value byte counts unused bits (0 for signatures).
    signature: der.subarray(sigBits.valueStart + 1, sigBits.end),
    serial: der.subarray(serial.valueStart, serial.end),
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    notBefore: parseTime(der, nb),
    notAfter: parseTime(der, na),
    spki: der.subarray(spki.start, spki.end),
    extensions,
    extensionsTlv,
  };
}

export function extension(c: Certificate, oid: string): Extension | undefined {
  return c.extensions.find((e) => e.oid === oid);
}

/** Whether `issuer` signed `c`: names match and the signature verifies with its key. */
export async function issuedBy(c: Certificate, issuer: Certificate): Promise<boolean> {
  if (!equalBytes(c.issuer, issuer.subject)) return false;
  try {
    return await verifySignature(issuer.spki, c.sigAlg, c.signature, c.tbs);
  } catch {
    return false;
  }
}

/** Basic constraints: is it a CA? */
export function isCA(c: Certificate): boolean {
  const e = extension(c, OID.basicConstraints);
  if (!e) return false;
  const seq = readTlv(e.value, 0);
  const [first] = children(e.value, seq);
  return first?.tag === 0x01 && e.value[first.valueStart] !== 0;
}

/** Key usage bits (bit 0 = digitalSignature, bit 5 = keyCertSign), or undefined when absent. */
export function keyUsage(
  c: Certificate,
): { digitalSignature: boolean; keyCertSign: boolean } | undefined {
  const e = extension(c, OID.keyUsage);
  if (!e) return undefined;
  const t = readTlv(e.value, 0);
  const b0 = t.end > t.valueStart + 1 ? e.value[t.valueStart + 1]! : 0;
  return { digitalSignature: (b0 & 0x80) !== 0, keyCertSign: (b0 & 0x04) !== 0 };
}

export function extKeyUsages(c: Certificate): string[] | undefined {
  const e = extension(c, OID.extKeyUsage);
  if (!e) return undefined;
  return children(e.value, readTlv(e.value, 0)).map((t) =>
    oidText(e.value.subarray(t.valueStart, t.end)),
  );
}

/** Subject alternative names: email (rfc822Name), URI and DNS names, as text. */
export function subjectAltNames(c: Certificate): string[] {
  const e = extension(c, OID.subjectAltName);
  if (!e) return [];
  const out: string[] = [];
  for (const t of children(e.value, readTlv(e.value, 0))) {
    if (t.tag === 0x81 || t.tag === 0x82 || t.tag === 0x86) {
      out.push(new TextDecoder().decode(e.value.subarray(t.valueStart, t.end)));
    }
  }
  return out;
}

/** The Fulcio OIDC issuer: extension .1.8 (a DER UTF8String) or the older .1.1 (raw text). */
export function fulcioIssuer(c: Certificate): string | undefined {
  const v2 = extension(c, OID.fulcioIssuerV2);
  if (v2) {
    const t = readTlv(v2.value, 0);
    return new TextDecoder().decode(v2.value.subarray(t.valueStart, t.end));
  }
  const v1 = extension(c, OID.fulcioIssuerV1);
  return v1 ? new TextDecoder().decode(v1.value) : undefined;
}

const NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

/** A Name as text, in the order written: "C=US, O=Example, CN=signer" (as Notation shows it). */
export function nameText(name: Uint8Array): string {
  const parts: string[] = [];
  for (const rdn of children(name, readTlv(name, 0))) {
    for (const atv of children(name, rdn)) {
      const [oid, value] = children(name, atv);
      if (!oid || !value) continue;
      const o = oidText(name.subarray(oid.valueStart, oid.end));
      parts.push(
        `${NAMES[o] ?? o}=${new TextDecoder().decode(name.subarray(value.valueStart, value.end))}`,
      );
    }
  }
  return parts.join(', ');
}

/** The certificates of a PEM text, parsed; throws when a block is not a certificate. */
export function certificatesFromPem(blocks: { label: string; der: Uint8Array }[]): Certificate[] {
  return blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.der));
}

/**
 * Finds a path from `leaf` through `intermediates` (any order) to one of `roots`, each link's
 * signature verified. Returns the path (leaf first, root last) or undefined. Bounded: at most
 * 8 links, each certificate used once.
 */
export async function buildPath(
  leaf: Certificate,
  intermediates: Certificate[],
  roots: Certificate[],
): Promise<Certificate[] | undefined> {
  const path = [leaf];
  const used = new Set<Certificate>();
  for (let depth = 0; depth < 8; depth++) {
    const last = path[path.length - 1]!;
    for (const r of roots) {
      if (equalBytes(r.der, last.der)) return path;
      if (await issuedBy(last, r)) return [...path, r];
    }
    let next: Certificate | undefined;
    for (const c of intermediates) {
      if (used.has(c) || equalBytes(c.der, last.der)) continue;
      if (await issuedBy(last, c)) {
        next = c;
        break;
      }
    }
    if (!next) return undefined;
    used.add(next);
    path.push(next);
  }
  return undefined;
}
