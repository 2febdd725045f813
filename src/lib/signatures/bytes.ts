// Byte helpers the verifiers share: base64, hex, PEM, SHA-256 and a DER reader. Browser-ready:
// no Buffer, no node:crypto; hashes go through WebCrypto.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function textBytes(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Decodes UTF-8, throwing on invalid bytes (a payload that is not text is not a payload). */
export function bytesText(b: Uint8Array): string {
  return fromUtf8.decode(b);
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error('not hexadecimal');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard or URL-safe base64, padded or not; whitespace is ignored. Throws on anything else. */
export function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.replace(/=+$/, '').length % 4 === 1) {
    throw new Error('not base64');
  }
  const bin = atob(
    clean.replace(/=+$/, '').padEnd(Math.ceil(clean.replace(/=+$/, '').length / 4) * 4, '='),
  );
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(b: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < b.length; i += 0x8000) {
    bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A copy in a fresh ArrayBuffer: WebCrypto wants a BufferSource that is not a view on shared
 * or oversized memory, and TypeScript wants `Uint8Array<ArrayBuffer>`. */
export function buf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(b.length));
  out.set(b);
  return out;
}

export async function sha256(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf(b)));
}

/** The blocks of a PEM text with their labels, in order. Text outside blocks is ignored. */
export function pemBlocks(pem: string): { label: string; der: Uint8Array }[] {
  const out: { label: string; der: Uint8Array }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(pem); m !== null; m = re.exec(pem)) {
    out.push({ label: m[1]!, der: fromBase64(m[2]!) });
  }
  return out;
}

/** One DER element: its tag byte, where its value starts and ends, and where it ends. */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first value byte. */
  valueStart: number;
  /** Offset after the last value byte. */
  end: number;
}

/** Reads the DER element at `at`; throws when it runs past `limit`. Only single-byte tags
 * (all that X.509, SCTs and ECDSA signatures use). */
export function readTlv(der: Uint8Array, at: number, limit = der.length): Tlv {
  if (at + 2 > limit) throw new Error('DER: truncated');
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported');
  let len = der[at + 1]!;
  let valueStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + 2 + n > limit) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > limit) throw new Error('DER: truncated');
  return { tag, start: at, valueStart, end };
}

/** The elements inside a constructed element, in order. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.valueStart; at < parent.end;) {
    const t = readTlv(der, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

export function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), encodeLength(value.length), value);
}

/** An OID's dotted text from its DER value bytes. */
export function oidText(v: Uint8Array): string {
  if (v.length === 0) throw new Error('DER: empty OID');
  const parts = [Math.floor(v[0]! / 40), v[0]! % 40];
  if (v[0]! >= 80) {
    parts[0] = 2;
    parts[1] = v[0]! - 80;
  }
  let n = 0;
  for (let i = 1; i < v.length; i++) {
    n = n * 128 + (v[i]! & 0x7f);
    if (!(v[i]! & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

/** An ECDSA signature as DER (SEQUENCE of two INTEGERs, as X.509, cosign and openssl write it)
 * to the fixed-width r||s WebCrypto verifies. Returns undefined when it is not that shape. */
export function ecdsaDerToRaw(sig: Uint8Array, size: number): Uint8Array | undefined {
  try {
    const seq = readTlv(sig, 0);
    if (seq.tag !== 0x30 || seq.end !== sig.length) return undefined;
    const ints = children(sig, seq);
    if (ints.length !== 2) return undefined;
    const out = new Uint8Array(2 * size);
    for (const [i, t] of ints.entries()) {
      if (t.tag !== 0x02) return undefined;
      let v = sig.subarray(t.valueStart, t.end);
      while (v.length > 0 && v[0] === 0) v = v.subarray(1);
      if (v.length > size) return undefined;
      out.set(v, i * size + size - v.length);
    }
    return out;
  } catch {
    return undefined;
  }
}
