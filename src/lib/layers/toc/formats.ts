// Where each format keeps its table of contents, and how to tell a layer has one: the layer
// descriptor's annotations when the manifest gives them (one Range request, and a digest to
// check the TOC against), else the blob's footer (two requests, TOC unverified).
//
// eStargz (containerd/stargz-snapshotter docs/estargz.md): a gzip blob whose last member is a
// 51-byte footer, an empty gzip member whose extra field holds "%016xSTARGZ", the TOC's offset
// in hex. The TOC is a gzip member at that offset holding a tar entry named stargz.index.json.
// The annotation containerd.io/snapshot/stargz/toc.digest is the sha256 of the TOC's JSON.
//
// zstd:chunked (containers/storage pkg/chunked): a zstd blob whose TOC ("manifest") is a zstd
// frame inside a skippable frame; the annotation ...zstd-chunked.manifest-position says
// "offset:length:uncompressedLength:type" and ...manifest-checksum is the sha256 of those
// compressed bytes. The blob ends with a skippable frame holding the same numbers (the footer,
// 40 bytes of payload in older writers, 64 in newer ones) and the magic "GnUlInUx".
import type { Descriptor } from '../../oci/types.ts';
import { layerCompression } from '../../oci/mediatypes.ts';
import { maxTocBytes, TocError, type TocFormat } from './toc.ts';

export const estargzTocDigest = 'containerd.io/snapshot/stargz/toc.digest';
/** Current writers use the io.github. keys; skopeo before 1.10 wrote the shorter ones. */
const zstdPosition = [
  'io.github.containers.zstd-chunked.manifest-position',
  'io.containers.zstd-chunked.manifest-position',
];
const zstdChecksum = [
  'io.github.containers.zstd-chunked.manifest-checksum',
  'io.containers.zstd-chunked.manifest-checksum',
];

/** Compressed TOCs larger than this are not fetched. */
export const maxCompressedTocBytes = 32 << 20;

export const estargzFooterSize = 51;
/** The zstd:chunked footer of newer writers: skippable frame header (8) and 64 bytes. Older
 * writers' 48-byte footer is its last 48 bytes. */
export const zstdFooterSize = 72;

/** Where a TOC lies in a blob, and what to check it against. */
export interface TocLocation {
  format: TocFormat;
  /** The compressed TOC: blob bytes [start, end). */
  start: number;
  end: number;
  /** zstd:chunked: the TOC's uncompressed length. */
  uncompressed?: number;
  /** eStargz: sha256 of the TOC JSON; zstd:chunked: sha256 of its compressed bytes. */
  digest?: string;
}

/** What a layer descriptor says about its TOC: a location (zstd:chunked), a format to probe
 * the footer of (eStargz, or any gzip/zstd layer), or nothing. */
export type TocHint =
  | { kind: 'located'; location: TocLocation }
  | { kind: 'footer'; format: TocFormat; digest?: string }
  | { kind: 'none' };

export function tocHint(desc: Descriptor, probe: boolean): TocHint {
  const a = desc.annotations ?? {};
  const compression = layerCompression(desc.mediaType);
  if (compression === 'zstd') {
    const pos = pick(a, zstdPosition);
    if (pos !== undefined) {
      return { kind: 'located', location: zstdLocation(pos, pick(a, zstdChecksum), desc.size) };
    }
    return probe ? { kind: 'footer', format: 'zstd:chunked' } : { kind: 'none' };
  }
  if (compression === 'gzip') {
    const digest = a[estargzTocDigest];
    if (digest !== undefined) return { kind: 'footer', format: 'estargz', digest };
    return probe ? { kind: 'footer', format: 'estargz' } : { kind: 'none' };
  }
  return { kind: 'none' };
}

function pick(a: Record<string, string>, keys: string[]): string | undefined {
  for (const k of keys) if (a[k] !== undefined) return a[k];
  return undefined;
}

function zstdLocation(pos: string, digest: string | undefined, blobSize: number): TocLocation {
  const m = /^(\d{1,16}):(\d{1,16}):(\d{1,16}):(\d{1,16})$/.exec(pos);
  if (!m)
    throw new TocError(
      `the zstd:chunked manifest position ${JSON.stringify(pos.slice(0, 80))} is not offset:length:uncompressed:type`,
    );
  const [offset, length, uncompressed, type] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return checkedLocation('zstd:chunked', offset, length, uncompressed, type, blobSize, digest);
}

function checkedLocation(
  format: TocFormat,
  start: number,
  length: number,
  uncompressed: number | undefined,
  type: number,
  blobSize: number,
  digest: string | undefined,
): TocLocation {
  if (format === 'zstd:chunked' && type !== 1) {
    throw new TocError(`the zstd:chunked manifest has type ${type}; Berth reads type 1 (CRFS)`);
  }
  if (length === 0 || start + length > blobSize) {
    throw new TocError(
      `the ${format} table of contents is said to span ${start} to ${start + length}, outside the ${blobSize}-byte layer`,
    );
  }
  if (length > maxCompressedTocBytes || (uncompressed ?? 0) > maxTocBytes) {
    throw new TocError(
      `the ${format} table of contents is ${Math.max(length, uncompressed ?? 0)} bytes; Berth reads at most ${maxTocBytes}`,
    );
  }
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new TocError(
      `the ${format} TOC digest annotation ${JSON.stringify(digest.slice(0, 80))} is not a sha256 digest`,
    );
  }
  return {
    format,
    start,
    end: start + length,
    ...(uncompressed !== undefined ? { uncompressed } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** How many bytes at the end of the blob hold the footer of `format`. */
export function footerSize(format: TocFormat, blobSize: number): number {
  return Math.min(blobSize, format === 'estargz' ? estargzFooterSize : zstdFooterSize);
}

/** Reads a footer (the blob's last footerSize bytes); undefined when the blob has none, which
 * means the layer is an ordinary one. */
export function parseFooter(
  format: TocFormat,
  tail: Uint8Array,
  blobSize: number,
  digest?: string,
): TocLocation | undefined {
  return format === 'estargz' ? estargzFooter(tail, blobSize, digest) : zstdFooter(tail, blobSize);
}

function estargzFooter(b: Uint8Array, blobSize: number, digest?: string) {
  if (b.length !== estargzFooterSize) return undefined;
  // gzip magic, deflate, FEXTRA only; XLEN 26; subfield "SG" of 22 bytes.
  const header =
    b[0] === 0x1f && b[1] === 0x8b && b[2] === 8 && b[3] === 4 && b[10] === 26 && b[11] === 0;
  if (!header || b[12] !== 0x53 || b[13] !== 0x47 || b[14] !== 22 || b[15] !== 0) return undefined;
  const text = String.fromCharCode(...b.subarray(16, 38));
  const m = /^([0-9a-f]{16})STARGZ$/.exec(text);
  if (!m) return undefined;
  const offset = parseInt(m[1]!, 16);
  if (!Number.isSafeInteger(offset)) return undefined;
  const tocEnd = blobSize - estargzFooterSize;
  if (offset >= tocEnd) {
    throw new TocError(
      `the eStargz footer puts the table of contents at ${offset}, past the layer's ${tocEnd} bytes of data`,
    );
  }
  return checkedLocation('estargz', offset, tocEnd - offset, undefined, 1, blobSize, digest);
}

const zstdMagic = [0x47, 0x6e, 0x55, 0x6c, 0x49, 0x6e, 0x55, 0x78]; // "GnUlInUx"

function zstdFooter(b: Uint8Array, blobSize: number) {
  const n = b.length;
  if (n < 48 || !zstdMagic.every((x, i) => b[n - 8 + i] === x)) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // The skippable frame's header sits 8 bytes before its payload: 64 bytes (newer) or 40.
  const payload =
    n >= 72 && v.getUint32(n - 72, true) === 0x184d2a50 && v.getUint32(n - 68, true) === 64
      ? 64
      : v.getUint32(n - 48, true) === 0x184d2a50 && v.getUint32(n - 44, true) === 40
        ? 40
        : 0;
  if (payload === 0) return undefined;
  const at = n - payload;
  const u64 = (k: number) => {
    const x = v.getBigUint64(at + 8 * k, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER))
      throw new TocError('the zstd:chunked footer holds a number past 2^53');
    return Number(x);
  };
  return checkedLocation('zstd:chunked', u64(0), u64(1), u64(2), u64(3), blobSize, undefined);
}
