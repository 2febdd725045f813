// Just enough of the zip format to read a few named entries of a Java archive: the central
// directory (with zip64 and a prefixed launch script), and each entry's data, stored or deflated,
// inflated only up to a cap so that a zip bomb costs at most the cap.
import { Inflate } from 'fflate';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated; others are not read. */
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header in the bytes given to readZip. */
  localOffset: number;
}

export class ZipError extends Error {}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The central directory's entries. Throws ZipError when the bytes are not a readable zip. */
export function readZip(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number) => Number(view.getBigUint64(o, true));

  // The end record is the last 22 bytes, unless a comment (at most 65535 bytes) follows it.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= 0 && o >= bytes.length - 22 - 0xffff; o--) {
    if (u32(o) === EOCD && o + 22 + u16(o + 20) <= bytes.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('no zip end record (truncated or not a zip)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let endOfCd = eocd;
  if (eocd >= 20 && u32(eocd - 20) === EOCD64_LOCATOR) {
    const at = u64(eocd - 20 + 8);
    // The locator's offset ignores any prefix, so look for the record just before the locator
    // first, which is where every writer puts it.
    const guess = eocd - 20 - 56;
    const rec =
      guess >= 0 && u32(guess) === EOCD64
        ? guess
        : at + 56 <= bytes.length && u32(at) === EOCD64
          ? at
          : -1;
    if (rec < 0) throw new ZipError('zip64 end record missing');
    count = u64(rec + 32);
    cdSize = u64(rec + 40);
    cdOffset = u64(rec + 48);
    endOfCd = rec;
  }
  // Bytes before the zip proper (a launch script in front of an executable jar) shift every
  // offset the directory records, by the gap between where it says it is and where it ends.
  const base = endOfCd - cdSize - cdOffset;
  if (base < 0 || endOfCd - cdSize < 0) throw new ZipError('central directory out of range');
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  let p = endOfCd - cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > endOfCd || u32(p) !== CENTRAL)
      throw new ZipError(`central directory entry ${i} is damaged`);
    const method = u16(p + 10);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    const nameEnd = p + 46 + nameLen;
    if (nameEnd + extraLen + commentLen > endOfCd)
      throw new ZipError(`central directory entry ${i} is damaged`);
    const name = decoder.decode(bytes.subarray(p + 46, nameEnd));
    // zip64: the sizes and offset that overflowed 32 bits are in the 0x0001 extra field, in
    // this order, only those that overflowed.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      for (let e = nameEnd; e + 4 <= nameEnd + extraLen;) {
        const id = u16(e);
        const len = u16(e + 2);
        if (id === 1) {
          let q = e + 4;
          const end = q + len;
          if (size === 0xffffffff && q + 8 <= end) ((size = u64(q)), (q += 8));
          if (compressedSize === 0xffffffff && q + 8 <= end) ((compressedSize = u64(q)), (q += 8));
          if (localOffset === 0xffffffff && q + 8 <= end) localOffset = u64(q);
          break;
        }
        e += 4 + len;
      }
    }
    entries.push({ name, method, compressedSize, size, localOffset: localOffset + base });
    p = nameEnd + extraLen + commentLen;
  }
  return entries;
}

/** An entry's bytes, inflated up to `cap` bytes. Throws ZipError when it cannot be read or is
 * larger than the cap (whatever size the directory claims). */
export function readEntry(bytes: Uint8Array, entry: ZipEntry, cap: number): Uint8Array {
  const o = entry.localOffset;
  if (o < 0 || o + 30 > bytes.length) throw new ZipError(`${entry.name}: data out of range`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(o, true) !== LOCAL) throw new ZipError(`${entry.name}: no local header`);
  // The local header's own name and extra lengths, which may differ from the directory's.
  const start = o + 30 + view.getUint16(o + 26, true) + view.getUint16(o + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) throw new ZipError(`${entry.name}: data runs past the end (truncated)`);
  const data = bytes.subarray(start, end);
  if (entry.method === 0) {
    if (data.length > cap) throw new ZipError(`${entry.name}: larger than ${cap} bytes`);
    return data;
  }
  if (entry.method !== 8)
    throw new ZipError(`${entry.name}: compression method ${entry.method} not read`);
  return inflateBounded(data, cap, entry.name);
}

/** Raw deflate data inflated whole, failing as soon as the output passes `cap` bytes: the input
 * goes in 16 KiB at a time, so at most about 16 MiB (deflate's 1032:1 ratio) more is made
 * before the cap is noticed. */
export function inflateBounded(data: Uint8Array, cap: number, what: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let done = false;
  const inflate = new Inflate((chunk, final) => {
    total += chunk.length;
    if (total > cap) throw new ZipError(`${what}: inflates to more than ${cap} bytes`);
    parts.push(chunk);
    if (final) done = true;
  });
  const step = 16384;
  try {
    for (let i = 0; i < data.length && !done; i += step) {
      const end = Math.min(data.length, i + step);
      inflate.push(data.subarray(i, end), end === data.length);
    }
    if (data.length === 0) inflate.push(data, true);
  } catch (e) {
    if (e instanceof ZipError) throw e;
    throw new ZipError(
      `${what}: not valid deflate data (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  if (!done) throw new ZipError(`${what}: deflate data ends early`);
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) (out.set(part, at), (at += part.length));
  return out;
}
