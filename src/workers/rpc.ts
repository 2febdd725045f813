// One typed message protocol between the page and a worker: calls with a result or an error,
// events along the way (progress), and cancellation through an AbortSignal.

/** What a worker method gets besides its argument. `E` is the type of the events the method
 * sends along the way; a method that sends none takes `CallContext` (E = never). */
export interface CallContext<E = never> {
  signal: AbortSignal;
  emit(event: E): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Api = Record<string, (arg: any, ctx: CallContext<any>) => Promise<unknown>>;

export interface SerializedError {
  name: string;
  message: string;
  kind?: string;
}

export type Request =
  { type: 'call'; id: number; method: string; arg: unknown } | { type: 'cancel'; id: number };

export type Reply =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'event'; id: number; event: unknown };

/** An error rebuilt on the page side, keeping the worker error's name and kind. */
export class WorkerError extends Error {
  constructor(readonly remote: SerializedError) {
    super(remote.message);
    this.name = remote.name;
  }
  get kind() {
    return this.remote.kind;
  }
}

interface Port {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const kind = (err as { kind?: unknown }).kind;
    return { name: err.name, message: err.message, ...(typeof kind === 'string' ? { kind } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

/** Serves an API from inside a worker. */
export function expose(api: Api, port: Port): void {
  const running = new Map<number, AbortController>();
  port.addEventListener('message', (e: MessageEvent<Request>) => {
    const msg = e.data;
    if (msg.type === 'cancel') {
      running.get(msg.id)?.abort(new DOMException('cancelled', 'AbortError'));
      return;
    }
    const fn = api[msg.method];
    const ac = new AbortController();
    running.set(msg.id, ac);
    const ctx: CallContext = {
      signal: ac.signal,
      emit: (event) => port.postMessage({ type: 'event', id: msg.id, event } satisfies Reply),
    };
    const run = fn
      ? fn(msg.arg, ctx)
      : Promise.reject(new Error(`unknown worker method ${msg.method}`));
    const fail = (err: unknown) =>
      port.postMessage({ type: 'error', id: msg.id, error: serialize(err) } satisfies Reply);
    run
      .then((value) => {
        try {
          port.postMessage({ type: 'result', id: msg.id, value } satisfies Reply);
        } catch (err) {
          fail(err); // a result that cannot be cloned must still settle the call
        }
      }, fail)
      .finally(() => running.delete(msg.id));
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Arg<F> = F extends (arg: infer A, ctx: CallContext<any>) => unknown ? A : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Result<F> = F extends (arg: never, ctx: CallContext<any>) => Promise<infer R> ? R : never;
/** The events a method declares through its context's type. */
export type EventOf<F> = F extends (arg: never, ctx: CallContext<infer E>) => unknown ? E : never;

export interface CallOptions<E = unknown> {
  signal?: AbortSignal;
  onEvent?: (event: E) => void;
}

/** The page's side: owns one worker and types every call from the worker's API. */
export class WorkerBridge<A extends Api> {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: unknown): void; onEvent?: (e: unknown) => void }
  >();
  #next = 1;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.addEventListener('message', (e: MessageEvent<Reply>) => {
      const msg = e.data;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      if (msg.type === 'event') return p.onEvent?.(msg.event);
      this.#pending.delete(msg.id);
      if (msg.type === 'result') p.resolve(msg.value);
      else p.reject(new WorkerError(msg.error));
    });
    worker.addEventListener('error', (e) => {
      const err = new WorkerError({
        name: 'WorkerCrashed',
        message: `worker failed: ${e.message}`,
      });
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
  }

  call<M extends keyof A & string>(
    method: M,
    arg: Arg<A[M]>,
    opts: CallOptions<EventOf<A[M]>> = {},
  ): Promise<Result<A[M]>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const signal = opts.signal;
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => this.#worker.postMessage({ type: 'cancel', id } satisfies Request);
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        resolve: (v) => {
          done();
          (resolve as (v: unknown) => void)(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        ...(opts.onEvent ? { onEvent: opts.onEvent as (e: unknown) => void } : {}),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#worker.postMessage({ type: 'call', id, method, arg } satisfies Request);
    });
  }
}
