// A layer's file index in columns: one typed array per number and every path in one string,
// so that a million entries cost about a hundred bytes each (the path's characters plus some
// fifty bytes of numbers) instead of an object apiece, and move between workers and into
// IndexedDB as a few large values (the typed arrays are transferable; a Map of the rare extras
// and two strings are cloned).
//
// An index is a list of batches of at most BATCH entries, so that no single string grows
// towards V8's string length limit (2^29 characters) whatever the layer holds, and so that a
// listing can hand out its batches as they fill. Entry i of the index is entry i % BATCH of
// batch floor(i / BATCH).
import type { EntryType, IndexEntry } from './entry.ts';

/** Entries per batch: a power of two, so an index splits with shifts and masks. */
export const BATCH_BITS = 16;
export const BATCH = 1 << BATCH_BITS;
const MASK = BATCH - 1;

/** Entry types by their code in `EntryColumns.types` (low 4 bits). */
export const ENTRY_TYPES: readonly EntryType[] = [
  'file',
  'hardlink',
  'dir',
  'symlink',
  'char',
  'block',
  'fifo',
  'other',
];
const TYPE_CODE = new Map(ENTRY_TYPES.map((t, i) => [t, i]));
/** Flag bits above the type code. */
const SPARSE = 0x10;
const EXTRA = 0x20;

/** What few entries carry: device numbers, and a mode, uid or gid outside 0 … 2^32-1 (a
 * hostile base-256 field). Kept apart so that the columns stay 32 bits wide. */
export type EntryExtra = Partial<
  Pick<IndexEntry, 'devmajor' | 'devminor' | 'mode' | 'uid' | 'gid'>
>;

/** Up to BATCH entries of a layer's index, in tar order. */
export interface EntryColumns {
  readonly count: number;
  /** Every path, back to back, as the tar names them (not normalised). */
  readonly paths: string;
  /** End of path i in `paths`; path i starts where path i-1 ends (0 for the first). */
  readonly pathEnds: Uint32Array;
  /** Every link name, back to back; entries without one have an empty range. */
  readonly links: string;
  readonly linkEnds: Uint32Array;
  /** Type code (ENTRY_TYPES index) in the low 4 bits, and flags above. */
  readonly types: Uint8Array;
  readonly sizes: Float64Array;
  /** Offset of the entry's data in the uncompressed tar. */
  readonly offsets: Float64Array;
  readonly mtimes: Float64Array;
  readonly modes: Uint32Array;
  readonly uids: Uint32Array;
  readonly gids: Uint32Array;
  /** By position in this batch, for entries flagged EXTRA. */
  readonly extras: Map<number, EntryExtra>;
}

/** A whole layer's index: its batches, every one full except the last. */
export interface ColumnIndex {
  readonly count: number;
  readonly batches: readonly EntryColumns[];
}

const fits32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** Collects entries into batches; `take` hands out the batches completed so far. */
export class ColumnsBuilder {
  #done: EntryColumns[] = [];
  #taken = 0;
  #count = 0;
  #paths: string[] = [];
  #links: string[] = [];
  #pathEnd = 0;
  #linkEnd = 0;
  #pathEnds = new Uint32Array(BATCH);
  #linkEnds = new Uint32Array(BATCH);
  #types = new Uint8Array(BATCH);
  #sizes = new Float64Array(BATCH);
  #offsets = new Float64Array(BATCH);
  #mtimes = new Float64Array(BATCH);
  #modes = new Uint32Array(BATCH);
  #uids = new Uint32Array(BATCH);
  #gids = new Uint32Array(BATCH);
  #extras = new Map<number, EntryExtra>();

  /** Entries pushed so far. */
  get count(): number {
    return this.#count;
  }

  push(e: IndexEntry): void {
    const i = this.#count & MASK;
    this.#paths.push(e.path);
    this.#pathEnd += e.path.length;
    this.#pathEnds[i] = this.#pathEnd;
    if (e.linkname !== undefined) {
      this.#links.push(e.linkname);
      this.#linkEnd += e.linkname.length;
    }
    this.#linkEnds[i] = this.#linkEnd;
    let type = TYPE_CODE.get(e.type) ?? TYPE_CODE.get('other')!;
    if (e.sparse) type |= SPARSE;
    const extra: EntryExtra = {};
    if (e.devmajor !== undefined) extra.devmajor = e.devmajor;
    if (e.devminor !== undefined) extra.devminor = e.devminor;
    if (!fits32(e.mode)) extra.mode = e.mode;
    if (!fits32(e.uid)) extra.uid = e.uid;
    if (!fits32(e.gid)) extra.gid = e.gid;
    if (Object.keys(extra).length > 0) {
      type |= EXTRA;
      this.#extras.set(i, extra);
    }
    this.#types[i] = type;
    this.#sizes[i] = e.size;
    this.#offsets[i] = e.offset;
    this.#mtimes[i] = e.mtime;
    this.#modes[i] = fits32(e.mode) ? e.mode : 0;
    this.#uids[i] = fits32(e.uid) ? e.uid : 0;
    this.#gids[i] = fits32(e.gid) ? e.gid : 0;
    this.#count++;
    if ((this.#count & MASK) === 0) this.#seal(BATCH);
  }

  /** The full batches completed since the last call (a listing hands them out as it goes). */
  take(): EntryColumns[] {
    const out = this.#done.slice(this.#taken);
    this.#taken = this.#done.length;
    return out;
  }

  /** A copy of the batch being filled, or undefined when it is empty: a listing's progress
   * between full batches. The builder goes on filling its own. */
  partial(): EntryColumns | undefined {
    const n = this.#count & MASK;
    return n === 0 ? undefined : this.#columns(n, new Map(this.#extras));
  }

  /** Every batch, the partial last one included: the whole index. Asked again (the listing
   * returns it, and the tree keeps it), it answers the same batches: the partial one is
   * sealed once, not again empty. */
  finish(): ColumnIndex {
    if ((this.#count & MASK) !== 0 && this.#sealed < this.#count) this.#seal(this.#count & MASK);
    return { count: this.#count, batches: this.#done };
  }

  /** Entries in the sealed batches. */
  #sealed = 0;

  #seal(n: number) {
    this.#done.push(this.#columns(n, this.#extras));
    this.#sealed += n;
    this.#paths = [];
    this.#links = [];
    this.#pathEnd = 0;
    this.#linkEnd = 0;
    this.#extras = new Map();
  }

  #columns(n: number, extras: Map<number, EntryExtra>): EntryColumns {
    return {
      count: n,
      paths: this.#paths.join(''),
      pathEnds: this.#pathEnds.slice(0, n),
      links: this.#links.join(''),
      linkEnds: this.#linkEnds.slice(0, n),
      types: this.#types.slice(0, n),
      sizes: this.#sizes.slice(0, n),
      offsets: this.#offsets.slice(0, n),
      mtimes: this.#mtimes.slice(0, n),
      modes: this.#modes.slice(0, n),
      uids: this.#uids.slice(0, n),
      gids: this.#gids.slice(0, n),
      extras,
    };
  }
}

/** The columns of these entries (tests, and indexes stored in the old one-object form). */
export function toColumns(entries: readonly IndexEntry[]): ColumnIndex {
  const b = new ColumnsBuilder();
  for (const e of entries) b.push(e);
  return b.finish();
}

/** Where entry `i` of an index is: its batch and its position there. */
export function locate(index: ColumnIndex, i: number): [EntryColumns, number] {
  const batch = index.batches[i >>> BATCH_BITS];
  if (!batch || (i & MASK) >= batch.count || i < 0) {
    throw new RangeError(`entry ${i} is not in this index of ${index.count}`);
  }
  return [batch, i & MASK];
}

/** The path of entry `j` of a batch, as the tar names it. */
export function pathOf(b: EntryColumns, j: number): string {
  return b.paths.slice(j === 0 ? 0 : b.pathEnds[j - 1], b.pathEnds[j]);
}

export function typeOf(b: EntryColumns, j: number): EntryType {
  return ENTRY_TYPES[b.types[j]! & 0x0f] ?? 'other';
}

/** Entry `j` of a batch as an object, for the few entries a page shows or opens. */
export function entryOf(b: EntryColumns, j: number): IndexEntry {
  const e: IndexEntry = {
    path: pathOf(b, j),
    type: typeOf(b, j),
    size: b.sizes[j]!,
    mode: b.modes[j]!,
    uid: b.uids[j]!,
    gid: b.gids[j]!,
    mtime: b.mtimes[j]!,
    offset: b.offsets[j]!,
  };
  const linkStart = j === 0 ? 0 : b.linkEnds[j - 1]!;
  if (b.linkEnds[j]! > linkStart || e.type === 'symlink' || e.type === 'hardlink') {
    e.linkname = b.links.slice(linkStart, b.linkEnds[j]);
  }
  if (b.types[j]! & SPARSE) e.sparse = true;
  if (b.types[j]! & EXTRA) Object.assign(e, b.extras.get(j));
  return e;
}

/** Entry `i` of an index as an object. */
export function entryAt(index: ColumnIndex, i: number): IndexEntry {
  const [b, j] = locate(index, i);
  return entryOf(b, j);
}

/** Every entry as objects: only for small indexes and tests. */
export function toEntries(index: ColumnIndex): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const b of index.batches) for (let j = 0; j < b.count; j++) out.push(entryOf(b, j));
  return out;
}

/** The typed arrays of these batches, to transfer rather than copy them to another thread. */
export function transferables(batches: readonly EntryColumns[]): ArrayBuffer[] {
  return batches.flatMap((b) =>
    [b.pathEnds, b.linkEnds, b.types, b.sizes, b.offsets, b.mtimes, b.modes, b.uids, b.gids].map(
      (a) => a.buffer as ArrayBuffer,
    ),
  );
}
