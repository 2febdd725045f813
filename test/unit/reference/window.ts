// Rows held in full as a window: the TreeRows interface over a plain array, for tests that
// drive the page's tree logic without a worker.
import type { TreeRow, TreeRows } from '../../../src/state/layers/rows.ts';

export function windowOf(rows: () => TreeRow[]): TreeRows {
  const indexOf = (path: string) => rows().findIndex((r) => r.path === path);
  return {
    get count() {
      return rows().length;
    },
    at: (i) => rows()[i],
    slice: (start, end) => rows().slice(start, end),
    indexOf,
    fetch: async (i) => rows()[i],
    locate: async (path) => indexOf(path),
    settled: async () => {},
    find: async (prefix, from) => {
      const all = rows();
      for (let k = 0; k < all.length; k++) {
        const j = (from + k) % all.length;
        if (all[j]!.name.toLowerCase().startsWith(prefix)) return j;
      }
      return -1;
    },
  };
}
