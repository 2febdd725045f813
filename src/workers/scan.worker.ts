// The scan worker: reads the contents of stored layers to search inside files and to look for
// secrets. It is apart from the layers worker so that a runaway regular expression, which no
// JavaScript engine can interrupt, stops only this worker (the bridge replaces it) and never the
// file browser's views.
import { expose } from './rpc.ts';
import { storedSearch } from './search-service.ts';
import { store } from './store.ts';

const api = { ...storedSearch(store).api };

export type ScanWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
