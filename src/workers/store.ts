// The content store as each worker opens it: one connection per worker, opened on first use and
// again after another tab's schema upgrade closed it.
import { openIdbStore } from '../lib/store/idb.ts';
import type { Store } from '../lib/store/store.ts';
import { HashPool, poolSize } from './hashing.ts';

/** What opening the store reports while it waits. */
export type StoreEvent = { type: 'blocked' };

let storePromise: Promise<Store> | undefined;
/** Whether opening waits for another tab to let go of an older schema, and who wants to know. */
let blocked = false;
const blockedListeners = new Set<(e: StoreEvent) => void>();

/** The workers that hash ingests' pieces, one per core; started on the first piece, so a
 * worker that only reads the store starts none. */
const hashPool = new HashPool(
  poolSize(navigator.hardwareConcurrency),
  () => new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module' }),
);

export function store(): Promise<Store> {
  return (storePromise ??= openIdbStore({
    hashPiece: hashPool.hashPiece,
    onClose: () => (storePromise = undefined),
    onBlocked: () => {
      blocked = true;
      for (const l of blockedListeners) l({ type: 'blocked' });
    },
  }).then(
    (s) => {
      blocked = false;
      return s;
    },
    (err: unknown) => {
      blocked = false;
      storePromise = undefined;
      throw err;
    },
  ));
}

/** Opens the store, telling `listener` if the opening waits for another tab. */
export async function storeReporting(listener: (e: StoreEvent) => void): Promise<Store> {
  blockedListeners.add(listener);
  if (blocked) listener({ type: 'blocked' });
  try {
    return await store();
  } finally {
    blockedListeners.delete(listener);
  }
}
