// A full disk, said plainly: what the pull still needs, and what deleting could free.
import { formatBytes } from '../units.ts';
import type { Store } from '../store/store.ts';
import { type Library, readLibrary } from './library.ts';

export class StorageFullError extends Error {
  override name = 'StorageFullError';
  readonly kind = 'storage-full';
  constructor(
    message: string,
    /** Bytes the pull still needs, where known. */
    readonly needed?: number,
  ) {
    super(message);
  }
}

/** The browser refused a write for lack of space. Chromium aborts the transaction with a
 * QuotaExceededError (the request itself succeeds); some engines report an AbortError that
 * names the quota. */
export function isQuotaError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { name, message } = err as { name?: unknown; message?: unknown };
  if (name === 'QuotaExceededError') return true;
  return name === 'AbortError' && typeof message === 'string' && /quota|disk|space/i.test(message);
}

/** The error a pull of `name` ends with when the store is full. */
export function storageFullError(
  name: string,
  library: Library,
  estimate?: { usage?: number; quota?: number },
): StorageFullError {
  const pull = library.pulls.find((p) => p.name === name);
  const needed = pull ? Math.max(0, pull.total - pull.stored) : undefined;
  const parts = [
    needed
      ? `Not enough storage: free about ${formatBytes(needed)} to pull ${name} (the browser refused to store more).`
      : `Not enough storage to pull ${name}: the browser refused to store more.`,
  ];
  if (estimate?.usage !== undefined && estimate.quota !== undefined) {
    parts.push(
      `This site uses ${formatBytes(estimate.usage)} of the ${formatBytes(estimate.quota)} the browser allows.`,
    );
  }
  // What deleting would free: the bytes no other image shares.
  const freeable = library.images
    .filter((i) => i.name !== name && i.size > i.shared)
    .map((i) => ({ name: i.name, frees: i.size - i.shared }))
    .sort((a, b) => b.frees - a.frees);
  if (freeable.length > 0) {
    const total = freeable.reduce((n, i) => n + i.frees, 0);
    const top = freeable
      .slice(0, 3)
      .map((i) => `${i.name} (${formatBytes(i.frees)})`)
      .join(', ');
    parts.push(
      `Deleting images from the library frees up to ${formatBytes(total)}: ${top}${freeable.length > 3 ? ', …' : ''}.`,
    );
  } else {
    parts.push('No other image is stored here: free space on this device.');
  }
  parts.push('What was downloaded is kept: pull again once there is room, and it resumes.');
  return new StorageFullError(parts.join(' '), needed);
}

/** A quota refusal becomes the error that says what to free (with the browser's estimate where
 * it gives one); any other error is returned as it is. */
export async function whenFull(err: unknown, name: string, store: Store): Promise<unknown> {
  if (!isQuotaError(err)) return err;
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  const estimate = await storage?.estimate().catch(() => undefined);
  return storageFullError(name, await readLibrary(store), estimate);
}
