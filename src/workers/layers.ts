import { WorkerBridge } from './rpc.ts';
import type { LayerEvent, LayerListingResult, LayerRef, LayersWorkerApi } from './layers.worker.ts';

export type { LayerEvent, LayerListingResult, LayerRef, LayersWorkerApi };

export function createLayersBridge(): WorkerBridge<LayersWorkerApi> {
  return new WorkerBridge<LayersWorkerApi>(
    new Worker(new URL('./layers.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-layers',
    }),
  );
}
