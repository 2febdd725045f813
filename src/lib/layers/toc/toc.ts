// Tables of contents of lazily pullable layers (eStargz and zstd:chunked): both carry the CRFS
// TOC, a JSON list of the tar's entries with where each file's compressed chunks sit in the
// blob. It is read here into the file index the browser shows plus a chunk map, without
// downloading the layer. The TOC is foreign data: every number is checked before it is used as
// an offset, and names are kept as stored (cleaned like the tar reader's, never resolved).
import { JsonError, parseJsonBounded } from '../../json.ts';
import type { EntryType, IndexEntry } from '../entry.ts';
import { cleanName } from '../tar.ts';

export type TocFormat = 'estargz' | 'zstd:chunked';

/** The largest TOC read, uncompressed: about 200,000 entries of real layers. Bigger layers
 * are downloaded and listed as usual. */
export const maxTocBytes = 64 << 20;
/** The most entries (files and chunks) a TOC may hold. */
export const maxTocEntries = 1_000_000;
/** The most chunks one file may have: a 64 GiB file of 64 KiB chunks. */
export const maxFileChunks = 1 << 20;

/** A TOC that cannot be used: malformed, lying about offsets, or too big. */
export class TocError extends Error {
  override name = 'TocError';
}

/** One compressed piece of a file: its bytes are [start, end) of the blob, which decompress
 * to `innerOffset` bytes to skip, then `size` bytes of the file from `fileOffset`. */
export interface Chunk {
  start: number;
  end: number;
  innerOffset: number;
  fileOffset: number;
  size: number;
  /** sha256 of the chunk's uncompressed bytes; undefined only for a zeros chunk. */
  digest?: string;
  /** zstd:chunked's hole: `size` zero bytes, nothing fetched. */
  zeros?: boolean;
}

export interface Toc {
  format: TocFormat;
  /** The file index. For a regular file, `offset` is not a tar offset: it is the file's number
   * in `chunks` (the key readRemoteFile takes). */
  entries: IndexEntry[];
  /** The chunks of each regular file, by its number, in file order. */
  chunks: Chunk[][];
  /** Whether the TOC was checked against a digest from the manifest (an annotation). */
  verified: boolean;
}

interface RawEntry {
  name?: unknown;
  type?: unknown;
  size?: unknown;
  modtime?: unknown;
  linkName?: unknown;
  mode?: unknown;
  uid?: unknown;
  gid?: unknown;
  devMajor?: unknown;
  devMinor?: unknown;
  digest?: unknown;
  offset?: unknown;
  endOffset?: unknown;
  innerOffset?: unknown;
  chunkOffset?: unknown;
  chunkSize?: unknown;
  chunkDigest?: unknown;
  chunkType?: unknown;
}

/** The TOC type names, as eStargz and zstd:chunked (and SOCI's zTOC) spell them. */
export const tocTypes: Record<string, EntryType> = {
  reg: 'file',
  dir: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  char: 'char',
  block: 'block',
  fifo: 'fifo',
};

const sha256 = /^sha256:[0-9a-f]{64}$/;

export interface TocLayout {
  format: TocFormat;
  /** The blob's size: no chunk may reach past it. */
  blobSize: number;
  /** Where the file data ends (the TOC's own offset): chunks lie before it. */
  dataEnd: number;
  verified: boolean;
}

/** Parses a CRFS TOC (its JSON bytes) into the file index and the chunk map. */
export function parseToc(json: Uint8Array, layout: TocLayout): Toc {
  const what = `the ${layout.format} table of contents`;
  let doc: unknown;
  try {
    doc = parseJsonBounded(json, { what, maxBytes: maxTocBytes, maxDepth: 8 });
  } catch (e) {
    if (e instanceof JsonError) throw new TocError(e.message);
    throw e;
  }
  const d = doc as { version?: unknown; entries?: unknown } | null;
  if (!d || typeof d !== 'object' || Array.isArray(d))
    throw new TocError(`${what} is not an object`);
  if (d.version !== 1) {
    throw new TocError(`${what} has version ${JSON.stringify(d.version)}; Berth reads version 1`);
  }
  if (!Array.isArray(d.entries)) throw new TocError(`${what} has no entries list`);
  if (d.entries.length > maxTocEntries) {
    throw new TocError(
      `${what} has ${d.entries.length} entries; Berth reads at most ${maxTocEntries}`,
    );
  }
  const entries: IndexEntry[] = [];
  const chunks: Chunk[][] = [];
  /** The file the next "chunk" entries belong to. */
  let open:
    { name: string; size: number; list: Chunk[]; ends: number[]; endOffset?: number } | undefined;
  const closeFile = () => {
    if (open) finishFile(open, layout, what);
    open = undefined;
  };
  for (let i = 0; i < d.entries.length; i++) {
    const raw = d.entries[i] as RawEntry;
    const at = `${what}, entry ${i}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new TocError(`${at} is not an object`);
    const name = str(raw.name, `${at}: name`, true)!;
    const type = str(raw.type, `${at} (${JSON.stringify(name)}): type`, true)!;
    const here = `${at} (${JSON.stringify(name)})`;
    if (type === 'chunk') {
      if (!open || open.name !== name) {
        throw new TocError(`${here} is a chunk of a file that does not come just before it`);
      }
      open.list.push(chunkOf(raw, here, layout, open.size, false));
      if (open.list.length > maxFileChunks) {
        throw new TocError(`${here}: the file has over ${maxFileChunks} chunks`);
      }
      continue;
    }
    closeFile();
    const kind = tocTypes[type];
    if (!kind)
      throw new TocError(`${here} has type ${JSON.stringify(type)}, which is not a tar entry type`);
    const size = kind === 'file' ? (num(raw.size, `${here}: size`) ?? 0) : 0;
    const entry: IndexEntry = {
      path: cleanName(name),
      type: kind,
      size,
      mode: (num(raw.mode, `${here}: mode`, true) ?? 0) & 0o7777,
      uid: num(raw.uid, `${here}: uid`) ?? 0,
      gid: num(raw.gid, `${here}: gid`) ?? 0,
      mtime: mtimeOf(raw.modtime, here),
      offset: 0,
    };
    const link = str(raw.linkName, `${here}: linkName`, false);
    if (kind === 'symlink') entry.linkname = link ?? '';
    if (kind === 'hardlink') entry.linkname = cleanName(link ?? '');
    if (kind === 'char' || kind === 'block') {
      entry.devmajor = num(raw.devMajor, `${here}: devMajor`) ?? 0;
      entry.devminor = num(raw.devMinor, `${here}: devMinor`) ?? 0;
    }
    if (kind === 'file') {
      entry.offset = chunks.length;
      const list: Chunk[] = [];
      chunks.push(list);
      if (size > 0) {
        const endOffset = num(raw.endOffset, `${here}: endOffset`);
        open = { name, size, list, ends: [], ...(endOffset !== undefined ? { endOffset } : {}) };
        const first = chunkOf(raw, here, layout, size, true);
        // An unchunked file is one chunk: the whole file, checked against the file's digest.
        if (first.digest === undefined && !first.zeros) {
          const whole = str(raw.digest, `${here}: digest`, false);
          if (whole !== undefined && first.fileOffset === 0 && first.size === size) {
            first.digest = checkDigest(whole, `${here}: digest`);
          }
        }
        list.push(first);
      }
    }
    entries.push(entry);
  }
  closeFile();
  if (layout.format === 'estargz') estargzEnds(chunks, layout.dataEnd);
  return { format: layout.format, entries, chunks, verified: layout.verified };
}

function chunkOf(
  raw: RawEntry,
  here: string,
  layout: TocLayout,
  fileSize: number,
  first: boolean,
): Chunk {
  const fileOffset = num(raw.chunkOffset, `${here}: chunkOffset`) ?? 0;
  if (first && fileOffset !== 0)
    throw new TocError(`${here}: its first chunk starts at ${fileOffset}, not 0`);
  // chunkSize 0 (or none) means "to the end of the file" for the last chunk (eStargz).
  const declared = num(raw.chunkSize, `${here}: chunkSize`) ?? 0;
  if (fileOffset > fileSize) {
    throw new TocError(
      `${here}: a chunk starts at ${fileOffset}, past the file's ${fileSize} bytes`,
    );
  }
  const size = declared === 0 ? fileSize - fileOffset : declared;
  if (fileOffset + size > fileSize) {
    throw new TocError(
      `${here}: a chunk of ${size} bytes at ${fileOffset} ends past the file's ${fileSize} bytes`,
    );
  }
  const chunkType = str(raw.chunkType, `${here}: chunkType`, false);
  if (chunkType === 'zeros')
    return { start: 0, end: 0, innerOffset: 0, fileOffset, size, zeros: true };
  if (chunkType !== undefined && chunkType !== '') {
    throw new TocError(
      `${here} has chunk type ${JSON.stringify(chunkType)}, which Berth does not know`,
    );
  }
  const start = num(raw.offset, `${here}: offset`);
  if (start === undefined) throw new TocError(`${here} has data but no offset`);
  if (start >= layout.dataEnd) {
    throw new TocError(
      `${here}: its data is said to start at ${start}, at or past the table of contents (${layout.dataEnd})`,
    );
  }
  const innerOffset = num(raw.innerOffset, `${here}: innerOffset`) ?? 0;
  const digestRaw = str(raw.chunkDigest, `${here}: chunkDigest`, false);
  return {
    start,
    end: 0, // set by finishFile
    innerOffset,
    fileOffset,
    size,
    ...(digestRaw !== undefined ? { digest: checkDigest(digestRaw, `${here}: chunkDigest`) } : {}),
  };
}

/** Checks that a file's chunks tile it in order and move forward in the blob. A zstd:chunked
 * chunk ends where the next one starts, the last one at the file's endOffset. */
function finishFile(
  f: { name: string; size: number; list: Chunk[]; endOffset?: number },
  layout: TocLayout,
  what: string,
) {
  const name = JSON.stringify(f.name);
  let at = 0;
  for (const c of f.list) {
    if (c.fileOffset !== at) {
      throw new TocError(
        `${what}: the chunks of ${name} ${c.fileOffset < at ? 'overlap' : 'leave a gap'} at byte ${Math.min(at, c.fileOffset)} of the file`,
      );
    }
    at += c.size;
  }
  if (at !== f.size) {
    throw new TocError(`${what}: the chunks of ${name} cover ${at} of its ${f.size} bytes`);
  }
  const data = f.list.filter((c) => !c.zeros);
  for (let k = 1; k < data.length; k++) {
    if (data[k]!.start <= data[k - 1]!.start) {
      throw new TocError(
        `${what}: the chunks of ${name} go backwards in the blob (${data[k]!.start} after ${data[k - 1]!.start})`,
      );
    }
  }
  if (layout.format !== 'zstd:chunked') return;
  if (f.endOffset === undefined && data.length > 0) {
    throw new TocError(`${what}: ${name} has data but no endOffset`);
  }
  for (let k = 0; k < data.length; k++) {
    const c = data[k]!;
    c.end = k + 1 < data.length ? data[k + 1]!.start : f.endOffset!;
    if (c.end <= c.start || c.end > layout.dataEnd) {
      throw new TocError(
        `${what}: a chunk of ${name} spans ${c.start} to ${c.end}, outside the file data (0 to ${layout.dataEnd})`,
      );
    }
  }
}

/** eStargz gives no ends: a chunk's gzip member ends at the next larger offset any entry
 * names, or at the TOC, as the estargz reader computes it. Files may share a member
 * (innerOffset). */
function estargzEnds(chunks: Chunk[][], dataEnd: number) {
  const starts = [
    ...new Set(chunks.flatMap((l) => l.filter((c) => !c.zeros).map((c) => c.start))),
  ].sort((a, b) => a - b);
  starts.push(dataEnd);
  const nextAfter = (x: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return starts[lo]!;
  };
  for (const list of chunks) for (const c of list) if (!c.zeros) c.end = nextAfter(c.start);
}

function str(v: unknown, what: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new TocError(`${what} is missing`);
    return undefined;
  }
  if (typeof v !== 'string') throw new TocError(`${what} is not a string`);
  return v;
}

function num(v: unknown, what: string, signed = false): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || (!signed && v < 0)) {
    throw new TocError(
      `${what} is ${JSON.stringify(v)}, not a ${signed ? '' : 'non-negative '}integer`,
    );
  }
  return v;
}

function checkDigest(v: string, what: string): string {
  if (!sha256.test(v))
    throw new TocError(`${what} is ${JSON.stringify(v.slice(0, 80))}, not a sha256 digest`);
  return v;
}

/** RFC 3339 to seconds; empty, absent or unreadable is 0 (the TOC's "unknown"). */
function mtimeOf(v: unknown, here: string): number {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v !== 'string') throw new TocError(`${here}: modtime is not a string`);
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}
