// The layers part of a comparison: which layers two images share, and the base they are both
// built on. A layer is the same blob when its digest matches; it is the same content when its
// diffID (the digest of the uncompressed tar) matches, as when one registry or builder
// recompressed it (gzip to zstd, or another gzip level).
import type { LayerMatch, SharedBase } from './types.ts';

/** One layer as matching needs it: its blob's digest and, when the config names it, its
 * diffID. */
export interface LayerIds {
  digest: string;
  diffID?: string;
}

/** Positions of each key's layers, in order, so the k-th layer of a with a key is paired with
 * the k-th of b: a layer that appears twice (an empty tar, say) is matched once each time. */
function positions(layers: readonly LayerIds[], key: (l: LayerIds) => string | undefined) {
  const m = new Map<string, number[]>();
  layers.forEach((l, i) => {
    const k = key(l);
    if (k === undefined) return;
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  });
  return m;
}

/**
 * Matches every layer of a with one of b, by digest first, then by diffID among those left; a
 * layer that matches none is listed alone. The list is a's layers in a's order (each with its
 * match in b, if any), then b's unmatched layers in b's order.
 */
export function matchLayers(a: readonly LayerIds[], b: readonly LayerIds[]): LayerMatch[] {
  const matchOfA: (LayerMatch | undefined)[] = a.map(() => undefined);
  const takenB = new Set<number>();
  const pass = (by: 'digest' | 'diffID', key: (l: LayerIds) => string | undefined) => {
    const inB = positions(b, key);
    a.forEach((l, i) => {
      if (matchOfA[i]) return;
      const k = key(l);
      if (k === undefined) return;
      const list = inB.get(k);
      while (list && list.length > 0) {
        const j = list.shift()!;
        if (takenB.has(j)) continue;
        takenB.add(j);
        matchOfA[i] = { a: i, b: j, by };
        return;
      }
    });
  };
  pass('digest', (l) => l.digest);
  pass('diffID', (l) => l.diffID);
  const out: LayerMatch[] = matchOfA.map((m, i) => m ?? { a: i, by: 'none' });
  b.forEach((_, j) => {
    if (!takenB.has(j)) out.push({ b: j, by: 'none' });
  });
  return out;
}

/** The same content at one position: by diffID when both name it, else by the blob's digest. */
const sameContent = (x: LayerIds, y: LayerIds) =>
  x.diffID !== undefined && y.diffID !== undefined ? x.diffID === y.diffID : x.digest === y.digest;

/**
 * The layers the two images share from the bottom, and whether one is built on the other: all
 * of a's layers are b's first layers. An image with no layers is the base of none but another
 * with no layers.
 */
export function sharedBase(a: readonly LayerIds[], b: readonly LayerIds[]): SharedBase {
  let n = 0;
  while (n < a.length && n < b.length && sameContent(a[n]!, b[n]!)) n++;
  return {
    layers: n,
    aIsBaseOfB: n === a.length && (a.length > 0 || b.length === 0),
    bIsBaseOfA: n === b.length && (b.length > 0 || a.length === 0),
  };
}
