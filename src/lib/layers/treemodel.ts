// The tree model of a view (model.ts's TreeModel) built straight from the layers' columnar
// indexes: the merged filesystem, one layer's changes, or every layer side by side, as the
// page's old pipeline built them (filesystem.ts's Overlay and layerChanges, tree.ts's
// buildTree and sortTree, rows.ts's flattenRows, search.ts) but in typed arrays
// (treemodel-nodes.ts): no object, Map or path string per entry. The results are the same,
// row for row; the old modules stay as the reference the tests compare against.
//
// Rows are counted, not listed: every directory knows how many rows it shows when open, so a
// window of rows, a row's index and opening a directory cost the depth of the tree plus the
// siblings walked past, never the whole tree. A search builds a second, smaller tree of the
// matches and their directories (all open), leaving the whole tree and what is open there as
// it was for when the search is cleared.
import { yielder } from '../tasks.ts';
import { BATCH_BITS, entryAt, typeOf, type ColumnIndex, type EntryColumns } from './columns.ts';
import type { IndexEntry } from './entry.ts';
import { tooDeep, whiteoutTarget, type ChangeKind } from './filesystem.ts';
import { globMatcher } from './glob.ts';
import type { Selected, TreeModel, TreeRow, ViewSpec } from './model.ts';
import {
  ADDED,
  CHANGE_MASK,
  DELETED,
  DIR,
  EXPANDED,
  FOLDER,
  ITEM,
  layerFolder,
  LIVE,
  MODIFIED,
  Nodes,
  SYNTH,
} from './treemodel-nodes.ts';
import { MAX_DEPTH, parentOf } from './paths.ts';

export { layerFolder };
// The wasted-space summary reads layers the way the tree does; one import gives both.
export { wastedSpaceOf } from './treemodel-wasted.ts';

const MASK = (1 << BATCH_BITS) - 1;
const TYPE_DIR = 2; // ENTRY_TYPES.indexOf('dir')
const DOT = 0x2e;

export interface TreeModelOptions {
  signal?: AbortSignal;
  /** For a layer view: mark what the layer adds, changes and deletes relative to the layers
   * below it. Default: whenever every layer below is given (not undefined). Without it the
   * layer's entries are shown as they are (a layer still streaming in, or the layers below
   * not read). */
  changes?: boolean;
  /** The first sort (name unless given). */
  sort?: 'name' | 'size';
}

/** Calls back now and then to let the event loop turn, and stops with the signal's reason. */
export class Pacer {
  #tick = yielder();
  #n = 0;
  constructor(readonly signal?: AbortSignal) {
    signal?.throwIfAborted();
  }
  readonly pause = (units: number) => this.step(units);
  /** Call once per unit of work (or with the units done); await the result when it is a
   * promise. */
  step(units = 1): Promise<void> | undefined {
    this.#n += units;
    if (this.#n < 1024) return undefined;
    this.#n = 0;
    const t = this.#tick();
    return t?.then(() => this.signal?.throwIfAborted());
  }
}

/** The normalised components of a tar path s[start, end): "", "." skipped, ".." kept. Writes
 * [start, end) pairs into `out`, at most limit + 1 of them; returns how many (limit + 1 means
 * deeper than limit). */
export function components(s: string, start: number, end: number, out: Uint32Array, limit: number) {
  let n = 0;
  for (let a = start; a <= end;) {
    let z = s.indexOf('/', a);
    if (z < 0 || z > end) z = end;
    if (!(z === a || (z === a + 1 && s.charCodeAt(a) === DOT))) {
      if (n > limit) return n;
      out[2 * n] = a;
      out[2 * n + 1] = z;
      n++;
    }
    a = z + 1;
  }
  return n;
}

export const pathStart = (b: EntryColumns, j: number) => (j === 0 ? 0 : b.pathEnds[j - 1]!);

/** Entries of a batch whose path holds ".wh." (whiteout markers and AUFS metadata), found
 * with one scan of the batch's path string. */
function markerCandidates(b: EntryColumns): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = b.paths.indexOf('.wh.'); i >= 0; i = b.paths.indexOf('.wh.', i + 1)) {
    while (j < b.count && b.pathEnds[j]! <= i) j++;
    if (j >= b.count) break;
    if (out[out.length - 1] !== j && i + 4 <= b.pathEnds[j]!) out.push(j);
  }
  return out;
}

/** Room for the entries and the directories a listing leaves implicit (some in sixteen). */
const spare = (entries: number) => entries + (entries >>> 4) + 64;

export const scratch = () => new Uint32Array(2 * (MAX_DEPTH + 3));

/**
 * The directory node of the last entry's parent, by the tar path's text up to its last "/":
 * a tar lists a directory's entries together, so most entries start with the same text as the
 * one before and need only their last name looked up. Valid while the tree only grows below
 * it (the overlay forgets it whenever it cuts a node).
 */
export class Prefix {
  text = '';
  node = -1;
  depth = 0;
  /** Where the path's own components start after the prefix, or -1 if it does not match. */
  match(s: string, start: number, end: number): number {
    const n = this.text.length;
    return this.node >= 0 && end - start > n && s.startsWith(this.text, start) ? start + n : -1;
  }
  remember(s: string, start: number, last: number, node: number, depth: number) {
    // Another text for the same directory ("./a/" and "a/") leads there just as well.
    if (this.node === node) return;
    this.text = s.slice(start, last);
    this.node = node;
    this.depth = depth;
  }
  forget() {
    this.node = -1;
  }
}

/** How many entries of a layer are too deep to show (filesystem.ts's tooDeep). */
async function countTooDeep(index: ColumnIndex | undefined, pacer: Pacer): Promise<number> {
  let n = 0;
  for (const b of index?.batches ?? []) {
    await pacer.step(b.count);
    // Only a path with at least MAX_DEPTH "/" can be too deep: count them in one pass.
    let j = 0;
    let slashes = 0;
    const check = () => {
      if (slashes >= MAX_DEPTH && tooDeep(b.paths.slice(pathStart(b, j), b.pathEnds[j]))) n++;
    };
    for (let i = b.paths.indexOf('/'); i >= 0; i = b.paths.indexOf('/', i + 1)) {
      while (j < b.count && b.pathEnds[j]! <= i) {
        check();
        j++;
        slashes = 0;
      }
      slashes++;
    }
    for (; j < b.count; j++, slashes = 0) check();
  }
  return n;
}

/** A layer's whiteout and opaque markers (parseLayer's), and every marker entry to skip. */
export function layerMarkers(index: ColumnIndex) {
  const markers = new Set<number>();
  const opaques: string[] = [];
  const whiteouts: string[] = [];
  index.batches.forEach((b, bi) => {
    for (const j of markerCandidates(b)) {
      const path = b.paths.slice(pathStart(b, j), b.pathEnds[j]);
      if (tooDeep(path)) continue;
      const m = whiteoutTarget(path);
      if (!m) continue;
      markers.add((bi << BATCH_BITS) | j);
      if (m.kind === 'whiteout') whiteouts.push(m.target);
      else if (m.kind === 'opaque') opaques.push(m.dir);
    }
  });
  return { markers, opaques, whiteouts };
}

// ---------------------------------------------------------------------------------------------
// The overlay: filesystem.ts's Overlay over Nodes.

interface Applied {
  /** The overlay nodes a layer removed that existed below it, in the order removed. */
  removed: number[];
  /** Directories from below that the layer declared again: their entry before. */
  lower: Map<number, { layer: number; entry: number; synth: boolean }>;
  /** The first node id the layer created. */
  firstNew: number;
}

export class Overlay {
  readonly nodes: Nodes;
  /** The layer each node was created by. */
  born: Uint16Array;
  /** Changes bookkeeping for the tracked layer: TOUCHED, REPLACED. */
  mark: Uint8Array | undefined;
  #out = scratch();

  /** `base`: start from a copy of that overlay's filesystem (the layers both of two compared
   * images share), which this one then grows apart from, with room for `entries` more. */
  constructor(
    readonly layers: readonly (ColumnIndex | undefined)[],
    base?: { overlay: Overlay; entries: number },
  ) {
    if (base) {
      const { nodes, born } = base.overlay;
      this.nodes = nodes.clone(layers, spare(base.entries));
      this.born = new Uint16Array(nodes.n + spare(base.entries) + 1);
      this.born.set(born.subarray(0, nodes.n));
      return;
    }
    const total = layers.reduce((n, l) => n + (l?.count ?? 0), 0);
    this.nodes = new Nodes(layers, spare(total));
    this.born = new Uint16Array(spare(total) + 1);
  }

  #add(
    parent: number,
    layer: number,
    entry: number,
    start: number,
    flags: number,
    afterMiss = false,
  ): number {
    const k = this.nodes.add(parent, layer, entry, start, flags, afterMiss);
    if (k >= this.born.length) {
      const b = new Uint16Array(Math.ceil(k * 1.5) + 16);
      b.set(this.born);
      this.born = b;
    }
    this.born[k] = layer;
    if (this.mark) {
      if (k >= this.mark.length) {
        const m = new Uint8Array(this.born.length);
        m.set(this.mark);
        this.mark = m;
      }
      this.mark[k] = TOUCHED;
    }
    return k;
  }

  /** Applies layer l (filesystem.ts's Overlay.apply); with `track`, keeps what the changes
   * need. */
  async apply(l: number, track: boolean, pacer: Pacer): Promise<Applied> {
    const nodes = this.nodes;
    const index = this.layers[l];
    const applied: Applied = { removed: [], lower: new Map(), firstNew: nodes.n };
    if (track) this.mark = new Uint8Array(this.born.length);
    if (!index) return applied;
    const { removed } = applied;
    const detach = (k: number) => {
      nodes.detach(k);
      if (this.born[k]! < l) removed.push(k);
    };

    // Markers first: they apply before the layer's own entries, wherever they are.
    const { markers, opaques, whiteouts } = layerMarkers(index);
    for (const dir of opaques) {
      const k = dir === '' ? 0 : nodes.find(dir);
      if (k < 0 || !(nodes.flags[k]! & DIR)) continue;
      removed.push(...nodes.detachChildren(k));
    }
    for (const target of whiteouts) {
      const dir = parentOf(target);
      const p = dir === '' ? 0 : nodes.find(dir);
      if (p < 0 || !(nodes.flags[p]! & DIR)) continue;
      const c = nodes.child(p, target, dir === '' ? 0 : dir.length + 1, target.length);
      if (c >= 0) detach(c);
    }

    const out = this.#out;
    const mark = this.mark;
    const prefix = new Prefix();
    for (let bi = 0; bi < index.batches.length; bi++) {
      const b = index.batches[bi]!;
      const s = b.paths;
      prefix.forget();
      for (let j = 0; j < b.count; j++) {
        const w = pacer.step();
        if (w) await w;
        const e = (bi << BATCH_BITS) | j;
        if (markers.size > 0 && markers.has(e)) continue;
        const start = pathStart(b, j);
        const end = b.pathEnds[j]!;
        const from = prefix.match(s, start, end);
        let dir = 0;
        let depth = 0;
        let n = from < 0 ? 0 : components(s, from, end, out, MAX_DEPTH - prefix.depth);
        if (n > 0) {
          dir = prefix.node;
          depth = prefix.depth;
        } else n = components(s, start, end, out, MAX_DEPTH);
        if (n === 0 || depth + n > MAX_DEPTH) continue;
        for (let k = 0; k < n - 1; k++) {
          let c = nodes.child(dir, s, out[2 * k]!, out[2 * k + 1]!);
          if (c < 0) c = this.#add(dir, l, e, out[2 * k]!, DIR | ITEM | SYNTH, true);
          else if (!(nodes.flags[c]! & DIR)) {
            // A path below a file, symlink or nothing makes that path a directory.
            detach(c);
            prefix.forget();
            c = this.#add(dir, l, e, out[2 * k]!, DIR | ITEM | SYNTH);
          }
          dir = c;
        }
        const a = out[2 * n - 2]!;
        prefix.remember(s, start, a, dir, depth + n - 1);
        const existing = nodes.child(dir, s, a, out[2 * n - 1]!);
        const isDir = (b.types[j]! & 0x0f) === TYPE_DIR;
        if (existing >= 0 && nodes.flags[existing]! & DIR && isDir) {
          // Directory over directory: the attributes are replaced, the children kept.
          if (mark && !(mark[existing]! & TOUCHED)) {
            mark[existing]! |= TOUCHED;
            applied.lower.set(existing, {
              layer: nodes.refLayer[existing]!,
              entry: nodes.refEntry[existing]!,
              synth: (nodes.flags[existing]! & SYNTH) !== 0,
            });
          }
          nodes.refLayer[existing] = l;
          nodes.refEntry[existing] = e;
          nodes.nameStart[existing] = a;
          nodes.flags[existing]! &= ~SYNTH;
          continue;
        }
        if (existing >= 0) {
          detach(existing);
          prefix.forget();
        }
        const k = this.#add(dir, l, e, a, isDir ? DIR | ITEM : ITEM, existing < 0);
        nodes.size[k] = b.sizes[j]!;
      }
    }
    return applied;
  }

  /** The node now at the path of (maybe detached) node k, or -1 (find(r.path)). */
  resolve(k: number): number {
    const nodes = this.nodes;
    const chain: number[] = [];
    for (let p = k; p > 0; p = nodes.parent[p]!) chain.push(p);
    let cur = 0;
    for (let i = chain.length - 1; i >= 0 && cur >= 0; i--) {
      nodes.nameRange(chain[i]!);
      if (!(nodes.flags[cur]! & DIR)) return -1;
      cur = nodes.child(cur, nodes.ns, nodes.na, nodes.nb);
    }
    return cur;
  }

  /** filesystem.ts's nodeBytes: the bytes of the files below k put there before layer `below`. */
  bytes(k: number, below: number): number {
    const nodes = this.nodes;
    let bytes = 0;
    let exact: bigint | undefined;
    const stack = [k];
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      if (this.born[n]! >= below) continue;
      if (nodes.flags[n]! & DIR) {
        for (let c = nodes.first[n]!; c >= 0; c = nodes.next[c]!) stack.push(c);
      } else {
        const size = entrySizeOf(nodes, n);
        const s = Number.isSafeInteger(size) && size > 0 ? size : 0;
        if (exact === undefined && bytes + s <= Number.MAX_SAFE_INTEGER) bytes += s;
        else exact = (exact ?? BigInt(bytes)) + BigInt(s);
      }
    }
    return exact === undefined ? bytes : Number(exact);
  }
}

const TOUCHED = 1;
const REPLACED = 2;

/** The size of node k's own entry (0 for a synthetic one or none). */
function entrySizeOf(nodes: Nodes, k: number): number {
  const ref = itemRef(nodes, k);
  return ref ? nodes.batchOf(ref[0], ref[1]).sizes[ref[1] & MASK]! : 0;
}

function entryOfNode(nodes: Nodes, layer: number, entry: number, synth: boolean): IndexEntry {
  return synth ? syntheticDir('') : entryAt(nodes.layers[layer]!, entry);
}

function syntheticDir(path: string): IndexEntry {
  return { path, type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0, offset: -1 };
}

/** Adds to `dst` the path of src's node k (its names), making up the directories above it;
 * returns dst's node. */
export function ensurePath(dst: Nodes, src: Nodes, k: number, chain: number[]): number {
  chain.length = 0;
  for (let p = k; p > 0; p = src.parent[p]!) chain.push(p);
  let cur = 0;
  for (let i = chain.length - 1; i >= 0; i--) {
    const a = chain[i]!;
    src.nameRange(a);
    let c = dst.child(cur, src.ns, src.na, src.nb);
    if (c < 0) {
      c = dst.add(cur, src.refLayer[a]!, src.refEntry[a]!, src.nameStart[a]!, i > 0 ? DIR : 0);
    } else if (i > 0) dst.flags[c]! |= DIR;
    cur = c;
  }
  return cur;
}

/** Copies src's item at node k onto dst's node d (a later item wins, as in buildTree). */
function copyItem(dst: Nodes, d: number, src: Nodes, k: number, change: number, size: number) {
  const f = src.flags[k]!;
  dst.refLayer[d] = src.refLayer[k]!;
  dst.refEntry[d] = src.refEntry[k]!;
  dst.nameStart[d] = src.nameStart[k]!;
  const folder = src.folderItems.get(k);
  if (folder !== undefined) dst.folderItems.set(d, folder);
  const deleted = change === DELETED;
  const dirItem = !deleted && isDirItem(src, k);
  dst.flags[d] =
    (dst.flags[d]! & (DIR | EXPANDED)) |
    ITEM |
    (deleted ? 0 : f & SYNTH) |
    change |
    (dirItem ? DIR : 0);
  dst.size[d] = size;
}

/** Whether node k's item makes it a directory (buildTree: no entry, or a "dir" entry). */
function isDirItem(nodes: Nodes, k: number): boolean {
  const f = nodes.flags[k]!;
  if ((f & CHANGE_MASK) === DELETED) return false;
  if (f & SYNTH) return true;
  const ref = itemRef(nodes, k);
  if (!ref) return true;
  const [l, e] = ref;
  return (nodes.batchOf(l, e).types[e & MASK]! & 0x0f) === TYPE_DIR;
}

/** The (layer, entry) of node k's item entry, if it has a real one. */
function itemRef(nodes: Nodes, k: number): [number, number] | undefined {
  const f = nodes.flags[k]!;
  if (!(f & ITEM) || f & SYNTH || (f & CHANGE_MASK) === DELETED) return undefined;
  const l = nodes.refLayer[k]!;
  if (l === FOLDER) {
    const e = nodes.folderItems.get(k);
    return e === undefined ? undefined : [nodes.refEntry[k]!, e];
  }
  return [l, nodes.refEntry[k]!];
}

// ---------------------------------------------------------------------------------------------
// The views.

/** The merged filesystem: the overlay is the tree. */
async function buildMerged(layers: readonly (ColumnIndex | undefined)[], pacer: Pacer) {
  const overlay = new Overlay(layers);
  for (let l = 0; l < layers.length; l++) await overlay.apply(l, false, pacer);
  return overlay.nodes;
}

/** Layer i's changes relative to the layers below (filesystem.ts's layerChanges). */
async function buildChanges(
  layers: readonly (ColumnIndex | undefined)[],
  i: number,
  pacer: Pacer,
): Promise<Nodes> {
  const overlay = new Overlay(layers.slice(0, i + 1));
  for (let l = 0; l < i; l++) await overlay.apply(l, false, pacer);
  const nothingBelow = overlay.nodes.n === 1;
  const { removed, lower } = await overlay.apply(i, true, pacer);
  const src = overlay.nodes;
  const mark = overlay.mark!;
  const born = overlay.born;
  // Which nodes are reachable now: find(path) === node.
  await src.finish(pacer.pause);
  const live = (k: number) => (src.flags[k]! & LIVE) !== 0;
  if (nothingBelow) {
    // Every path is new: the overlay is the tree, every item added.
    for (let k = 1; k < src.n; k++) if (live(k)) src.flags[k]! |= ADDED;
    return src;
  }

  // A removed lower subtree is reported at its top-most path that is now gone; where the
  // layer recreated a path, its old children are looked at (Overlay.#changes).
  const deleted = new Map<string, { node: number; size: number }>();
  const stack = removed.slice();
  for (let r = stack.pop(); r !== undefined; r = stack.pop()) {
    const w = pacer.step();
    if (w) await w;
    const now = overlay.resolve(r);
    if (now < 0) {
      deleted.set(src.path(r), { node: r, size: overlay.bytes(r, i) });
      continue;
    }
    if (mark[now]! & TOUCHED) mark[now]! |= REPLACED;
    if (src.flags[r]! & DIR) {
      for (let c = src.first[r]!; c >= 0; c = src.next[c]!) if (born[c]! < i) stack.push(c);
    }
  }
  for (const [path, d] of deleted) {
    let top: { size: number } | undefined;
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) top = deleted.get(p) ?? top;
    if (top) {
      top.size += d.size;
      deleted.delete(path);
    }
  }

  const dst = new Nodes(layers, deleted.size + src.n);
  const chain: number[] = [];
  for (const { node, size } of deleted.values()) {
    copyItem(dst, ensurePath(dst, src, node, chain), src, node, DELETED, size);
  }
  const report = async (k: number) => {
    const w = pacer.step();
    if (w) await w;
    if (!live(k)) return;
    let change: number;
    if (born[k] === i) change = mark[k]! & REPLACED ? MODIFIED : ADDED;
    else {
      const before = lower.get(k)!;
      const was = entryOfNode(src, before.layer, before.entry, before.synth);
      const now = entryOfNode(src, src.refLayer[k]!, src.refEntry[k]!, !!(src.flags[k]! & SYNTH));
      if (was.mode === now.mode && was.uid === now.uid && was.gid === now.gid) return;
      change = MODIFIED;
    }
    copyItem(dst, ensurePath(dst, src, k, chain), src, k, change, entrySizeOf(src, k));
  };
  for (let k = 1; k < src.n; k++) if (born[k] === i) await report(k);
  for (const k of lower.keys()) await report(k);
  await dst.finish(pacer.pause);
  return dst;
}

/** A layer's entries as they are, or every layer in its folder: buildTree over raw entries,
 * a later duplicate winning. */
async function buildEntries(
  layers: readonly (ColumnIndex | undefined)[],
  which: number[],
  folders: boolean,
  pacer: Pacer,
): Promise<Nodes> {
  const total = which.reduce((n, l) => n + (layers[l]?.count ?? 0), 0);
  const nodes = new Nodes(layers, spare(total) + which.length);
  const out = scratch();
  for (const l of which) {
    const index = layers[l];
    if (!index) continue;
    let folder = -1;
    const prefix = new Prefix();
    for (let bi = 0; bi < index.batches.length; bi++) {
      const b = index.batches[bi]!;
      const s = b.paths;
      prefix.forget();
      for (let j = 0; j < b.count; j++) {
        const w = pacer.step();
        if (w) await w;
        const e = (bi << BATCH_BITS) | j;
        const start = pathStart(b, j);
        const end = b.pathEnds[j]!;
        const from = prefix.match(s, start, end);
        let n = from < 0 ? 0 : components(s, from, end, out, MAX_DEPTH - prefix.depth);
        let dir = 0;
        let depth = 0;
        if (n > 0) {
          dir = prefix.node;
          depth = prefix.depth;
        } else {
          n = components(s, start, end, out, MAX_DEPTH);
          if (n > MAX_DEPTH || (n === 0 && !folders)) continue;
          if (folders) {
            if (folder < 0) {
              const name = layerFolder(l);
              folder = nodes.child(0, name, 0, name.length);
              if (folder < 0) folder = nodes.add(0, FOLDER, l, 0, 0, true);
            }
            dir = folder;
          }
        }
        if (depth + n > MAX_DEPTH) continue;
        for (let k = 0; k < n - 1; k++) {
          let c = nodes.child(dir, s, out[2 * k]!, out[2 * k + 1]!);
          if (c < 0) c = nodes.add(dir, l, e, out[2 * k]!, DIR, true);
          else nodes.flags[c]! |= DIR;
          dir = c;
        }
        let node = dir;
        if (n > 0) {
          const a = out[2 * n - 2]!;
          prefix.remember(s, start, a, dir, depth + n - 1);
          node = nodes.child(dir, s, a, out[2 * n - 1]!);
          if (node < 0) node = nodes.add(dir, l, e, a, 0, true);
          nodes.refLayer[node] = l;
          nodes.refEntry[node] = e;
          nodes.nameStart[node] = a;
        } else nodes.folderItems.set(node, e);
        const isDir = (b.types[j]! & 0x0f) === TYPE_DIR;
        nodes.flags[node]! |= ITEM | (isDir ? DIR : 0);
        nodes.size[node] = b.sizes[j]!;
      }
    }
  }
  await nodes.finish(pacer.pause);
  return nodes;
}

// ---------------------------------------------------------------------------------------------
// The model.

type Mode = 'merged' | 'changes' | 'entries';

class ColumnTreeModel implements TreeModel {
  #search: Nodes | null = null;
  #sortBy: 'name' | 'size' = 'name';

  constructor(
    readonly view: ViewSpec,
    readonly layers: readonly (ColumnIndex | undefined)[],
    readonly mode: Mode,
    /** The layers whose entries are the items (entries mode). */
    readonly itemLayers: number[],
    readonly full: Nodes,
    readonly tooDeep: number,
  ) {}

  get #tree(): Nodes {
    return this.#search ?? this.full;
  }

  get count(): number {
    return this.#tree.visible[0]!;
  }

  rows(start: number, end: number): TreeRow[] {
    const t = this.#tree;
    return visibleRows(t, this.count, start, end, (node, name, path, depth, pos) =>
      this.#row(t, node, name, path, depth, pos),
    );
  }

  #row(t: Nodes, k: number, name: string, path: string, depth: number, pos: number): TreeRow {
    const f = t.flags[k]!;
    const ref = itemRef(t, k);
    let type: TreeRow['type'] = 'dir';
    let linkname: string | undefined;
    if (ref) {
      const [l, e] = ref;
      const b = t.batchOf(l, e);
      const j = e & MASK;
      type = typeOf(b, j);
      const ls = j === 0 ? 0 : b.linkEnds[j - 1]!;
      if (b.linkEnds[j]! > ls || type === 'symlink' || type === 'hardlink') {
        linkname = b.links.slice(ls, b.linkEnds[j]);
      }
    }
    const change = changeOf(f);
    return {
      path,
      name,
      depth,
      dir: (f & DIR) !== 0,
      expanded: (f & EXPANDED) !== 0,
      size: t.size[k]!,
      type,
      ...(change ? { change } : {}),
      ...(linkname !== undefined ? { linkname } : {}),
      setSize: t.childCount[t.parent[k]!]!,
      posInSet: pos,
    };
  }

  indexOf(path: string): number {
    const t = this.#tree;
    const k = t.find(path);
    return k < 0 ? -1 : rowIndex(t, k);
  }

  toggle(path: string): void {
    // A search shows its matches with every directory open; nothing there opens or closes.
    if (this.#search) return;
    const k = this.full.find(path);
    if (k >= 0) setOpen(this.full, k, !(this.full.flags[k]! & EXPANDED));
  }

  reveal(path: string): boolean {
    // As the page did: the path must be in the tree on screen (the search's, during one);
    // the directories above it open in the whole tree.
    if (this.#tree.find(path) < 0) return false;
    const k = this.full.find(path);
    for (let p = this.full.parent[k]!; p > 0; p = this.full.parent[p]!) setOpen(this.full, p, true);
    return true;
  }

  async sort(by: 'name' | 'size', signal?: AbortSignal): Promise<void> {
    const pacer = new Pacer(signal);
    await sortAll(this.full, by, pacer);
    if (this.#search) await sortAll(this.#search, by, pacer);
    this.#sortBy = by;
  }

  async search(query: string, signal?: AbortSignal): Promise<void> {
    const q = query.trim();
    const pacer = new Pacer(signal);
    if (q === '') {
      this.#search = null;
      return;
    }
    const found = await this.#match(q, pacer);
    const tree = await this.#searchTree(found, pacer);
    await sortAll(tree, this.#sortBy, pacer);
    this.#search = tree;
  }

  /** The full tree's nodes whose items match, in item order; an item that is not its node's
   * last (a duplicate path) is given with its own entry. */
  async #match(q: string, pacer: Pacer): Promise<Found> {
    const match = globMatcher(q);
    const full = this.full;
    const found: Found = { nodes: new Uint8Array(full.n), older: new Map(), dirish: new Set() };
    if (this.mode !== 'entries') {
      // Items are the nodes: one per path, matched by the path the tree shows.
      const stack: { k: number; path: string }[] = [{ k: 0, path: '' }];
      for (let top = stack.pop(); top; top = stack.pop()) {
        for (let c = full.first[top.k]!; c >= 0; c = full.next[c]!) {
          const w = pacer.step();
          if (w) await w;
          const name = full.name(c);
          const path = top.path === '' ? name : `${top.path}/${name}`;
          if (full.flags[c]! & ITEM && match(path)) found.nodes[c] = 1;
          if (full.first[c]! >= 0) stack.push({ k: c, path });
        }
      }
      return found;
    }
    // Items are the entries, matched by the path as the tar has it (behind its folder).
    const out = scratch();
    const folders = this.view.kind === 'all';
    for (const l of this.itemLayers) {
      const index = this.layers[l];
      if (!index) continue;
      const folder = layerFolder(l);
      for (let bi = 0; bi < index.batches.length; bi++) {
        const b = index.batches[bi]!;
        for (let j = 0; j < b.count; j++) {
          const w = pacer.step();
          if (w) await w;
          const raw = b.paths.slice(pathStart(b, j), b.pathEnds[j]);
          const path = !folders ? raw : raw ? `${folder}/${raw.replace(/^\/+/, '')}` : folder;
          if (!match(path)) continue;
          const n = components(b.paths, pathStart(b, j), b.pathEnds[j]!, out, MAX_DEPTH);
          if (n > MAX_DEPTH || (n === 0 && !folders)) continue;
          let k = folders ? full.child(0, folder, 0, folder.length) : 0;
          for (let c = 0; c < n && k >= 0; c++)
            k = full.child(k, b.paths, out[2 * c]!, out[2 * c + 1]!);
          if (k < 0) continue;
          const e = (bi << BATCH_BITS) | j;
          found.nodes[k] = 1;
          const last = itemRef(full, k)!;
          if (last[0] === l && last[1] === e) found.older.delete(k);
          else found.older.set(k, { layer: l, entry: e, start: n > 0 ? out[2 * n - 2]! : 0 });
          if ((b.types[j]! & 0x0f) === TYPE_DIR) found.dirish.add(k);
        }
      }
    }
    return found;
  }

  async #searchTree(found: Found, pacer: Pacer): Promise<Nodes> {
    const full = this.full;
    let count = 0;
    for (let k = 1; k < full.n; k++) count += found.nodes[k]!;
    const tree = new Nodes(this.layers, count + 64);
    const chain: number[] = [];
    for (let k = 1; k < full.n; k++) {
      if (!found.nodes[k]) continue;
      const w = pacer.step();
      if (w) await w;
      const d = ensurePath(tree, full, k, chain);
      const f = full.flags[k]!;
      const change = f & CHANGE_MASK;
      const older = found.older.get(k);
      if (older) {
        // An earlier duplicate matched and the last did not: the earlier one is the item.
        if (full.refLayer[k] === FOLDER) tree.folderItems.set(d, older.entry);
        else {
          tree.refLayer[d] = older.layer;
          tree.refEntry[d] = older.entry;
          tree.nameStart[d] = older.start;
        }
        tree.flags[d] = (tree.flags[d]! & DIR) | ITEM;
        tree.size[d] = entryAt(this.layers[older.layer]!, older.entry).size;
      } else {
        const size = change === DELETED ? full.size[k]! : entrySizeOf(full, k);
        copyItem(tree, d, full, k, change, size);
      }
      if (this.mode === 'entries') {
        // A directory when any matching item of its path is one (buildTree's children ??= []).
        tree.flags[d]! &= ~DIR;
        if (found.dirish.has(k)) tree.flags[d]! |= DIR;
      }
    }
    await tree.finish(pacer.pause);
    // Every directory open.
    for (let k = 1; k < tree.n; k++) if (tree.flags[k]! & DIR) tree.flags[k]! |= EXPANDED;
    await tree.countVisible(pacer.pause);
    return tree;
  }

  select(path: string): Selected | undefined {
    const t = this.#tree;
    const k = t.find(path);
    if (k < 0) return undefined;
    const f = t.flags[k]!;
    const out: Selected = { path };
    if (!(f & ITEM)) return out;
    const change = changeOf(f);
    if (f & SYNTH) out.entry = syntheticDir(path);
    else {
      const ref = itemRef(t, k);
      if (ref) out.entry = entryAt(this.layers[ref[0]]!, ref[1]);
    }
    if (this.view.kind === 'layer' && this.mode === 'changes') out.layer = this.view.index;
    else if (f & SYNTH || out.entry) {
      out.layer = t.refLayer[k] === FOLDER ? t.refEntry[k]! : t.refLayer[k]!;
    }
    if (change) out.change = change;
    return out;
  }

  hardlinkTarget(layer: number, linkname: string): IndexEntry | undefined {
    const index = this.layers[layer];
    if (!index) return undefined;
    const want = linkname.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    for (let bi = index.batches.length - 1; bi >= 0; bi--) {
      const b = index.batches[bi]!;
      for (let j = b.count - 1; j >= 0; j--) {
        const a = pathStart(b, j);
        if (b.pathEnds[j]! - a !== want.length || !b.paths.startsWith(want, a)) continue;
        if ((b.types[j]! & 0x0f) === 1) continue; // a hard link itself
        return entryAt(index, (bi << BATCH_BITS) | j);
      }
    }
    return undefined;
  }
}

interface Found {
  /** 1 for a node of the full tree one of whose items matched. */
  nodes: Uint8Array;
  /** Nodes whose last matching item is not their last item. */
  older: Map<number, { layer: number; entry: number; start: number }>;
  /** Nodes a matching item of type "dir" makes a directory. */
  dirish: Set<number>;
}

function changeOf(f: number): ChangeKind | undefined {
  const c = f & CHANGE_MASK;
  return c === ADDED
    ? 'added'
    : c === MODIFIED
      ? 'modified'
      : c === DELETED
        ? 'deleted'
        : undefined;
}

/** The row index of node k, or -1 when a directory above it is closed. */
export function rowIndex(t: Nodes, k: number): number {
  let index = 0;
  for (let node = k; node > 0;) {
    const p = t.parent[node]!;
    for (let c = t.first[p]!; c !== node; c = t.next[c]!) index += t.span(c);
    if (p > 0) {
      if (!(t.flags[p]! & EXPANDED)) return -1;
      index += 1;
    }
    node = p;
  }
  return index;
}

/** Opens or closes node k, carrying the change of its row count up the open directories. */
export function setOpen(t: Nodes, k: number, open: boolean): void {
  const was = (t.flags[k]! & EXPANDED) !== 0;
  if (was === open) return;
  if (open) t.flags[k]! |= EXPANDED;
  else t.flags[k]! &= ~EXPANDED;
  const delta = open ? t.visible[k]! : -t.visible[k]!;
  if (delta === 0) return;
  for (let p = t.parent[k]!; p >= 0; p = t.parent[p]!) {
    t.visible[p] = t.visible[p]! + delta;
    if (p === 0 || !(t.flags[p]! & EXPANDED)) break;
  }
}

async function sortAll(t: Nodes, by: 'name' | 'size', pacer: Pacer): Promise<void> {
  const { flags, childCount } = t;
  for (let k = 0; k < t.n; k++) {
    if (!(flags[k]! & LIVE) || childCount[k]! < 2) continue;
    const w = pacer.step(childCount[k]);
    if (w) await w;
    t.sortChildren(k, by);
  }
}

/**
 * The tree model of a view of these layers (layers[i] undefined: a layer that is not browsable,
 * taken as empty). 'merged' applies every layer; 'all' shows every layer's entries in a folder
 * of its own; 'layer' shows layer i's changes relative to the layers below it, or, with
 * `changes: false` (the layers below are not read), its entries as they are.
 */
export async function buildTreeModel(
  view: ViewSpec,
  layers: readonly (ColumnIndex | undefined)[],
  opts: TreeModelOptions = {},
): Promise<TreeModel> {
  const pacer = new Pacer(opts.signal);
  let nodes: Nodes;
  let mode: Mode;
  let itemLayers: number[] = [];
  let counted: number[];
  if (view.kind === 'merged') {
    nodes = await buildMerged(layers, pacer);
    await nodes.finish(pacer.pause);
    mode = 'merged';
    counted = layers.map((_, i) => i);
  } else if (view.kind === 'all') {
    itemLayers = layers.map((_, i) => i);
    nodes = await buildEntries(layers, itemLayers, true, pacer);
    mode = 'entries';
    counted = itemLayers;
  } else if (!(opts.changes ?? layers.slice(0, view.index).every((l) => l !== undefined))) {
    itemLayers = [view.index];
    nodes = await buildEntries(layers, itemLayers, false, pacer);
    mode = 'entries';
    counted = itemLayers;
  } else {
    nodes = await buildChanges(layers, view.index, pacer);
    mode = 'changes';
    counted = layers.slice(0, view.index + 1).map((_, i) => i);
  }
  let tooDeepCount = 0;
  for (const l of counted) tooDeepCount += await countTooDeep(layers[l], pacer);
  const sortBy = opts.sort ?? 'name';
  await sortAll(nodes, sortBy, pacer);
  const model = new ColumnTreeModel(view, layers, mode, itemLayers, nodes, tooDeepCount);
  if (sortBy !== 'name') await model.sort(sortBy);
  return model;
}

/** Type-ahead over a view's rows: the first row from `from` on (wrapping around) whose name
 * starts with `prefix` (compared in lower case; the caller lower-cases the prefix), or -1. The
 * rows are built a few thousand at a time, so a million-row view is scanned without holding it. */
export function findRowByName(
  view: { readonly count: number; rows(start: number, end: number): { name: string }[] },
  prefix: string,
  from: number,
  signal?: AbortSignal,
): number {
  const n = view.count;
  const step = 4096;
  for (let k = 0; k < n;) {
    signal?.throwIfAborted();
    const at = (from + k) % n;
    const len = Math.min(step, n - k, n - at);
    const hit = view.rows(at, at + len).findIndex((r) => r.name.toLowerCase().startsWith(prefix));
    if (hit >= 0) return at + hit;
    k += len;
  }
  return -1;
}

/**
 * Rows start … end-1 of a tree's open directories, flattened (clipped to `count`, the rows
 * shown). Each row is made by `row` from its node, name, path, depth (0 = top level) and
 * 1-based position among its siblings; the walk goes down to row `start` by the spans of the
 * nodes before it, so a window of a million-row tree costs its depth plus its length.
 */
export function visibleRows<R>(
  t: Nodes,
  count: number,
  start: number,
  end: number,
  row: (node: number, name: string, path: string, depth: number, pos: number) => R,
): R[] {
  start = Math.max(0, Math.floor(start));
  end = Math.min(count, Math.floor(end));
  if (!(start < end)) return [];
  // Down to row `start`, keeping each level's node and position.
  const stack: { node: number; pos: number; path: string }[] = [];
  let dir = 0;
  let k = start;
  let node: number;
  let pos: number;
  for (;;) {
    node = t.first[dir]!;
    pos = 1;
    for (let span = t.span(node); k >= span; span = t.span(node)) {
      k -= span;
      node = t.next[node]!;
      pos++;
    }
    if (k === 0) break;
    stack.push({ node, pos, path: t.path(node) });
    dir = node;
    k -= 1;
  }
  const out: R[] = [];
  let parentPath = stack.length > 0 ? stack[stack.length - 1]!.path : '';
  for (;;) {
    const name = t.name(node);
    const path = parentPath === '' ? name : `${parentPath}/${name}`;
    out.push(row(node, name, path, stack.length, pos));
    if (out.length >= end - start) break;
    if (t.flags[node]! & EXPANDED && t.first[node]! >= 0) {
      stack.push({ node, pos, path });
      parentPath = path;
      node = t.first[node]!;
      pos = 1;
      continue;
    }
    while (t.next[node]! < 0) {
      const up = stack.pop()!;
      node = up.node;
      pos = up.pos;
      parentPath = stack.length > 0 ? stack[stack.length - 1]!.path : '';
    }
    node = t.next[node]!;
    pos++;
  }
  return out;
}
