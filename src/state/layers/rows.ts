// What a tree view needs of the file tree: how many rows there are, and the rows of a window of
// them. The tree itself lives in the layers worker; the page holds the rows around the viewport
// only (see window.svelte.ts).
import type { TreeRow } from '../../lib/layers/model.ts';

export type { TreeRow };

/** A window onto the rows of a tree. Nothing hands the whole tree around: rows not fetched yet
 * are undefined until the worker sends them (asking for one fetches it). */
export interface TreeRows {
  readonly count: number;
  /** Row i, or undefined while it is not fetched (it is then asked for). */
  at(i: number): TreeRow | undefined;
  /** The fetched rows among start..end-1 (end excluded), clipped to the tree. */
  slice(start: number, end: number): TreeRow[];
  /** The row's index, or -1 while it is not known (it is then asked for). */
  indexOf(path: string): number;
  /** Row i, fetched when needed. */
  fetch(i: number): Promise<TreeRow | undefined>;
  /** The index of a path's row, asked of the worker when needed; -1 when not shown. */
  locate(path: string): Promise<number>;
  /** Type-ahead: the first row from `from` on (wrapping around) whose name starts with
   * `prefix` (lower case), or -1. */
  find(prefix: string, from: number): Promise<number>;
  /** Resolves once no change the view asked for (a directory opened, a sort) is on its way:
   * a key pressed meanwhile acts on the rows that change brings. */
  settled(): Promise<void>;
}
