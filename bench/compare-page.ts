// The compare case's page (bench/compare.ts): starts the worker and relays the case's steps,
// timing each in page time so that the main thread's long tasks can be matched to it.
import type { CompareWorkerRequest } from './compare-worker.ts';

const worker = new Worker('/compare-bench-worker.js', {
  type: 'module',
  name: 'berth-compare-bench',
});

function ask(msg: CompareWorkerRequest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const from = performance.now();
    worker.onmessage = (e: MessageEvent<Record<string, unknown>>) =>
      resolve({ ...e.data, from, to: performance.now() });
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage(msg);
  });
}

(window as unknown as { benchCompare: typeof ask }).benchCompare = ask;
