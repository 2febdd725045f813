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

/** A view's tree, built off the page. Every method is cheap for the rows on screen; the ones
 * that touch the whole tree (building, sorting, searching) are asynchronous, yield to the event
 * loop at least every 50 ms (src/lib/tasks.ts), and stop with the signal's reason. */
export interface TreeModel {
  readonly view: ViewSpec;
  /** Rows shown now: the open directories' children, or the search's matches with every
   * directory above them open. */
  readonly count: number;
  /** Rows start … end-1, clipped to the tree. */
  rows(start: number, end: number): TreeRow[];
  /** The row showing this path, or -1. */
  indexOf(path: string): number;
  /** Opens or closes a directory (outside a search). */
  toggle(path: string): void;
  /** Opens every directory above a path so that a row shows it; false when the view has no
   * such path. */
  reveal(path: string): boolean;
  /** Sorts every directory: by name (UTF-16 code units, as ls and dive) or by size, largest
   * first, ties by name. */
  sort(by: 'name' | 'size', signal?: AbortSignal): Promise<void>;
  /** Shows only the paths the query matches (lib/layers/glob.ts's rules), with the
   * directories above them open; '' shows the whole tree again. */
  search(query: string, signal?: AbortSignal): Promise<void>;
  /** The entry at a path of the view, for the details pane and the viewer. */
  select(path: string): Selected | undefined;
  /** The file a hard link of layer `layer` names (tar semantics: the last earlier entry of
   * that layer with that path that is not itself a hard link). */
  hardlinkTarget(layer: number, linkname: string): IndexEntry | undefined;
  /** Entries left out because they are more than MAX_DEPTH directories deep. */
  readonly tooDeep: number;
}
