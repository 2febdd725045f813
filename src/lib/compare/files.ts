// The files part of a comparison of two images: the two merged filesystems, read from their
// layers' columnar indexes, and the difference of every path of their union (types.ts's
// PathDiff), as a tree the page asks windows of rows from, as it does of the file tree.
//
// Nothing here is an object per entry. Each image's merged filesystem is the file tree's
// overlay (treemodel.ts's Overlay over Nodes); b's paths are then added to a's nodes, so that
// the union is one Nodes and each of its nodes keeps a reference to each image's entry (its
// layer and its place in that layer's index) and a byte of what differs. A million paths cost
// some seventy bytes each.
//
// Content is judged by the bytes, never by the size alone: different sizes are a change; the
// same entry of the same tar (the same diffID, the same offset: a shared or recompressed layer)
// is the same bytes; any other pair of regular files of one size is "pending" until both are
// hashed (see pendingReads and decide). A hard link reads as the file it names, as a reader of
// the unpacked image sees it (diff -r, stat): its type, mode, owner, size and bytes are its
// target's, and it is counted at its target's size.
import { BATCH_BITS, entryAt, type ColumnIndex } from '../layers/columns.ts';
import { globMatcher } from '../layers/glob.ts';
import { normalisePath } from '../layers/paths.ts';
import { Overlay, Pacer, pathStart, rowIndex, setOpen, visibleRows } from '../layers/treemodel.ts';
import {
  countable,
  DETACHED,
  DIR,
  EXPANDED,
  LIVE,
  Nodes,
  SYNTH,
} from '../layers/treemodel-nodes.ts';
import type {
  Aspect,
  CompareRow,
  Difference,
  FilesFilter,
  FilesSort,
  FilesSummary,
  PathDiff,
  PathSide,
  Side,
} from './types.ts';

const MASK = (1 << BATCH_BITS) - 1;
/** columns.ts's flag of an entry whose mode, uid or gid is kept apart (too large). */
const EXTRA = 0x20;
// ENTRY_TYPES codes (columns.ts).
const T_FILE = 0;
const T_HARDLINK = 1;
const T_DIR = 2;
const T_SYMLINK = 3;
const T_CHAR = 4;
const T_BLOCK = 5;

// A node's state: its difference in the low two bits, its own aspects above, and whether its
// content (or, for a directory, something below it) is not decided yet.
const D_MASK = 3;
const D_UNCHANGED = 0;
const D_ADDED = 1;
const D_REMOVED = 2;
const D_CHANGED = 3;
const DIFFERENCES: readonly Difference[] = ['unchanged', 'added', 'removed', 'changed'];
const ASPECT_BITS: readonly [Aspect, number][] = [
  ['type', 4],
  ['content', 8],
  ['mode', 16],
  ['owner', 32],
  ['link', 64],
];
const A_TYPE = 4;
const A_CONTENT = 8;
const A_MODE = 16;
const A_OWNER = 32;
const A_LINK = 64;
const ASPECTS = 124;
const PENDING = 128;

// Which images hold a node, and how.
const HAS_A = 1;
const HAS_B = 2;
const A_SYNTH = 4;
const B_SYNTH = 8;
const A_DIR = 16;
const B_DIR = 32;
/** A side is a hard link whose target was found (in `links`). */
const A_LINKED = 64;
const B_LINKED = 128;

/** One image's layers as the comparison reads them. */
export interface FilesSide {
  /** Each layer's index, bottom first; undefined for a layer that adds nothing. */
  layers: readonly (ColumnIndex | undefined)[];
  /** Each layer's diffID (the digest of its tar), or undefined when not known: two entries of
   * tars with one diffID at one offset are the same bytes, and hashed contents are cached by
   * it. */
  ids: readonly (string | undefined)[];
}

/** Digests of files already hashed, by `${diffID}@${offset}` (see digestKey): a Map, or a
 * store that keeps them longer. */
export interface DigestCache {
  get(key: string): string | undefined;
  set(key: string, digest: string): unknown;
}

export const digestKey = (id: string, offset: number) => `${id}@${offset}`;

/** A file to hash: where its bytes are in a layer's tar. */
export interface FileRead {
  offset: number;
  size: number;
}

/** The files to hash, by layer, each layer's in offset order (one pass over the tar reads
 * them all). `side` and `layer` name the layer in its image; `id` is what its digests are
 * cached by (its diffID when known; see keyOf). */
export interface LayerReads {
  side: Side;
  layer: number;
  id: string;
  files: FileRead[];
}

export const emptySummary = (): FilesSummary => ({
  added: { count: 0, bytes: 0 },
  removed: { count: 0, bytes: 0 },
  changed: { count: 0, bytesBefore: 0, bytesAfter: 0 },
  unchanged: 0,
  pending: 0,
  bytesBefore: 0,
  bytesAfter: 0,
});

/** A filter that shows every row. */
export const noFilter = (): FilesFilter => ({ differences: [], aspects: [], query: '' });

const filtersNothing = (f: FilesFilter) =>
  f.query.trim() === '' &&
  (f.differences.length === 0 || DIFFERENCES.every((d) => f.differences.includes(d))) &&
  f.aspects.length === 0;

let serials = 0;

interface Shown {
  t: Nodes;
  /** Node of the full tree each node shows. */
  map: Int32Array;
}

/** A hard link's target (or a regular entry itself): joint layer and entry. */
interface Ref {
  l: number;
  e: number;
}

/**
 * The comparison of two images' files. Build it with `compareFiles`; then rows, toggle,
 * filter, sort and single paths are cheap for the rows on screen, and the whole-tree work
 * (filtering, sorting, deciding) yields at least every 50 ms.
 */
export class FilesComparison {
  /** Every layer, a's then b's: the union's nodes name their entries by this numbering. */
  readonly layers: readonly (ColumnIndex | undefined)[];
  readonly ids: readonly (string | undefined)[];
  /** a's layer count: b's layer i is joint layer na + i. */
  readonly na: number;
  readonly full: Nodes;
  readonly sides: Uint8Array;
  readonly aL: Uint16Array;
  readonly aE: Uint32Array;
  readonly bL: Uint16Array;
  readonly bE: Uint32Array;
  readonly state: Uint8Array;
  /** b's bytes minus a's, of the node and everything below it. */
  readonly delta: Float64Array;
  /** Hard links' targets, by node: [a's, b's] (absent when a side is not a hard link). */
  readonly links: Map<number, [Ref | undefined, Ref | undefined]>;
  /** Nodes whose content is pending. */
  #pending: Int32Array;
  #pendingCount: number;
  /** Digests of contents hashed (this comparison's, and any given to compareFiles). */
  readonly digests: DigestCache;
  summary: FilesSummary = emptySummary();
  filter: FilesFilter = noFilter();
  sortBy: FilesSort = 'name';
  #shown: Shown | null = null;

  constructor(init: {
    layers: readonly (ColumnIndex | undefined)[];
    ids: readonly (string | undefined)[];
    na: number;
    full: Nodes;
    sides: Uint8Array;
    aL: Uint16Array;
    aE: Uint32Array;
    bL: Uint16Array;
    bE: Uint32Array;
    links: Map<number, [Ref | undefined, Ref | undefined]>;
    digests: DigestCache;
  }) {
    this.layers = init.layers;
    this.ids = init.ids;
    this.na = init.na;
    this.full = init.full;
    this.sides = init.sides;
    this.aL = init.aL;
    this.aE = init.aE;
    this.bL = init.bL;
    this.bE = init.bE;
    this.state = new Uint8Array(init.full.n);
    this.links = init.links;
    this.#pending = new Int32Array(0);
    this.#pendingCount = 0;
    this.digests = init.digests;
    this.delta = new Float64Array(init.full.n);
  }

  get #tree(): Nodes {
    return this.#shown?.t ?? this.full;
  }

  #fullNode(shownNode: number): number {
    return this.#shown ? this.#shown.map[shownNode]! : shownNode;
  }

  /** Rows shown now. */
  get count(): number {
    return this.#tree.visible[0]!;
  }

  /** Paths whose content is not decided yet. */
  get pendingCount(): number {
    return this.#pendingCount;
  }

  // -------------------------------------------------------------------------------------------
  // Entries

  /** The entry node k has on a side, hard links read as their targets: joint layer and entry,
   * or -1 for a directory the merged filesystem made up. */
  #content(k: number, side: Side): Ref | -1 {
    const sd = this.sides[k]!;
    if (sd & (side === 'a' ? A_LINKED : B_LINKED)) {
      return this.links.get(k)![side === 'a' ? 0 : 1]!;
    }
    if (sd & (side === 'a' ? A_SYNTH : B_SYNTH)) return -1;
    return side === 'a' ? { l: this.aL[k]!, e: this.aE[k]! } : { l: this.bL[k]!, e: this.bE[k]! };
  }

  #size(ref: Ref | -1): number {
    if (ref === -1) return 0;
    return this.layers[ref.l]!.batches[ref.e >>> BATCH_BITS]!.sizes[ref.e & MASK]!;
  }

  #offset(ref: Ref): number {
    return this.layers[ref.l]!.batches[ref.e >>> BATCH_BITS]!.offsets[ref.e & MASK]!;
  }

  /** The cached digest of a side's content, if hashed. */
  #digestOf(ref: Ref | -1): string | undefined {
    if (ref === -1) return undefined;
    return this.digests.get(digestKey(this.#keyId(ref.l), this.#offset(ref)));
  }

  /** What digests of a layer's files are cached by: its diffID, or, not knowing it, a name
   * of the layer in this comparison alone. */
  #keyId(l: number): string {
    return this.ids[l] ?? `comparison ${this.#serial} layer ${l}`;
  }

  readonly #serial = ++serials;

  /** Where the digest of a file of `pendingReads` goes in `digests`. */
  keyOf(reads: LayerReads, file: FileRead): string {
    return digestKey(reads.id, file.offset);
  }

  #side(k: number, side: Side): PathSide | undefined {
    const has = this.sides[k]! & (side === 'a' ? HAS_A : HAS_B);
    if (!has) return undefined;
    // b's entries of the layers both share are named by a's layers, at the same places.
    const inImage = (joint: number) => (side === 'a' || joint < this.na ? joint : joint - this.na);
    const l = side === 'a' ? this.aL[k]! : this.bL[k]!;
    const content = this.#content(k, side);
    if (content === -1) {
      return {
        type: 'dir',
        size: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        layer: inImage(l),
        offset: -1,
      };
    }
    const own = entryAt(this.layers[l]!, side === 'a' ? this.aE[k]! : this.bE[k]!);
    const target = own.type === 'hardlink' ? entryAt(this.layers[content.l]!, content.e) : own;
    const out: PathSide = {
      type: own.type,
      size: target.size,
      mode: target.mode,
      uid: target.uid,
      gid: target.gid,
      mtime: own.mtime,
      layer: inImage(content.l),
      offset: target.offset,
    };
    if (own.linkname !== undefined) out.linkname = own.linkname;
    if (target.type === 'file') {
      const digest = this.#digestOf(content);
      if (digest) out.digest = digest;
    }
    return out;
  }

  /** Node k's difference (without its path's name fields). */
  #diff(k: number, path: string): PathDiff {
    const st = this.state[k]!;
    const difference = DIFFERENCES[st & D_MASK]!;
    const aspects: Aspect[] = [];
    for (const [name, bit] of ASPECT_BITS) if (st & bit) aspects.push(name);
    const out: PathDiff = { path, difference, aspects, delta: this.delta[k]! };
    if (st & PENDING) out.pending = true;
    const a = this.#side(k, 'a');
    const b = this.#side(k, 'b');
    if (a) out.a = a;
    if (b) out.b = b;
    return out;
  }

  /** One path's difference, or undefined when neither image has it. */
  path(path: string): PathDiff | undefined {
    const p = normalisePath(path);
    const k = this.full.find(p);
    if (k < 0 || !(this.full.flags[k]! & LIVE)) return undefined;
    return this.#diff(k, p);
  }

  // -------------------------------------------------------------------------------------------
  // Rows

  /** Rows start … end-1 of the view, clipped to it. */
  rows(start: number, end: number): CompareRow[] {
    const t = this.#tree;
    return visibleRows(t, this.count, start, end, (node, name, path, depth, pos) => {
      const f = t.flags[node]!;
      return {
        ...this.#diff(this.#fullNode(node), path),
        name,
        depth,
        dir: (f & DIR) !== 0,
        expanded: (f & EXPANDED) !== 0,
        setSize: t.childCount[t.parent[node]!]!,
        posInSet: pos,
      };
    });
  }

  /** The row showing this path, or -1. */
  indexOf(path: string): number {
    const k = this.#tree.find(normalisePath(path));
    return k < 0 ? -1 : rowIndex(this.#tree, k);
  }

  /** Opens or closes a directory (in the filtered view and the whole tree alike). */
  toggle(path: string, open?: boolean): void {
    const p = normalisePath(path);
    const k = this.full.find(p);
    const shown = this.#tree.find(p);
    if (k < 0 || shown < 0 || !(this.full.flags[k]! & DIR)) return;
    const to = open ?? !(this.#tree.flags[shown]! & EXPANDED);
    setOpen(this.full, k, to);
    if (this.#shown) {
      const s = this.#shown.t.find(p);
      if (s >= 0) setOpen(this.#shown.t, s, to);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Judging

  /** The type code of a side's content, and its mode, uid and gid: `meta` is set here (no
   * object per node). */
  #meta = { type: 0, mode: 0, uid: 0, gid: 0 };
  #read(ref: Ref | -1) {
    const m = this.#meta;
    if (ref === -1) {
      m.type = T_DIR;
      m.mode = 0o755;
      m.uid = 0;
      m.gid = 0;
      return m;
    }
    const b = this.layers[ref.l]!.batches[ref.e >>> BATCH_BITS]!;
    const j = ref.e & MASK;
    m.type = b.types[j]! & 0x0f;
    if (b.types[j]! & EXTRA) {
      const e = entryAt(this.layers[ref.l]!, ref.e);
      m.mode = e.mode;
      m.uid = e.uid;
      m.gid = e.gid;
    } else {
      m.mode = b.modes[j]!;
      m.uid = b.uids[j]!;
      m.gid = b.gids[j]!;
    }
    return m;
  }

  #linkOf(ref: Ref): string {
    const b = this.layers[ref.l]!.batches[ref.e >>> BATCH_BITS]!;
    const j = ref.e & MASK;
    return b.links.slice(j === 0 ? 0 : b.linkEnds[j - 1]!, b.linkEnds[j]);
  }

  /** Each node's own difference and aspects, and the pending files (build only). */
  async judge(pacer: Pacer): Promise<void> {
    const { full, sides, state } = this;
    let pending = new Int32Array(1024);
    let count = 0;
    for (let k = 1; k < full.n; k++) {
      if (!(full.flags[k]! & LIVE)) continue;
      const w = pacer.step();
      if (w) await w;
      const sd = sides[k]!;
      if (!(sd & HAS_A)) {
        state[k] = D_ADDED;
        continue;
      }
      if (!(sd & HAS_B)) {
        state[k] = D_REMOVED;
        continue;
      }
      const ra = this.#content(k, 'a');
      const rb = this.#content(k, 'b');
      const { type: ta, mode: ma, uid: ua, gid: ga } = this.#read(ra);
      const { type: tb, mode: mb, uid: ub, gid: gb } = this.#read(rb);
      let st = 0;
      if (ta !== tb) st = A_TYPE;
      else {
        if (ta === T_FILE && ra !== -1 && rb !== -1) {
          const sa = this.#size(ra);
          const sb = this.#size(rb);
          const ia = this.ids[ra.l];
          const oa = this.#offset(ra);
          const ob = this.#offset(rb);
          if (sa !== sb) st |= A_CONTENT;
          else if (ia !== undefined && ia === this.ids[rb.l] && oa === ob) {
            // The same entry of the same tar: the same bytes.
          } else {
            const da = this.#digestOf(ra);
            const db = this.#digestOf(rb);
            if (da === undefined || db === undefined) st |= PENDING;
            else if (da !== db) st |= A_CONTENT;
          }
        } else if ((ta === T_SYMLINK || ta === T_HARDLINK) && ra !== -1 && rb !== -1) {
          if (this.#linkOf(ra) !== this.#linkOf(rb)) st |= A_LINK;
        } else if ((ta === T_CHAR || ta === T_BLOCK) && ra !== -1 && rb !== -1) {
          const ea = entryAt(this.layers[ra.l]!, ra.e);
          const eb = entryAt(this.layers[rb.l]!, rb.e);
          if (ea.devmajor !== eb.devmajor || ea.devminor !== eb.devminor) st |= A_CONTENT;
        }
        // A symlink's mode means nothing (Linux ignores it, stat shows 777).
        if (ta !== T_SYMLINK && (ma & 0o7777) !== (mb & 0o7777)) st |= A_MODE;
        if (ua !== ub || ga !== gb) st |= A_OWNER;
      }
      if (st & PENDING) {
        if (count === pending.length) {
          const grown = new Int32Array(count * 2);
          grown.set(pending);
          pending = grown;
        }
        pending[count++] = k;
      }
      state[k] = st | (st & (ASPECTS | PENDING) ? D_CHANGED : D_UNCHANGED);
    }
    this.#pending = pending;
    this.#pendingCount = count;
  }

  // -------------------------------------------------------------------------------------------
  // Sorting and filtering

  /** Sorts every directory by name, or by |delta|, largest first, ties by name. */
  async sort(by: FilesSort, signal?: AbortSignal): Promise<void> {
    const pacer = new Pacer(signal);
    await sortTree(this.full, by, pacer);
    if (this.#shown) await sortTree(this.#shown.t, by, pacer);
    this.sortBy = by;
  }

  #matches(k: number, f: FilesFilter): boolean {
    const st = this.state[k]!;
    const d = DIFFERENCES[st & D_MASK]!;
    if (f.differences.length > 0 && !f.differences.includes(d)) return false;
    if (d === 'changed' && f.aspects.length > 0) {
      const own = st & ASPECTS;
      const hit = ASPECT_BITS.some(([name, bit]) => own & bit && f.aspects.includes(name));
      const maybe = st & PENDING && !(this.full.flags[k]! & DIR) && f.aspects.includes('content');
      if (!hit && !maybe) return false;
    }
    return true;
  }

  /** Shows only the rows the filter lets through, with the directories above them; a query
   * opens every directory (as the file tree's search does), a filter by difference alone keeps
   * what is open. */
  async setFilter(filter: FilesFilter, signal?: AbortSignal): Promise<void> {
    const pacer = new Pacer(signal);
    const f: FilesFilter = { ...filter, query: filter.query.trim() };
    this.filter = f;
    if (filtersNothing(f)) {
      this.#shown = null;
      return;
    }
    const full = this.full;
    const n = full.n;
    const inc = new Uint8Array(n);
    if (f.query !== '') {
      const match = globMatcher(f.query);
      const stack: { k: number; path: string }[] = [{ k: 0, path: '' }];
      for (let top = stack.pop(); top; top = stack.pop()) {
        for (let c = full.first[top.k]!; c >= 0; c = full.next[c]!) {
          const w = pacer.step();
          if (w) await w;
          const name = full.name(c);
          const path = top.path === '' ? name : `${top.path}/${name}`;
          if (match(path) && this.#matches(c, f)) inc[c] = 1;
          if (full.first[c]! >= 0) stack.push({ k: c, path });
        }
      }
    } else {
      for (let k = 1; k < n; k++) {
        const w = pacer.step();
        if (w) await w;
        if (full.flags[k]! & LIVE && this.#matches(k, f)) inc[k] = 1;
      }
    }
    let count = 0;
    for (let k = n - 1; k > 0; k--) {
      if (!inc[k]) continue;
      count++;
      inc[full.parent[k]!] = 1;
    }
    const t = new Nodes(this.layers, count + 16);
    const map = new Int32Array(count + 16);
    const into = new Int32Array(n).fill(-1);
    into[0] = 0;
    for (let k = 1; k < n; k++) {
      if (!inc[k]) continue;
      const w = pacer.step();
      if (w) await w;
      const s = t.add(
        into[full.parent[k]!]!,
        full.refLayer[k]!,
        full.refEntry[k]!,
        full.nameStart[k]!,
        full.flags[k]! & DIR,
      );
      map[s] = k;
      into[k] = s;
    }
    await t.finish(pacer.pause);
    for (let s = 1; s < t.n; s++) {
      const k = map[s]!;
      t.size[s] = full.size[k]!;
      if (t.flags[s]! & DIR && (f.query !== '' || full.flags[k]! & EXPANDED))
        t.flags[s]! |= EXPANDED;
    }
    await t.countVisible(pacer.pause);
    await sortTree(t, this.sortBy, pacer);
    this.#shown = { t, map: map.subarray(0, t.n) };
  }

  // -------------------------------------------------------------------------------------------
  // Differences and the summary

  /**
   * Recomputes every directory's difference and delta and the summary from the nodes' own
   * states, bottom up (a node's id is always above its parent's).
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    const pacer = new Pacer(signal);
    const { full, sides, state, delta } = this;
    const n = full.n;
    const below = new Uint8Array(n);
    delta.fill(0);
    const s = emptySummary();
    for (let k = n - 1; k > 0; k--) {
      const w = pacer.step();
      if (w) await w;
      const f = full.flags[k]!;
      if (!(f & LIVE)) continue;
      const sd = sides[k]!;
      const aFile = (sd & HAS_A) !== 0 && !(sd & A_DIR);
      const bFile = (sd & HAS_B) !== 0 && !(sd & B_DIR);
      const aSize = aFile ? countable(this.#size(this.#content(k, 'a'))) : 0;
      const bSize = bFile ? countable(this.#size(this.#content(k, 'b'))) : 0;
      const d = delta[k]! + bSize - aSize;
      delta[k] = d;
      const p = full.parent[k]!;
      delta[p] = delta[p]! + d;
      let st = state[k]!;
      if (f & DIR && (sd & (HAS_A | HAS_B)) === (HAS_A | HAS_B)) {
        // A directory in both: changed by its own aspects or by anything below it.
        const own = st & ASPECTS;
        const pendingLeaf = aFile || bFile ? st & PENDING : 0;
        st = own | pendingLeaf | (below[k]! & 2 ? PENDING : 0);
        st |= own || below[k]! & 1 || st & PENDING ? D_CHANGED : D_UNCHANGED;
        state[k] = st;
      }
      if ((st & D_MASK) !== D_UNCHANGED) below[p]! |= 1;
      if (st & PENDING) below[p]! |= 2;
      if (aFile) s.bytesBefore += aSize;
      if (bFile) s.bytesAfter += bSize;
      if (!aFile && !bFile) continue;
      switch (st & D_MASK) {
        case D_ADDED:
          s.added.count++;
          s.added.bytes += bSize;
          break;
        case D_REMOVED:
          s.removed.count++;
          s.removed.bytes += aSize;
          break;
        case D_CHANGED:
          if (st & ASPECTS) {
            s.changed.count++;
            s.changed.bytesBefore += aSize;
            s.changed.bytesAfter += bSize;
          }
          if (st & PENDING) s.pending++;
          break;
        default:
          s.unchanged++;
      }
    }
    this.summary = s;
    for (let k = 0; k < n; k++) full.size[k] = Math.abs(delta[k]!);
  }

  // -------------------------------------------------------------------------------------------
  // Pending content

  /** The pending nodes, all or those at or below these paths. */
  #pendingNodes(paths?: string[]): number[] {
    const out: number[] = [];
    const wanted = paths?.map((p) => normalisePath(p));
    for (let i = 0; i < this.#pendingCount; i++) {
      const k = this.#pending[i]!;
      if (wanted) {
        const path = this.full.path(k);
        if (!wanted.some((w) => w === '' || path === w || path.startsWith(w + '/'))) continue;
      }
      out.push(k);
    }
    return out;
  }

  /** What to hash to decide the pending files (all, or those under `paths`): each layer's
   * files once, in offset order, those already in the digest cache left out. */
  pendingReads(paths?: string[]): LayerReads[] {
    const byLayer = new Map<number, Map<number, number>>();
    for (const k of this.#pendingNodes(paths)) {
      for (const side of ['a', 'b'] as const) {
        const ref = this.#content(k, side);
        if (ref === -1 || this.#digestOf(ref)) continue;
        let files = byLayer.get(ref.l);
        if (!files) byLayer.set(ref.l, (files = new Map()));
        files.set(this.#offset(ref), this.#size(ref));
      }
    }
    const out: LayerReads[] = [];
    for (const [l, files] of [...byLayer].sort((x, y) => x[0] - y[0])) {
      const side: Side = l < this.na ? 'a' : 'b';
      out.push({
        side,
        layer: side === 'a' ? l : l - this.na,
        id: this.#keyId(l),
        files: [...files].sort((x, y) => x[0] - y[0]).map(([offset, size]) => ({ offset, size })),
      });
    }
    return out;
  }

  /** Decides every pending file whose two digests are now in the cache, and recomputes the
   * directories and the summary. */
  async decide(signal?: AbortSignal): Promise<void> {
    let kept = 0;
    for (let i = 0; i < this.#pendingCount; i++) {
      const k = this.#pending[i]!;
      const a = this.#digestOf(this.#content(k, 'a'));
      const b = this.#digestOf(this.#content(k, 'b'));
      if (a === undefined || b === undefined) {
        this.#pending[kept++] = k;
        continue;
      }
      let st = this.state[k]! & ~PENDING;
      if (a !== b) st |= A_CONTENT;
      st = (st & ~D_MASK) | (st & ASPECTS ? D_CHANGED : D_UNCHANGED);
      this.state[k] = st;
    }
    this.#pendingCount = kept;
    await this.refresh(signal);
    // Re-sort by delta and rebuild the filtered view: both may read what changed.
    if (this.sortBy === 'delta') await sortTree(this.full, 'delta', new Pacer(signal));
    if (this.#shown) await this.setFilter(this.filter, signal);
  }

  // -------------------------------------------------------------------------------------------
  // Export

  /**
   * The paths of the JSON export, as JSON text in pieces of about `chunk` characters: every
   * path that differs (pending ones too), by name, depth first; a directory only when it
   * differs itself (added, removed, or its own aspects), not merely by what is below it.
   */
  async *exportPaths(chunk = 1 << 20, signal?: AbortSignal): AsyncGenerator<string> {
    const pacer = new Pacer(signal);
    const full = this.full;
    let buf: string[] = [];
    let size = 0;
    let first = true;
    // Depth first, each directory's children by name: the order `find` and `diff -r` list.
    const stack: { k: number; path: string }[] = [{ k: 0, path: '' }];
    for (let top = stack.pop(); top; top = stack.pop()) {
      const { k, path } = top;
      if (k > 0) {
        const w = pacer.step();
        if (w) await w;
        const st = this.state[k]!;
        const d = st & D_MASK;
        const dirByBelow = full.flags[k]! & DIR && d === D_CHANGED && !(st & ASPECTS);
        if ((d !== D_UNCHANGED || st & PENDING) && !dirByBelow) {
          const text = (first ? '' : ',') + JSON.stringify(this.#diff(k, path));
          first = false;
          buf.push(text);
          size += text.length;
          if (size >= chunk) {
            yield buf.join('');
            buf = [];
            size = 0;
          }
        }
      }
      const kids: { k: number; path: string; name: string }[] = [];
      for (let c = full.first[k]!; c >= 0; c = full.next[c]!) {
        const name = full.name(c);
        kids.push({ k: c, name, path: path === '' ? name : `${path}/${name}` });
      }
      kids.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      // Pushed in reverse so that they come off the stack in name order.
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
    }
    if (buf.length > 0) yield buf.join('');
  }
}

async function sortTree(t: Nodes, by: FilesSort, pacer: Pacer): Promise<void> {
  for (let k = 0; k < t.n; k++) {
    if (!(t.flags[k]! & LIVE) || t.childCount[k]! < 2) continue;
    const w = pacer.step(t.childCount[k]);
    if (w) await w;
    // `size` holds |delta| (refresh): Nodes sorts by it, largest first, ties by name.
    t.sortChildren(k, by === 'delta' ? 'size' : 'name');
  }
}

/** Nodes reachable from the root of an overlay's (unfinished) nodes: 1 for each. */
function liveOf(nodes: Nodes): Uint8Array {
  const live = new Uint8Array(nodes.n);
  live[0] = 1;
  for (let k = 1; k < nodes.n; k++) {
    live[k] = !(nodes.flags[k]! & DETACHED) && live[nodes.parent[k]!] ? 1 : 0;
  }
  return live;
}

/**
 * The file a hard link names, as tar reads it: the last entry before it in the same layer with
 * that path that is not itself a hard link. Looked up first at the merged tree's node of that
 * path (usually the very entry), else by a scan back through the layer.
 */
function hardlinkTarget(
  layers: readonly (ColumnIndex | undefined)[],
  l: number,
  e: number,
  found: Ref | undefined,
): Ref | undefined {
  const index = layers[l]!;
  const b = index.batches[e >>> BATCH_BITS]!;
  const j = e & MASK;
  const linkStart = j === 0 ? 0 : b.linkEnds[j - 1]!;
  const want = normalisePath(b.links.slice(linkStart, b.linkEnds[j]));
  if (found && found.l === l && found.e < e) {
    const fb = index.batches[found.e >>> BATCH_BITS]!;
    if ((fb.types[found.e & MASK]! & 0x0f) !== T_HARDLINK) return found;
  }
  for (let i = e - 1; i >= 0; i--) {
    const ib = index.batches[i >>> BATCH_BITS]!;
    const ij = i & MASK;
    if ((ib.types[ij]! & 0x0f) === T_HARDLINK) continue;
    const path = ib.paths.slice(pathStart(ib, ij), ib.pathEnds[ij]);
    if (normalisePath(path) === want) return { l, e: i };
  }
  return undefined;
}

/**
 * Compares two images' merged filesystems. `digests` holds contents already hashed (by diffID
 * and offset): files found there are decided without being pending.
 */
export async function compareFiles(
  a: FilesSide,
  b: FilesSide,
  opts: { signal?: AbortSignal; digests?: DigestCache; sort?: FilesSort } = {},
): Promise<FilesComparison> {
  const pacer = new Pacer(opts.signal);
  const na = a.layers.length;
  const layers = [...a.layers, ...b.layers];
  const ids = [...a.ids, ...b.ids];
  const digests = opts.digests ?? new Map<string, string>();

  // Each merged filesystem: the file tree's overlay, numbering b's layers after a's. The
  // layers both start with (the same diffIDs, bottom up) are applied once: b's overlay starts
  // from a copy, and their nodes need no lookup to be matched.
  let shared = 0;
  while (shared < na && shared < b.layers.length && a.ids[shared] !== undefined) {
    if (a.ids[shared] !== b.ids[shared]) break;
    shared++;
  }
  // a's overlay becomes the union: room for a's entries and b's own, not b's shared ones.
  const overA = new Overlay([...a.layers, ...b.layers.map((l, i) => (i < shared ? undefined : l))]);
  for (let l = 0; l < shared; l++) await overA.apply(l, false, pacer);
  const own = b.layers.slice(shared).reduce((n, l) => n + (l?.count ?? 0), 0);
  const overB =
    shared > 0
      ? new Overlay(layers, { overlay: overA, entries: own })
      : new Overlay([...a.layers.map(() => undefined), ...b.layers]);
  const common = shared > 0 ? overA.nodes.n : 1;
  for (let l = shared; l < na; l++) await overA.apply(l, false, pacer);
  for (let l = na + shared; l < layers.length; l++) await overB.apply(l, false, pacer);
  const u = overA.nodes;
  const bn = overB.nodes;

  // b's paths into a's nodes: the union.
  const liveA = liveOf(u);
  const nA = u.n;
  const liveB = liveOf(bn);
  const bToU = new Int32Array(bn.n).fill(-1);
  bToU[0] = 0;
  for (let k = 1; k < bn.n; k++) {
    if (!liveB[k]) continue;
    const w = pacer.step();
    if (w) await w;
    if (k < common && liveA[k]) {
      // A node of the shared base alive in both: the same path.
      bToU[k] = k;
      if (bn.flags[k]! & DIR) u.flags[k]! |= DIR;
      continue;
    }
    const p = bToU[bn.parent[k]!]!;
    bn.nameRange(k);
    // The name on its own: Nodes compares a candidate's batch string with the one given by
    // identity first, and two batches of equal length (a rebuilt layer's, path for path) would
    // be compared character by character, megabytes per lookup.
    const name = bn.ns.slice(bn.na, bn.nb);
    let c = u.child(p, name, 0, name.length);
    if (c < 0)
      c = u.add(p, bn.refLayer[k]!, bn.refEntry[k]!, bn.nameStart[k]!, bn.flags[k]! & DIR, true);
    else if (bn.flags[k]! & DIR) u.flags[c]! |= DIR;
    bToU[k] = c;
  }

  const n = u.n;
  const sides = new Uint8Array(n);
  const aL = new Uint16Array(n);
  const aE = new Uint32Array(n);
  const bL = new Uint16Array(n);
  const bE = new Uint32Array(n);
  const typeAt = (l: number, e: number) =>
    layers[l]!.batches[e >>> BATCH_BITS]!.types[e & MASK]! & 0x0f;
  const hardA: number[] = [];
  const hardB: number[] = [];
  for (let k = 1; k < nA; k++) {
    if (!liveA[k]) continue;
    const w = pacer.step();
    if (w) await w;
    const l = (aL[k] = u.refLayer[k]!);
    const e = (aE[k] = u.refEntry[k]!);
    if (u.flags[k]! & SYNTH) {
      sides[k] = HAS_A | A_SYNTH | A_DIR;
      continue;
    }
    const type = typeAt(l, e);
    sides[k] = HAS_A | (type === T_DIR ? A_DIR : 0);
    if (type === T_HARDLINK) hardA.push(k);
  }
  for (let k = 1; k < bn.n; k++) {
    const c = bToU[k]!;
    if (c < 0) continue;
    const w = pacer.step();
    if (w) await w;
    const l = (bL[c] = bn.refLayer[k]!);
    const e = (bE[c] = bn.refEntry[k]!);
    if (bn.flags[k]! & SYNTH) {
      sides[c]! |= HAS_B | B_SYNTH | B_DIR;
      continue;
    }
    const type = typeAt(l, e);
    sides[c]! |= HAS_B | (type === T_DIR ? B_DIR : 0);
    if (type === T_HARDLINK) hardB.push(c);
  }

  // Hard links' targets, while b's overlay can still find paths.
  const links = new Map<number, [Ref | undefined, Ref | undefined]>();
  const atPath = (nodes: Nodes, live: Uint8Array, ref: Ref, side: Side): Ref | undefined => {
    const index = layers[ref.l]!;
    const bt = index.batches[ref.e >>> BATCH_BITS]!;
    const j = ref.e & MASK;
    const ls = j === 0 ? 0 : bt.linkEnds[j - 1]!;
    const node = nodes.find(normalisePath(bt.links.slice(ls, bt.linkEnds[j])));
    if (node < 0 || !live[node] || nodes.flags[node]! & SYNTH) return undefined;
    if (side === 'a' && !(node < nA && sides[node]! & HAS_A)) return undefined;
    return { l: nodes.refLayer[node]!, e: nodes.refEntry[node]! };
  };
  for (const k of hardA) {
    const w = pacer.step();
    if (w) await w;
    const own = { l: aL[k]!, e: aE[k]! };
    const target = hardlinkTarget(layers, own.l, own.e, atPath(u, liveA, own, 'a'));
    if (!target) continue;
    links.set(k, [target, undefined]);
    sides[k]! |= A_LINKED;
  }
  for (const k of hardB) {
    const w = pacer.step();
    if (w) await w;
    const own = { l: bL[k]!, e: bE[k]! };
    const target = hardlinkTarget(layers, own.l, own.e, atPath(bn, liveB, own, 'b'));
    if (!target) continue;
    const pair = links.get(k);
    if (pair) pair[1] = target;
    else links.set(k, [undefined, target]);
    sides[k]! |= B_LINKED;
  }

  await u.finish(pacer.pause);
  const comparison = new FilesComparison({
    layers,
    ids,
    na,
    full: u,
    sides,
    aL,
    aE,
    bL,
    bE,
    links,
    digests,
  });
  await comparison.judge(pacer);
  await comparison.refresh(opts.signal);
  if (opts.sort && opts.sort !== 'name') await comparison.sort(opts.sort, opts.signal);
  else await sortTree(u, 'name', pacer);
  return comparison;
}
