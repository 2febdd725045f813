// Wasted space traced to the layer (and so the history step) that caused it. A path found in
// several layers (treemodel-wasted.ts, with `trace`) has its bytes in each; every occurrence
// after the first hides the one before it: a later copy replaces it, a whiteout deletes it.
// The bytes hidden stay in the image, carried by the earlier layer, and the layer that hid
// them is the one to change (copy once, or delete in the same step that made the file).
import type { WastedFile, WastedSpace } from '../layers/wasted.ts';

/** What one layer hid of the layers below. */
export interface WastedStep {
  /** The layer whose step hid bytes of earlier layers. */
  layer: number;
  /** Bytes of earlier layers it made unreachable: the sum of `replaced` and `deleted`. */
  bytes: number;
  /** Paths where it did. */
  paths: number;
  /** Bytes it replaced, by the layer that held them, lowest layer first. */
  replaced: { layer: number; bytes: number }[];
  /** Bytes it deleted, by the layer that held them, lowest layer first. */
  deleted: { layer: number; bytes: number }[];
}

/** Per layer, the bytes of lower layers its copies and whiteouts hid, most first. A deletion
 * of a directory that held no file of its own at that path hides nothing counted here: the
 * files below it are occurrences of their own paths. */
export function wastedSteps(wasted: WastedSpace): WastedStep[] {
  const steps = new Map<
    number,
    { paths: number; replaced: Map<number, number>; deleted: Map<number, number> }
  >();
  for (const f of wasted.files) {
    const occ = f.occurrences;
    if (!occ) continue;
    for (let i = 1; i < occ.length; i++) {
      const was = occ[i - 1]!;
      const now = occ[i]!;
      if (!(was.size > 0)) continue;
      let s = steps.get(now.layer);
      if (!s) steps.set(now.layer, (s = { paths: 0, replaced: new Map(), deleted: new Map() }));
      s.paths++;
      const into = now.deleted ? s.deleted : s.replaced;
      into.set(was.layer, (into.get(was.layer) ?? 0) + was.size);
    }
  }
  const list = (m: Map<number, number>) =>
    [...m].sort((a, b) => a[0] - b[0]).map(([layer, bytes]) => ({ layer, bytes }));
  const out: WastedStep[] = [...steps].map(([layer, s]) => {
    const replaced = list(s.replaced);
    const deleted = list(s.deleted);
    const bytes = [...replaced, ...deleted].reduce((n, x) => n + x.bytes, 0);
    return { layer, bytes, paths: s.paths, replaced, deleted };
  });
  out.sort((a, b) => b.bytes - a.bytes || a.layer - b.layer);
  return out;
}

/** The layer that made a file's waste: its last occurrence (the copy that replaced, or the
 * whiteout that deleted, the ones before it). */
export const causeOf = (f: WastedFile): number | undefined => f.occurrences?.at(-1)?.layer;
