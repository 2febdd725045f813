// Whether a later layer hides a file a secret was found in, as the OCI layer spec applies
// layers: a layer's whiteout (`dir/.wh.name`) deletes the path and all below it from the layers
// beneath, its opaque marker (`dir/.wh..wh..opq`) empties the directory of them, and an entry it
// puts at the path (or a file or link it puts where a directory above the path was) replaces
// it. Hidden is not gone: the bytes stay in the layer that holds them, and anyone who pulls the
// image has them.
//
// Only the paths of the findings are followed, so one walk of each later layer's index is the
// whole cost, whatever the image holds.
import { pathOf, type ColumnIndex } from '../layers/columns.ts';
import { whiteoutTarget } from '../layers/filesystem.ts';
import { normalisePath } from '../layers/paths.ts';
import type { Visibility } from './types.ts';

/** 'dir' in ENTRY_TYPES (columns.ts). */
const DIR = 2;

/** For each `(layer, path)` asked about, the first later layer that deletes or replaces the
 * path, or 'merged' when none does. `layers` are the image's indexes, base first (undefined for
 * a layer that is not a tar). */
export function visibilityOf(
  asked: readonly { layer: number; path: string }[],
  layers: readonly (ColumnIndex | undefined)[],
): Visibility[] {
  if (asked.length === 0) return [];
  const wanted = new Set(asked.map((a) => a.path));
  /** The asked paths under each of their directories. */
  const below = new Map<string, string[]>();
  for (const p of wanted) {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
      const dir = p.slice(0, i);
      const list = below.get(dir);
      if (list) list.push(p);
      else below.set(dir, [p]);
    }
  }
  const from = Math.min(...asked.map((a) => a.layer)) + 1;
  /** What each layer did to each path: a deletion outranks a replacement in one layer. */
  const events = new Map<string, Map<number, 'deleted' | 'overwritten'>>();
  const note = (path: string, layer: number, kind: 'deleted' | 'overwritten') => {
    let byLayer = events.get(path);
    if (!byLayer) events.set(path, (byLayer = new Map()));
    if (byLayer.get(layer) !== 'deleted') byLayer.set(layer, kind);
  };
  const noteAll = (paths: Iterable<string>, layer: number, kind: 'deleted' | 'overwritten') => {
    for (const p of paths) note(p, layer, kind);
  };

  for (let m = from; m < layers.length; m++) {
    const index = layers[m];
    if (!index) continue;
    for (const b of index.batches) {
      for (let j = 0; j < b.count; j++) {
        const raw = pathOf(b, j);
        if (raw.includes('.wh.')) {
          const w = whiteoutTarget(raw);
          if (w?.kind === 'whiteout') {
            if (wanted.has(w.target)) note(w.target, m, 'deleted');
            const under = below.get(w.target);
            if (under) noteAll(under, m, 'deleted');
          } else if (w?.kind === 'opaque') {
            noteAll(w.dir === '' ? wanted : (below.get(w.dir) ?? []), m, 'deleted');
          }
          if (w) continue;
        }
        const path = normalisePath(raw);
        if (wanted.has(path)) note(path, m, 'overwritten');
        // A directory above the path put again as a directory changes nothing below it.
        const under = below.get(path);
        if (under && (b.types[j]! & 0x0f) !== DIR) noteAll(under, m, 'overwritten');
      }
    }
  }

  return asked.map(({ layer, path }) => {
    const byLayer = events.get(path);
    let first: [number, 'deleted' | 'overwritten'] | undefined;
    for (const [m, kind] of byLayer ?? []) {
      if (m > layer && (!first || m < first[0])) first = [m, kind];
    }
    return first ? { kind: first[1], layer: first[0] } : { kind: 'merged' };
  });
}
