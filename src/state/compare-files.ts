// The files comparison as the page calls it: the layers worker's compare methods behind the
// CompareFilesApi the state is written against (each worker method takes one object).
import type { CompareFilesApi } from '../lib/compare/types.ts';
import type { Api } from '../workers/rpc.ts';
import type { Bridge } from './bridge.ts';

export function compareFilesOf(bridge: Bridge<Api>): CompareFilesApi {
  const call = <T>(method: string, arg: object) => bridge.call(method, arg) as Promise<T>;
  return {
    openCompare: (req) => call('openCompare', req),
    compareRows: (compareId, window) => call('compareRows', { compareId, window }),
    compareToggle: (compareId, path, window) => call('compareToggle', { compareId, path, window }),
    compareFilter: (compareId, filter, window) =>
      call('compareFilter', { compareId, filter, window }),
    compareSort: (compareId, sort, window) => call('compareSort', { compareId, sort, window }),
    comparePath: (compareId, path) => call('comparePath', { compareId, path }),
    compareDecide: (compareId, paths) =>
      call('compareDecide', { compareId, ...(paths ? { paths } : {}) }),
    compareExport: (compareId, meta) => call('compareExport', { compareId, meta }),
    closeCompare: (compareId) => call('closeCompare', { compareId }),
  };
}
