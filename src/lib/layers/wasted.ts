// The space wasted across layers, as dive computes it. Pure logic over entry indexes.

import type { IndexEntry } from './entry.ts';
import { Overlay, nodeBytes, parseLayer, type OverlayNode } from './filesystem.ts';
import { join, parentOf } from './paths.ts';

export interface WastedFile {
  path: string;
  /** Layers that hold the path: copies, and deletions (a whiteout counts as an occurrence). */
  count: number;
  /** Bytes that could be reclaimed: every occurrence but the smallest. */
  wasted: number;
  /** Bytes of every occurrence: dive's "Total Space" column. */
  total: number;
  /** Each occurrence in layer order, when asked for (treemodel-wasted.ts's `trace`): the
   * layer, its bytes, and whether it is a deletion. */
  occurrences?: WastedOccurrence[];
}

export interface WastedOccurrence {
  layer: number;
  size: number;
  deleted: boolean;
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
    const sizeOf = (node: OverlayNode) => (node.children ? nodeBytes(node, i) : 0);
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
