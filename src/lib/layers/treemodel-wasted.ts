// wasted.ts's wastedSpace over columnar indexes: the same result (see there for what it counts
// and how it differs from dive), without an object or path string per entry. Paths are nodes
// of one tree of every path any layer names (treemodel-nodes.ts); what wastedSpace keeps in
// Maps per path is kept in typed arrays per node, and the order of its Maps is kept as lists,
// so that the sums add up in the same order.
import { BATCH_BITS, type ColumnIndex } from './columns.ts';
import { DIR, Nodes } from './treemodel-nodes.ts';
import {
  components,
  ensurePath,
  layerMarkers,
  Overlay,
  Pacer,
  pathStart,
  scratch,
} from './treemodel.ts';
import { MAX_DEPTH, join, parentOf } from './paths.ts';
import type { WastedFile, WastedOccurrence, WastedSpace } from './wasted.ts';

class Growing {
  a: Float64Array;
  constructor(n: number) {
    this.a = new Float64Array(n);
  }
  at(k: number): number {
    return k < this.a.length ? this.a[k]! : 0;
  }
  set(k: number, v: number) {
    if (k >= this.a.length) {
      const b = new Float64Array(Math.max(k + 1, Math.ceil(this.a.length * 1.5)));
      b.set(this.a);
      this.a = b;
    }
    this.a[k] = v;
  }
}

/** Space wasted across layers (wasted.ts's wastedSpace, the same numbers), yielding to the
 * event loop as it goes and stopping with the signal's reason. With `trace`, each wasted file
 * also lists its occurrences (which layer holds which copy or deletion). */
export async function wastedSpaceOf(
  layers: readonly (ColumnIndex | undefined)[],
  opts: { signal?: AbortSignal; trace?: boolean } = {},
): Promise<WastedSpace> {
  const pacer = new Pacer(opts.signal);
  const total = layers.reduce((n, l) => n + (l?.count ?? 0), 0);
  const room = total + (total >>> 4) + 64;
  const paths = new Nodes(layers, room);
  // Per path: occurrences, their bytes, the smallest; the order paths first occurred.
  const count = new Growing(room);
  const sum = new Growing(room);
  const min = new Growing(room);
  const order: number[] = [];
  // Occurrences for `trace`, flat: node, layer, size, deleted (1) or not (0).
  const traced: number[] = [];
  let layer = 0;
  const occur = (k: number, size: number, deleted = false) => {
    if (opts.trace) traced.push(k, layer, size, deleted ? 1 : 0);
    const c = count.at(k);
    if (c === 0) {
      order.push(k);
      sum.set(k, size);
      min.set(k, size);
    } else {
      sum.set(k, sum.at(k) + size);
      if (size < min.at(k)) min.set(k, size);
    }
    count.set(k, c + 1);
  };
  // Per path, for the layer being read: put (layer + 1), has a path below it (layer + 1), and
  // its last size there.
  const put = new Growing(room);
  const below = new Growing(room);
  const lastSize = new Growing(room);

  const overlay = new Overlay(layers);
  const out = scratch();
  const chain: number[] = [];
  let totalBytes = 0;
  for (let i = 0; i < layers.length; i++) {
    const index = layers[i];
    layer = i;
    if (!index) {
      await overlay.apply(i, false, pacer);
      continue;
    }
    const stamp = i + 1;
    for (const b of index.batches) {
      await pacer.step(b.count);
      for (let j = 0; j < b.count; j++) totalBytes += b.sizes[j]!;
    }
    const { markers, opaques, whiteouts } = layerMarkers(index);

    // Against the layers below, before this one is applied. One occurrence per path.
    const o = overlay.nodes;
    const deletions = new Map<string, { node: number; size: number }>();
    const sizeOf = (k: number) => (o.flags[k]! & DIR ? overlay.bytes(k, i) : 0);
    for (const target of whiteouts) {
      const k = target === '' ? -1 : o.find(target);
      if (k >= 0) deletions.set(target, { node: k, size: sizeOf(k) });
    }
    for (const dir of opaques) {
      const d = dir === '' ? 0 : o.find(dir);
      if (d < 0 || !(o.flags[d]! & DIR)) continue;
      for (let c = o.first[d]!; c >= 0; c = o.next[c]!) {
        const path = join(dir, o.name(c));
        if (!deletions.has(path)) deletions.set(path, { node: c, size: sizeOf(c) });
      }
    }

    // The layer's own paths, the last size of each, and which have paths below them.
    const puts: number[] = [];
    for (let bi = 0; bi < index.batches.length; bi++) {
      const b = index.batches[bi]!;
      for (let j = 0; j < b.count; j++) {
        const w = pacer.step();
        if (w) await w;
        const e = (bi << BATCH_BITS) | j;
        if (markers.size > 0 && markers.has(e)) continue;
        const n = components(b.paths, pathStart(b, j), b.pathEnds[j]!, out, MAX_DEPTH);
        if (n === 0 || n > MAX_DEPTH) continue;
        let k = 0;
        for (let c = 0; c < n; c++) {
          let next = paths.child(k, b.paths, out[2 * c]!, out[2 * c + 1]!);
          if (next < 0) next = paths.add(k, i, e, out[2 * c]!, 0, true);
          k = next;
        }
        if (put.at(k) !== stamp) {
          put.set(k, stamp);
          puts.push(k);
        }
        lastSize.set(k, b.sizes[j]!);
        for (let p = paths.parent[k]!; p > 0 && below.at(p) !== stamp; p = paths.parent[p]!) {
          below.set(p, stamp);
        }
      }
    }
    // A whiteout marker is a child of its directory in dive's layer tree.
    for (const target of whiteouts) {
      for (let dir = parentOf(target); dir !== ''; dir = parentOf(dir)) {
        const k = paths.find(dir);
        if (k < 0) continue;
        for (let p = k; p > 0 && below.at(p) !== stamp; p = paths.parent[p]!) below.set(p, stamp);
        break;
      }
    }
    for (const k of puts) {
      const w = pacer.step();
      if (w) await w;
      if (below.at(k) !== stamp) occur(k, lastSize.at(k));
    }
    for (const { node, size } of deletions.values()) {
      occur(ensurePath(paths, o, node, chain), size, true);
    }
    await overlay.apply(i, false, pacer);
  }

  let occurrences: Map<number, WastedOccurrence[]> | undefined;
  if (opts.trace) {
    occurrences = new Map();
    for (let t = 0; t < traced.length; t += 4) {
      const k = traced[t]!;
      if (count.at(k) < 2) continue;
      let list = occurrences.get(k);
      if (!list) occurrences.set(k, (list = []));
      list.push({ layer: traced[t + 1]!, size: traced[t + 2]!, deleted: traced[t + 3] === 1 });
    }
  }
  let kept = 0;
  let seen = 0;
  const files: WastedFile[] = [];
  for (const k of order) {
    const w = pacer.step();
    if (w) await w;
    const s = { count: count.at(k), total: sum.at(k), min: min.at(k) };
    kept += s.min;
    seen += s.total;
    if (s.count > 1 && s.total > 0) {
      const file: WastedFile = {
        path: paths.path(k),
        count: s.count,
        wasted: s.total - s.min,
        total: s.total,
      };
      const found = occurrences?.get(k);
      if (found) file.occurrences = found;
      files.push(file);
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
