// Which files of which layers a search reads, and what became of each: still in the merged
// view, or deleted or overwritten by a later layer (the first later layer that does it, as the
// OCI layer spec applies whiteouts, opaque directories and replacements). One walk of each
// layer's index, from the top layer down, so that what the layers above do is known when a
// layer's files are listed.
import { pathOf, type ColumnIndex } from '../layers/columns.ts';
import { whiteoutTarget } from '../layers/filesystem.ts';
import { normalisePath } from '../layers/paths.ts';

export type SearchScope = 'all' | 'merged';

/** What became of a file: in the merged view, or hidden by a later layer (`by`). */
export type FileStatus =
  { kind: 'merged' } | { kind: 'deleted'; by: number } | { kind: 'overwritten'; by: number };

export interface PlannedFile {
  /** Normalised path. */
  path: string;
  layer: number;
  /** Where its bytes are in the layer's tar (a hard link's: its target's). */
  offset: number;
  size: number;
  status: FileStatus;
}

export interface SearchPlan {
  /** By layer: the files to read, by offset. */
  layers: PlannedFile[][];
  files: number;
  bytes: number;
}

interface Cover {
  kind: 'deleted' | 'overwritten';
  by: number;
}

/**
 * The files a search reads. `indexes` holds each layer's index (undefined for a layer with no
 * files); `wanted(path, size)` is the path filter. Regular files and hard links are read; a
 * hard link by its target's bytes, when the target is in the same layer.
 */
export function planSearch(
  indexes: readonly (ColumnIndex | undefined)[],
  scope: SearchScope,
  wanted: (path: string, size: number) => boolean,
): SearchPlan {
  const plan: SearchPlan = { layers: indexes.map(() => []), files: 0, bytes: 0 };
  /** What the layers above hide: a path itself (replaced or whited out), and everything
   * below a path (whited out, replaced by a non-directory, or an opaque directory's
   * contents). Set from the top down, so the lowest layer above wins. */
  const exact = new Map<string, Cover>();
  const below = new Map<string, Cover>();
  const coverOf = (path: string): Cover | undefined => {
    let best = exact.get(path);
    const take = (c: Cover | undefined) => {
      if (c && (!best || c.by < best.by)) best = c;
    };
    // Every directory above the path, the root ('') first.
    take(below.get(''));
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      take(below.get(path.slice(0, i)));
    }
    return best;
  };
  for (let l = indexes.length - 1; l >= 0; l--) {
    const index = indexes[l];
    if (!index) continue;
    const files = plan.layers[l]!;
    // What this layer does to the layers below: applied once its own files are listed.
    const hides: [Map<string, Cover>, string, Cover][] = [];
    const targets = new Map<string, { offset: number; size: number }>();
    const links: { path: string; target: string }[] = [];
    for (const b of index.batches) {
      for (let j = 0; j < b.count; j++) {
        const raw = pathOf(b, j);
        if (raw.includes('.wh.')) {
          const w = whiteoutTarget(raw);
          if (w?.kind === 'whiteout') {
            hides.push([exact, w.target, { kind: 'deleted', by: l }]);
            hides.push([below, w.target, { kind: 'deleted', by: l }]);
          } else if (w?.kind === 'opaque') {
            hides.push([below, w.dir, { kind: 'deleted', by: l }]);
          }
          if (w) continue;
        }
        const path = normalisePath(raw);
        if (path === '') continue;
        const code = b.types[j]! & 0x0f;
        // 0 is 'file', 1 'hardlink', 2 'dir' (ENTRY_TYPES).
        hides.push([exact, path, { kind: 'overwritten', by: l }]);
        if (code !== 2) hides.push([below, path, { kind: 'overwritten', by: l }]);
        if (code === 1) {
          const start = j === 0 ? 0 : b.linkEnds[j - 1]!;
          links.push({ path, target: normalisePath(b.links.slice(start, b.linkEnds[j])) });
          continue;
        }
        if (code !== 0) continue;
        const size = b.sizes[j]!;
        targets.set(path, { offset: b.offsets[j]!, size });
        add(path, b.offsets[j]!, size);
      }
    }
    for (const link of links) {
      const t = targets.get(link.target);
      if (t) add(link.path, t.offset, t.size);
    }
    files.sort((x, y) => x.offset - y.offset);
    for (const [map, path, cover] of hides) map.set(path, cover);

    function add(path: string, offset: number, size: number) {
      if (!wanted(path, size)) return;
      const c = coverOf(path);
      if (c && scope === 'merged') return;
      files.push({ path, layer: l, offset, size, status: c ?? { kind: 'merged' } });
      plan.files++;
      plan.bytes += size;
    }
  }
  return plan;
}
