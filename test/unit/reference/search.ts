// The file search as a job: which paths of a listing match a query. It runs in the layers worker
// (the page only sends the query), yields now and then so that a newer query can cancel it,
// and its work is bounded by the glob matcher's: at most len(path) x len(pattern) per path.
import { macrotask } from '../../../src/lib/tasks.ts';
import { globMatcher, type GlobWork } from '../../../src/lib/layers/glob.ts';

export interface SearchOptions {
  signal?: AbortSignal;
  /** Matcher steps between two yields to the event loop, where a cancel is seen. */
  stepsPerSlice?: number;
}

/**
 * The indexes, in order, of the paths the query matches (globMatcher's rules). Rejects with the
 * signal's reason once it is aborted: checked between slices of work.
 */
export async function searchPaths(
  paths: readonly string[],
  query: string,
  { signal, stepsPerSlice = 1 << 20 }: SearchOptions = {},
): Promise<Uint32Array> {
  signal?.throwIfAborted();
  const work: GlobWork = { steps: 0 };
  const match = globMatcher(query, work);
  const found: number[] = [];
  let budget = stepsPerSlice;
  for (let i = 0; i < paths.length; i++) {
    if (match(paths[i]!)) found.push(i);
    // A substring search counts no steps: its length stands for its work.
    work.steps += paths[i]!.length;
    if (work.steps >= budget) {
      await macrotask();
      signal?.throwIfAborted();
      budget = work.steps + stepsPerSlice;
    }
  }
  return Uint32Array.from(found);
}
