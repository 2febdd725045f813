// From a built tree to the rows a tree view shows, as plain functions over plain data: the part
// of the file browser that can move into a worker with tree building and search, leaving the
// page a window of rows (`TreeRows`) to ask.
import type { IndexEntry } from '../../lib/layers/entry.ts';
import type { ChangeKind } from '../../lib/layers/filesystem.ts';
import { flattenVisible, type TreeNode } from '../../lib/layers/tree.ts';

/** One row of the file tree as FileTree shows it: the tree already flattened, only the open
 * directories' children included. */
export interface TreeRow {
  /** Unique key. */
  path: string;
  /** Label, shown literally (control characters made visible). */
  name: string;
  /** 0 = top level. */
  depth: number;
  dir: boolean;
  expanded: boolean;
  /** Bytes; for directories the total below them. */
  size: number;
  type: IndexEntry['type'];
  change?: ChangeKind;
  linkname?: string;
  /** Number of siblings, for aria-setsize. */
  setSize: number;
  /** 1-based position among the siblings, for aria-posinset. */
  posInSet: number;
}

/** What a view of the tree needs: how many rows there are, and the rows of a window of them.
 * Nothing hands the whole tree around. */
export interface TreeRows {
  readonly count: number;
  at(i: number): TreeRow | undefined;
  /** Rows start..end-1 (end excluded), clipped to the tree. */
  slice(start: number, end: number): TreeRow[];
  /** The row's index, or -1. */
  indexOf(path: string): number;
}

/** The rows of a tree with these directories open, with their aria positions. */
export function flattenRows(root: TreeNode, expanded: ReadonlySet<string>): TreeRow[] {
  const position = new Map<TreeNode, [number, number]>();
  const index = (n: TreeNode) => {
    const c = n.children ?? [];
    for (let k = 0; k < c.length; k++) position.set(c[k]!, [k + 1, c.length]);
  };
  index(root);
  return flattenVisible(root, expanded).map(({ node, depth }) => {
    if (node.children && expanded.has(node.path)) index(node);
    const [posInSet, setSize] = position.get(node) ?? [1, 1];
    const entry = node.entry;
    return {
      path: node.path,
      name: node.name,
      depth,
      dir: node.children !== undefined,
      expanded: expanded.has(node.path),
      size: node.size,
      type: entry?.type ?? 'dir',
      ...(node.change ? { change: node.change } : {}),
      ...(entry?.linkname !== undefined ? { linkname: entry.linkname } : {}),
      setSize,
      posInSet,
    };
  });
}

/** Rows as a window. `rows` is read at each call, so a $derived behind it stays reactive. */
export function windowOf(rows: () => TreeRow[]): TreeRows {
  return {
    get count() {
      return rows().length;
    },
    at: (i) => rows()[i],
    slice: (start, end) => rows().slice(start, end),
    indexOf: (path) => rows().findIndex((r) => r.path === path),
  };
}

/** The node at a path of a tree. */
export function findNode(root: TreeNode, path: string): TreeNode | undefined {
  let node: TreeNode | undefined = root;
  for (const part of path.split('/')) {
    node = node?.children?.find((c) => c.name === part);
    if (!node) return undefined;
  }
  return node;
}

/** Every directory of a tree: a search shows its matches with all of them open. */
export function allDirs(root: TreeNode): Set<string> {
  const out = new Set<string>();
  const stack = [root];
  for (let n = stack.pop(); n; n = stack.pop()) {
    for (const c of n.children ?? []) {
      if (c.children) {
        out.add(c.path);
        stack.push(c);
      }
    }
  }
  return out;
}
