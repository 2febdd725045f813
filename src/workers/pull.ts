import { WorkerBridge } from './rpc.ts';
import type { PullEvent, PullWorkerApi } from './pull.worker.ts';

export type { PullEvent, PullWorkerApi };

export function createPullBridge(): WorkerBridge<PullWorkerApi> {
  return new WorkerBridge<PullWorkerApi>(
    new Worker(new URL('./pull.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-pull',
    }),
  );
}
