// The files comparison as the state calls it: the layers worker's compare methods (each takes
// one object) behind the CompareFilesApi the state is written against.
import type { CompareFilesApi } from '../lib/compare/types.ts';
import type { LayersWorkerApi } from '../workers/layers.ts';
import type { Bridge } from './bridge.ts';

export function compareFilesOf(bridge: Bridge<LayersWorkerApi>): CompareFilesApi {
  return {
    openCompare: (req) => bridge.call('openCompare', req),
    compareRows: (compareId, window) => bridge.call('compareRows', { compareId, window }),
    compareToggle: (compareId, path, open, window) =>
      bridge.call('compareToggle', { compareId, path, open, window }),
    compareFilter: (compareId, filter, window) =>
      bridge.call('compareFilter', { compareId, filter, window }),
    compareSort: (compareId, sort, window) =>
      bridge.call('compareSort', { compareId, sort, window }),
    compareIndexOf: (compareId, path) => bridge.call('compareIndexOf', { compareId, path }),
    compareFind: (compareId, prefix, from) =>
      bridge.call('compareFind', { compareId, prefix, from }),
    comparePath: (compareId, path) => bridge.call('comparePath', { compareId, path }),
    compareDecide: (compareId, paths) =>
      bridge.call('compareDecide', { compareId, ...(paths ? { paths } : {}) }),
    compareExport: (compareId, meta) => bridge.call('compareExport', { compareId, meta }),
    closeCompare: (compareId) => bridge.call('closeCompare', { compareId }),
  };
}
