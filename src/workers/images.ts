import { WorkerBridge } from './rpc.ts';
import type { PullEvent, ImagesWorkerApi, StoreEvent } from './images.worker.ts';

export type { PullEvent, ImagesWorkerApi, StoreEvent };

export function createImagesBridge(): WorkerBridge<ImagesWorkerApi> {
  return new WorkerBridge<ImagesWorkerApi>(
    new Worker(new URL('./images.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-images',
    }),
  );
}
