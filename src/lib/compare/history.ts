// The history part of a comparison: two images' build steps aligned one against the other, so
// the page can show where the two builds part ways. The alignment is jsdiff's (an LCS by Myers'
// algorithm), not our own; what is ours is what makes two steps "the same" and the bound on
// the work for long, unrelated histories.
import { diffArrays } from 'diff';
import type { HistoryEntry } from '../oci/types.ts';
import type { HistoryComparison, HistoryStep } from './types.ts';

/** The most edits jsdiff looks for before giving up. Its cost grows with the edits it tries,
 * so two unrelated 10,000-step histories give up here in tens of milliseconds instead of
 * running for seconds (1,000 edits took over 200 ms on a loaded two-core machine). Real
 * histories are tens of steps; two that differ in hundreds of steps are unrelated, and the
 * fallback says as much. */
export const maxHistoryEdits = 256;

/** A wall-clock guard on top of maxHistoryEdits, for a slow machine: past it, the fallback. */
const historyTimeoutMs = 500;

/** One history as the alignment reads it, in columns: no object or string is made per step
 * (a 4 MiB config can hold 200,000 steps). A step's identity is its command and whether it
 * made a layer; the time it was made and its comment are not part of it (a rebuild changes the
 * time of every step). */
interface Steps {
  createdBy: string[];
  empty: Uint8Array;
  comment: (string | undefined)[];
}

function stepsOf(history: readonly unknown[]): Steps {
  const list = Array.isArray(history) ? history : [];
  const n = list.length;
  const out: Steps = { createdBy: new Array<string>(n), empty: new Uint8Array(n), comment: [] };
  for (let i = 0; i < n; i++) {
    const entry: unknown = list[i];
    const e: Partial<Record<keyof HistoryEntry, unknown>> =
      typeof entry === 'object' && entry !== null ? entry : {};
    out.createdBy[i] = typeof e.created_by === 'string' ? e.created_by : '';
    // empty_layer is a boolean when valid; anything else that is truthy reads as it would in
    // JS (the image view's alignHistory reads it the same way), so both agree on which steps
    // made a layer.
    out.empty[i] = e.empty_layer ? 1 : 0;
    out.comment[i] = typeof e.comment === 'string' ? e.comment : undefined;
  }
  return out;
}

const indexes = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Aligns two histories (each image's config history, oldest first). A step in both, with the
 * same command and empty_layer, is unchanged, even when its time differs; it is changed when
 * its comment differs. The others are removed (only in a) or added (only in b). When the two
 * differ by more than maxHistoryEdits steps, everything after their common prefix is reported
 * as removed then added: the alignment past that point would say little anyway.
 */
export function compareHistories(a: readonly unknown[], b: readonly unknown[]): HistoryComparison {
  const sa = stepsOf(a);
  const sb = stepsOf(b);
  const na = sa.createdBy.length;
  const nb = sb.createdBy.length;
  const same = (i: number, j: number) =>
    sa.createdBy[i] === sb.createdBy[j] && sa.empty[i] === sb.empty[j];
  // jsdiff aligns the steps' indexes; the comparator reads the columns.
  const changes = diffArrays(indexes(na), indexes(nb), {
    comparator: same,
    maxEditLength: maxHistoryEdits,
    timeout: historyTimeoutMs,
  });
  const steps: HistoryStep[] = [];
  const both = (i: number, j: number) =>
    steps.push({
      difference: sa.comment[i] === sb.comment[j] ? 'unchanged' : 'changed',
      a: i,
      b: j,
      createdBy: sa.createdBy[i]!,
    });
  const removed = (i: number) =>
    steps.push({ difference: 'removed', a: i, createdBy: sa.createdBy[i]! });
  const added = (j: number) =>
    steps.push({ difference: 'added', b: j, createdBy: sb.createdBy[j]! });

  if (changes) {
    let i = 0;
    let j = 0;
    for (const change of changes) {
      for (let k = 0; k < change.count; k++) {
        if (change.removed) removed(i++);
        else if (change.added) added(j++);
        else both(i++, j++);
      }
    }
  } else {
    let p = 0;
    while (p < na && p < nb && same(p, p)) {
      both(p, p);
      p++;
    }
    for (let i = p; i < na; i++) removed(i);
    for (let j = p; j < nb; j++) added(j);
  }
  return { steps, divergesAt: steps.findIndex((s) => s.difference !== 'unchanged') };
}
