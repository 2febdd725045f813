import { WorkerBridge } from './rpc.ts';
import type { PullEvent, PullWorkerApi, StoreEvent } from './pull.worker.ts';

export type { PullEvent, PullWorkerApi, StoreEvent };

export function createPullBridge(): WorkerBridge<PullWorkerApi> {
  return new WorkerBridge<PullWorkerApi>(
    new Worker(new URL('./pull.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-pull',
    }),
  );
}
