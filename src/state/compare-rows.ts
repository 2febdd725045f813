// A comparison's files as the file tree shows them (ui/FileTree.svelte): each row of the
// comparison, which lives in the layers worker, as a tree row with its difference beside it.
// The page holds only the rows around the viewport, in the same window the file tree uses
// (layers/window.svelte.ts).
import type { CompareRow, CompareWindow } from '../lib/compare/types.ts';
import type { RowsAnswer } from './layers/window.svelte.ts';
import type { TreeRow } from './layers/rows.ts';

/** A row of the comparison as the file tree takes it: the entry of b (of a when b has none),
 * its change in the tree's words, and the comparison's row itself. */
export interface CompareTreeRow extends TreeRow {
  diff: CompareRow;
}

const changeOf = { added: 'added', removed: 'deleted', changed: 'modified' } as const;

function treeRow(diff: CompareRow): CompareTreeRow {
  const e = diff.b ?? diff.a;
  const change = diff.difference === 'unchanged' ? undefined : changeOf[diff.difference];
  return {
    path: diff.path,
    name: diff.name,
    depth: diff.depth,
    dir: diff.dir,
    expanded: diff.expanded,
    setSize: diff.setSize,
    posInSet: diff.posInSet,
    size: e?.size ?? 0,
    type: e?.type ?? (diff.dir ? 'dir' : 'file'),
    ...(change ? { change } : {}),
    ...(e?.linkname !== undefined ? { linkname: e.linkname } : {}),
    diff,
  };
}

/** A window of the comparison's rows as tree rows. */
export function treeRows(win: CompareWindow): RowsAnswer<CompareTreeRow>;
export function treeRows(win: CompareWindow | undefined): RowsAnswer<CompareTreeRow> | undefined;
export function treeRows(win: CompareWindow | undefined): RowsAnswer<CompareTreeRow> | undefined {
  return win && { count: win.count, start: win.start, rows: win.rows.map(treeRow) };
}
