// containerd's images.Dispatch: walk a descriptor tree with small handlers, siblings in parallel
// under a limit, the first error cancelling the rest.
import type { Descriptor } from '../oci/types.ts';

/** A handler does its work for one descriptor and returns the children to walk next. */
export type Handler = (desc: Descriptor, signal: AbortSignal) => Promise<Descriptor[]>;

/** Thrown by a handler to skip a descriptor and its children without failing the walk. */
export class SkipDescriptor extends Error {
  override name = 'SkipDescriptor';
}

/** Runs handlers in order for a descriptor and collects all their children (images.Handlers). */
export function handlers(...hs: Handler[]): Handler {
  return async (desc, signal) => {
    const children: Descriptor[] = [];
    for (const h of hs) children.push(...(await h(desc, signal)));
    return children;
  };
}

class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(n: number) {
    this.#free = Math.max(1, n);
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

export async function dispatch(
  handler: Handler,
  roots: Descriptor[],
  opts: { limit: number; signal: AbortSignal },
): Promise<void> {
  const inner = new AbortController();
  const onAbort = () => inner.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const sem = new Semaphore(opts.limit);
  let first: unknown;
  let failed = false;

  const walk = async (descs: Descriptor[]): Promise<void> => {
    await Promise.all(
      descs.map(async (desc) => {
        if (inner.signal.aborted) return;
        let children: Descriptor[];
        try {
          children = await sem.run(() => {
            if (inner.signal.aborted) throw inner.signal.reason;
            return handler(desc, inner.signal);
          });
        } catch (err) {
          if (err instanceof SkipDescriptor) return;
          if (!failed) {
            failed = true;
            first = err;
            inner.abort(err);
          }
          return;
        }
        if (children.length > 0) await walk(children);
      }),
    );
  };

  try {
    if (opts.signal.aborted) throw opts.signal.reason;
    await walk(roots);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  if (failed) throw first;
  if (opts.signal.aborted) throw opts.signal.reason;
}
