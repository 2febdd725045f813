import { WorkerBridge, type WatchdogOptions } from './rpc.ts';
import type { LayerEvent, LayerListingResult, LayerRef, LayersWorkerApi } from './layers.worker.ts';
import type {
  OpenedView,
  OpenViewRequest,
  Range,
  Selected,
  TreeLayer,
  TreeRow,
  TreeWindow,
  ViewSpec,
  WastedSpace,
} from './tree-service.ts';

export type { LayerEvent, LayerListingResult, LayerRef, LayersWorkerApi };
export type {
  CompareFilesApi,
  CompareRow,
  CompareWindow,
  FilesFilter,
  FilesSort,
  FilesSummary,
  OpenCompareRequest,
  OpenedCompare,
  PathDiff,
} from '../lib/compare/types.ts';

/** The error a compare call fails with when the worker does not hold its comparison. */
export const compareLost = 'CompareLostError';
export type {
  OpenedView,
  OpenViewRequest,
  Range,
  Selected,
  TreeLayer,
  TreeRow,
  TreeWindow,
  ViewSpec,
  WastedSpace,
};

/** The error a tree call fails with when the worker does not hold its view (restarted). */
export const treeViewLost = 'TreeViewLostError';

/** How long a cancelled layer job may take to stop before its worker is replaced. Every loop
 * over a layer yields at least every 50 ms, so a worker that takes longer is stuck. */
export const layersCancelGraceMs = 2000;
/** A layers worker silent this long is stuck in a loop: new jobs go to a fresh worker. */
export const layersStuckMs = 3000;

/** The layers worker behind a watchdog: its jobs are stopped after `jobLimitMs` (the setting),
 * and a worker that will not stop is replaced. A fresh worker is cheap: the layers' indexes
 * are kept in IndexedDB, and the page opens its tree view again. */
export function createLayersBridge(
  jobLimitMs: WatchdogOptions['jobLimitMs'],
): WorkerBridge<LayersWorkerApi> {
  return new WorkerBridge<LayersWorkerApi>(
    () =>
      new Worker(new URL('./layers.worker.ts', import.meta.url), {
        type: 'module',
        name: 'berth-layers',
      }),
    { jobLimitMs, cancelGraceMs: layersCancelGraceMs, stuckMs: layersStuckMs },
  );
}

export type {
  OpenedPackages,
  PackagesEvent,
  PackagesLayer,
  PackagesPlan,
  PackagesQuery,
  PackagesSort,
  PackagesSortKey,
  PackagesSummary,
  PackagesWindow,
} from './packages-service.ts';
/** The error a packages call fails with when the worker does not hold its inventory. */
export const packagesLost = 'PackagesLostError';

export type {
  ExportFilesEvent,
  ExportFilesPlan,
  ExportLayer,
  FilesExportSpec,
} from './export-service.ts';
export type {
  DuplicateGroup,
  DuplicatesEvent,
  DuplicatesPlan,
  DuplicatesResult,
  LargeFile,
  SpaceKind,
  SpaceLayer,
  SpaceRect,
  SpaceTreemap,
  SpaceView,
  WastedFile,
  WastedResult,
  WastedStep,
} from './space-service.ts';
