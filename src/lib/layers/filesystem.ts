// Layers as a container sees them: whiteouts applied, one merged filesystem, and what each layer
// changed. Pure logic over entry indexes: no bytes are read here, and nothing here touches the DOM.
//
// Whiteouts follow the OCI image-spec layer document (layer.md, "Whiteouts"):
//  - `.wh.<name>` deletes <name> and everything below it from the lower layers;
//  - `.wh..wh..opq` deletes every lower-layer child of its directory, not the directory;
//  - both apply only to lower layers and are applied before the layer's own entries, wherever
//    they are in the tar, so a layer may delete a path and recreate it;
//  - the markers themselves never appear in the merged filesystem;
//  - the name decides, not the entry's type: a directory or character device named
//    `.wh..wh..opq` is an opaque marker too, as containerd's Apply reads it (it looks only at
//    the base name). containerd refuses a layer holding `.wh..` or `.wh...` ("invalid whiteout
//    name"); here `.wh.` and `.wh..` are hidden and delete nothing, and `.wh...` deletes the
//    entry named "..", which paths.ts keeps as a name.
// Paths are normalised as paths.ts says. Every table keyed by a path or a name is a Map, so a
// name like "__proto__" or "constructor" is a key like any other and never reaches a prototype.

import type { IndexEntry } from './entry.ts';
import { depthOf, join, MAX_DEPTH, normalisePath, parentOf } from './paths.ts';

export type ChangeKind = 'added' | 'modified' | 'deleted';

/** What a whiteout marker file means. */
export type WhiteoutMarker =
  /** `.wh.<name>`: delete `target` (normalised) and its subtree from the lower layers. */
  | { kind: 'whiteout'; target: string }
  /** `.wh..wh..opq`: delete every lower-layer child of `dir` ("" for the root). */
  | { kind: 'opaque'; dir: string }
  /** Other AUFS metadata (`.wh..wh.plnk/…`, `.wh..wh.aufs`, a bare `.wh.`): not part of the
   * image's filesystem, hidden, deletes nothing. */
  | { kind: 'hidden' };

/** One change a layer makes to the filesystem of the layers below it. */
export interface LayerChange {
  path: string;
  change: ChangeKind;
  /** The entry now at `path`; absent for deletions. */
  entry?: IndexEntry;
  layer: number;
  /** The entry's size; for a deletion, the bytes of every non-directory entry removed. */
  size: number;
  /** A directory this layer created only because entries below it needed it; `entry` is then
   * synthetic (see MergedEntry). */
  implicit?: boolean;
}

/** One path of the merged filesystem. */
export interface MergedEntry {
  path: string;
  entry: IndexEntry;
  /** Index of the layer whose entry this is. */
  layer: number;
  /** No layer has an entry for this directory; it exists because paths below it do. `entry` is
   * then synthetic: a root-owned 0755 directory with mtime 0 and offset -1 (no data anywhere). */
  implicit?: boolean;
}

const WH = '.wh.';
const META = '.wh..wh.';
const OPAQUE = '.wh..wh..opq';

function syntheticDir(path: string): IndexEntry {
  return { path, type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0, offset: -1 };
}

/**
 * Says whether a tar path is a whiteout marker and what it deletes. The basename decides; a
 * path with a `.wh..wh.` segment above it is inside AUFS metadata and hidden. Returns undefined
 * for an ordinary entry.
 */
export function whiteoutTarget(path: string): WhiteoutMarker | undefined {
  if (!path.includes(WH)) return undefined;
  const p = normalisePath(path);
  const dir = parentOf(p);
  const base = p.slice(p.lastIndexOf('/') + 1);
  if (dir.split('/').some((s) => s.startsWith(META))) return { kind: 'hidden' };
  if (base === OPAQUE) return { kind: 'opaque', dir };
  if (base.startsWith(META)) return { kind: 'hidden' };
  if (!base.startsWith(WH)) return undefined;
  const name = base.slice(WH.length);
  // ".wh." and ".wh.." would name the directory itself, which a whiteout cannot.
  if (name === '' || name === '.') return { kind: 'hidden' };
  return { kind: 'whiteout', target: join(dir, name) };
}

/** A layer's deletions, which apply first, and its entries. wastedSpace reads it too. */
export interface ParsedLayer {
  /** Every ordinary entry in tar order, duplicates included: applying them in order gives tar's
   * "a later duplicate wins". */
  puts: { path: string; entry: IndexEntry }[];
  whiteouts: string[];
  opaques: string[];
}

/** A layer's entries sorted into deletions and puts. An entry deeper than MAX_DEPTH is left
 * out, marker or not: nothing that deep exists below for a marker there to delete. */
export function parseLayer(entries: IndexEntry[]): ParsedLayer {
  const parsed: ParsedLayer = { puts: [], whiteouts: [], opaques: [] };
  for (const entry of entries) {
    if (tooDeep(entry.path)) continue;
    const marker = whiteoutTarget(entry.path);
    if (marker?.kind === 'whiteout') parsed.whiteouts.push(marker.target);
    else if (marker?.kind === 'opaque') parsed.opaques.push(marker.dir);
    else if (!marker) {
      const path = normalisePath(entry.path);
      // The root's own entry ("./") has nothing to show and cannot be replaced.
      if (path !== '') parsed.puts.push({ path, entry });
    }
  }
  return parsed;
}

/** Whether a tar path is deeper than the merged filesystem holds (MAX_DEPTH components). */
export const tooDeep = (path: string) =>
  // Normalising only removes components: a path with few "/" needs no normalising to tell.
  depthOf(path, MAX_DEPTH) > MAX_DEPTH && depthOf(normalisePath(path), MAX_DEPTH) > MAX_DEPTH;

/** One path of the Overlay. */
export interface OverlayNode {
  entry: IndexEntry;
  layer: number;
  /** The layer that created this node object. A node born in an earlier layer existed in the
   * filesystem below the layer being applied; only directories outlive a re-declaration. */
  born: number;
  implicit: boolean;
  children?: Map<string, OverlayNode>;
}

/** Bookkeeping for a path a layer touched, to report its change once the layer is applied. */
interface Touch {
  node: OverlayNode;
  /** For a lower directory re-declared by this layer: its entry before. */
  lower?: IndexEntry;
  /** A lower node at this path was deleted or replaced before this node took its place. */
  replaced?: boolean;
}

/** The bytes of the files below `node` that layers before `below` put there: the nearest
 * double to the exact sum (counted in bigint once it passes Number.MAX_SAFE_INTEGER). */
export function nodeBytes(node: OverlayNode, below: number): number {
  let bytes = 0;
  let exact: bigint | undefined;
  const stack = [node];
  for (let n = stack.pop(); n; n = stack.pop()) {
    if (n.born >= below) continue;
    // One directory may hold more children than a spread's argument list can.
    if (n.children) for (const c of n.children.values()) stack.push(c);
    else {
      const size = Number.isSafeInteger(n.entry.size) && n.entry.size > 0 ? n.entry.size : 0;
      if (exact === undefined && bytes + size <= Number.MAX_SAFE_INTEGER) bytes += size;
      else exact = (exact ?? BigInt(bytes)) + BigInt(size);
    }
  }
  return exact === undefined ? bytes : Number(exact);
}

/** The merged filesystem, applied one layer at a time. */
export class Overlay {
  readonly root: OverlayNode = {
    entry: syntheticDir(''),
    layer: -1,
    born: -1,
    implicit: true,
    children: new Map(),
  };

  find(path: string): OverlayNode | undefined {
    if (path === '') return this.root;
    let node: OverlayNode | undefined = this.root;
    for (const name of path.split('/')) {
      node = node.children?.get(name);
      if (!node) return undefined;
    }
    return node;
  }

  /** Applies one layer; with `track`, returns what it changed (else an empty list). */
  apply(layer: number, parsed: ParsedLayer, track: boolean): LayerChange[] {
    const removed: { path: string; node: OverlayNode }[] = [];
    const touched = new Map<string, Touch>();
    const detach = (parent: OverlayNode, name: string, path: string) => {
      const node = parent.children!.get(name)!;
      parent.children!.delete(name);
      // Nodes born in this layer hold only this layer's entries: nothing below is lost.
      if (node.born < layer) removed.push({ path, node });
    };

    for (const dir of parsed.opaques) {
      const node = this.find(dir);
      if (!node?.children) continue;
      for (const [name, child] of node.children) {
        removed.push({ path: join(dir, name), node: child });
      }
      node.children = new Map();
    }
    for (const target of parsed.whiteouts) {
      const parent = this.find(parentOf(target));
      const name = target.slice(target.lastIndexOf('/') + 1);
      if (parent?.children?.has(name)) detach(parent, name, target);
    }

    for (const { path, entry } of parsed.puts) {
      const names = path.split('/');
      let dir = this.root;
      for (let k = 0; k < names.length - 1; k++) {
        const name = names[k]!;
        let child = dir.children!.get(name);
        if (!child?.children) {
          // A path below a file, symlink or nothing makes that path a directory.
          const prefix = names.slice(0, k + 1).join('/');
          if (child) detach(dir, name, prefix);
          child = {
            entry: syntheticDir(prefix),
            layer,
            born: layer,
            implicit: true,
            children: new Map(),
          };
          dir.children!.set(name, child);
          if (track) touched.set(prefix, { node: child });
        }
        dir = child;
      }
      const name = names[names.length - 1]!;
      const existing = dir.children!.get(name);
      if (existing?.children && entry.type === 'dir') {
        // Directory over directory: the spec replaces its attributes and keeps its children.
        if (track && touched.get(path)?.node !== existing) {
          touched.set(path, { node: existing, lower: existing.entry });
        }
        existing.entry = entry;
        existing.layer = layer;
        existing.implicit = false;
        continue;
      }
      if (existing) detach(dir, name, path);
      const node: OverlayNode = { entry, layer, born: layer, implicit: false };
      if (entry.type === 'dir') node.children = new Map();
      dir.children!.set(name, node);
      if (track) touched.set(path, { node });
    }

    return track ? this.#changes(layer, removed, touched) : [];
  }

  #changes(
    layer: number,
    removed: { path: string; node: OverlayNode }[],
    touched: Map<string, Touch>,
  ): LayerChange[] {
    // A removed lower subtree is reported at its top-most path that is now gone; where the
    // layer recreated a path, that path is "modified" and its old children are looked at.
    const deleted = new Map<string, LayerChange>();
    const stack = removed.slice();
    for (let r = stack.pop(); r; r = stack.pop()) {
      if (!this.find(r.path)) {
        const size = nodeBytes(r.node, layer);
        deleted.set(r.path, { path: r.path, change: 'deleted', layer, size });
        continue;
      }
      const touch = touched.get(r.path);
      if (touch) touch.replaced = true;
      for (const [name, child] of r.node.children ?? []) {
        if (child.born < layer) stack.push({ path: join(r.path, name), node: child });
      }
    }
    // An opaque directory whose child is also whited out, or nested removals, can report a
    // path inside another deleted one: fold it into the top-most.
    for (const [path, d] of deleted) {
      let top: LayerChange | undefined;
      for (let p = parentOf(path); p !== ''; p = parentOf(p)) top = deleted.get(p) ?? top;
      if (top) {
        top.size += d.size;
        deleted.delete(path);
      }
    }

    const changes = [...deleted.values()];
    for (const [path, { node, lower, replaced }] of touched) {
      // Replaced or deleted again later in the same layer.
      if (this.find(path) !== node) continue;
      let change: ChangeKind;
      if (node.born === layer) change = replaced ? 'modified' : 'added';
      else if (lower && sameDirAttributes(lower, node.entry)) continue;
      else change = 'modified';
      const c: LayerChange = { path, change, entry: node.entry, layer, size: entrySize(node) };
      if (node.implicit) c.implicit = true;
      changes.push(c);
    }
    return changes;
  }
}

// Tar writers put the parent directories of changed files into a layer again, with a new mtime
// because a child changed. Only an owner or permission change makes such a directory modified.
function sameDirAttributes(a: IndexEntry, b: IndexEntry): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

const entrySize = (node: OverlayNode) => (node.children ? 0 : node.entry.size);

/**
 * What each layer changes relative to the layers below it, one list per layer, in no particular
 * order (buildTree and sortTree order them for display).
 * - A path a layer declares that did not exist below is "added", as is a directory the layer
 *   needs only as a parent of its entries ("implicit").
 * - A path that existed below is "modified" when the layer replaces it (any non-directory
 *   entry, a type change, or a path deleted and recreated by the same layer) or re-declares a
 *   directory with a different mode, uid or gid. A directory re-declared with the same owner
 *   and permissions (only its mtime changes when a child does) is not reported, and neither is
 *   a lower directory the layer merely adds children to.
 * - A deletion is reported once, at the top-most path removed, with the bytes it removed: a
 *   whited-out directory is one change; an opaque directory reports each lower child it hid
 *   (what the equivalent explicit whiteouts would report). A whiteout of a path that does not
 *   exist below reports nothing.
 */
export function layerChanges(layers: IndexEntry[][]): LayerChange[][] {
  const overlay = new Overlay();
  return layers.map((entries, i) => overlay.apply(i, parseLayer(entries), true));
}

/**
 * The filesystem a container of these layers sees (layers[0] is the base), parents before
 * children; the root itself is not included.
 */
export function mergeLayers(layers: IndexEntry[][]): MergedEntry[] {
  const overlay = new Overlay();
  layers.forEach((entries, i) => overlay.apply(i, parseLayer(entries), false));
  const out: MergedEntry[] = [];
  const queue: [string, OverlayNode][] = [['', overlay.root]];
  for (let q = 0; q < queue.length; q++) {
    const [path, node] = queue[q]!;
    for (const [name, child] of node.children ?? []) {
      const childPath = join(path, name);
      const m: MergedEntry = { path: childPath, entry: child.entry, layer: child.layer };
      if (child.implicit) m.implicit = true;
      out.push(m);
      if (child.children) queue.push([childPath, child]);
    }
  }
  return out;
}
