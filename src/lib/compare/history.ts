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

/** What a step is to the alignment: its command and whether it made a layer. The time it was
 * made and its comment are not part of it (a rebuild changes the time of every step). */
interface Step {
  key: string;
  createdBy: string;
  comment: string | undefined;
}

function stepOf(entry: unknown): Step {
  const e: Partial<Record<keyof HistoryEntry, unknown>> =
    typeof entry === 'object' && entry !== null ? entry : {};
  const createdBy = typeof e.created_by === 'string' ? e.created_by : '';
  // empty_layer is a boolean when valid; anything else that is truthy reads as it would in JS
  // (the image view's alignHistory reads it the same way), so both agree on which steps made
  // a layer.
  const empty = e.empty_layer ? 1 : 0;
  const comment = typeof e.comment === 'string' ? e.comment : undefined;
  return { key: `${empty}\n${createdBy}`, createdBy, comment };
}

/**
 * Aligns two histories (each image's config history, oldest first). A step in both, with the
 * same command and empty_layer, is unchanged, even when its time differs; it is changed when
 * its comment differs. The others are removed (only in a) or added (only in b). When the two
 * differ by more than maxHistoryEdits steps, everything after their common prefix is reported
 * as removed then added: the alignment past that point would say little anyway.
 */
export function compareHistories(a: readonly unknown[], b: readonly unknown[]): HistoryComparison {
  const sa = Array.isArray(a) ? a.map(stepOf) : [];
  const sb = Array.isArray(b) ? b.map(stepOf) : [];
  const changes = diffArrays(
    sa.map((s) => s.key),
    sb.map((s) => s.key),
    { maxEditLength: maxHistoryEdits, timeout: historyTimeoutMs },
  );
  const steps: HistoryStep[] = [];
  const same = (i: number, j: number) =>
    steps.push({
      difference: sa[i]!.comment === sb[j]!.comment ? 'unchanged' : 'changed',
      a: i,
      b: j,
      createdBy: sa[i]!.createdBy,
    });
  const removed = (i: number) =>
    steps.push({ difference: 'removed', a: i, createdBy: sa[i]!.createdBy });
  const added = (j: number) =>
    steps.push({ difference: 'added', b: j, createdBy: sb[j]!.createdBy });

  if (changes) {
    let i = 0;
    let j = 0;
    for (const change of changes) {
      for (let k = 0; k < change.count; k++) {
        if (change.removed) removed(i++);
        else if (change.added) added(j++);
        else same(i++, j++);
      }
    }
  } else {
    let p = 0;
    while (p < sa.length && p < sb.length && sa[p]!.key === sb[p]!.key) {
      same(p, p);
      p++;
    }
    for (let i = p; i < sa.length; i++) removed(i);
    for (let j = p; j < sb.length; j++) added(j);
  }
  return { steps, divergesAt: steps.findIndex((s) => s.difference !== 'unchanged') };
}
