// The page's old tree pipeline (state/layers/browser.svelte.ts's `items`, `#tree` and `#rows`,
// with rows.ts and search.ts), as plain functions: the reference the tree model must equal.
import type { IndexEntry } from '../../../src/lib/layers/entry.ts';
import { layerChanges, mergeLayers } from '../../../src/lib/layers/filesystem.ts';
import type { Selected, TreeRow, ViewSpec } from '../../../src/lib/layers/model.ts';
import { MAX_DEPTH } from '../../../src/lib/layers/paths.ts';
import { searchPaths } from './search.ts';
import { buildTree, sortTree, type TreeItem, type TreeNode } from './tree.ts';
import { allDirs, findNode, flattenRows } from './treemodel.ts';

const layerFolder = (i: number) => `Layer ${i + 1}`;

export function oracleItems(view: ViewSpec, layers: IndexEntry[][], changes = true): TreeItem[] {
  if (view.kind === 'merged') return mergeLayers(layers);
  if (view.kind === 'all') {
    return layers.flatMap((files, i) =>
      files.map((entry) => ({
        path: entry.path ? `${layerFolder(i)}/${entry.path.replace(/^\/+/, '')}` : layerFolder(i),
        entry,
        layer: i,
      })),
    );
  }
  if (changes) return layerChanges(layers.slice(0, view.index + 1))[view.index] ?? [];
  return (layers[view.index] ?? []).map((entry) => ({
    path: entry.path,
    entry,
    layer: view.index,
  }));
}

export interface OracleTree {
  root: TreeNode;
  searching: boolean;
}

export async function oracleTree(
  view: ViewSpec,
  items: TreeItem[],
  sort: 'name' | 'size',
  query: string,
): Promise<OracleTree> {
  const q = query.trim();
  const shown = q
    ? Array.from(
        await searchPaths(
          items.map((i) => i.path),
          q,
        ),
        (i) => items[i]!,
      )
    : items;
  const root = buildTree(shown, { maxDepth: view.kind === 'all' ? MAX_DEPTH + 1 : MAX_DEPTH });
  sortTree(root, sort);
  return { root, searching: q !== '' };
}

/** Rows with these directories open (every directory when not given, or while searching). */
export function oracleRows(t: OracleTree, expanded?: ReadonlySet<string>): TreeRow[] {
  return flattenRows(t.root, t.searching || !expanded ? allDirs(t.root) : expanded);
}

export function oracleSelect(t: OracleTree, path: string): Selected | undefined {
  const node = findNode(t.root, path);
  if (!node) return undefined;
  return {
    path: node.path,
    ...(node.entry ? { entry: node.entry } : {}),
    ...(node.layer !== undefined ? { layer: node.layer } : {}),
    ...(node.change ? { change: node.change } : {}),
  };
}

/** Every path of a tree, parents first. */
export function allPaths(root: TreeNode): string[] {
  const out: string[] = [];
  const stack = [root];
  for (let n = stack.pop(); n; n = stack.pop()) {
    for (const c of n.children ?? []) {
      out.push(c.path);
      stack.push(c);
    }
  }
  return out;
}
