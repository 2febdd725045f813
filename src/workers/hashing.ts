// Hashing in a pool of workers. An ingest's pieces are hashed one after another, but the pieces
// of different blobs need not share a thread: each piece goes to an idle worker with the
// hasher's saved state (about 100 bytes) and comes back as the new state. A piece is a Blob, so
// its bytes are not copied into the message; the worker reads it as a stream, so memory stays
// bounded. What is hashed and checked does not change: the ingest writer still holds the
// hasher, saves its state per piece for resuming, and verifies the digest at commit.
import { messageOf } from '../lib/errors.ts';
import {
  type HashAlgorithm,
  type Hasher,
  type PieceHasher,
  advanceState,
  createHasher,
  hashElsewhere,
  hashInThread,
} from '../lib/oci/hasher.ts';

export interface HashJob {
  id: number;
  algorithm: HashAlgorithm;
  state: Uint8Array;
  piece: Blob;
}

export type HashAnswer = { id: number; state: Uint8Array } | { id: number; error: string };

/** What the pool needs of a worker (a Worker, or a MessagePort in tests). */
export interface HashPort {
  postMessage(job: HashJob): void;
  onmessage: ((e: MessageEvent<HashAnswer>) => void) | null;
  onerror?: ((e: ErrorEvent) => void) | null;
  terminate?(): void;
}

/** A hashing worker's side: one hasher per algorithm, loaded with each job's state. */
export function hashJobAnswerer(): (job: HashJob) => Promise<HashAnswer> {
  const hashers = new Map<HashAlgorithm, Promise<Hasher>>();
  return async (job) => {
    try {
      let h = hashers.get(job.algorithm);
      if (!h) hashers.set(job.algorithm, (h = createHasher(job.algorithm)));
      return { id: job.id, state: await advanceState(await h, job.state, job.piece) };
    } catch (err) {
      return { id: job.id, error: messageOf(err) };
    }
  };
}

/** The number of hashing workers for a machine: one per core, at most eight (more blobs than
 * that are rarely in flight at once). */
export function poolSize(hardwareConcurrency: number | undefined): number {
  return Math.max(1, Math.min(8, Math.floor(hardwareConcurrency ?? 1)));
}

/** Pieces smaller than this are hashed in the writer's thread: a manifest or a config hashes
 * in microseconds, far less than a message round trip, let alone starting a worker (which
 * delayed the first view by hundreds of milliseconds when its documents went to the pool). */
export const inThreadBelow = 1 << 20;

interface Slot {
  port: HashPort;
  busy?: { job: HashJob; resolve: (s: Uint8Array) => void; reject: (e: Error) => void };
}

export class HashPool {
  readonly #size: number;
  readonly #spawn: () => HashPort;
  readonly #slots: Slot[] = [];
  readonly #queue: {
    job: HashJob;
    resolve: (s: Uint8Array) => void;
    reject: (e: Error) => void;
  }[] = [];
  #nextId = 1;
  /** Set once a worker cannot be started: pieces are then hashed in this thread. */
  #unavailable = false;
  /** The most jobs that ran at once: how many cores the pool used. */
  busiest = 0;

  readonly #smallest: number;

  constructor(size: number, spawn: () => HashPort, opts: { inThreadBelow?: number } = {}) {
    this.#size = Math.max(1, size);
    this.#spawn = spawn;
    this.#smallest = opts.inThreadBelow ?? inThreadBelow;
  }

  /** The pool as an ingest's way of hashing its pieces. */
  readonly hashPiece: PieceHasher = (hasher, piece) =>
    this.#unavailable || piece.size < this.#smallest
      ? hashInThread(hasher, piece)
      : this.#hashElsewhere(hasher, piece);

  readonly #hashElsewhere = hashElsewhere(
    (algorithm, state, piece) =>
      new Promise<Uint8Array>((resolve, reject) => {
        this.#queue.push({ job: { id: this.#nextId++, algorithm, state, piece }, resolve, reject });
        this.#dispatch();
      }),
  );

  #dispatch() {
    while (this.#queue.length > 0) {
      const slot = this.#idle();
      if (!slot) return;
      const work = this.#queue.shift()!;
      slot.busy = work;
      slot.port.postMessage(work.job);
      this.busiest = Math.max(this.busiest, this.#slots.filter((s) => s.busy).length);
    }
  }

  #idle(): Slot | undefined {
    const free = this.#slots.find((s) => !s.busy);
    if (free || this.#slots.length >= this.#size) return free;
    let port: HashPort;
    try {
      port = this.#spawn();
    } catch {
      // No workers here (a browser without nested workers): hash in this thread instead.
      this.#unavailable = true;
      for (const w of this.#queue.splice(0)) {
        void this.#inThread(w.job).then(w.resolve, w.reject);
      }
      return undefined;
    }
    const slot: Slot = { port };
    port.onmessage = (e) => this.#answered(slot, e.data);
    port.onerror = () => this.#failed(slot, new Error('a hashing worker failed'));
    this.#slots.push(slot);
    return slot;
  }

  /** Stops every worker; pieces still waiting fail. */
  close() {
    for (const slot of this.#slots.splice(0)) {
      slot.port.terminate?.();
      slot.busy?.reject(new Error('the hashing pool was closed'));
    }
    for (const w of this.#queue.splice(0)) w.reject(new Error('the hashing pool was closed'));
  }

  async #inThread(job: HashJob): Promise<Uint8Array> {
    return advanceState(await createHasher(job.algorithm), job.state, job.piece);
  }

  #answered(slot: Slot, answer: HashAnswer) {
    const work = slot.busy;
    if (!work || work.job.id !== answer.id) return;
    slot.busy = undefined;
    if ('error' in answer) work.reject(new Error(answer.error));
    else work.resolve(answer.state);
    this.#dispatch();
  }

  /** A worker that died fails its piece, and so the pull (pulling again resumes from the
   * ingest's durable state); a new worker takes its place for the next piece. */
  #failed(slot: Slot, err: Error) {
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    slot.port.terminate?.();
    slot.busy?.reject(err);
    this.#dispatch();
  }
}
