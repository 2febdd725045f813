// Tar headers for an archive composed of Blobs. Only headers and padding are made in JS; file
// bodies are the stored Blobs themselves (the OCI archive), or bytes read from a layer as they
// come (the files export), so exporting never holds a layer.
import type { EntryType } from '../layers/entry.ts';

const block = 512;
const encoder = new TextEncoder();

function writeString(buf: Uint8Array, offset: number, length: number, value: string) {
  const bytes = encoder.encode(value);
  buf.set(bytes.subarray(0, length), offset);
}

function writeOctal(buf: Uint8Array, offset: number, length: number, value: number) {
  // length-1 octal digits and a NUL; sizes that do not fit go into a PAX header instead.
  writeString(buf, offset, length - 1, value.toString(8).padStart(length - 1, '0'));
}

function checksum(header: Uint8Array) {
  let sum = 0;
  for (let i = 0; i < block; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum;
}

function ustar(name: string, size: number, type: '0' | 'x', mtime: number, prefix = '') {
  const h = new Uint8Array(block);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h[156] = type.charCodeAt(0);
  writeString(h, 257, 6, 'ustar');
  writeString(h, 263, 2, '00');
  writeString(h, 345, 155, prefix);
  writeString(h, 148, 8, checksum(h).toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function paxRecord(key: string, value: string) {
  // "<len> <key>=<value>\n", where len counts its own digits too.
  const base = encoder.encode(` ${key}=${value}\n`).length;
  let len = base + 1;
  while (String(len).length + base !== len) len = String(len).length + base;
  return `${len} ${key}=${value}\n`;
}

/** Splits a path into ustar's prefix (155) and name (100) fields, if it fits. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (encoder.encode(path).length <= 100) return { prefix: '', name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name) {
      return { prefix, name };
    }
  }
  return undefined;
}

/** The header block(s) of a regular file. A long path or a size over 8 GiB gets a PAX header. */
export function fileHeader(path: string, size: number, mtime = 0): Uint8Array {
  const split = splitUstar(path);
  const bigSize = size > 0o77777777777;
  if (split && !bigSize) return ustar(split.name, size, '0', mtime, split.prefix);
  let records = '';
  if (!split) records += paxRecord('path', path);
  if (bigSize) records += paxRecord('size', String(size));
  const body = encoder.encode(records);
  const out = new Uint8Array(block + padded(body.length) + block);
  out.set(ustar('PaxHeader', body.length, 'x', mtime), 0);
  out.set(body, block);
  const fallback = split ?? { prefix: '', name: path.slice(-100) };
  out.set(
    ustar(fallback.name, bigSize ? 0 : size, '0', mtime, fallback.prefix),
    block + padded(body.length),
  );
  return out;
}

function padded(n: number) {
  return Math.ceil(n / block) * block;
}

/** An entry of any type, as the files export writes it. */
export interface TarHeader {
  path: string;
  type: EntryType;
  /** Bytes of the body (0 for anything but a regular file). */
  size: number;
  /** Permission and special bits (setuid, setgid, sticky); other bits are dropped. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, maybe fractional (a PAX mtime). */
  mtime: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPEFLAGS: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
  other: '0',
};

/** The largest value an octal field of `length` bytes holds (length-1 digits and a NUL). */
const octalMax = (length: number) => 8 ** (length - 1) - 1;
// eslint-disable-next-line no-control-regex -- ustar name fields are ASCII; the rest goes to PAX
const ASCII = /^[\x01-\x7f]*$/;
const fitsOctal = (v: number, length: number) =>
  Number.isInteger(v) && v >= 0 && v <= octalMax(length);

/**
 * The header block(s) of any entry. What ustar cannot say exactly goes into a PAX extended
 * header first (POSIX.1-2001, which GNU tar, Go's archive/tar and containerd all read): a path
 * or link name too long for its fields or not ASCII, a size over 8 GiB, an owner past 2097151
 * (7 octal digits), an owner name, and an mtime before 1970, past 2242 or fractional. The
 * ustar fields then hold what fits (a cut name, 0), as GNU tar writes them.
 */
export function entryHeader(h: TarHeader): Uint8Array {
  const records: string[] = [];
  // A directory's name ends in "/", as GNU tar, Docker and containerd write it.
  const path = h.type === 'dir' && !h.path.endsWith('/') ? `${h.path}/` : h.path;
  const split = ASCII.test(path) ? splitUstar(path) : undefined;
  if (!split) records.push(paxRecord('path', path));
  const { name, prefix } = split ?? { name: asciiTail(path), prefix: '' };
  let linkname = h.linkname ?? '';
  if (linkname && (!ASCII.test(linkname) || encoder.encode(linkname).length > 100)) {
    records.push(paxRecord('linkpath', linkname));
    linkname = asciiTail(linkname);
  }
  const size = h.type === 'file' || h.type === 'other' ? h.size : 0;
  if (!fitsOctal(size, 12)) records.push(paxRecord('size', String(size)));
  if (!fitsOctal(h.uid, 8)) records.push(paxRecord('uid', String(h.uid)));
  if (!fitsOctal(h.gid, 8)) records.push(paxRecord('gid', String(h.gid)));
  if (h.uname) records.push(paxRecord('uname', h.uname));
  if (h.gname) records.push(paxRecord('gname', h.gname));
  if (!fitsOctal(h.mtime, 12)) records.push(paxRecord('mtime', decimal(h.mtime)));

  const main = new Uint8Array(block);
  writeString(main, 0, 100, name);
  writeOctal(main, 100, 8, h.mode & 0o7777);
  writeOctal(main, 108, 8, fitsOctal(h.uid, 8) ? h.uid : 0);
  writeOctal(main, 116, 8, fitsOctal(h.gid, 8) ? h.gid : 0);
  writeOctal(main, 124, 12, fitsOctal(size, 12) ? size : 0);
  const mtime = Math.trunc(h.mtime);
  writeOctal(main, 136, 12, fitsOctal(mtime, 12) ? mtime : 0);
  main[156] = TYPEFLAGS[h.type].charCodeAt(0);
  writeString(main, 157, 100, linkname);
  writeString(main, 257, 6, 'ustar');
  writeString(main, 263, 2, '00');
  if (h.uname && ASCII.test(h.uname)) writeString(main, 265, 32, h.uname);
  if (h.gname && ASCII.test(h.gname)) writeString(main, 297, 32, h.gname);
  if (h.type === 'char' || h.type === 'block') {
    writeOctal(main, 329, 8, fitsOctal(h.devmajor ?? 0, 8) ? (h.devmajor ?? 0) : 0);
    writeOctal(main, 337, 8, fitsOctal(h.devminor ?? 0, 8) ? (h.devminor ?? 0) : 0);
  }
  writeString(main, 345, 155, prefix);
  writeString(main, 148, 8, checksum(main).toString(8).padStart(6, '0') + '\0 ');
  if (records.length === 0) return main;

  const body = encoder.encode(records.join(''));
  const out = new Uint8Array(block + padded(body.length) + block);
  out.set(ustar(paxName(name), body.length, 'x', fitsOctal(mtime, 12) ? mtime : 0), 0);
  out.set(body, block);
  out.set(main, block + padded(body.length));
  return out;
}

/** A PAX mtime: seconds with the fraction kept (no exponent, whatever the size). */
function decimal(v: number): string {
  if (Number.isInteger(v)) return BigInt(v).toString();
  const whole = Math.trunc(v);
  const frac = Math.abs(v - whole)
    .toFixed(9)
    .slice(1)
    .replace(/0+$/, '');
  return `${v < 0 && whole === 0 ? '-' : ''}${BigInt(whole).toString()}${frac}`;
}

/** What of a name fits a ustar name field: its last 100 ASCII bytes. */
function asciiTail(path: string): string {
  // eslint-disable-next-line no-control-regex -- the field is ASCII
  return path.replace(/[^\x01-\x7f]/g, '_').slice(-100);
}

/** The extended header's own name, as GNU tar makes it: PaxHeaders/<name>. */
function paxName(name: string): string {
  return `PaxHeaders/${name.slice(-(100 - 'PaxHeaders/'.length))}`;
}

/** Zero bytes that pad a body of `size` bytes to the block boundary. */
export function padding(size: number): Uint8Array {
  return new Uint8Array(padded(size) - size);
}

/** The end-of-archive marker: two zero blocks. */
export const endOfArchive = (): Uint8Array => new Uint8Array(block * 2);
