// The file tree a view of an image shows, as a model that lives off the page (in a worker): it
// holds the layers' indexes and whatever it builds from them, and hands out only the rows on
// screen. The page asks for a window of rows, opens and closes directories, sorts and searches;
// nothing hands the whole tree around.
import type { IndexEntry } from './entry.ts';
import type { ChangeKind } from './filesystem.ts';

/** What a view shows: the merged filesystem, every layer side by side (one folder per layer),
 * or one layer's changes relative to the layers below it. */
export type ViewSpec = { kind: 'merged' } | { kind: 'all' } | { kind: 'layer'; index: number };

/** One row of the file tree: the tree flattened, only open directories' children included. */
export interface TreeRow {
  /** Unique key: the path in the view. */
  path: string;
  /** Label, shown literally (control characters made visible by the view). */
  name: string;
  /** 0 = top level. */
  depth: number;
  dir: boolean;
  expanded: boolean;
  /** Bytes; for directories the total below them (the nearest double past 2^53). */
  size: number;
  type: IndexEntry['type'];
  change?: ChangeKind;
  linkname?: string;
  /** Number of siblings, for aria-setsize. */
  setSize: number;
  /** 1-based position among the siblings, for aria-posinset. */
  posInSet: number;
}

/** An entry as the details pane and the viewer need it. */
export interface Selected {
  path: string;
  entry?: IndexEntry;
  layer?: number;
  change?: ChangeKind;
}
