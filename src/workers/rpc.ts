// One typed message protocol between the page and a worker: calls with a result or an error,
// events along the way (progress), and cancellation through an AbortSignal.

/** What a worker method gets besides its argument. `E` is the type of the events the method
 * sends along the way; a method that sends none takes `CallContext` (E = never). */
export interface CallContext<E = never> {
  signal: AbortSignal;
  /** Sends an event; the buffers in `transfer` move to the page (they are detached here)
   * rather than being copied. */
  emit(event: E, transfer?: Transferable[]): void;
}

/** What a method's result moves rather than copies, by result object. */
const resultTransfers = new WeakMap<object, Transferable[]>();

/** Marks a method's result so that these buffers move to the page with it instead of being
 * copied: the worker must not touch them after returning. */
export function transfer<T extends object>(value: T, list: Transferable[]): T {
  resultTransfers.set(value, list);
  return value;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Api = Record<string, (arg: any, ctx: CallContext<any>) => Promise<unknown>>;

export interface SerializedError {
  name: string;
  message: string;
  kind?: string;
}

export type Request =
  | { type: 'call'; id: number; method: string; arg: unknown }
  | { type: 'cancel'; id: number }
  /** Asks whether the worker's event loop still turns: answered at once with a pong. */
  | { type: 'ping' };

export type Reply =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'event'; id: number; event: unknown }
  | { type: 'pong' };

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
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

/** What the page needs of a worker: a Worker, or an in-memory stand-in in tests. */
export interface WorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  terminate(): void;
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
    if (msg.type === 'ping') return port.postMessage({ type: 'pong' } satisfies Reply);
    if (msg.type === 'cancel') {
      running.get(msg.id)?.abort(new DOMException('cancelled', 'AbortError'));
      return;
    }
    const fn = api[msg.method];
    const ac = new AbortController();
    running.set(msg.id, ac);
    const ctx: CallContext = {
      signal: ac.signal,
      emit: (event, transfer = []) =>
        port.postMessage({ type: 'event', id: msg.id, event } satisfies Reply, transfer),
    };
    const run = fn
      ? fn(msg.arg, ctx)
      : Promise.reject(new Error(`unknown worker method ${msg.method}`));
    const fail = (err: unknown) =>
      port.postMessage({ type: 'error', id: msg.id, error: serialize(err) } satisfies Reply);
    run
      .then((value) => {
        try {
          const moved = typeof value === 'object' && value ? resultTransfers.get(value) : undefined;
          port.postMessage({ type: 'result', id: msg.id, value } satisfies Reply, moved ?? []);
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
  /** The call was sent again to a fresh worker (the one it ran in was stopped because of
   * another call): events start over, so whatever they built must be dropped. */
  onRestart?: () => void;
}

/** The name of the error a call fails with when the bridge stopped it (see WatchdogOptions). */
export const jobStopped = 'JobStoppedError';

/** A watchdog over a worker whose jobs may run away on hostile input (a decompression bomb, a
 * decoder that loops): every job is answered, by its result or by an error naming the cause. */
export interface WatchdogOptions {
  /** The longest a call may run, in ms, read when the call starts; past it the call is
   * cancelled, and fails as "stopped after N s". Undefined: no limit. */
  jobLimitMs?: () => number | undefined;
  /** How long a cancelled call may take to settle before its worker is terminated (the call
   * then fails with "did not stop when cancelled") and a fresh worker takes the other calls,
   * which are sent again. */
  cancelGraceMs: number;
  /** A worker that has not answered a ping for this long is busy in a loop that does not
   * yield: new calls go to a fresh worker, and the busy one is terminated once its calls are
   * settled. */
  stuckMs?: number;
}

interface Lane {
  worker: WorkerLike;
  /** Ids of the calls sent to this worker and not settled. */
  calls: Set<number>;
  /** When the worker last said anything, or was created. */
  heard: number;
  /** The bridge's tick when it last heard from the worker: orders sends and answers exactly,
   * where two Date.now() readings in one millisecond could not. */
  heardTick: number;
  /** It has answered once: a worker still loading its code is not judged stuck. */
  ready: boolean;
  ping?: ReturnType<typeof setInterval>;
}

interface Pending {
  method: string;
  arg: unknown;
  lane: Lane;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onEvent?: (e: unknown) => void;
  onRestart?: () => void;
  signal?: AbortSignal;
  /** Why the bridge is stopping the call; once set, the call fails with this cause. */
  stopping?: string;
  /** The bridge's tick when it was last sent to a worker. */
  sentTick: number;
  /** It was moved off a worker that stopped answering: it is not moved again. */
  moved?: boolean;
  timers: ReturnType<typeof setTimeout>[];
}

/** The page's side: owns one worker (or, with a watchdog, replaces it when it runs away) and
 * types every call from the worker's API. */
export class WorkerBridge<A extends Api> {
  readonly #create: () => WorkerLike;
  readonly #watchdog: WatchdogOptions | undefined;
  /** Counts sends and answers, to order them (see Lane.heardTick). */
  #tick = 0;
  readonly #pending = new Map<number, Pending>();
  #lane: Lane;
  #next = 1;

  constructor(worker: WorkerLike | (() => WorkerLike), watchdog?: WatchdogOptions) {
    let first: WorkerLike | undefined = typeof worker === 'function' ? undefined : worker;
    this.#create =
      typeof worker === 'function'
        ? worker
        : () => {
            if (!first) throw new Error('this bridge was given one worker and cannot make more');
            const w = first;
            first = undefined;
            return w;
          };
    this.#watchdog = watchdog;
    this.#lane = this.#open();
  }

  /** Workers running, for tests: the current one plus busy ones still finishing. */
  get workers(): number {
    return new Set([this.#lane, ...[...this.#pending.values()].map((p) => p.lane)]).size;
  }

  #open(): Lane {
    const lane: Lane = {
      worker: this.#create(),
      calls: new Set(),
      heard: Date.now(),
      heardTick: ++this.#tick,
      ready: false,
    };
    lane.worker.addEventListener('message', (e: MessageEvent<Reply>) => {
      lane.heard = Date.now();
      lane.heardTick = ++this.#tick;
      lane.ready = true;
      const msg = e.data;
      if (msg.type === 'pong') return;
      const p = this.#pending.get(msg.id);
      if (!p || p.lane !== lane) return;
      if (msg.type === 'event') return p.onEvent?.(msg.event);
      if (msg.type === 'result') this.#settle(msg.id, p).resolve(msg.value);
      else if (p.stopping) this.#settle(msg.id, p).reject(stoppedError(p.stopping));
      else this.#settle(msg.id, p).reject(new WorkerError(msg.error));
    });
    // Answered before any call (messages are taken in order): marks the worker ready.
    if (this.#watchdog?.stuckMs) lane.worker.postMessage({ type: 'ping' } satisfies Request);
    lane.worker.addEventListener('error', (e) => {
      const err = new WorkerError({
        name: 'WorkerCrashed',
        message: `worker failed: ${e.message}`,
      });
      for (const id of [...lane.calls]) this.#settle(id, this.#pending.get(id)!).reject(err);
    });
    return lane;
  }

  /** Forgets a call and its timers; returns it to be resolved or rejected. */
  #settle(id: number, p: Pending): Pending {
    this.#pending.delete(id);
    p.lane.calls.delete(id);
    for (const t of p.timers) clearTimeout(t);
    if (p.lane.calls.size === 0) {
      clearInterval(p.lane.ping);
      p.lane.ping = undefined;
      // A worker set aside as busy has nothing left to do.
      if (p.lane !== this.#lane) p.lane.worker.terminate();
    }
    return p;
  }

  #send(id: number, p: Pending) {
    const lane = p.lane;
    lane.calls.add(id);
    p.sentTick = ++this.#tick;
    lane.worker.postMessage({ type: 'call', id, method: p.method, arg: p.arg } satisfies Request);
    const stuckMs = this.#watchdog?.stuckMs;
    if (stuckMs && !lane.ping) {
      lane.heard = Date.now();
      lane.ping = setInterval(() => {
        const silent = Date.now() - lane.heard > stuckMs;
        if (lane === this.#lane && lane.ready && silent) this.#setAside(lane);
        else lane.worker.postMessage({ type: 'ping' } satisfies Request);
      }, stuckMs / 2);
    }
  }

  /** A worker stopped answering: new calls go to a fresh one, and so do the calls sent to it
   * since it last answered (it has not taken them, or one of them is what holds it: moved
   * once, that one leaves the old worker idle, and it is terminated). */
  #setAside(lane: Lane) {
    this.#lane = this.#open();
    for (const id of [...lane.calls]) {
      const p = this.#pending.get(id)!;
      if (p.moved || p.sentTick < lane.heardTick) continue;
      lane.calls.delete(id);
      // A call already cancelled or being stopped is not run again: it ends here, and its
      // grace timer can no longer terminate the fresh worker.
      if (this.#endStopped(id, p)) continue;
      p.moved = true;
      p.lane = this.#lane;
      p.onRestart?.();
      this.#send(id, p);
    }
    if (lane.calls.size === 0) {
      clearInterval(lane.ping);
      lane.worker.terminate();
    }
  }

  /** Asks the worker to stop a call; with a watchdog, a worker that does not stop it in time
   * is terminated. */
  #cancel(id: number, stopping?: string) {
    const p = this.#pending.get(id);
    if (!p) return;
    if (stopping) p.stopping ??= stopping;
    p.lane.worker.postMessage({ type: 'cancel', id } satisfies Request);
    const grace = this.#watchdog?.cancelGraceMs;
    if (grace === undefined) return;
    p.timers.push(
      setTimeout(() => {
        if (this.#pending.get(id) === p) this.#terminate(p.lane, id, 'did not stop when cancelled');
      }, grace),
    );
  }

  /** Terminates a worker that will not stop `culprit`: that call fails with the cause, the
   * worker's other calls go to a fresh worker. */
  /** Ends a call that was cancelled or is being stopped, rather than moving it to a fresh
   * worker; says whether it did. */
  #endStopped(id: number, p: Pending): boolean {
    if (p.signal?.aborted) this.#settle(id, p).reject(p.signal.reason);
    else if (p.stopping) this.#settle(id, p).reject(stoppedError(p.stopping));
    else return false;
    return true;
  }

  #terminate(lane: Lane, culprit: number, cause: string) {
    clearInterval(lane.ping);
    lane.ping = undefined;
    lane.worker.terminate();
    if (this.#lane === lane) this.#lane = this.#open();
    for (const id of [...lane.calls]) {
      const p = this.#pending.get(id)!;
      lane.calls.delete(id);
      if (id === culprit) {
        this.#settle(id, p).reject(
          stoppedError(p.stopping ? `${p.stopping}, and ${cause}` : cause),
        );
      } else if (!this.#endStopped(id, p)) {
        p.lane = this.#lane;
        p.onRestart?.();
        this.#send(id, p);
      }
    }
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
      const onAbort = () => this.#cancel(id);
      const p: Pending = {
        method,
        arg,
        lane: this.#lane,
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          (resolve as (v: unknown) => void)(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        ...(opts.onEvent ? { onEvent: opts.onEvent as (e: unknown) => void } : {}),
        ...(opts.onRestart ? { onRestart: opts.onRestart } : {}),
        ...(signal ? { signal } : {}),
        timers: [],
        sentTick: 0,
      };
      this.#pending.set(id, p);
      signal?.addEventListener('abort', onAbort, { once: true });
      const limit = this.#watchdog?.jobLimitMs?.();
      if (limit !== undefined && limit > 0) {
        p.timers.push(
          setTimeout(() => this.#cancel(id, `stopped after ${formatLimit(limit)}`), limit),
        );
      }
      this.#send(id, p);
    });
  }
}

function stoppedError(cause: string): WorkerError {
  return new WorkerError({ name: jobStopped, kind: 'stopped', message: cause });
}

/** "600 s", "30 ms": how a limit is named in errors. */
function formatLimit(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
