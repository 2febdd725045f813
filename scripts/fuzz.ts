// The long fuzz run: `npm run fuzz -- --minutes N [--targets a,b] [--hang-ms 2000]`.
// Runs every target of test/fuzz round-robin with random seeds in a worker thread, for N minutes.
// An input that takes longer than the hang bound (or exhausts the worker's memory) is a failure:
// the worker is killed and replaced. Every failure is saved, minimised by fast-check (hangs are
// saved as they were), under test/fuzz/corpus/<target>/, where npm test replays it.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { decodeInput } from '../test/fuzz/targets.ts';
import { saveFailure } from '../test/fuzz/corpus.ts';
import type { Job, Result } from './fuzz-worker.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    targets: { type: 'string' },
    'hang-ms': { type: 'string', default: '2000' },
    batch: { type: 'string', default: '50' },
  },
});
const deadline = Date.now() + Number(values.minutes) * 60_000;
const hangMs = Number(values['hang-ms']);
const batch = Number(values.batch);

interface Stats {
  runs: number;
  /** Failing inputs, repeats included. */
  found: number;
  ms: number;
  failures: string[];
}
const stats = new Map<string, Stats>();

const counter = new Int32Array(new SharedArrayBuffer(4));
const length = new Int32Array(new SharedArrayBuffer(4));
const input = new Uint8Array(new SharedArrayBuffer(8 << 20));

// Failures already saved in this run, by target and message with numbers taken out: one bug
// found again and again is saved once.
const seen = new Set<string>();

async function record(
  target: string,
  error: string,
  inputJson: string,
  seed?: number,
  path?: string,
) {
  const kind = `${target} ${error.replace(/\d+/g, 'N').slice(0, 120)}`;
  stats.get(target)!.found++;
  if (seen.has(kind)) return;
  seen.add(kind);
  const file = await saveFailure({
    target,
    ...(seed !== undefined ? { seed } : {}),
    ...(path !== undefined ? { path } : {}),
    error,
    input: decodeInput(inputJson),
  });
  stats.get(target)!.failures.push(`${error.slice(0, 200)} -> ${file}`);
  console.log(`FAIL ${target}: ${error.slice(0, 300)}\n  saved ${file}`);
}

interface Stray {
  stray: string;
  target: string;
}
/** Errors that escaped every run, with the targets of the batch then and of the one before. */
const strays: (Stray & { previous: string })[] = [];

class Runner {
  #worker!: Worker;
  #previous = '';
  #names: Promise<string[]>;
  #reply: ((r: Result | { lost: string }) => void) | undefined;

  constructor() {
    this.#names = this.#start();
  }

  #start(): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.#worker = new Worker(new URL('./fuzz-worker.mjs', import.meta.url), {
        workerData: { counter, input, length },
        // The stack of a main thread (Node and browsers), not the larger default of workers, so
        // deep recursion fails here as it would there.
        resourceLimits: { maxOldGenerationSizeMb: 1536, stackSizeMb: 1 },
      });
      this.#worker.on('message', (m: Result | { ready: string[] } | Stray) => {
        if ('ready' in m) resolve(m.ready);
        else if ('stray' in m) strays.push({ ...m, previous: this.#previous });
        else this.#reply?.(m);
      });
      this.#worker.on('error', (e) => {
        reject(e);
        this.#reply?.({ lost: `${e.name}: ${e.message}` });
      });
      this.#worker.on('exit', (code) => this.#reply?.({ lost: `worker exited (${code})` }));
    });
  }

  names() {
    return this.#names;
  }

  /** Runs a batch; a hang or a crash kills the worker, saves the input and starts another. */
  async run(job: Job): Promise<void> {
    await this.#names;
    const started = Date.now();
    let last = Atomics.load(counter, 0);
    let lastChange = Date.now();
    const reply = new Promise<Result | { lost: string }>((resolve) => (this.#reply = resolve));
    const watch = new Promise<{ lost: string }>((resolve) => {
      const timer = setInterval(() => {
        const now = Atomics.load(counter, 0);
        if (now !== last) {
          last = now;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > hangMs) {
          clearInterval(timer);
          resolve({ lost: `hang: one input ran over ${hangMs} ms` });
        }
      }, 100);
      void reply.then(() => clearInterval(timer));
    });
    this.#worker.postMessage(job);
    void reply.then(() => (this.#previous = job.target));
    const result = await Promise.race([reply, watch]);
    this.#reply = undefined;
    const s = stats.get(job.target)!;
    s.ms += Date.now() - started;
    if ('lost' in result) {
      const json = new TextDecoder().decode(input.slice(0, Atomics.load(length, 0)));
      s.runs += 1;
      await this.#restart();
      if (job.replay !== undefined) {
        await record(job.target, result.lost, json, job.seed);
        return;
      }
      // The machine may just have been busy, or an earlier input may have left work running:
      // a hang counts only if the input alone hangs again in a fresh worker.
      const before = s.failures.length + s.found;
      await this.run({ ...job, replay: json });
      if (s.failures.length + s.found === before) {
        console.log(
          `stall of ${job.target} not repeated by its input alone: not saved (${result.lost})`,
        );
      }
      return;
    }
    s.runs += result.runs;
    if (result.failure) {
      await record(
        job.target,
        result.failure.error,
        result.failure.input,
        job.seed,
        result.failure.path,
      );
    }
  }

  async #restart() {
    await this.#worker.terminate();
    this.#names = this.#start();
    await this.#names;
  }

  stop() {
    return this.#worker.terminate();
  }
}

const runner = new Runner();
const all = await runner.names();
const chosen = values.targets ? values.targets.split(',') : all;
for (const t of chosen) {
  if (!all.includes(t)) throw new Error(`no target ${t}; targets: ${all.join(', ')}`);
  stats.set(t, { runs: 0, found: 0, ms: 0, failures: [] });
}
const began = Date.now();
for (let i = 0; Date.now() < deadline; i++) {
  const target = chosen[i % chosen.length]!;
  await runner.run({ target, seed: randomInt(2 ** 31), runs: batch });
}
await runner.stop();

const secs = ((Date.now() - began) / 1000).toFixed(0);
console.log(`\nfuzz: ${chosen.length} targets, ${secs} s`);
let failed = 0;
for (const [name, s] of stats) {
  failed += s.failures.length;
  console.log(
    `${name.padEnd(12)} ${String(s.runs).padStart(8)} runs ${(s.ms / 1000).toFixed(0).padStart(6)} s  ` +
      `${s.found} failing inputs, ${s.failures.length} distinct saved`,
  );
  for (const f of s.failures) console.log(`    ${f}`);
}
for (const s of new Set(
  strays.map((s) => `during ${s.target} (after ${s.previous || 'nothing'}): ${s.stray}`),
)) {
  console.log(`STRAY error ${s}`);
}
console.log(failed ? `${failed} failures saved` : 'no failures');
if (strays.length) console.log(`${strays.length} errors escaped their runs (STRAY above)`);
process.exitCode = failed || strays.length ? 1 : 0;
