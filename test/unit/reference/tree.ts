// A tree to browse, built from merged entries or layer changes: sizes summed bottom-up, sorted
// like dive, flattened to the rows a view shows. Pure: nothing here touches the DOM.

import type { IndexEntry } from '../../../src/lib/layers/entry.ts';
import type { ChangeKind } from '../../../src/lib/layers/filesystem.ts';
import { depthOf, MAX_DEPTH, normalisePath, parentOf } from '../../../src/lib/layers/paths.ts';

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
   * out of a directory's size too); for a deleted directory, the bytes it removed. A sum above
   * Number.MAX_SAFE_INTEGER is the nearest double, and `exactSize` holds it exactly. */
  size: number;
  /** A directory's exact total, present only when it is above Number.MAX_SAFE_INTEGER. */
  exactSize?: bigint;
  /** Present (maybe empty) exactly on directories. */
  children?: TreeNode[];
  /** A directory there only because paths below it are: no item described it, or its item
   * was implicit itself. */
  implicit?: boolean;
}

/** A size as the sums count it: an entry size is a non-negative safe integer (tar.ts refuses
 * bigger), but anything else that arrives (NaN, negative, fractional, infinite) counts as 0
 * rather than poisoning every total above it. */
const countable = (size: number) => (Number.isSafeInteger(size) && size > 0 ? size : 0);

/** The exact total of a node: its bigint when it has one. */
export const exactSize = (node: TreeNode): bigint => node.exactSize ?? BigInt(node.size);

/**
 * A tree of the given items, with every missing parent directory made up (marked implicit).
 * Items are normalised like layer paths; for a path given twice the later item wins. Items
 * deeper than `maxDepth` components (MAX_DEPTH unless given) are left out.
 * Children are in insertion order until sortTree is called.
 * Directory sizes are exact: sums stay numbers while they are safe integers and go on in
 * bigint past Number.MAX_SAFE_INTEGER (see TreeNode.exactSize).
 */
export function buildTree(
  items: readonly TreeItem[],
  { maxDepth = MAX_DEPTH }: { maxDepth?: number } = {},
): TreeNode {
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
      exactSize: undefined,
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
    if (path === '' || depthOf(path, maxDepth) > maxDepth) continue;
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
    if (node.change === 'deleted') continue;
    const parent = parents[k]!;
    const own = node.children ? node.size : countable(node.size);
    const sum = parent.size + own;
    if (parent.exactSize === undefined && node.exactSize === undefined && sum <= MAX_SAFE) {
      parent.size = sum;
    } else {
      const exact = exactSize(parent) + (node.exactSize ?? BigInt(own));
      parent.exactSize = exact;
      parent.size = Number(exact);
    }
  }
  return root;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

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
