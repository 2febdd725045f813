// Where the space goes in one view of an image: the merged filesystem or one layer's own files,
// as a tree of nodes with every directory's total (the overlay and the bottom-up sums of
// treemodel.ts and treemodel-nodes.ts, not a third overlay), and from it the treemap's
// rectangles and the largest files. Only what the page draws leaves here: a treemap of a
// million entries is laid out a few levels deep from the zoom root, and only rectangles big
// enough to see (a few thousand at most) are made at all.
import { hierarchy, treemap, treemapSquarify, type HierarchyRectangularNode } from 'd3-hierarchy';
import { typeOf, type ColumnIndex } from '../layers/columns.ts';
import type { EntryType } from '../layers/entry.ts';
import { Overlay, Pacer } from '../layers/treemodel.ts';
import { DIR, FOLDER, ITEM, LIVE, Nodes, SYNTH } from '../layers/treemodel-nodes.ts';
import { BATCH_BITS } from '../layers/columns.ts';

const MASK = (1 << BATCH_BITS) - 1;

/** Which files the sizes are of: the merged filesystem, or what one layer holds (its own
 * entries, later duplicates winning, its whiteout markers left out). */
export type SpaceView = { kind: 'merged' } | { kind: 'layer'; index: number };

/** The sized tree of a view: nodes with directory totals (after Nodes.finish). */
export interface SizeTree {
  readonly view: SpaceView;
  readonly nodes: Nodes;
}

/** Builds the sized tree of a view of these layers (undefined: a layer with no files). */
export async function buildSizeTree(
  layers: readonly (ColumnIndex | undefined)[],
  view: SpaceView,
  signal?: AbortSignal,
): Promise<SizeTree> {
  const pacer = new Pacer(signal);
  // One layer alone is an overlay of that layer over nothing: its entries as they are, a later
  // entry of a path replacing an earlier one, whiteouts deleting nothing. The other layers stay
  // in the list (as nothing) so that every node names its real layer.
  const used =
    view.kind === 'merged' ? layers : layers.map((l, i) => (i === view.index ? l : undefined));
  const overlay = new Overlay(used);
  for (let l = 0; l < used.length; l++) {
    if (used[l]) await overlay.apply(l, false, pacer);
  }
  await overlay.nodes.finish(pacer.pause);
  return { view, nodes: overlay.nodes };
}

export type SpaceKind = 'dir' | EntryType | 'rest';

/** One rectangle of the treemap, in the layout's units (the page's pixels). */
export interface SpaceRect {
  /** The path in the view ("" for the zoom root when it is the root). For 'rest': the
   * directory whose smaller entries it stands for. */
  path: string;
  name: string;
  size: number;
  kind: SpaceKind;
  /** 0 for the zoom root, 1 for its children, … */
  depth: number;
  /** The first component of the path below the view's root: the colour's key. */
  top: string;
  /** For a 'rest' rectangle: how many entries it stands for. */
  entries?: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TreemapRequest {
  /** The zoom root: "" for the root of the view. */
  path: string;
  width: number;
  height: number;
  /** Levels below the zoom root laid out (default 3). */
  depth?: number;
  /** The most rectangles (default 3000). */
  cap?: number;
  /** The smallest area worth a rectangle (default 12 square units). */
  minArea?: number;
  /** Room at the top of a directory with children, for its label (default 0). */
  labelHeight?: number;
  /** Gap between siblings and inside a directory's edge (default 0). */
  padding?: number;
  /** The most children of the zoom root listed beside the map (default 50). */
  listed?: number;
}

export interface Treemap {
  /** The zoom root as the view names it, its size, and whether it exists. */
  path: string;
  size: number;
  found: boolean;
  rects: SpaceRect[];
  /** The zoom root's children, largest first (up to `listed`, whatever their area),
   * for the list beside the map. */
  children: { path: string; name: string; size: number; kind: SpaceKind }[];
  /** Children not in `children` (past the cap). */
  moreChildren: number;
}

interface Datum {
  node: number;
  path: string;
  name: string;
  /** The layout's value of this datum itself (a leaf's size; a directory's is 0 when it has
   * children laid out, which then include a 'rest' for what is left out). */
  value: number;
  size: number;
  kind: SpaceKind;
  entries?: number;
  children?: Datum[];
}

/** The kind of node k: a directory, or its entry's type. */
export function kindOf(nodes: Nodes, k: number): SpaceKind {
  const f = nodes.flags[k]!;
  if (f & DIR) return 'dir';
  if (!(f & ITEM) || f & SYNTH) return 'dir';
  const l = nodes.refLayer[k]!;
  if (l === FOLDER) return 'dir';
  const e = nodes.refEntry[k]!;
  return typeOf(nodes.batchOf(l, e), e & MASK);
}

const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

/**
 * The treemap of the subtree at `req.path`: its children and theirs, `depth` levels down,
 * squarified (d3-hierarchy) into width × height. A directory's entries too small to see are
 * one 'rest' rectangle of their total, so that every area stays proportional to its bytes.
 * Directories are opened largest first until `cap` rectangles are made.
 */
export function layoutTreemap(tree: SizeTree, req: TreemapRequest): Treemap {
  const nodes = tree.nodes;
  const path = req.path.replace(/^\/+|\/+$/g, '');
  const root = path === '' ? 0 : nodes.find(path);
  const width = Math.max(1, req.width);
  const height = Math.max(1, req.height);
  const maxDepth = req.depth ?? 3;
  const cap = req.cap ?? 3000;
  const minArea = req.minArea ?? 12;
  if (root < 0 || !(nodes.flags[root]! & LIVE)) {
    return { path, size: 0, found: false, rects: [], children: [], moreChildren: 0 };
  }
  const total = nodes.size[root]!;
  const rootKind = kindOf(nodes, root);
  const rootDatum: Datum = {
    node: root,
    path,
    name: path === '' ? '/' : path.slice(path.lastIndexOf('/') + 1),
    value: total,
    size: total,
    kind: rootKind,
  };
  // Bytes per unit of area: a node smaller than minArea's worth is not drawn on its own.
  const least = total > 0 ? (total * minArea) / (width * height) : Infinity;

  // Open directories largest first, so that the cap cuts the smallest detail.
  const open: Datum[] = [rootDatum];
  let made = 1;
  /** The zoom root's children, all of them, for the list. */
  const rootKids: { k: number; size: number }[] = [];
  while (open.length > 0 && made < cap) {
    let best = 0;
    for (let i = 1; i < open.length; i++) if (open[i]!.size > open[best]!.size) best = i;
    const d = open[best]!;
    open[best] = open[open.length - 1]!;
    open.pop();
    const depth = depthOf(d.path) - depthOf(path);
    const isRoot = d === rootDatum;
    if (!isRoot && (depth >= maxDepth || d.size < least)) continue;
    const kids: { k: number; size: number }[] = [];
    let rest = 0;
    let restCount = 0;
    for (let c = nodes.first[d.node]!; c >= 0; c = nodes.next[c]!) {
      if (!(nodes.flags[c]! & LIVE)) continue;
      const size = nodes.size[c]!;
      if (isRoot) rootKids.push({ k: c, size });
      if (size >= least && size > 0) kids.push({ k: c, size });
      else {
        rest += size;
        restCount++;
      }
    }
    kids.sort((a, b) => b.size - a.size);
    // Past the cap, the rest of the children join the 'rest' rectangle.
    const room = Math.max(0, cap - made - 1);
    for (const extra of kids.splice(room)) {
      rest += extra.size;
      restCount++;
    }
    const children: Datum[] = kids.map(({ k, size }) => {
      const name = nodes.name(k);
      const kind = kindOf(nodes, k);
      const child: Datum = { node: k, path: join(d.path, name), name, value: size, size, kind };
      if (kind === 'dir' && nodes.first[k]! >= 0) open.push(child);
      return child;
    });
    if (rest > 0) {
      children.push({
        node: -1,
        path: d.path,
        name: `${restCount} smaller`,
        value: rest,
        size: rest,
        kind: 'rest',
        entries: restCount,
      });
    }
    if (children.length === 0) continue;
    d.children = children;
    d.value = 0;
    made += children.length;
  }

  // The list beside the map: every child of the zoom root, largest first.
  rootKids.sort((a, b) => b.size - a.size);
  const shown = rootKids.slice(0, req.listed ?? 50);
  const children = shown.map(({ k, size }) => {
    const name = nodes.name(k);
    return { path: join(path, name), name, size, kind: kindOf(nodes, k) };
  });

  const h = hierarchy<Datum>(rootDatum, (d) => d.children).sum((d) => d.value);
  const pad = req.padding ?? 0;
  const label = req.labelHeight ?? 0;
  const laid = treemap<Datum>()
    .size([width, height])
    .tile(treemapSquarify)
    .paddingInner(pad)
    .paddingOuter(pad)
    .paddingTop((n) => (n.depth > 0 && n.children ? label : pad))
    .round(false)(h);
  const rects: SpaceRect[] = [];
  laid.each((n: HierarchyRectangularNode<Datum>) => {
    const d = n.data;
    const rel = d.path === path ? '' : path === '' ? d.path : d.path.slice(path.length + 1);
    rects.push({
      path: d.path,
      name: d.name,
      size: d.size,
      kind: d.kind,
      depth: n.depth,
      top: rel.split('/')[0] ?? '',
      ...(d.entries !== undefined ? { entries: d.entries } : {}),
      x: n.x0,
      y: n.y0,
      w: Math.max(0, n.x1 - n.x0),
      h: Math.max(0, n.y1 - n.y0),
    });
  });
  return {
    path,
    size: total,
    found: true,
    rects,
    children,
    moreChildren: rootKids.length - shown.length,
  };
}

const depthOf = (p: string) => (p === '' ? 0 : p.split('/').length);

/** One of the largest files. */
export interface LargeFile {
  path: string;
  size: number;
  type: EntryType;
  /** The layer whose entry it is. */
  layer: number;
}

/** The `n` largest files (entries that are not directories) of the view, largest first, ties
 * by path. A heap of n: a million entries cost one pass. */
export async function largestFiles(
  tree: SizeTree,
  n: number,
  signal?: AbortSignal,
): Promise<LargeFile[]> {
  const nodes = tree.nodes;
  const pacer = new Pacer(signal);
  // A min-heap of node ids by size.
  const heap: number[] = [];
  const size = nodes.size;
  const less = (a: number, b: number) => size[a]! < size[b]!;
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let k = 1; k < nodes.n; k++) {
    const w = pacer.step();
    if (w) await w;
    const f = nodes.flags[k]!;
    if (!(f & LIVE) || f & DIR || !(f & ITEM) || f & SYNTH) continue;
    if (heap.length < n) {
      heap.push(k);
      up(heap.length - 1);
    } else if (n > 0 && size[k]! > size[heap[0]!]!) {
      heap[0] = k;
      down(0);
    }
  }
  const out = heap.map((k) => ({
    path: nodes.path(k),
    size: size[k]!,
    type: kindOf(nodes, k) as EntryType,
    layer: nodes.refLayer[k]!,
  }));
  out.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
