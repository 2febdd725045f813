// Letting the event loop turn during long work, so that a worker still takes its messages.

/** How long a loop over a layer works before it lets the event loop turn. */
export const yieldMs = 50;

/**
 * Lets the event loop run its queued tasks (a worker's incoming messages: a cancel, another
 * request). Awaiting a stream whose data is already decoded only runs microtasks, which never
 * let a message in: a decompression bomb read from memory would starve the worker for as long
 * as it expands. This waits for a macrotask instead.
 */
export function macrotask(): Promise<void> {
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const { port1, port2 } = new MessageChannel();
      port1.onmessage = () => {
        port1.close();
        resolve();
      };
      port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Calls `macrotask` at most every `ms` of work: `await tick()` in a loop. */
export function yielder(ms = yieldMs): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < ms) return undefined;
    return macrotask().then(() => {
      last = performance.now();
    });
  };
}
