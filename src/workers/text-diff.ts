// Two texts' line diff, as the comparison's diff pane shows it: jsdiff's line diff, cut into
// the changed lines with a few unchanged ones around each change and the long unchanged runs
// between them counted, not listed. Pure: runs in the diff worker, and in Node for tests.
import { diffLines } from 'diff';

/** Text diffed per side: past this, the diff compares the first this-many bytes only (the page
 * reads no more, and says so). */
export const diffBound = 256 << 10;
/** Lines shown: a diff longer than this is cut, and the page says so. */
export const maxDiffLines = 20_000;
/** Unchanged lines kept around each change. */
export const diffContext = 3;
/** How long jsdiff may search before it gives up: the texts are then shown as one change. */
const searchMs = 2000;

/** One line of the diff: in both texts (`same`), only in b (`add`) or only in a (`del`), with
 * its 1-based line number in each text it is in. */
export interface DiffLine {
  kind: 'same' | 'add' | 'del';
  a?: number;
  b?: number;
  text: string;
}

/** Unchanged lines not listed. */
export interface DiffSkip {
  kind: 'skip';
  lines: number;
}

export type DiffPiece = DiffLine | DiffSkip;

export interface TextDiff {
  pieces: DiffPiece[];
  added: number;
  removed: number;
  /** The lines past maxDiffLines were dropped. */
  cut: boolean;
  /** jsdiff gave up within its time: the texts are shown as one removal and one addition. */
  gaveUp: boolean;
}

/** A text's lines without their line ends (a final line end adds no empty line). */
function linesOf(value: string): string[] {
  const lines = value.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The diff of two texts, line by line. */
export function textDiff(a: string, b: string): TextDiff {
  const changes = diffLines(a, b, { timeout: searchMs }) as
    { value: string; added: boolean; removed: boolean }[] | undefined;
  const gaveUp = !changes;
  const parts = changes ?? [
    { value: a, added: false, removed: true },
    { value: b, added: true, removed: false },
  ];
  const lines: DiffLine[] = [];
  let na = 0;
  let nb = 0;
  let added = 0;
  let removed = 0;
  for (const part of parts) {
    for (const text of linesOf(part.value)) {
      if (part.added) {
        lines.push({ kind: 'add', b: ++nb, text });
        added++;
      } else if (part.removed) {
        lines.push({ kind: 'del', a: ++na, text });
        removed++;
      } else lines.push({ kind: 'same', a: ++na, b: ++nb, text });
    }
  }
  // Unchanged lines further than diffContext from any change are counted, not listed.
  const keep = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    if (l.kind === 'same') return;
    for (
      let k = Math.max(0, i - diffContext);
      k <= Math.min(lines.length - 1, i + diffContext);
      k++
    )
      keep[k] = 1;
  });
  const pieces: DiffPiece[] = [];
  let shown = 0;
  let cut = false;
  for (let i = 0; i < lines.length; i++) {
    if (!keep[i]) {
      const last = pieces[pieces.length - 1];
      if (last?.kind === 'skip') last.lines++;
      else pieces.push({ kind: 'skip', lines: 1 });
      continue;
    }
    if (shown === maxDiffLines) {
      cut = true;
      break;
    }
    pieces.push(lines[i]!);
    shown++;
  }
  return { pieces, added, removed, cut, gaveUp };
}
