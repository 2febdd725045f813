// Layers as a container sees them: whiteouts applied, one merged filesystem, what each layer
// changed, a tree to browse, the space wasted across layers (as dive computes it), and search.
// Pure logic over entry indexes: no bytes are read here, and nothing here touches the DOM.
//
// Whiteouts follow the OCI image-spec layer document (layer.md, "Whiteouts"):
//  - `.wh.<name>` deletes <name> and everything below it from the lower layers;
//  - `.wh..wh..opq` deletes every lower-layer child of its directory, not the directory;
//  - both apply only to lower layers and are applied before the layer's own entries, wherever
//    they are in the tar, so a layer may delete a path and recreate it;
//  - the markers themselves never appear in the merged filesystem.
// Paths are opaque data: a leading "/", repeated "/" and "." segments are normalised away so
// "/etc/x" and "etc/x" are one file, but ".." is a name like any other and is never resolved,
// and control characters are kept. Symlinks are never followed.

import type { EntryType, IndexEntry } from './entry.ts';

export type { EntryType, IndexEntry };

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

/** What buildTree takes: MergedEntry and LayerChange both fit. */
export interface TreeItem {
  path: string;
  entry?: IndexEntry;
  layer?: number;
  change?: ChangeKind;
  /** Used for leaves without an entry (deletions); an entry's own size wins otherwise. */
  size?: number;
  implicit?: boolean;
}

export interface TreeNode {
  /** The last path segment; "" for the root. */
  name: string;
  path: string;
  entry?: IndexEntry;
  layer?: number;
  change?: ChangeKind;
  /** For a directory, the sum of its non-deleted descendants' sizes (dive leaves removed files
   * out of a directory's size too); for a deleted directory, the bytes it removed. */
  size: number;
  /** Present (maybe empty) exactly on directories. */
  children?: TreeNode[];
  /** A directory there only because paths below it are: no item described it, or its item
   * was implicit itself. */
  implicit?: boolean;
}

export interface WastedFile {
  path: string;
  /** Layers that hold the path: copies, and deletions (a whiteout counts as an occurrence). */
  count: number;
  /** Bytes that could be reclaimed: every occurrence but the smallest. */
  wasted: number;
  /** Bytes of every occurrence: dive's "Total Space" column. */
  total: number;
}

export interface WastedSpace {
  /** Paths found more than once, most wasted first; paths whose copies hold no bytes are left
   * out (they change neither number below). */
  files: WastedFile[];
  /** Sum of `wasted`: with `kept` the smallest occurrences, efficiency = kept / (kept +
   * wastedBytes). */
  wastedBytes: number;
  /** dive's efficiency score, 0..1 (1 for an image without bytes). */
  efficiency: number;
  /** Sum of the size of every entry of every layer: the uncompressed content they carry. */
  totalBytes: number;
}

const WH = '.wh.';
const META = '.wh..wh.';
const OPAQUE = '.wh..wh..opq';
const NEEDS_NORMALISING = /^\/|\/\/|\/$|(?:^|\/)\.(?:\/|$)/;

function normalisePath(path: string): string {
  if (!NEEDS_NORMALISING.test(path)) return path;
  return path
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));

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

interface ParsedLayer {
  /** Every ordinary entry in tar order, duplicates included: applying them in order gives tar's
   * "a later duplicate wins". */
  puts: { path: string; entry: IndexEntry }[];
  whiteouts: string[];
  opaques: string[];
}

function parseLayer(entries: IndexEntry[]): ParsedLayer {
  const parsed: ParsedLayer = { puts: [], whiteouts: [], opaques: [] };
  for (const entry of entries) {
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

interface Node {
  entry: IndexEntry;
  layer: number;
  /** The layer that created this node object. A node born in an earlier layer existed in the
   * filesystem below the layer being applied; only directories outlive a re-declaration. */
  born: number;
  implicit: boolean;
  children?: Map<string, Node>;
}

/** Bookkeeping for a path a layer touched, to report its change once the layer is applied. */
interface Touch {
  node: Node;
  /** For a lower directory re-declared by this layer: its entry before. */
  lower?: IndexEntry;
  /** A lower node at this path was deleted or replaced before this node took its place. */
  replaced?: boolean;
}

function nodeBytes(node: Node, below: number): number {
  let bytes = 0;
  const stack = [node];
  for (let n = stack.pop(); n; n = stack.pop()) {
    if (n.born >= below) continue;
    // One directory may hold more children than a spread's argument list can.
    if (n.children) for (const c of n.children.values()) stack.push(c);
    else bytes += n.entry.size;
  }
  return bytes;
}

/** The merged filesystem, applied one layer at a time. */
class Overlay {
  readonly root: Node = {
    entry: syntheticDir(''),
    layer: -1,
    born: -1,
    implicit: true,
    children: new Map(),
  };

  find(path: string): Node | undefined {
    if (path === '') return this.root;
    let node: Node | undefined = this.root;
    for (const name of path.split('/')) {
      node = node.children?.get(name);
      if (!node) return undefined;
    }
    return node;
  }

  /** Applies one layer; with `track`, returns what it changed (else an empty list). */
  apply(layer: number, parsed: ParsedLayer, track: boolean): LayerChange[] {
    const removed: { path: string; node: Node }[] = [];
    const touched = new Map<string, Touch>();
    const detach = (parent: Node, name: string, path: string) => {
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
      const node: Node = { entry, layer, born: layer, implicit: false };
      if (entry.type === 'dir') node.children = new Map();
      dir.children!.set(name, node);
      if (track) touched.set(path, { node });
    }

    return track ? this.#changes(layer, removed, touched) : [];
  }

  #changes(
    layer: number,
    removed: { path: string; node: Node }[],
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

const entrySize = (node: Node) => (node.children ? 0 : node.entry.size);

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
  const queue: [string, Node][] = [['', overlay.root]];
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

/**
 * A tree of the given items, with every missing parent directory made up (marked implicit).
 * Items are normalised like layer paths; for a path given twice the later item wins.
 * Children are in insertion order until sortTree is called.
 */
export function buildTree(items: readonly TreeItem[]): TreeNode {
  const root: TreeNode = { name: '', path: '', size: 0, children: [] };
  const byPath = new Map<string, TreeNode>([['', root]]);
  // Parents are always created before their children, so this order walked backwards sums
  // sizes bottom-up without recursion (a hostile path may be thousands of segments deep).
  const nodes: TreeNode[] = [];
  const parents: TreeNode[] = [];

  // Every node gets every field, so V8 keeps one object shape for all of them.
  const create = (path: string, parent: TreeNode, dir: boolean): TreeNode => {
    const node: TreeNode = {
      name: path.slice(path.lastIndexOf('/') + 1),
      path,
      entry: undefined,
      layer: undefined,
      change: undefined,
      size: 0,
      children: dir ? [] : undefined,
      implicit: true,
    };
    (parent.children ??= []).push(node);
    byPath.set(path, node);
    nodes.push(node);
    parents.push(parent);
    return node;
  };
  const ensure = (path: string): TreeNode => {
    const node = byPath.get(path);
    if (node) return node;
    const missing = [];
    let p = parentOf(path);
    for (; !byPath.has(p); p = parentOf(p)) missing.push(p);
    let parent = byPath.get(p)!;
    for (let k = missing.length - 1; k >= 0; k--) parent = create(missing[k]!, parent, true);
    return create(path, parent, false);
  };

  for (const item of items) {
    const path = normalisePath(item.path);
    if (path === '') continue;
    const node = ensure(path);
    const deleted = item.change === 'deleted';
    node.entry = item.entry;
    node.layer = item.layer;
    node.change = item.change;
    node.implicit = item.implicit ? true : undefined;
    node.size = item.entry && !deleted ? item.entry.size : (item.size ?? 0);
    if (!deleted && (item.entry ? item.entry.type === 'dir' : true)) node.children ??= [];
  }

  for (const node of nodes) if (node.children) node.size = 0;
  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k]!;
    if (node.change !== 'deleted') parents[k]!.size += node.size;
  }
  return root;
}

const byName = (a: TreeNode, b: TreeNode) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const bySize = (a: TreeNode, b: TreeNode) => b.size - a.size || byName(a, b);

/**
 * Sorts every directory below `node` in place. "name" is dive's (and ls's) order: by name in
 * UTF-16 code-unit order, directories interleaved with files, the same in every locale. "size"
 * is largest first, ties by name.
 */
export function sortTree(node: TreeNode, by: 'name' | 'size'): void {
  const compare = by === 'size' ? bySize : byName;
  const stack = [node];
  for (let n = stack.pop(); n; n = stack.pop()) {
    if (!n.children) continue;
    n.children.sort(compare);
    for (const c of n.children) if (c.children?.length) stack.push(c);
  }
}

/**
 * The rows a tree view shows: the root's children, and the children of every directory whose
 * path is in `expanded` (and whose ancestors are shown), depth-first. Depth 0 is the top level.
 */
export function flattenVisible(
  root: TreeNode,
  expanded: ReadonlySet<string>,
): { node: TreeNode; depth: number }[] {
  const rows: { node: TreeNode; depth: number }[] = [];
  const stack: { node: TreeNode; depth: number }[] = [];
  const pushChildren = (node: TreeNode, depth: number) => {
    const children = node.children ?? [];
    for (let k = children.length - 1; k >= 0; k--) stack.push({ node: children[k]!, depth });
  };
  pushChildren(root, 0);
  for (let row = stack.pop(); row; row = stack.pop()) {
    rows.push(row);
    if (row.node.children && expanded.has(row.node.path)) pushChildren(row.node, row.depth + 1);
  }
  return rows;
}

/**
 * Space wasted across layers, computed like dive's filetree.Efficiency
 * (wagoodman/dive, dive/filetree/efficiency.go):
 * - every layer's leaves (entries with nothing below them in that layer: files, links, empty
 *   directories) are occurrences of their path, with their size;
 * - a whiteout is an occurrence of its target: with the size of the whole subtree it deletes
 *   when the target was a directory below, and 0 bytes when it was a file, so a file deleted
 *   later counts as wasted entirely;
 * - efficiency = Σ over paths of the smallest occurrence / Σ over paths of all occurrences
 *   (score = minimumPathSizes / discoveredPathSizes; 1 when nothing has bytes).
 * Deliberate differences from dive:
 * - an opaque whiteout is counted as the explicit whiteouts it is equivalent to (dive ignores
 *   `.wh..wh.` names, so it misses those deletions);
 * - a whiteout of a path absent below counts nothing (dive stops analysing the layer there,
 *   wagoodman/dive#715);
 * - `wasted` is every occurrence but the smallest, the bytes the score counts as lost. dive's
 *   "Potential wasted space" sums all occurrences (`total` here), which reports the kept copy
 *   as wasted too (wagoodman/dive#684).
 */
export function wastedSpace(layers: IndexEntry[][]): WastedSpace {
  const stats = new Map<string, { count: number; total: number; min: number }>();
  const occur = (path: string, size: number) => {
    const s = stats.get(path);
    if (!s) stats.set(path, { count: 1, total: size, min: size });
    else {
      s.count++;
      s.total += size;
      if (size < s.min) s.min = size;
    }
  };
  const overlay = new Overlay();
  let totalBytes = 0;

  layers.forEach((entries, i) => {
    for (const e of entries) totalBytes += e.size;
    const parsed = parseLayer(entries);

    // Against the layers below, before this one is applied. One occurrence per path.
    const deletions = new Map<string, number>();
    const sizeOf = (node: Node) => (node.children ? nodeBytes(node, i) : 0);
    for (const target of parsed.whiteouts) {
      const node = target === '' ? undefined : overlay.find(target);
      if (node) deletions.set(target, sizeOf(node));
    }
    for (const dir of parsed.opaques) {
      for (const [name, child] of overlay.find(dir)?.children ?? []) {
        const path = join(dir, name);
        if (!deletions.has(path)) deletions.set(path, sizeOf(child));
      }
    }

    const last = new Map<string, number>();
    for (const { path, entry } of parsed.puts) last.set(path, entry.size);
    const hasChildren = new Set<string>();
    const addAncestors = (path: string) => {
      for (let p = parentOf(path); p !== '' && !hasChildren.has(p); p = parentOf(p)) {
        hasChildren.add(p);
      }
    };
    for (const path of last.keys()) addAncestors(path);
    // A whiteout marker is a child of its directory in dive's layer tree.
    for (const target of parsed.whiteouts) addAncestors(target);

    for (const [path, size] of last) if (!hasChildren.has(path)) occur(path, size);
    for (const [path, size] of deletions) occur(path, size);
    overlay.apply(i, parsed, false);
  });

  let kept = 0;
  let seen = 0;
  const files: WastedFile[] = [];
  for (const [path, s] of stats) {
    kept += s.min;
    seen += s.total;
    if (s.count > 1 && s.total > 0) {
      files.push({ path, count: s.count, wasted: s.total - s.min, total: s.total });
    }
  }
  files.sort((a, b) => b.wasted - a.wasted || b.total - a.total || (a.path < b.path ? -1 : 1));
  return {
    files,
    wastedBytes: seen - kept,
    efficiency: seen === 0 ? 1 : kept / seen,
    totalBytes,
  };
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/;
const escapeRegex = (c: string) => (REGEX_SPECIAL.test(c) ? `\\${c}` : c);
const escapeClass = (c: string) => ('\\]^['.includes(c) ? `\\${c}` : c);

/** Compiles a glob body (no leading or trailing "/") to a regex source; wild = has wildcards. */
function compileGlob(glob: string, classes: boolean): { source: string; wild: boolean } {
  let source = '';
  let wild = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      source += escapeRegex(glob[i + 1] ?? '\\');
      i++;
    } else if (c === '*') {
      let j = i;
      while (glob[j + 1] === '*') j++;
      const segmentStart = i === 0 || glob[i - 1] === '/';
      wild = true;
      if (j > i && segmentStart && glob[j + 1] === '/') {
        source += '(?:[^/]*/)*'; // "**/": any number of directories, none included
        j++;
      } else if (j > i && segmentStart && j + 1 === glob.length) {
        source += '[\\s\\S]*'; // trailing "**": everything below
      } else {
        source += '[^/]*'; // "*", and "**" inside a name (as .gitignore reads it)
      }
      i = j;
    } else if (c === '?') {
      source += '[^/]';
      wild = true;
    } else if (c === '[' && classes) {
      let j = i + 1;
      const negate = glob[j] === '!' || glob[j] === '^';
      if (negate) j++;
      let body = '';
      // A "]" first in the class is a member, as in fnmatch.
      if (glob[j] === ']') {
        body += '\\]';
        j++;
      }
      for (; j < glob.length && glob[j] !== ']'; j++) {
        if (glob[j] === '\\' && j + 1 < glob.length) body += escapeClass(glob[++j]!);
        else body += escapeClass(glob[j]!);
      }
      if (j >= glob.length) {
        source += '\\['; // unbalanced: a literal "["
        continue;
      }
      // Like fnmatch with FNM_PATHNAME, a class never matches "/".
      source += negate ? `[^/${body}]` : `(?!/)[${body}]`;
      wild = true;
      i = j;
    } else {
      source += escapeRegex(c);
    }
  }
  return { source, wild };
}

/**
 * A path matcher for the search box. Without wildcards (after "\" escapes and unbalanced "["),
 * the pattern is a case-insensitive substring, and a leading "/" makes it a prefix from the
 * root. Otherwise it is a case-sensitive glob over the whole normalised path: `*` and `?` stay
 * within a segment, `**` spans directories, `[abc]` `[a-z]` `[!a]` are classes. As in
 * .gitignore, a pattern with a "/" at its start or middle is anchored at the root ("usr/**\/bin"
 * matches "usr/local/bin", not "opt/usr/bin"); one without matches the basename at any depth
 * ("*.so"). Never throws: a class the regex engine rejects (e.g. "[z-a]") is taken literally.
 */
export function globMatcher(pattern: string): (path: string) => boolean {
  const anchored = pattern.startsWith('/');
  const glob = pattern.replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
  let compiled = compileGlob(glob, true);
  let regex: RegExp | undefined;
  if (compiled.wild) {
    const prefix = anchored || glob.includes('/') ? '^' : '(?:^|/)';
    try {
      regex = new RegExp(`${prefix}${compiled.source}$`);
    } catch {
      compiled = compileGlob(glob, false);
      if (compiled.wild) regex = new RegExp(`${prefix}${compiled.source}$`);
    }
  }
  const strip = (path: string) => (path.startsWith('/') ? path.replace(/^\/+/, '') : path);
  if (regex) {
    const re = regex;
    return (path) => re.test(strip(path));
  }
  const needle = pattern.replace(/\\([\s\S])/g, '$1').toLowerCase();
  if (anchored) {
    const prefix = needle.replace(/^\/+/, '');
    return (path) => strip(path).toLowerCase().startsWith(prefix);
  }
  return (path) => path.toLowerCase().includes(needle);
}

const TYPE_CHAR: Record<EntryType, string> = {
  file: '-',
  // A hardlink is another name for a regular file, and ls shows it as one.
  hardlink: '-',
  dir: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
  other: '?',
};

/** ls -l style mode string: type, then rwx for owner, group and others with setuid/setgid
 * (s/S) and sticky (t/T). File-type bits in `mode`, if any, are ignored. */
export function formatMode(type: EntryType, mode: number): string {
  const bit = (mask: number, c: string) => (mode & mask ? c : '-');
  const exec = (x: number, special: number, set: string, unset: string) =>
    mode & special ? (mode & x ? set : unset) : bit(x, 'x');
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}
