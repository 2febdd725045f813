// What the page offers after a failure, by the failure's kind (a RegistryError's kind,
// 'storage-full', 'proxy-denied', …). One table, read by the state and by the view.
import { WorkerError } from '../workers/rpc.ts';

/** The registry cannot answer now (down, offline, limiting): a stored copy is shown instead. */
export const unavailableKinds: readonly string[] = ['unreachable', 'server', 'rate-limited'];

/** Failures that may pass by themselves: "Try again" is offered. A registry that answered
 * garbage may answer well next time, but its garbage says nothing about a stored copy. */
export const retryableKinds: readonly string[] = [...unavailableKinds, 'protocol'];

/** Failures that credentials lift; a rate limit too, as Docker Hub's is per account. */
export const signInKinds: readonly string[] = ['unauthorized', 'denied', 'rate-limited'];

/** What to offer next to an error. */
export interface NextActions {
  retry: boolean;
  /** The connection settings may be the cause. */
  settings: boolean;
  /** Deleting images frees the space that ran out. */
  library: boolean;
}

export function nextActions(kind: string | null): NextActions {
  const k = kind ?? '';
  return {
    retry: retryableKinds.includes(k),
    settings: k === 'unreachable' || k === 'proxy-denied',
    library: k === 'storage-full',
  };
}

/** The kind a worker gave a failure; undefined for a failure of the page itself. */
export function kindOf(err: unknown): string | undefined {
  return err instanceof WorkerError ? err.kind : undefined;
}
