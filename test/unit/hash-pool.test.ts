// The pool of hashing workers, with the workers' real code answering over MessagePorts (Node
// has no Web Workers): a pull hashes its blobs' pieces in the pool and still checks every
// digest, resumes, and falls back to its own thread where no worker can start.
import { afterEach, describe, expect, test } from 'vitest';
import { DigestMismatchError } from '../../src/lib/oci/errors.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import {
  type HashAnswer,
  type HashJob,
  type HashPort,
  HashPool,
  hashJobAnswerer,
  poolSize,
} from '../../src/workers/hashing.ts';
import { digestOf, testPieceSize } from '../harness/berth.ts';
import { noise, pushImage } from '../harness/images.ts';
import { MemoryRegistry } from '../harness/memory-registry.ts';

const name = 'registry.test/library/app:v1';
const pools: HashPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

/** A worker: the real answerer behind a MessagePort, as hash.worker.ts wires it. */
function portWorker(answer = hashJobAnswerer()): HashPort {
  const { port1, port2 } = new MessageChannel();
  port2.onmessage = (e: MessageEvent<HashJob>) =>
    void answer(e.data).then((a) => port2.postMessage(a));
  const port = port1 as unknown as HashPort;
  port.terminate = () => {
    port1.close();
    port2.close();
  };
  return port;
}

async function pullWith(pool: HashPool, layers: number, fault?: (r: MemoryRegistry) => void) {
  pools.push(pool);
  const registry = new MemoryRegistry();
  const img = await pushImage(registry, 'library/app', {
    tag: 'v1',
    layers: Array.from({ length: layers }, (_, i) => ({ [`f${i}`]: noise(4 * testPieceSize) })),
  });
  fault?.(registry);
  const store = memoryStore({}, { hashPiece: pool.hashPiece });
  const client = new RegistryClient({
    transport: registry.transport,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  await pullImage(parseReference(name), undefined, {
    client,
    store,
    signal: new AbortController().signal,
    onProgress: () => {},
    pieceSize: testPieceSize,
  });
  for (const l of img.layers) {
    expect(await digestOf(await store.content.read(l.digest))).toBe(l.digest);
  }
  return img;
}

describe('hashing pool', () => {
  test('one worker per core, at most eight', () => {
    expect([undefined, 0, 1, 2, 6, 64].map(poolSize)).toEqual([1, 1, 1, 2, 6, 8]);
  });

  test('the layers of a pull are hashed side by side in the pool, and every digest verifies', async () => {
    let started = 0;
    const pool = new HashPool(4, () => (started++, portWorker()), { inThreadBelow: 0 });
    await pullWith(pool, 3);
    expect(pool.busiest, 'pieces of several layers hashed at once').toBeGreaterThanOrEqual(2);
    expect(started).toBeLessThanOrEqual(4);
  });

  test('a worker that hashes wrong fails the pull with a digest mismatch', async () => {
    const real = hashJobAnswerer();
    // It hashes the piece, then answers with the state it was sent: the piece is skipped.
    const skipping = async (job: HashJob): Promise<HashAnswer> => {
      await real({ ...job, state: job.state.slice() });
      return { id: job.id, state: job.state };
    };
    const pool = new HashPool(2, () => portWorker(skipping), { inThreadBelow: 0 });
    await expect(pullWith(pool, 1)).rejects.toBeInstanceOf(DigestMismatchError);
  });

  test('a piece cut short resumes from the saved state the pool returned', async () => {
    const pool = new HashPool(2, () => portWorker(), { inThreadBelow: 0 });
    await pullWith(pool, 2, (registry) =>
      registry.fault({
        when: (r) => r.kind === 'blob' && r.start === 2 * testPieceSize,
        fault: { kind: 'short', keep: 1000 },
      }),
    );
  }, 20_000);

  test("small pieces (manifests, configs) are hashed in the writer's thread: no worker starts", async () => {
    let started = 0;
    const pool = new HashPool(4, () => (started++, portWorker()), { inThreadBelow: 1 << 20 });
    await pullWith(pool, 2);
    expect(started).toBe(0);
  });

  test('where no worker can start, pieces are hashed in this thread', async () => {
    const pool = new HashPool(
      2,
      () => {
        throw new Error('no nested workers here');
      },
      { inThreadBelow: 0 },
    );
    await pullWith(pool, 2);
    expect(pool.busiest).toBe(0);
  });
});
