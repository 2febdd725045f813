// Web Locks serialise writers of one ingest across tabs and workers, and keep garbage
// collection away from pulls in progress. Where the API is missing (Node, old browsers) an
// in-process lock keeps the same guarantee inside one realm (shared holders are serialised
// there, which is stricter, not looser).

const local = new Map<string, Promise<unknown>>();

export interface LockOptions {
  signal?: AbortSignal;
  mode?: 'exclusive' | 'shared';
}

/** Runs fn while holding the lock. */
export async function withLock<T>(
  name: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) {
    const { signal, mode = 'exclusive' } = opts;
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

/** Runs fn with the lock held exclusively if nobody holds or waits for it now; otherwise
 * returns undefined without waiting. */
export async function withLockIfIdle<T>(
  name: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) {
    return locks.request(name, { ifAvailable: true }, (lock) =>
      lock ? fn() : undefined,
    ) as Promise<T | undefined>;
  }
  if (local.has(name)) return undefined;
  return withLock(name, fn);
}

/** Held shared by every pull and resolve, exclusively by garbage collection: a pull's blobs
 * are committed before its image record is, and GC must not see them in between. */
export const gcLock = 'berth-gc';
