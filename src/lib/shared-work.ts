// Work shared by every caller that asks for the same key, with results kept. The work belongs to
// no caller: it runs under its own AbortController, each caller waits on it with its own signal,
// and it is cancelled only when the last caller waiting has left. So one caller leaving (a row
// scrolled away, a view closed) never takes the answer from the others.

interface Entry<V> {
  promise: Promise<V>;
  abort: AbortController;
  /** Callers waiting now; meaningless once settled. */
  waiters: number;
  settled: boolean;
}

export interface SharedWorkOptions {
  /** How many results are kept (oldest used dropped first). Work under way is never dropped
   * while callers wait on it, whatever the count. */
  keep: number;
}

export class SharedWork<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #keep: number;

  constructor(opts: SharedWorkOptions) {
    this.#keep = opts.keep;
  }

  /** Results kept and work under way. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether a result, or work under way, is held for `key`. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /**
   * The result of `work` for `key`: a kept result, the work another caller started, or new work,
   * started with a signal of its own. `signal` only stops this caller waiting. A failure, or a
   * work cancelled because everyone left, is forgotten, so the next caller starts anew.
   */
  run(key: K, work: (signal: AbortSignal) => Promise<V>, signal: AbortSignal): Promise<V> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let entry = this.#entries.get(key);
    if (entry) {
      // Most recently used last, so the bound drops what nobody asked for in a while.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    } else {
      entry = this.#start(key, work);
    }
    if (entry.settled) return entry.promise;
    return this.#wait(key, entry, signal);
  }

  #start(key: K, work: (signal: AbortSignal) => Promise<V>): Entry<V> {
    const abort = new AbortController();
    const entry: Entry<V> = {
      // Called on a later turn, so that a work that throws at once is a rejection like any.
      promise: Promise.resolve().then(() => work(abort.signal)),
      abort,
      waiters: 0,
      settled: false,
    };
    const forget = () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    };
    entry.promise.then(
      () => (entry.settled = true),
      () => {
        entry.settled = true;
        forget();
      },
    );
    this.#entries.set(key, entry);
    // Only settled results are dropped: a waiter's work stays findable by the callers after it.
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#keep) break;
      if (e.settled) this.#entries.delete(k);
    }
    return entry;
  }

  #wait(key: K, entry: Entry<V>, signal: AbortSignal): Promise<V> {
    entry.waiters++;
    return new Promise<V>((resolve, reject) => {
      const leave = () => {
        reject(signal.reason);
        if (--entry.waiters > 0 || entry.settled) return;
        // The last caller left: nobody wants the work any more, and the next caller starts anew.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
        entry.abort.abort(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      void entry.promise.then(resolve, reject).finally(() => {
        signal.removeEventListener('abort', leave);
        if (!signal.aborted) entry.waiters--;
      });
    });
  }
}
