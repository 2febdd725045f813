// The nodes of a file tree in columns: one typed array per field and no object per node, so
// that a million-entry layer's tree costs tens of bytes a node rather than an object, a Map
// and a path string apiece. A node's name is not a string of its own: it is a range of the
// path string of an entry of the layer index the tree was built from (every component of a
// normalised path is a substring of the tar's path), found again when a row is shown.
//
// Children are linked lists (first child, next sibling) in display order; a hash table keyed
// by (parent, name) finds a child without a Map per directory. Node ids grow from the root (0)
// and a node is always created after its parent, so walking ids backwards is bottom-up.
import { BATCH_BITS, type ColumnIndex, type EntryColumns } from './columns.ts';

const MASK = (1 << BATCH_BITS) - 1;

/** refLayer of a layer's folder in the all-layers view: its name is layerFolder(refEntry). */
export const FOLDER = 0xffff;

// Node flags.
/** Shown as a directory: it has children, or an item made it one. */
export const DIR = 1;
export const EXPANDED = 2;
/** An item of the view describes this node (else it is a directory made up for its children). */
export const ITEM = 4;
/** The item's entry is synthetic (an implicit directory of the merged filesystem). */
export const SYNTH = 8;
/** Cut from its parent (the overlay replaced or deleted it); its own children stay linked. */
export const DETACHED = 16;
/** Reachable from the root (set by `finish`). */
export const LIVE = 32;
const CHANGE_SHIFT = 6;
export const CHANGE_MASK = 3 << CHANGE_SHIFT;
export const ADDED = 1 << CHANGE_SHIFT;
export const MODIFIED = 2 << CHANGE_SHIFT;
export const DELETED = 3 << CHANGE_SHIFT;

/** The folder a layer's entries sit in, in the all-layers view. */
export const layerFolder = (i: number) => `Layer ${i + 1}`;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Nodes between two calls of a Pause, less one. */
const CHUNK = 0xffff;

export type Pause = (units: number) => Promise<void> | undefined;

/** Sizes as the sums count them (see tree.ts). */
export const countable = (size: number) => (Number.isSafeInteger(size) && size > 0 ? size : 0);

export class Nodes {
  n = 1;
  parent: Int32Array;
  first: Int32Array;
  next: Int32Array;
  /** Last child and previous sibling: only while building (appending, detaching). */
  last: Int32Array;
  prev: Int32Array;
  /** Where the name is: layer, entry of that layer, and start of the name in its batch's
   * path string (it ends at the next "/" or the path's end). The same entry is the node's
   * item when ITEM is set and SYNTH is not. */
  refLayer: Uint16Array;
  refEntry: Uint32Array;
  nameStart: Uint32Array;
  flags: Uint8Array;
  /** An item's size while building; after `finish`, the row's size (directories' totals). */
  size: Float64Array;
  childCount = new Uint32Array(0);
  /** Rows below a directory when it is open (its children, and theirs where open). */
  visible = new Uint32Array(0);
  /** Directory totals past Number.MAX_SAFE_INTEGER, exactly. */
  exact = new Map<number, bigint>();
  /** The entry a layer's folder stands for (an entry "./" of the layer), all-layers view. */
  folderItems = new Map<number, number>();
  #slots: Int32Array;
  #used = 0;
  /** The empty slot where the last `child` lookup that found nothing stopped, valid while the
   * table is as it was (`#version`): the slot an `add` of that name takes. */
  #miss = -1;
  #missVersion = -1;
  #version = 0;
  #cap: number;
  // The name range of the last `nameRange` call (no object per call).
  ns = '';
  na = 0;
  nb = 0;

  constructor(
    readonly layers: readonly (ColumnIndex | undefined)[],
    capacity: number,
  ) {
    this.#cap = Math.max(16, capacity + 1);
    const c = this.#cap;
    this.parent = new Int32Array(c);
    this.first = new Int32Array(c).fill(-1);
    this.next = new Int32Array(c).fill(-1);
    this.last = new Int32Array(c).fill(-1);
    this.prev = new Int32Array(c).fill(-1);
    this.refLayer = new Uint16Array(c);
    this.refEntry = new Uint32Array(c);
    this.nameStart = new Uint32Array(c);
    this.flags = new Uint8Array(c);
    this.size = new Float64Array(c);
    this.parent[0] = -1;
    this.flags[0] = DIR | EXPANDED | LIVE;
    this.#slots = new Int32Array(pow2(Math.ceil((c * 10) / 7))).fill(-1);
  }

  /** A copy that grows apart from these nodes, with room for `room` more (and `layers` for
   * names: the same layers at the same places, and more). */
  clone(layers = this.layers, room = 0): Nodes {
    const n = this.n;
    const c = new Nodes(layers, 0);
    const cap = n + room + 1;
    const copy = <T extends Typed>(a: T, fill: number) => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a.subarray(0, n));
      if (fill !== 0) b.fill(fill, n);
      return b;
    };
    c.n = n;
    c.#cap = cap;
    c.parent = copy(this.parent, 0);
    c.first = copy(this.first, -1);
    c.next = copy(this.next, -1);
    c.last = copy(this.last, -1);
    c.prev = copy(this.prev, -1);
    c.refLayer = copy(this.refLayer, 0);
    c.refEntry = copy(this.refEntry, 0);
    c.nameStart = copy(this.nameStart, 0);
    c.flags = copy(this.flags, 0);
    c.size = copy(this.size, 0);
    c.exact = new Map(this.exact);
    c.folderItems = new Map(this.folderItems);
    // The table keeps its size: a node's slot depends on it.
    c.#slots = this.#slots.slice();
    c.#used = this.#used;
    return c;
  }

  batchOf(layer: number, entry: number): EntryColumns {
    return this.layers[layer]!.batches[entry >>> BATCH_BITS]!;
  }

  /** Sets ns/na/nb to node k's name. */
  nameRange(k: number): void {
    const l = this.refLayer[k]!;
    if (l === FOLDER) {
      this.ns = layerFolder(this.refEntry[k]!);
      this.na = 0;
      this.nb = this.ns.length;
      return;
    }
    const e = this.refEntry[k]!;
    const b = this.batchOf(l, e);
    const end = b.pathEnds[e & MASK]!;
    const a = this.nameStart[k]!;
    let z = b.paths.indexOf('/', a);
    if (z < 0 || z > end) z = end;
    this.ns = b.paths;
    this.na = a;
    this.nb = z;
  }

  name(k: number): string {
    if (k === 0) return '';
    this.nameRange(k);
    return this.ns.slice(this.na, this.nb);
  }

  /** The node's path in the tree. */
  path(k: number): string {
    const parts: string[] = [];
    for (let p = k; p > 0; p = this.parent[p]!) parts.push(this.name(p));
    return parts.reverse().join('/');
  }

  #nameIs(k: number, s: string, a: number, b: number): boolean {
    this.nameRange(k);
    const { ns, na, nb } = this;
    if (nb - na !== b - a) return false;
    if (ns === s && na === a) return true;
    for (let i = 0; i < b - a; i++) if (ns.charCodeAt(na + i) !== s.charCodeAt(a + i)) return false;
    return true;
  }

  #home(k: number): number {
    this.nameRange(k);
    return hash(this.parent[k]!, this.ns, this.na, this.nb) & (this.#slots.length - 1);
  }

  /** The child of `parent` named s[a, b), or -1. */
  child(parent: number, s: string, a: number, b: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let i = hash(parent, s, a, b) & mask; ; i = (i + 1) & mask) {
      const k = slots[i]!;
      if (k < 0) {
        this.#miss = i;
        this.#missVersion = this.#version;
        return -1;
      }
      if (this.parent[k] === parent && this.#nameIs(k, s, a, b)) return k;
    }
  }

  /** The node at a path ("a/b", as rows name them), or -1. */
  find(path: string): number {
    if (path === '') return -1;
    let node = 0;
    for (let a = 0; a <= path.length;) {
      let z = path.indexOf('/', a);
      if (z < 0) z = path.length;
      node = this.child(node, path, a, z);
      if (node < 0) return -1;
      a = z + 1;
    }
    return node;
  }

  /** A new last child of `parent`. `afterMiss`: the last `child` call looked for this very
   * name under this parent and found nothing (saves hashing it again). */
  add(
    parent: number,
    layer: number,
    entry: number,
    nameStart: number,
    flags: number,
    afterMiss = false,
  ): number {
    if (this.n === this.#cap) this.#grow();
    const k = this.n++;
    this.parent[k] = parent;
    this.refLayer[k] = layer;
    this.refEntry[k] = entry;
    this.nameStart[k] = nameStart;
    this.flags[k] = flags;
    const last = this.last[parent]!;
    if (last < 0) this.first[parent] = k;
    else this.next[last] = k;
    this.prev[k] = last;
    this.last[parent] = k;
    this.flags[parent]! |= DIR;
    // Linear probing stays short up to seven slots in ten used.
    if ((this.#used + 1) * 10 > this.#slots.length * 7) this.#rehash(this.#slots.length * 2);
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i: number;
    if (afterMiss && this.#missVersion === this.#version) i = this.#miss;
    else {
      i = this.#home(k);
      while (slots[i]! >= 0) i = (i + 1) & mask;
    }
    slots[i] = k;
    this.#used++;
    this.#version++;
    return k;
  }

  /** Cuts k from its parent; its subtree stays linked below it, out of the table's reach. */
  detach(k: number): void {
    const p = this.parent[k]!;
    const prev = this.prev[k]!;
    const next = this.next[k]!;
    if (prev < 0) this.first[p] = next;
    else this.next[prev] = next;
    if (next < 0) this.last[p] = prev;
    else this.prev[next] = prev;
    this.next[k] = -1;
    this.prev[k] = -1;
    this.flags[k]! |= DETACHED;
    this.#unhash(k);
  }

  /** Cuts every child of k (an opaque whiteout), returning them in order. */
  detachChildren(k: number): number[] {
    const out: number[] = [];
    for (let c = this.first[k]!; c >= 0; c = this.next[c]!) out.push(c);
    for (const c of out) this.detach(c);
    return out;
  }

  #unhash(k: number) {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = this.#home(k);
    while (slots[i] !== k) {
      if (slots[i]! < 0) return;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    for (let j = (i + 1) & mask; slots[j]! >= 0; j = (j + 1) & mask) {
      const h = this.#home(slots[j]!);
      if (j > i ? h <= i || h > j : h <= i && h > j) {
        slots[i] = slots[j]!;
        i = j;
      }
    }
    slots[i] = -1;
    this.#used--;
    this.#version++;
  }

  #rehash(size: number) {
    const old = this.#slots;
    this.#version++;
    this.#slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (const k of old) {
      if (k < 0) continue;
      let i = this.#home(k);
      while (this.#slots[i]! >= 0) i = (i + 1) & mask;
      this.#slots[i] = k;
    }
  }

  #grow() {
    const c = Math.ceil(this.#cap * 1.5) + 16;
    this.#cap = c;
    this.parent = resize(this.parent, c, 0);
    this.first = resize(this.first, c, -1);
    this.next = resize(this.next, c, -1);
    this.last = resize(this.last, c, -1);
    this.prev = resize(this.prev, c, -1);
    this.refLayer = resize(this.refLayer, c, 0);
    this.refEntry = resize(this.refEntry, c, 0);
    this.nameStart = resize(this.nameStart, c, 0);
    this.flags = resize(this.flags, c, 0);
    this.size = resize(this.size, c, 0);
  }

  /**
   * Ends the build: marks the nodes reachable from the root, counts children, sums directory
   * sizes bottom-up (exactly, as tree.ts's buildTree), counts open rows, and gives back the
   * building-only arrays and the spare capacity. Sorting is separate (`sortChildren`).
   * `pause` is called with the units of work done now and then; the work waits for what it
   * returns (a turn of the event loop).
   */
  async finish(pause?: Pause): Promise<void> {
    const n = this.n;
    this.last = new Int32Array(0);
    this.prev = new Int32Array(0);
    if (n + (n >>> 3) < this.#cap) {
      this.parent = this.parent.slice(0, n);
      this.first = this.first.slice(0, n);
      this.next = this.next.slice(0, n);
      this.refLayer = this.refLayer.slice(0, n);
      this.refEntry = this.refEntry.slice(0, n);
      this.nameStart = this.nameStart.slice(0, n);
      this.flags = this.flags.slice(0, n);
      this.size = this.size.slice(0, n);
      this.#cap = n;
    }
    const { parent, flags, size } = this;
    const count = new Uint32Array(n);
    flags[0]! |= LIVE;
    for (let k = 1; k < n; k++) {
      if ((k & CHUNK) === 0) await pause?.(CHUNK);
      if (!(flags[k]! & DETACHED) && flags[parent[k]!]! & LIVE) {
        flags[k]! |= LIVE;
        count[parent[k]!]!++;
      } else flags[k]! &= ~LIVE;
    }
    for (let k = 0; k < n; k++) {
      if (count[k]! > 0) flags[k]! |= DIR;
      if (flags[k]! & DIR) size[k] = 0;
    }
    const exact = this.exact;
    exact.clear();
    for (let k = n - 1; k > 0; k--) {
      if ((k & CHUNK) === 0) await pause?.(CHUNK);
      const f = flags[k]!;
      if (!(f & LIVE) || (f & CHANGE_MASK) === DELETED) continue;
      const p = parent[k]!;
      const own = f & DIR ? size[k]! : countable(size[k]!);
      const sum = size[p]! + own;
      const exP = exact.size > 0 ? exact.get(p) : undefined;
      const exK = exact.size > 0 && f & DIR ? exact.get(k) : undefined;
      if (exP === undefined && exK === undefined && sum <= MAX_SAFE) size[p] = sum;
      else {
        const e = (exP ?? BigInt(size[p]!)) + (exK ?? BigInt(own));
        exact.set(p, e);
        size[p] = Number(e);
      }
    }
    this.childCount = count;
    await this.countVisible(pause);
  }

  /** Recounts every directory's open rows from the EXPANDED flags. */
  async countVisible(pause?: Pause): Promise<void> {
    const n = this.n;
    const { parent, flags } = this;
    const visible = new Uint32Array(n);
    for (let k = n - 1; k > 0; k--) {
      if ((k & CHUNK) === 0) await pause?.(CHUNK);
      const f = flags[k]!;
      if (!(f & LIVE)) continue;
      visible[parent[k]!]! += 1 + (f & EXPANDED ? visible[k]! : 0);
    }
    this.visible = visible;
  }

  /** Rows node k takes: itself, and what is open below it. */
  span(k: number): number {
    return this.flags[k]! & EXPANDED ? 1 + this.visible[k]! : 1;
  }

  /** Sorts the children of directory d, relinking them. */
  sortChildren(d: number, by: 'name' | 'size'): void {
    const count = this.childCount[d]!;
    if (count < 2) return;
    const ids = new Array<number>(count);
    const names = new Array<string>(count);
    let i = 0;
    for (let c = this.first[d]!; c >= 0; c = this.next[c]!) {
      ids[i] = c;
      names[i++] = this.name(c);
    }
    const order = Array.from({ length: count }, (_, k) => k);
    const byName = (a: number, b: number) =>
      names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0;
    if (by === 'name') order.sort(byName);
    else {
      const size = this.size;
      order.sort((a, b) => size[ids[b]!]! - size[ids[a]!]! || byName(a, b));
    }
    this.first[d] = ids[order[0]!]!;
    for (let k = 0; k < count; k++) {
      this.next[ids[order[k]!]!] = k + 1 < count ? ids[order[k + 1]!]! : -1;
    }
  }
}

function hash(parent: number, s: string, a: number, b: number): number {
  let h = Math.imul(parent ^ 0x9e3779b9, 0x85ebca6b);
  for (let i = a; i < b; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

function pow2(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

type Typed = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;
function resize<T extends Typed>(a: T, size: number, fill: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
