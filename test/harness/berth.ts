// Berth's logic wired to the in-memory registry and store, for unit tests in Node.
import { createHash } from 'node:crypto';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import type { BlobProgress } from '../../src/lib/pull/progress.ts';
import type { PullContext } from '../../src/lib/pull/pull.ts';
import type { FetchContext } from '../../src/lib/pull/fetch.ts';
import { type MemoryFaults, memoryStore } from '../../src/lib/store/memory.ts';
import { MemoryRegistry } from './memory-registry.ts';

/** Pieces this small make a 200 KiB layer a handful of Range requests, so resumes can be
 * aimed at the middle of a blob. */
export const testPieceSize = 64 << 10;

export function berth(faults: MemoryFaults = {}) {
  const registry = new MemoryRegistry();
  const store = memoryStore(faults);
  // Retries are the fetcher's business here: the client gives up on a 5xx at once.
  const client = new RegistryClient({
    transport: registry.transport,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  const progress: BlobProgress[] = [];
  const pullContext = (over: Partial<PullContext> = {}): PullContext => ({
    client,
    store,
    signal: new AbortController().signal,
    onProgress: (p) => progress.push(p),
    pieceSize: testPieceSize,
    ...over,
  });
  const fetchContext = (name: string, over: Partial<FetchContext> = {}): FetchContext => ({
    client,
    store: store.content,
    reference: parseReference(name),
    onProgress: (p) => progress.push(p),
    pieceSize: testPieceSize,
    ...over,
  });
  return { registry, store, client, progress, pullContext, fetchContext };
}

/** The sha256 digest of a Blob's bytes, computed by node:crypto (not by the code under test). */
export async function digestOf(blob: Blob): Promise<string> {
  const h = createHash('sha256');
  for await (const part of blob.stream()) h.update(part);
  return `sha256:${h.digest('hex')}`;
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('it did not fail');
}
