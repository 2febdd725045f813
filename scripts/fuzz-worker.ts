// One fuzz worker (see fuzz.ts): runs batches of a target's property with a given seed, and
// before each input writes it into shared memory and bumps a counter, so the main thread can
// tell a hang from slow progress and knows the input that hung even if this thread never answers.
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { decodeInput, encodeInput, loadTargets } from '../test/fuzz/targets.ts';

export interface Job {
  target: string;
  seed: number;
  runs: number;
  /** Run only this input (encodeInput's JSON) once: to confirm a hang in a fresh worker. */
  replay?: string;
}

export interface Result {
  target: string;
  seed: number;
  runs: number;
  failure?: { error: string; input: string; path: string };
}

const shared = workerData as { counter: Int32Array; input: Uint8Array; length: Int32Array };
const enc = new TextEncoder();
const targets = await loadTargets();

function note(input: unknown) {
  let bytes = enc.encode(encodeInput(input));
  if (bytes.length > shared.input.length) bytes = enc.encode('"(input too large to keep)"');
  shared.input.set(bytes);
  Atomics.store(shared.length, 0, bytes.length);
  Atomics.add(shared.counter, 0, 1);
}

// An error thrown outside any awaited promise (say, by a stream left running by an input) would
// kill the worker and be blamed on whatever input runs then: report it with its stack instead,
// naming the target of the batch, which is where it can have come from (this batch or the one
// before it).
let current = '';
const stray = (e: unknown) => {
  const text = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
  parentPort!.postMessage({ stray: text, target: current });
};
process.on('uncaughtException', stray);
process.on('unhandledRejection', stray);

parentPort!.on('message', async (job: Job) => {
  current = job.target;
  const target = targets.find((t) => t.name === job.target)!;
  if (job.replay !== undefined) {
    const input = decodeInput(job.replay);
    note(input);
    let error: string | undefined;
    try {
      await target.run(input);
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    const result: Result = { target: job.target, seed: job.seed, runs: 1 };
    if (error) result.failure = { error, input: job.replay, path: '' };
    parentPort!.postMessage(result);
    return;
  }
  const details = await fc.check(
    fc.asyncProperty(target.arbitrary, async (input) => {
      note(input);
      await target.run(input);
    }),
    { seed: job.seed, numRuns: job.runs },
  );
  const result: Result = { target: job.target, seed: job.seed, runs: details.numRuns };
  if (details.failed && details.counterexample) {
    const err = details.errorInstance;
    result.failure = {
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      input: encodeInput(details.counterexample[0]),
      path: details.counterexamplePath ?? '',
    };
  }
  parentPort!.postMessage(result);
});
parentPort!.postMessage({ ready: targets.map((t) => t.name) });
