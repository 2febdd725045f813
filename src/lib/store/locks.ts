// Web Locks serialise writers of one ingest across tabs and workers, and keep garbage
// collection away from pulls in progress. Where the API is missing (Node, old browsers) an
// in-process lock keeps the same guarantee inside one realm (shared holders are serialised
// there, which is stricter, not looser).

const local = new Map<string, Promise<unknown>>();

export async function withLock<T>(
  name: string,
  fn: () => Promise<T>,
  signal?: AbortSignal,
  mode: 'exclusive' | 'shared' = 'exclusive',
): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) {
    return locks.request(name, { mode, ...(signal ? { signal } : {}) }, fn) as Promise<T>;
  }
  const prev = local.get(name) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(fn);
  local.set(name, run);
  try {
    return await run;
  } finally {
    if (local.get(name) === run) local.delete(name);
  }
}

/** Held shared by every pull, exclusively by garbage collection: a pull's blobs are committed
 * before its image record is, and GC must not see them in between. */
export const gcLock = 'berth-gc';
