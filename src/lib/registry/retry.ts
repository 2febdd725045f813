// Waiting between attempts, shared by the registry client and the blob fetcher.

/** The longest Retry-After worth waiting for inside a pull. A registry asking for more is
 * rate-limiting in earnest: better to stop and say so than to leave the pull hanging. */
export const maxRetryAfterSeconds = 60;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay before retry number `attempt` (1-based): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (between half and all of it) so that clients do not retry in step. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return exp / 2 + Math.random() * (exp / 2);
}
