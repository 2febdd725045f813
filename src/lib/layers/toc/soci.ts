// SOCI (Seekable OCI, awslabs/soci-snapshotter): random access into a plain gzip layer that was
// never downloaded. A SOCI index is a manifest attached to the image as a referrer; each of its
// layers is a zTOC for one image layer, named by the annotation com.amazon.soci.image-layer-digest.
// A zTOC is a flatbuffers document (ztoc/fbs/ztoc.fbs) holding the tar's file list, with each
// file's offset in the uncompressed tar, and zran checkpoints (soci's gzip_zinfo blob): where
// each span of the gzip stream starts, in bits, and the 32 KiB window before it. A file is read
// by fetching only the spans that hold it and inflating each from its checkpoint.
//
// The zTOC is foreign data: every count, offset and size is checked before it is used, and a
// zTOC that lies is refused with an error that says which field.
import { ByteBuffer } from 'flatbuffers';
import { Gunzip, type GunzipStreamOptions } from 'fflate';
import { digestBytes } from '../../oci/hasher.ts';
import { isDigest } from '../../oci/digest.ts';
import type { Descriptor } from '../../oci/types.ts';
import type { IndexEntry } from '../entry.ts';
import { cleanName } from '../tar.ts';
import { maxTocEntries, TocError, tocTypes } from './toc.ts';

export const sociIndexV1 = 'application/vnd.amazon.soci.index.v1+json';
export const sociIndexV2 = 'application/vnd.amazon.soci.index.v2+json';
/** On an image manifest of a SOCI-enabled image (SOCI index manifest v2): the digest of its
 * SOCI index, which the image index holds beside it. */
export const sociIndexAnnotation = 'com.amazon.soci.index-digest';
/** On a zTOC descriptor of a SOCI index: the image layer it describes. */
export const sociLayerDigest = 'com.amazon.soci.image-layer-digest';

/** The largest zTOC read: its windows cost 32 KiB a span, so this is a layer of about 16 GiB
 * at soci's default 4 MiB spans. */
export const maxZtocBytes = 128 << 20;
/** zran's window, and the size of every window in a gzip_zinfo blob. */
const windowSize = 32768;
/** One checkpoint in the blob: compressed offset, uncompressed offset, bits, window. */
const packedCheckpoint = 8 + 8 + 1 + windowSize;
/** The blob's header: the number of checkpoints and the span size. */
const blobHeader = 4 + 8;
/** Compressed bytes inflated per step: deflate's 1032:1 at most makes that 16 MiB of output. */
const pushBytes = 16 << 10;

/** One span of the gzip stream: fetch [start, end) of the blob, inflate from bit `bit` of
 * its first byte with `window` as the dictionary, and it gives tar bytes [out, outEnd). */
export interface Span {
  start: number;
  end: number;
  bit: number;
  out: number;
  outEnd: number;
  window: Uint8Array;
  /** sha256 of the span's compressed bytes, when the zTOC has span digests. */
  digest?: string;
}

export interface SociIndex {
  format: 'soci';
  /** The file index. A regular file's `offset` is its data's offset in the uncompressed tar. */
  entries: IndexEntry[];
  spans: Span[];
  /** The zTOC matched the digest its SOCI index gives (always: it is fetched by digest). */
  verified: boolean;
  /** Whether spans are checked against digests (a zTOC may leave them out). */
  spanDigests: boolean;
}

/** The flatbuffers reads, bounded: a table's field at slot n, its scalars, strings and
 * vectors, each checked to lie inside the buffer before the library reads it. */
class Reader {
  readonly bb: ByteBuffer;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    this.bb = new ByteBuffer(bytes);
  }
  need(at: number, n: number, field: string) {
    if (!Number.isInteger(at) || at < 0 || at + n > this.bytes.byteLength) {
      throw new TocError(`${this.what}: ${field} points outside the document (byte ${at})`);
    }
  }
  /** The position of the table an offset at `at` points to. */
  table(at: number, field: string): number {
    this.need(at, 4, field);
    const pos = at + this.bb.readUint32(at);
    this.need(pos, 4, field);
    const vtable = pos - this.bb.readInt32(pos);
    this.need(vtable, 4, `${field}'s vtable`);
    const vlen = this.bb.readUint16(vtable);
    if (vlen < 4 || vlen % 2 !== 0)
      throw new TocError(`${this.what}: ${field} has a broken vtable`);
    this.need(vtable, vlen, `${field}'s vtable`);
    return pos;
  }
  /** Where field `slot` of the table at `pos` is, or 0 when it is absent. */
  field(pos: number, slot: number, size: number, name: string): number {
    const vtable = pos - this.bb.readInt32(pos);
    const o = 4 + 2 * slot;
    const off = o < this.bb.readUint16(vtable) ? this.bb.readUint16(vtable + o) : 0;
    if (off === 0) return 0;
    this.need(pos + off, size, name);
    return pos + off;
  }
  long(pos: number, slot: number, name: string): number {
    const at = this.field(pos, slot, 8, name);
    if (!at) return 0;
    const v = this.bb.readInt64(at);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TocError(`${this.what}: ${name} is ${v}, not an offset or size`);
    }
    return Number(v);
  }
  uint32(pos: number, slot: number, name: string): number {
    const at = this.field(pos, slot, 4, name);
    return at ? this.bb.readUint32(at) : 0;
  }
  int32(pos: number, slot: number, name: string): number {
    const at = this.field(pos, slot, 4, name);
    return at ? this.bb.readInt32(at) : 0;
  }
  byte(pos: number, slot: number, name: string, otherwise: number): number {
    const at = this.field(pos, slot, 1, name);
    return at ? this.bb.readInt8(at) : otherwise;
  }
  /** A vector's element area and length, or undefined when absent. */
  vector(pos: number, slot: number, elem: number, name: string) {
    const at = this.field(pos, slot, 4, name);
    if (!at) return undefined;
    const start = at + this.bb.readUint32(at);
    this.need(start, 4, name);
    const length = this.bb.readUint32(start);
    this.need(start + 4, length * elem, name);
    return { start: start + 4, length };
  }
  string(pos: number, slot: number, name: string): string | undefined {
    const v = this.vector(pos, slot, 1, name);
    if (!v) return undefined;
    return new TextDecoder().decode(this.bytes.subarray(v.start, v.start + v.length));
  }
  /** The tables of a vector of tables. */
  tables(pos: number, slot: number, name: string): number[] {
    const v = this.vector(pos, slot, 4, name);
    if (!v) return [];
    if (v.length > maxTocEntries) {
      throw new TocError(
        `${this.what}: ${name} has ${v.length} entries; Berth reads at most ${maxTocEntries}`,
      );
    }
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) out.push(this.table(v.start + 4 * i, `${name}[${i}]`));
    return out;
  }
}

/**
 * Parses a zTOC (`bytes`) for a gzip layer of `blobSize` compressed bytes into its file index
 * and spans. The windows are views into `bytes`.
 */
export function parseZtoc(bytes: Uint8Array, blobSize: number): SociIndex {
  const what = 'the SOCI zTOC';
  if (bytes.byteLength > maxZtocBytes) {
    throw new TocError(`${what} is ${bytes.byteLength} bytes; Berth reads at most ${maxZtocBytes}`);
  }
  const r = new Reader(bytes, what);
  const root = r.table(0, 'the root table');
  // Ztoc: version, build_tool_identifier, compressed_archive_size, uncompressed_archive_size,
  // toc, compression_info.
  const version = r.string(root, 0, 'version') ?? '';
  if (!/^0\.9$|^1\.\d+$/.test(version)) {
    throw new TocError(`${what} has version ${JSON.stringify(version)}; Berth reads 0.9`);
  }
  const compressed = r.long(root, 2, 'compressed_archive_size');
  const uncompressed = r.long(root, 3, 'uncompressed_archive_size');
  if (compressed !== blobSize) {
    throw new TocError(
      `${what} describes a layer of ${compressed} compressed bytes, but the layer is ${blobSize}`,
    );
  }
  const tocAt = r.field(root, 4, 4, 'toc');
  const infoAt = r.field(root, 5, 4, 'compression_info');
  if (!tocAt || !infoAt) throw new TocError(`${what} has no ${tocAt ? 'compression_info' : 'toc'}`);
  const info = r.table(infoAt, 'compression_info');
  // CompressionInfo: compression_algorithm (Gzip = 1 by default), max_span_id, span_digests,
  // checkpoints.
  const algorithm = r.byte(info, 0, 'compression_algorithm', 1);
  if (algorithm !== 1) {
    throw new TocError(`${what} has compression algorithm ${algorithm}; Berth reads gzip (1)`);
  }
  const maxSpanId = r.int32(info, 1, 'max_span_id');
  const cps = r.vector(info, 3, 1, 'checkpoints');
  if (!cps) throw new TocError(`${what} has no checkpoints`);
  const spans = parseZinfo(bytes.subarray(cps.start, cps.start + cps.length), {
    compressed,
    uncompressed,
    maxSpanId,
    what,
  });
  const digests = r.vector(info, 2, 4, 'span_digests');
  if (digests && digests.length > 0) {
    if (digests.length !== spans.length) {
      throw new TocError(`${what} has ${digests.length} span digests for ${spans.length} spans`);
    }
    for (let i = 0; i < digests.length; i++) {
      const at = digests.start + 4 * i;
      r.need(at, 4, `span_digests[${i}]`);
      const s = at + r.bb.readUint32(at);
      r.need(s, 4, `span_digests[${i}]`);
      const n = r.bb.readUint32(s);
      r.need(s + 4, n, `span_digests[${i}]`);
      const d = new TextDecoder().decode(bytes.subarray(s + 4, s + 4 + n));
      if (!/^sha256:[0-9a-f]{64}$/.test(d) || !isDigest(d)) {
        throw new TocError(
          `${what}: span digest ${i} is ${JSON.stringify(d.slice(0, 80))}, not a sha256 digest`,
        );
      }
      spans[i]!.digest = d;
    }
  }
  const toc = r.table(tocAt, 'toc');
  const entries = r.tables(toc, 0, 'toc.metadata').map((m, i) => fileOf(r, m, i, uncompressed));
  return { format: 'soci', entries, spans, verified: true, spanDigests: !!digests?.length };
}

function fileOf(r: Reader, m: number, i: number, uncompressed: number): IndexEntry {
  const at = `toc.metadata[${i}]`;
  // FileMetadata: name, type, uncompressed_offset, uncompressed_size, linkname, mode, uid, gid,
  // uname, gname, mod_time, devmajor, devminor, xattrs.
  const name = r.string(m, 0, `${at}.name`) ?? '';
  const here = `${at} (${JSON.stringify(name.slice(0, 200))})`;
  const type = r.string(m, 1, `${here}.type`) ?? '';
  const kind = tocTypes[type];
  if (!kind) {
    throw new TocError(
      `${r.what}: ${here} has type ${JSON.stringify(type.slice(0, 40))}, which is not a tar entry type`,
    );
  }
  const offset = r.long(m, 2, `${here}.uncompressed_offset`);
  const size = kind === 'file' ? r.long(m, 3, `${here}.uncompressed_size`) : 0;
  if (offset + size > uncompressed) {
    throw new TocError(
      `${r.what}: ${here} ends at byte ${offset + size}, past the tar's ${uncompressed} bytes`,
    );
  }
  const ms = Date.parse(r.string(m, 10, `${here}.mod_time`) ?? '');
  const entry: IndexEntry = {
    path: cleanName(name),
    type: kind,
    size,
    mode: r.long(m, 5, `${here}.mode`) & 0o7777,
    uid: r.uint32(m, 6, `${here}.uid`),
    gid: r.uint32(m, 7, `${here}.gid`),
    mtime: Number.isFinite(ms) ? Math.floor(ms / 1000) : 0,
    offset,
  };
  const link = r.string(m, 4, `${here}.linkname`);
  if (kind === 'symlink') entry.linkname = link ?? '';
  if (kind === 'hardlink') entry.linkname = cleanName(link ?? '');
  if (kind === 'char' || kind === 'block') {
    entry.devmajor = r.long(m, 11, `${here}.devmajor`);
    entry.devminor = r.long(m, 12, `${here}.devminor`);
  }
  return entry;
}

/**
 * Reads soci's gzip_zinfo blob (ztoc/compression/gzip_zinfo.c, little-endian): the checkpoint
 * count (int32) and span size (int64), then per checkpoint its compressed offset (int64, the
 * first whole byte of the block), uncompressed offset (int64), bits (uint8: how many bits of
 * the byte before belong to the block, as zran's inflatePrime takes them) and 32 KiB window.
 * Version 1 blobs leave out checkpoint 0 (the first block, right after a 10-byte header).
 */
export function parseZinfo(
  blob: Uint8Array,
  layer: { compressed: number; uncompressed: number; maxSpanId: number; what: string },
): Span[] {
  const { what } = layer;
  if (blob.byteLength < blobHeader) throw new TocError(`${what}: the checkpoints are truncated`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = view.getInt32(0, true);
  if (count < 1 || count > maxTocEntries) {
    throw new TocError(`${what}: the checkpoints say there are ${count}`);
  }
  // Version 2 holds every checkpoint, version 1 all but the first.
  let first: 0 | 1;
  if (blob.byteLength === blobHeader + count * packedCheckpoint) first = 0;
  else if (blob.byteLength === blobHeader + (count - 1) * packedCheckpoint) first = 1;
  else {
    throw new TocError(
      `${what}: ${blob.byteLength} bytes of checkpoints cannot hold the ${count} they announce`,
    );
  }
  if (layer.maxSpanId !== count - 1) {
    throw new TocError(`${what}: max_span_id is ${layer.maxSpanId} for ${count} checkpoints`);
  }
  const points: { in: number; out: number; bits: number; window: Uint8Array }[] = [];
  if (first === 1) points.push({ in: 10, out: 0, bits: 0, window: new Uint8Array(windowSize) });
  for (let i = first; i < count; i++) {
    const at = blobHeader + (i - first) * packedCheckpoint;
    const cin = Number(view.getBigInt64(at, true));
    const out = Number(view.getBigInt64(at + 8, true));
    const bits = blob[at + 16]!;
    const here = `${what}: checkpoint ${i}`;
    const prev = points[points.length - 1];
    if (bits > 7) throw new TocError(`${here} has ${bits} bits; a byte holds at most 7 of a block`);
    if (!(cin >= (bits ? 1 : 0) && cin <= layer.compressed)) {
      throw new TocError(
        `${here} starts at compressed byte ${cin}, outside the layer's ${layer.compressed}`,
      );
    }
    if (!(out >= 0 && out <= layer.uncompressed)) {
      throw new TocError(
        `${here} starts at tar byte ${out}, outside the tar's ${layer.uncompressed}`,
      );
    }
    if (prev ? cin <= prev.in || out < prev.out : out !== 0) {
      throw new TocError(
        `${here} does not follow the one before it (compressed ${cin}, tar ${out})`,
      );
    }
    points.push({ in: cin, out, bits, window: blob.subarray(at + 17, at + 17 + windowSize) });
  }
  return points.map((p, i) => {
    const next = points[i + 1];
    return {
      // zran resumes a block that starts inside a byte from that byte: its top `bits` bits.
      start: p.in - (p.bits ? 1 : 0),
      end: next ? next.in : layer.compressed,
      bit: p.bits ? 8 - p.bits : 0,
      out: p.out,
      outEnd: next ? next.out : layer.uncompressed,
      window: p.window,
    };
  });
}

/** The spans that hold tar bytes [from, to): their indexes [first, last]. */
export function spansFor(spans: Span[], from: number, to: number): [number, number] {
  const find = (x: number) => {
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (spans[mid]!.out <= x) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo - 1);
  };
  return [find(from), find(Math.max(from, to - 1))];
}

/**
 * Tar bytes [from, to) out of one span's compressed bytes, after checking the span against its
 * digest, handed to `each` in order as they are inflated: from the span's checkpoint, and only
 * as far as `to`. Memory stays bounded by one push's output, whatever the span's size.
 */
export async function spanBytes(
  span: Span,
  compressed: Uint8Array,
  from: number,
  to: number,
  what: string,
  each: (bytes: Uint8Array) => void,
): Promise<void> {
  if (span.digest !== undefined) {
    const got = await digestBytes(compressed);
    if (got !== span.digest) {
      throw new TocError(
        `${what}: span at blob bytes ${span.start}-${span.end - 1} does not match its digest in the zTOC: got ${got}, want ${span.digest}; refused`,
      );
    }
  }
  const want = Math.min(to, span.outEnd) - from;
  if (want <= 0) return;
  let at = span.out;
  // The patched fflate starts inside a deflate stream: at a bit offset, with the window as
  // its dictionary (zran's inflatePrime and inflateSetDictionary). Gunzip rather than Inflate:
  // a span may run past the end of a gzip member into the next (pigz and other writers make
  // multi-member layers, and zran indexes across them).
  const inflater = new Gunzip({
    dictionary: span.window,
    startBit: span.bit,
  } as GunzipStreamOptions);
  inflater.ondata = (chunk: Uint8Array) => {
    const lo = Math.max(from, at);
    const hi = Math.min(from + want, at + chunk.byteLength);
    // fflate hands out a fresh buffer per call: a view of it can be passed on.
    if (hi > lo) each(chunk.subarray(lo - at, hi - at));
    at += chunk.byteLength;
  };
  try {
    for (let i = 0; i < compressed.byteLength && at < from + want; i += pushBytes) {
      inflater.push(compressed.subarray(i, i + pushBytes), false);
    }
  } catch (e) {
    throw new TocError(
      `${what}: span at blob bytes ${span.start}-${span.end - 1} does not inflate: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (at < from + want) {
    throw new TocError(
      `${what}: span at blob bytes ${span.start}-${span.end - 1} inflates to tar bytes ${span.out}-${at}, short of ${from + want}`,
    );
  }
}

/** The zTOC descriptors of SOCI index manifest `bytes`, by the image layer each describes. */
export function ztocsOf(bytes: Uint8Array): Map<string, Descriptor> {
  const out = new Map<string, Descriptor>();
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new TocError('the SOCI index is not JSON');
  }
  const layers = (doc as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) throw new TocError('the SOCI index has no layers list');
  for (const l of layers as Descriptor[]) {
    const layer = l?.annotations?.[sociLayerDigest];
    if (typeof layer !== 'string' || !isDigest(layer)) continue;
    if (typeof l.digest !== 'string' || !isDigest(l.digest)) continue;
    if (!Number.isSafeInteger(l.size) || l.size <= 0 || l.size > maxZtocBytes) continue;
    out.set(layer, { mediaType: String(l.mediaType), digest: l.digest, size: l.size });
  }
  return out;
}
