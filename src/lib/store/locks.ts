// Web Locks serialise writers of one ingest across tabs and workers. Where the API is missing
// (Node, old browsers) an in-process lock keeps the same guarantee inside one realm.

const local = new Map<string, Promise<unknown>>();

export async function withLock<T>(
  name: string,
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) {
    return locks.request(name, signal ? { signal } : {}, fn) as Promise<T>;
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
