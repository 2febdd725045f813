// What the page is doing for the person, and what it said about it: one task at a time (a pull,
// an export, a delete…), its error with the error's kind, or a notice. Starting a task cancels
// the one before, as there is one progress line and one Cancel button.
import { messageOf } from '../lib/errors.ts';
import { kindOf } from './errors.ts';

export type Phase =
  'idle' | 'resolving' | 'pulling' | 'exporting' | 'deleting' | 'verifying' | 'importing';

export class Activity {
  phase = $state<Phase>('idle');
  error = $state<string | null>(null);
  /** What kind of failure `error` is, so the page can offer what to do next (errors.ts). */
  errorKind = $state<string | null>(null);
  notice = $state<string | null>(null);
  /** How the last pull ended, until the next task: for the tab's title. */
  finished = $state.raw<{ ok: boolean } | null>(null);

  #abort: AbortController | undefined;

  get busy(): boolean {
    return this.phase !== 'idle';
  }

  /** Starts a task: the one before is cancelled, and what it said is cleared. */
  start(phase: Phase): AbortController {
    this.#abort?.abort();
    this.error = null;
    this.errorKind = null;
    this.notice = null;
    this.finished = null;
    this.phase = phase;
    return (this.#abort = new AbortController());
  }

  /** Whether a task is still the latest: a later one owns the page once it starts. */
  owns(abort: AbortController): boolean {
    return this.#abort === abort;
  }

  finish(abort: AbortController) {
    if (this.#abort === abort) this.phase = 'idle';
  }

  cancel() {
    this.#abort?.abort();
  }

  /** Shows a failure with its kind. */
  fail(err: unknown, prefix = '') {
    this.error = prefix + messageOf(err);
    this.errorKind = kindOf(err) ?? null;
  }
}
