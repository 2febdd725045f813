// Background garbage collection in the images worker: once per worker, when no pull or
// resolve of any tab holds the GC lock, so it never makes them wait.
import { collectGarbage } from '../../lib/images/gc.ts';
import type { Store } from '../../lib/store/store.ts';

let started = false;

/** Collects garbage once per worker: at once if nothing holds the GC lock, else trying again
 * every half minute in the background. A failure lets the next call try again. */
export async function collectOnce(s: Store): Promise<void> {
  if (started) return;
  started = true;
  await collectWhenIdle(s);
}

async function collectWhenIdle(s: Store): Promise<void> {
  try {
    const r = await collectGarbage(s, { ifIdle: true });
    if (!r) setTimeout(() => void collectWhenIdle(s), 30_000);
  } catch {
    started = false; // next time
  }
}
