import { WorkerBridge } from './rpc.ts';
import type {
  LayerEvent,
  LayerListingResult,
  LayerRef,
  LayersWorkerApi,
  SearchRequest,
} from './layers.worker.ts';

export type { LayerEvent, LayerListingResult, LayerRef, LayersWorkerApi, SearchRequest };

export function createLayersBridge(): WorkerBridge<LayersWorkerApi> {
  return new WorkerBridge<LayersWorkerApi>(
    new Worker(new URL('./layers.worker.ts', import.meta.url), {
      type: 'module',
      name: 'berth-layers',
    }),
  );
}
