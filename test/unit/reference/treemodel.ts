// A simple TreeModel over the functions the page used to run itself (mergeLayers, layerChanges,
// buildTree, sortTree, searchPaths): objects per entry, the whole row list flattened at once.
// It is the reference the compact model is checked against, and what the worker runs until that
// model is swapped in (same names, same signatures). Fine for small and medium layers; a
// million-entry layer costs it about what it cost the page.
import { entryOf, locate, toEntries, type ColumnIndex } from '../../../src/lib/layers/columns.ts';
import type { IndexEntry } from '../../../src/lib/layers/entry.ts';
import { layerChanges, mergeLayers } from '../../../src/lib/layers/filesystem.ts';
import type { Selected, TreeModel, TreeRow, ViewSpec } from '../../../src/lib/layers/model.ts';
import { depthOf, MAX_DEPTH, normalisePath } from '../../../src/lib/layers/paths.ts';
import { searchPaths } from './search.ts';
import { buildTree, flattenVisible, sortTree, type TreeItem, type TreeNode } from './tree.ts';
import { wastedSpace, type WastedSpace } from '../../../src/lib/layers/wasted.ts';

/** The folder a layer's entries sit in, in the "all layers" view. */
export const layerFolder = (i: number) => `Layer ${i + 1}`;

export interface BuildOptions {
  signal?: AbortSignal;
  /** For a layer view: mark what the layer adds, changes and deletes relative to the layers
   * below it. Default: whenever every layer below is given. Without it the layer's entries are
   * shown as they are (a layer still streaming in, or lower layers not downloaded). */
  changes?: boolean;
}

/**
 * The tree model of a view of these layers. `layers[i]` is layer i's index, or undefined when
 * it is not available (not read, or not a tar): the merged and all-layers views count it as
 * empty, and a layer view without every layer below shows its own entries without changes.
 */
export async function buildTreeModel(
  view: ViewSpec,
  layers: readonly (ColumnIndex | undefined)[],
  { signal, changes }: BuildOptions = {},
): Promise<TreeModel> {
  signal?.throwIfAborted();
  const entries = layers.map((l) => (l ? toEntries(l) : undefined));
  const all = () => entries.map((e) => e ?? []);
  let items: TreeItem[] = [];
  if (view.kind === 'merged') items = mergeLayers(all());
  else if (view.kind === 'all') {
    items = entries.flatMap((files, i) => {
      const folder = layerFolder(i);
      return (files ?? []).map((entry) => ({
        path: entry.path ? `${folder}/${entry.path.replace(/^\/+/, '')}` : folder,
        entry,
        layer: i,
      }));
    });
  } else {
    const own = entries[view.index];
    const lower = entries.slice(0, view.index);
    if (own) {
      items =
        (changes ?? lower.every((e) => e !== undefined))
          ? (layerChanges([...lower.map((e) => e ?? []), own])[view.index] ?? [])
          : own.map((entry) => ({ path: entry.path, entry, layer: view.index }));
    }
  }
  signal?.throwIfAborted();
  return new ReferenceModel(view, items, layers);
}

/** Space wasted across layers (lib/layers/wasted.ts) of indexes in columns; a layer not
 * available counts as empty. */
export function wastedSpaceOf(layers: readonly (ColumnIndex | undefined)[]): WastedSpace {
  return wastedSpace(layers.map((l) => (l ? toEntries(l) : [])));
}

class ReferenceModel implements TreeModel {
  readonly view: ViewSpec;
  readonly tooDeep: number;
  readonly #items: TreeItem[];
  readonly #layers: readonly (ColumnIndex | undefined)[];
  readonly #maxDepth: number;
  #sort: 'name' | 'size' = 'name';
  #root: TreeNode;
  #expanded = new Set<string>();
  /** The search's tree, when a query is on. */
  #found: TreeNode | undefined;
  #rows: TreeRow[] = [];
  #index: Map<string, number> | undefined;

  constructor(view: ViewSpec, items: TreeItem[], layers: readonly (ColumnIndex | undefined)[]) {
    this.view = view;
    this.#items = items;
    this.#layers = layers;
    this.#maxDepth = view.kind === 'all' ? MAX_DEPTH + 1 : MAX_DEPTH;
    let deep = 0;
    for (const item of items) {
      if (depthOf(normalisePath(item.path), this.#maxDepth) > this.#maxDepth) deep++;
    }
    this.tooDeep = deep;
    this.#root = this.#build(items);
    this.#flatten();
  }

  get count(): number {
    return this.#rows.length;
  }

  rows(start: number, end: number): TreeRow[] {
    return this.#rows.slice(Math.max(0, start), Math.max(0, end));
  }

  indexOf(path: string): number {
    this.#index ??= new Map(this.#rows.map((r, i) => [r.path, i]));
    return this.#index.get(path) ?? -1;
  }

  toggle(path: string): void {
    if (this.#found) return;
    if (!this.#expanded.delete(path)) this.#expanded.add(path);
    this.#flatten();
  }

  reveal(path: string): boolean {
    if (!findNode(this.#found ?? this.#root, path)) return false;
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) this.#expanded.add(parts.slice(0, i).join('/'));
    this.#flatten();
    return true;
  }

  async sort(by: 'name' | 'size', signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.#sort = by;
    sortTree(this.#root, by);
    if (this.#found) sortTree(this.#found, by);
    this.#flatten();
  }

  async search(query: string, signal?: AbortSignal): Promise<void> {
    const q = query.trim();
    if (!q) {
      this.#found = undefined;
    } else {
      const matches = await searchPaths(
        this.#items.map((i) => i.path),
        q,
        signal ? { signal } : {},
      );
      this.#found = this.#build(Array.from(matches, (i) => this.#items[i]!));
    }
    this.#flatten();
  }

  select(path: string): Selected | undefined {
    const node = findNode(this.#found ?? this.#root, path);
    if (!node) return undefined;
    return {
      path: node.path,
      ...(node.entry ? { entry: node.entry } : {}),
      ...(node.layer !== undefined ? { layer: node.layer } : {}),
      ...(node.change ? { change: node.change } : {}),
    };
  }

  hardlinkTarget(layer: number, linkname: string): IndexEntry | undefined {
    const index = this.#layers[layer];
    if (!index) return undefined;
    const want = linkname.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    for (let k = index.count - 1; k >= 0; k--) {
      const [b, j] = locate(index, k);
      const e = entryOf(b, j);
      if (e.path === want && e.type !== 'hardlink') return e;
    }
    return undefined;
  }

  #build(items: readonly TreeItem[]): TreeNode {
    const root = buildTree(items, { maxDepth: this.#maxDepth });
    sortTree(root, this.#sort);
    return root;
  }

  #flatten() {
    // A search shows every match with its directories open.
    const found = this.#found;
    this.#rows = found
      ? flattenRows(found, allDirs(found))
      : flattenRows(this.#root, this.#expanded);
    this.#index = undefined;
  }
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
