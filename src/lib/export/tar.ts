// Tar headers for an archive composed of Blobs. Only headers and padding are made in JS; file
// bodies are the stored Blobs themselves, so exporting never copies a layer.

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

/** Zero bytes that pad a body of `size` bytes to the block boundary. */
export function padding(size: number): Uint8Array {
  return new Uint8Array(padded(size) - size);
}

/** The end-of-archive marker: two zero blocks. */
export const endOfArchive = (): Uint8Array => new Uint8Array(block * 2);
