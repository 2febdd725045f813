// Public keys (SubjectPublicKeyInfo) and signature checks through WebCrypto. One place knows
// which algorithm a key and an algorithm identifier mean, so cosign, the certificate chains,
// the transparency logs and Notation all verify the same way.
import { buf, children, ecdsaDerToRaw, oidText, readTlv } from './bytes.ts';

export type Hash = 'SHA-256' | 'SHA-384' | 'SHA-512';

export type KeyInfo =
  | { kind: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' }
  | { kind: 'rsa'; bits: number }
  | { kind: 'ed25519' };

/** How a signature is made: the key's algorithm plus the hash (and, for PSS, the salt). */
export type SigAlg =
  | { kind: 'ecdsa'; hash: Hash }
  | { kind: 'rsa-pkcs1'; hash: Hash }
  | { kind: 'rsa-pss'; hash: Hash; saltLength: number }
  | { kind: 'ed25519' };

const CURVES: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
};

const HASH_OIDS: Record<string, Hash> = {
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

/** What kind of key a SubjectPublicKeyInfo (DER) holds; throws when it is none we verify with. */
export function keyInfo(spki: Uint8Array): KeyInfo {
  const seq = readTlv(spki, 0);
  if (seq.tag !== 0x30) throw new Error('not a public key (SubjectPublicKeyInfo)');
  const [algId, bits] = children(spki, seq);
  if (algId?.tag !== 0x30 || bits?.tag !== 0x03) throw new Error('not a public key');
  const [oid, params] = children(spki, algId);
  if (oid?.tag !== 0x06) throw new Error('not a public key');
  const alg = oidText(spki.subarray(oid.valueStart, oid.end));
  if (alg === '1.2.840.10045.2.1') {
    const curve =
      params?.tag === 0x06
        ? CURVES[oidText(spki.subarray(params.valueStart, params.end))]
        : undefined;
    if (!curve) throw new Error('an elliptic curve key on a curve other than P-256, P-384, P-521');
    return { kind: 'ec', curve };
  }
  if (alg === '1.2.840.113549.1.1.1') {
    // BIT STRING -> RSAPublicKey SEQUENCE { modulus, exponent }.
    const inner = readTlv(spki, bits.valueStart + 1, bits.end);
    const [mod] = children(spki, inner);
    let n = mod ? mod.end - mod.valueStart : 0;
    if (mod && spki[mod.valueStart] === 0) n -= 1;
    return { kind: 'rsa', bits: n * 8 };
  }
  if (alg === '1.3.101.112') return { kind: 'ed25519' };
  throw new Error(`a public key of an unsupported algorithm (${alg})`);
}

/** The signature algorithm an X.509 AlgorithmIdentifier names (`der` holds it at `algId`). */
export function sigAlgFromAlgId(der: Uint8Array, start: number, end: number): SigAlg {
  const seq = readTlv(der, start, end);
  const [oid, params] = children(der, seq);
  if (oid?.tag !== 0x06) throw new Error('bad algorithm identifier');
  const alg = oidText(der.subarray(oid.valueStart, oid.end));
  switch (alg) {
    case '1.2.840.10045.4.3.2':
      return { kind: 'ecdsa', hash: 'SHA-256' };
    case '1.2.840.10045.4.3.3':
      return { kind: 'ecdsa', hash: 'SHA-384' };
    case '1.2.840.10045.4.3.4':
      return { kind: 'ecdsa', hash: 'SHA-512' };
    case '1.2.840.113549.1.1.11':
      return { kind: 'rsa-pkcs1', hash: 'SHA-256' };
    case '1.2.840.113549.1.1.12':
      return { kind: 'rsa-pkcs1', hash: 'SHA-384' };
    case '1.2.840.113549.1.1.13':
      return { kind: 'rsa-pkcs1', hash: 'SHA-512' };
    case '1.3.101.112':
      return { kind: 'ed25519' };
    case '1.2.840.113549.1.1.10': {
      // RSASSA-PSS-params: [0] hashAlgorithm, [1] maskGenAlgorithm, [2] saltLength. Only the
      // usual shape is accepted: MGF1 with the same hash, salt as long as the hash.
      let hash: Hash = 'SHA-1' as Hash;
      let saltLength = 20;
      if (params?.tag === 0x30) {
        for (const p of children(der, params)) {
          if (p.tag === 0xa0) {
            const h = readTlv(der, p.valueStart, p.end);
            const [hOid] = children(der, h);
            const name = hOid && HASH_OIDS[oidText(der.subarray(hOid.valueStart, hOid.end))];
            if (!name) throw new Error('RSA-PSS with an unsupported hash');
            hash = name;
          } else if (p.tag === 0xa2) {
            const i = readTlv(der, p.valueStart, p.end);
            saltLength = 0;
            for (let k = i.valueStart; k < i.end; k++) saltLength = saltLength * 256 + der[k]!;
          }
        }
      }
      if ((hash as string) === 'SHA-1') throw new Error('RSA-PSS with SHA-1 is not accepted');
      return { kind: 'rsa-pss', hash, saltLength };
    }
    default:
      throw new Error(`an unsupported signature algorithm (${alg})`);
  }
}

function importParams(
  info: KeyInfo,
  alg: SigAlg,
): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  if (info.kind === 'ec' && alg.kind === 'ecdsa') return { name: 'ECDSA', namedCurve: info.curve };
  if (info.kind === 'rsa' && alg.kind === 'rsa-pkcs1')
    return { name: 'RSASSA-PKCS1-v1_5', hash: alg.hash };
  if (info.kind === 'rsa' && alg.kind === 'rsa-pss') return { name: 'RSA-PSS', hash: alg.hash };
  if (info.kind === 'ed25519' && alg.kind === 'ed25519') return { name: 'Ed25519' };
  throw new Error(`a ${info.kind} key cannot make a ${alg.kind} signature`);
}

const COORD: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/**
 * Whether `sig` is `alg`'s signature of `data` by the key `spki`. ECDSA signatures come as DER
 * (X.509, cosign, CT, Rekor) or as raw r||s (COSE): `ecdsaRaw` says which. A key that does not
 * fit the algorithm throws (the caller says why); a signature that does not verify is false.
 */
export async function verifySignature(
  spki: Uint8Array,
  alg: SigAlg,
  sig: Uint8Array,
  data: Uint8Array,
  ecdsaRaw = false,
): Promise<boolean> {
  const info = keyInfo(spki);
  const key = await crypto.subtle.importKey('spki', buf(spki), importParams(info, alg), false, [
    'verify',
  ]);
  let s = sig;
  let params: AlgorithmIdentifier | EcdsaParams | RsaPssParams = { name: key.algorithm.name };
  if (alg.kind === 'ecdsa' && info.kind === 'ec') {
    if (!ecdsaRaw) {
      const raw = ecdsaDerToRaw(sig, COORD[info.curve]!);
      if (!raw) return false;
      s = raw;
    }
    params = { name: 'ECDSA', hash: alg.hash };
  } else if (alg.kind === 'rsa-pss') {
    params = { name: 'RSA-PSS', saltLength: alg.saltLength };
  }
  return crypto.subtle.verify(params, key, buf(s), buf(data));
}

/** The hash cosign and sigstore use by default with a key (sigstore's LoadDefaultVerifier):
 * SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521; Ed25519 signs the bytes. */
export function defaultSigAlg(info: KeyInfo): SigAlg {
  if (info.kind === 'ed25519') return { kind: 'ed25519' };
  if (info.kind === 'rsa') return { kind: 'rsa-pkcs1', hash: 'SHA-256' };
  const hash: Hash =
    info.curve === 'P-256' ? 'SHA-256' : info.curve === 'P-384' ? 'SHA-384' : 'SHA-512';
  return { kind: 'ecdsa', hash };
}

export function describeKey(info: KeyInfo): string {
  if (info.kind === 'ec') return `ECDSA ${info.curve}`;
  if (info.kind === 'rsa') return `RSA ${info.bits}-bit`;
  return 'Ed25519';
}
