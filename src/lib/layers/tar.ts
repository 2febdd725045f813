// A push-based tar reader that indexes a layer (the uncompressed tar stream of an OCI image
// layer): it reports every entry with the offset of its data in the stream, and holds no more
// than one header block and one metadata record whatever the layer's size.
// We do not use modern-tar here because we need each entry's data offset in the uncompressed
// stream and want to skip bodies by arithmetic, without a stream per entry.
//
// Where tar implementations disagree, this follows Go's archive/tar, which container runtimes
// extract layers with, so the index shows what a container will see: typeflags 1-6 and
// pre-POSIX directories never have data, whatever their size field says (GNU tar would skip that
// many bytes), and a lone zero block followed by a header is an error (GNU tar warns and stops).
// The exception is PAX global headers: they apply to the entries that follow, as POSIX says
// (Go returns them as entries and applies nothing).

export type EntryType =
  'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  /** The name as stored, after PAX `path` / GNU long-name (typeflag L) resolution, with a
   * leading "./" (repeated, with any slashes right after it) and trailing "/" removed; "." or
   * "./" itself becomes "". Nothing else is changed: "../", absolute names, control characters
   * and other Unicode stay as they are: callers show them literally. Bytes that are not UTF-8
   * are shown escaped, so distinct names stay distinct (see decodeName). */
  path: string;
  type: EntryType;
  /** The raw typeflag character ('0', '\0', '5', 'x', 'S', …). */
  typeflag: string;
  /** Data bytes of this entry (for sparse files, the real size). 0 for typeflags 1-6 and
   * directories. */
  size: number;
  /** Permission and special bits only (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch; PAX mtime may be fractional. */
  mtime: number;
  /** Target of a symlink or hardlink (PAX linkpath / GNU long link K resolved). A symlink's
   * target is kept literally; a hardlink's names another entry, so it is cleaned like `path`. */
  linkname?: string;
  /** Only for char and block devices. */
  devmajor?: number;
  devminor?: number;
  /** Offset of the entry's data in the uncompressed stream (just after its header(s)). */
  offset: number;
  /** Bytes the data occupies in the stream (for sparse entries the stored size, else = size). */
  stored: number;
  /** The data holds only the non-hole parts of the file (for PAX sparse 1.0, after a sparse
   * map), so reading `size` bytes at `offset` does not give the file. */
  sparse?: boolean;
  /** PAX records other than the ones mapped above (e.g. SCHILY.xattr.*), if any, globals
   * included. */
  pax?: Record<string, string>;
}

/** A malformed or truncated archive. The message names the stream offset too. */
export class TarError extends Error {
  override name = 'TarError';
  constructor(
    message: string,
    /** Where in the uncompressed stream: the bad header's start, or where the stream ended. */
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface TarParserOptions {
  onEntry(entry: TarEntry): void;
  /** Optional: receives the data bytes of the entry just reported, in pieces (subarrays of the
   * pushed chunks, no copies where possible). Keep a piece only by copying it. */
  onData?(entry: TarEntry, bytes: Uint8Array): void;
  /** Largest PAX or GNU long-name record accepted (default 1 MiB); bigger is a TarError (a
   * hostile tar must not make us buffer gigabytes). */
  maxMetadata?: number;
}

const block = 512;
// ignoreBOM keeps a leading U+FEFF in a name: names are shown as stored.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

/** Longest name decoded without TextDecoder (fromCharCode.apply takes its bytes as arguments,
 * so the length must stay far below the engine's argument limit). */
const asciiFastMax = 512;

/**
 * Tar names are bytes. This turns them into a string that is the UTF-8 text when the bytes are
 * UTF-8, and that is different for different bytes whatever they are (decoding with replacement
 * characters made `bad-\xff` and `bad-\xfe` both `bad-\uFFFD`, so one hid the other):
 * - each byte that does not start a valid UTF-8 sequence becomes the four characters `\xNN`
 *   (lower-case hex), like GNU tar's and Python's listings;
 * - a backslash that is stored in the name is doubled when the next character written is `x` or
 *   another backslash (including the one that starts an escaped byte), and kept single otherwise.
 * Reading the result back is then unambiguous: `\\` is a backslash, `\x` and two hex digits is
 * a byte, any other `\` is a backslash. So the mapping is injective, and names with no invalid
 * bytes and no `\x` or `\\` in them (all real ones, Windows paths included) are unchanged.
 */
export function decodeName(bytes: Uint8Array): string {
  // Most names are short and ASCII without a backslash: their bytes are their characters.
  // Building them here costs a fraction of a TextDecoder call, which is most of a header's
  // parsing otherwise (a 200k-entry listing spent 0.7 s of 8 s in decode).
  if (bytes.length <= asciiFastMax) {
    let j = 0;
    while (j < bytes.length && bytes[j]! < 0x80 && bytes[j] !== 0x5c) j++;
    if (j === bytes.length) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let fast: string | undefined;
  try {
    fast = utf8.decode(bytes);
  } catch {
    // Not UTF-8: escaped below.
  }
  if (fast !== undefined && !fast.includes('\\')) return fast;
  let out = '';
  let from = 0; // start of the valid run not yet written
  const flush = (to: number) => {
    if (to > from) out += utf8.decode(bytes.subarray(from, to));
  };
  for (let j = 0; j < bytes.length;) {
    const c = bytes[j]!;
    const len = sequenceLength(bytes, j);
    if (len === 0) {
      flush(j);
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      from = ++j;
    } else if (c === 0x5c) {
      const next = bytes[j + 1];
      if (
        next === 0x78 ||
        next === 0x5c ||
        (next !== undefined && sequenceLength(bytes, j + 1) === 0)
      ) {
        flush(j);
        out += '\\\\';
        from = j + 1;
      }
      j++;
    } else {
      j += len;
    }
  }
  flush(bytes.length);
  return out;
}

/** The length of the valid UTF-8 sequence starting at `j` (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if none starts there. */
function sequenceLength(b: Uint8Array, j: number): number {
  const c = b[j]!;
  if (c < 0x80) return 1;
  let len: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return 0;
  if (j + len > b.length) return 0;
  const second = b[j + 1]!;
  if (second < lo || second > hi) return 0;
  for (let k = j + 2; k < j + len; k++) if ((b[k]! & 0xc0) !== 0x80) return 0;
  return len;
}

const types: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

// PAX keys that become TarEntry fields rather than staying in `pax`.
const mapped = new Set([
  'path',
  'linkpath',
  'size',
  'uid',
  'gid',
  'uname',
  'gname',
  'mtime',
  'GNU.sparse.realsize',
  'GNU.sparse.size',
  'GNU.sparse.name',
]);

type State = 'header' | 'extension' | 'meta' | 'data' | 'padding' | 'done';

export class TarParser {
  readonly #onEntry: (entry: TarEntry) => void;
  readonly #onData: ((entry: TarEntry, bytes: Uint8Array) => void) | undefined;
  readonly #maxMetadata: number;

  #state: State = 'header';
  #position = 0;
  #failed: TarError | undefined;

  /** The header or sparse extension block being collected when a chunk splits it. */
  readonly #block = new Uint8Array(block);
  #fill = 0;
  /** One zero block was seen: the next block must be zero too, or the stream end. */
  #zero = false;

  /** A PAX or long-name payload being collected, and the offset of its header. */
  #meta: Uint8Array = new Uint8Array(0);
  #metaFill = 0;
  #metaType = '';
  #metaAt = 0;

  /** Metadata for the next entry, and the offset of the first header that set it. */
  #pax: Map<string, string> | undefined;
  #longName: string | undefined;
  #longLink: string | undefined;
  #pendingAt = -1;
  readonly #global = new Map<string, string>();

  /** The entry whose data (or, for a sparse 'S' entry, extension blocks) comes next. */
  #entry: TarEntry | undefined;
  #remaining = 0;
  #padding = 0;

  constructor(opts: TarParserOptions) {
    this.#onEntry = opts.onEntry;
    this.#onData = opts.onData;
    this.#maxMetadata = opts.maxMetadata ?? 1 << 20;
  }

  /** Bytes consumed so far. Once `done`, the offset just after the end-of-archive blocks. */
  get position(): number {
    return this.#position;
  }

  /** True once the end-of-archive zero blocks were seen; later bytes are ignored. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Feeds the next bytes of the stream; any chunk sizes (1 byte to many MiB). */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#push(chunk);
    } catch (e) {
      if (e instanceof TarError) this.#failed = e;
      throw e;
    }
  }

  /** The stream ended. Throws TarError if it ended inside a header or inside an entry's data
   * (truncated archive). A missing end-of-archive (two zero blocks) is accepted. */
  end(): void {
    if (this.#failed) throw this.#failed;
    const at = this.#position;
    const path = JSON.stringify(this.#entry?.path);
    let inside: string | undefined;
    switch (this.#state) {
      case 'header':
        if (this.#fill > 0) inside = `inside the header at offset ${at - this.#fill}`;
        else if (this.#pendingAt >= 0)
          inside = `before the entry that the header at offset ${this.#pendingAt} describes`;
        break;
      case 'extension':
        inside = `inside a sparse extension header of ${path}`;
        break;
      case 'meta':
        inside = `inside the ${metaName(this.#metaType)} at offset ${this.#metaAt}`;
        break;
      case 'data':
        inside = `${this.#remaining} bytes before the end of the data of ${path}`;
        break;
      case 'padding':
        inside = `inside the padding after the data of ${path}`;
        break;
    }
    if (inside) {
      this.#failed = new TarError(`truncated archive: it ends at offset ${at}, ${inside}`, at);
      throw this.#failed;
    }
  }

  #push(chunk: Uint8Array) {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.#state) {
        case 'data': {
          // The hot path: a body is passed on or skipped as a whole piece, never byte by byte.
          const take = Math.min(this.#remaining, n - i);
          this.#remaining -= take;
          this.#position += take;
          if (this.#remaining === 0) this.#state = this.#padding > 0 ? 'padding' : 'header';
          if (this.#onData) this.#onData(this.#entry!, chunk.subarray(i, i + take));
          i += take;
          break;
        }
        case 'padding': {
          const take = Math.min(this.#padding, n - i);
          this.#padding -= take;
          this.#position += take;
          i += take;
          if (this.#padding === 0) this.#state = 'header';
          break;
        }
        case 'header':
        case 'extension': {
          let b: Uint8Array;
          if (this.#fill === 0 && n - i >= block) {
            // A whole header in the chunk is read in place.
            b = chunk.subarray(i, i + block);
            i += block;
            this.#position += block;
          } else {
            const take = Math.min(block - this.#fill, n - i);
            this.#block.set(chunk.subarray(i, i + take), this.#fill);
            this.#fill += take;
            this.#position += take;
            i += take;
            if (this.#fill < block) break;
            this.#fill = 0;
            b = this.#block;
          }
          if (this.#state === 'header') this.#header(b);
          else this.#extension(b);
          break;
        }
        case 'meta': {
          const take = Math.min(this.#meta.length - this.#metaFill, n - i);
          this.#meta.set(chunk.subarray(i, i + take), this.#metaFill);
          this.#metaFill += take;
          this.#position += take;
          i += take;
          if (this.#metaFill === this.#meta.length) this.#metadata();
          break;
        }
        case 'done':
          return;
      }
    }
  }

  /** Handles a complete header block; the stream position is just after it. */
  #header(b: Uint8Array) {
    const at = this.#position - block;
    let sum = 0;
    let high = 0;
    for (let j = 0; j < block; j++) {
      const c = b[j]!;
      sum += c;
      if (c >= 0x80 && (j < 148 || j >= 156)) high++;
    }
    if (sum === 0) {
      if (this.#pendingAt >= 0) {
        throw new TarError(
          `the header at offset ${this.#pendingAt} is followed by a zero block at offset ${at}, ` +
            'not by the entry it describes',
          at,
        );
      }
      if (this.#zero) this.#state = 'done';
      this.#zero = true;
      return;
    }
    if (this.#zero) {
      throw new TarError(
        `a lone zero block at offset ${at - block} is followed by a header at offset ${at}, ` +
          'not by the second end-of-archive block',
        at,
      );
    }

    // GNU tar accepts sums of the bytes taken as unsigned or as signed; some old tars used
    // signed chars. The checksum field itself counts as eight spaces.
    let field = 0;
    for (let j = 148; j < 156; j++) field += b[j]!;
    const unsigned = sum - field + 8 * 32;
    const signed = unsigned - 256 * high;
    const stored = parseOctal(b, 148, 8);
    if (stored === undefined || (stored !== unsigned && stored !== signed)) {
      throw new TarError(
        `bad checksum in the header at offset ${at} ` +
          `(stored ${readable(b, 148, 8)}, computed ${unsigned.toString(8)})`,
        at,
      );
    }

    const typeflag = String.fromCharCode(b[156]!);
    const size = this.#number(b, 124, 12, 'size', at);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > this.#maxMetadata) {
        throw new TarError(
          `the ${metaName(typeflag)} at offset ${at} holds ${size} bytes, ` +
            `over the ${this.#maxMetadata}-byte limit`,
          at,
        );
      }
      this.#metaType = typeflag;
      this.#metaAt = at;
      this.#meta = new Uint8Array(size);
      this.#metaFill = 0;
      this.#state = 'meta';
      if (size === 0) this.#metadata();
      return;
    }
    this.#start(b, typeflag, size, at);
  }

  /** Builds the entry of a file header, merging the metadata headers that preceded it. */
  #start(b: Uint8Array, typeflag: string, size: number, at: number) {
    const posix = bytesAre(b, 257, 'ustar\0');
    const gnu = bytesAre(b, 257, 'ustar  \0');
    let name = text(b, 0, 100);
    if (posix) {
      // star keeps a 131-byte prefix followed by times and a "tar\0" trailer.
      const star = bytesAre(b, 508, 'tar\0');
      const prefix = text(b, 345, star ? 131 : 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkname = text(b, 157, 100);
    const mode = this.#number(b, 100, 8, 'mode', at) & 0o7777;
    let uid = this.#number(b, 108, 8, 'uid', at);
    let gid = this.#number(b, 116, 8, 'gid', at);
    let mtime = this.#number(b, 136, 12, 'mtime', at, true);
    let uname = posix || gnu ? text(b, 265, 32) : '';
    let gname = posix || gnu ? text(b, 297, 32) : '';
    let stored = size;
    let realsize: number | undefined;
    if (typeflag === 'S') realsize = this.#number(b, 483, 12, 'GNU sparse realsize', at);

    let extra: Record<string, string> | undefined;
    if (this.#global.size > 0 || this.#pax) {
      const records = new Map(this.#global);
      // A per-file record with an empty value cancels the global one.
      for (const [k, v] of this.#pax ?? []) records.set(k, v);
      for (const [k, v] of records) {
        if (v === '') continue;
        switch (k) {
          case 'path':
            name = v;
            break;
          case 'linkpath':
            linkname = v;
            break;
          case 'size':
            stored = this.#decimal(v, k, at);
            break;
          case 'uid':
            uid = this.#decimal(v, k, at);
            break;
          case 'gid':
            gid = this.#decimal(v, k, at);
            break;
          case 'uname':
            uname = v;
            break;
          case 'gname':
            gname = v;
            break;
          case 'mtime':
            mtime = this.#decimal(v, k, at, true);
            break;
          case 'GNU.sparse.realsize':
          case 'GNU.sparse.size':
            realsize = this.#decimal(v, k, at);
            break;
        }
        // A record named __proto__ is a record like any other: no prototype to write through.
        if (!mapped.has(k)) (extra ??= Object.create(null) as Record<string, string>)[k] = v;
      }
      // Sparse formats 0.1 and 1.0 put a made-up name in the header and the real one here.
      const sparseName = records.get('GNU.sparse.name');
      if (this.#longName === undefined && sparseName) name = sparseName;
    }
    if (this.#longName !== undefined) name = this.#longName;
    if (this.#longLink !== undefined) linkname = this.#longLink;
    this.#pax = undefined;
    this.#longName = this.#longLink = undefined;
    this.#pendingAt = -1;

    let type = types[typeflag] ?? 'other';
    // Pre-POSIX tars mark a directory only by the slash at the end of its name.
    if (name.endsWith('/') && (typeflag === '0' || typeflag === '\0')) type = 'dir';
    // Go's archive/tar reads no data for these, so neither do we (see the top of the file).
    if ((typeflag >= '1' && typeflag <= '6') || type === 'dir') stored = 0;

    const entry: TarEntry = {
      path: cleanName(name),
      type,
      typeflag,
      size: realsize ?? stored,
      mode,
      uid,
      gid,
      mtime,
      offset: 0,
      stored,
    };
    if (uname) entry.uname = uname;
    if (gname) entry.gname = gname;
    if (type === 'symlink') entry.linkname = linkname;
    if (type === 'hardlink') entry.linkname = cleanName(linkname);
    if ((type === 'char' || type === 'block') && (posix || gnu)) {
      entry.devmajor = this.#number(b, 329, 8, 'devmajor', at);
      entry.devminor = this.#number(b, 337, 8, 'devminor', at);
    }
    if (realsize !== undefined) entry.sparse = true;
    if (extra) entry.pax = extra;

    this.#entry = entry;
    // An old GNU sparse header holds 4 map entries; more follow in extension blocks.
    if (typeflag === 'S' && b[482] !== 0) this.#state = 'extension';
    else this.#emit();
  }

  /** Handles an old GNU sparse extension block: 21 map entries and an "is extended" flag. */
  #extension(b: Uint8Array) {
    if (b[504] === 0) this.#emit();
  }

  /** Reports the current entry, its data starting here. */
  #emit() {
    const entry = this.#entry!;
    entry.offset = this.#position;
    this.#remaining = entry.stored;
    this.#padding = (block - (entry.stored % block)) % block;
    this.#state = entry.stored > 0 ? 'data' : 'header';
    this.#onEntry(entry);
  }

  /** Handles a complete PAX or long-name payload. */
  #metadata() {
    const payload = this.#meta;
    const at = this.#metaAt;
    this.#meta = new Uint8Array(0);
    switch (this.#metaType) {
      case 'L':
      case 'K': {
        const end = payload.indexOf(0);
        const value = decodeName(end < 0 ? payload : payload.subarray(0, end));
        if (this.#metaType === 'L') this.#longName = value;
        else this.#longLink = value;
        break;
      }
      case 'x': {
        const records = parsePax(payload, at);
        if (this.#pax) for (const [k, v] of records) this.#pax.set(k, v);
        else this.#pax = records;
        break;
      }
      case 'g':
        for (const [k, v] of parsePax(payload, at)) {
          if (v === '') this.#global.delete(k);
          else this.#global.set(k, v);
        }
        break;
    }
    if (this.#metaType !== 'g' && this.#pendingAt < 0) this.#pendingAt = at;
    this.#padding = (block - (payload.length % block)) % block;
    this.#state = this.#padding > 0 ? 'padding' : 'header';
  }

  /** A numeric header field: octal text, or GNU base-256 when the top bit is set. */
  #number(b: Uint8Array, off: number, len: number, field: string, at: number, signed = false) {
    let value: number | undefined;
    if (b[off]! & 0x80) {
      // Base-256, two's complement: 0x80 starts a positive number, 0xff a negative one.
      const negative = (b[off]! & 0x40) !== 0;
      const inv = negative ? 0xff : 0;
      value = (b[off]! ^ inv) & 0x7f;
      for (let j = off + 1; j < off + len; j++) {
        value = value * 256 + (b[j]! ^ inv);
        if (value > Number.MAX_SAFE_INTEGER) {
          throw new TarError(
            `the ${field} field of the header at offset ${at} is beyond 2^53, ` +
              'too large to represent exactly',
            at,
          );
        }
      }
      if (negative) value = -value - 1;
    } else {
      value = parseOctal(b, off, len);
      if (value === undefined) {
        throw new TarError(
          `invalid number ${readable(b, off, len)} in the ${field} field of the header at offset ${at}`,
          at,
        );
      }
    }
    if (value < 0 && !signed) {
      throw new TarError(`negative ${field} ${value} in the header at offset ${at}`, at);
    }
    return value;
  }

  /** A PAX numeric value: a decimal integer, or for times possibly negative and fractional. */
  #decimal(v: string, key: string, at: number, time = false) {
    const ok = time ? /^-?\d+(\.\d+)?$/.test(v) : /^\d+$/.test(v);
    if (!ok) {
      throw new TarError(
        `invalid PAX ${key} ${JSON.stringify(v)} for the header at offset ${at}`,
        at,
      );
    }
    if (Math.abs(Number(v.split('.')[0])) > Number.MAX_SAFE_INTEGER) {
      throw new TarError(
        `PAX ${key} ${v} for the header at offset ${at} is beyond 2^53, ` +
          'too large to represent exactly',
        at,
      );
    }
    return Number(v);
  }
}

/** Octal digits, with leading spaces or NULs and trailing spaces or NULs; empty is 0.
 * Undefined if anything else is in the field. */
function parseOctal(b: Uint8Array, off: number, len: number): number | undefined {
  const end = off + len;
  let j = off;
  while (j < end && (b[j] === 0x20 || b[j] === 0)) j++;
  let value = 0;
  for (; j < end; j++) {
    const c = b[j]!;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
  }
  for (; j < end; j++) if (b[j] !== 0x20 && b[j] !== 0) return undefined;
  return value;
}

/** "len key=value\n" records; `len` counts the whole record, its own digits included. */
function parsePax(p: Uint8Array, at: number): Map<string, string> {
  const records = new Map<string, string>();
  let j = 0;
  while (j < p.length) {
    // Some writers pad the payload with NULs; nothing follows them.
    if (p[j] === 0) break;
    let len = 0;
    let k = j;
    while (k < p.length && p[k]! >= 0x30 && p[k]! <= 0x39 && k - j < 16)
      len = len * 10 + p[k++]! - 0x30;
    const eq = p.indexOf(0x3d, k);
    if (
      k === j ||
      p[k] !== 0x20 ||
      j + len > p.length ||
      p[j + len - 1] !== 0x0a ||
      eq < 0 ||
      eq >= j + len
    ) {
      throw new TarError(`malformed record at byte ${j} of the PAX header at offset ${at}`, at);
    }
    records.set(decodeName(p.subarray(k + 1, eq)), decodeName(p.subarray(eq + 1, j + len - 1)));
    j += len;
  }
  return records;
}

function bytesAre(b: Uint8Array, off: number, ascii: string): boolean {
  for (let j = 0; j < ascii.length; j++) if (b[off + j] !== ascii.charCodeAt(j)) return false;
  return true;
}

/** A NUL-terminated text field. */
function text(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return end === off ? '' : decodeName(b.subarray(off, end));
}

/** A field's bytes for an error message, control bytes escaped. */
function readable(b: Uint8Array, off: number, len: number): string {
  return JSON.stringify(String.fromCharCode(...b.subarray(off, off + len)));
}

function metaName(typeflag: string): string {
  if (typeflag === 'x') return 'PAX header';
  if (typeflag === 'g') return 'PAX global header';
  return typeflag === 'L' ? 'GNU long name' : 'GNU long link';
}

/** Drops leading "./" (and slashes after it) and trailing slashes; "." becomes "". Tables of
 * contents (toc/) name their entries the same way. */
export function cleanName(name: string): string {
  let s = name;
  for (;;) {
    if (s.startsWith('./')) s = s.replace(/^\.\/+/, '');
    else if (s === '.') s = '';
    else break;
  }
  let end = s.length;
  while (end > 1 && s[end - 1] === '/') end--;
  return s.slice(0, end);
}
