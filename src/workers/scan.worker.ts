// The scan worker: reads the contents of stored layers to search inside files and to look for
// secrets. It is apart from the layers worker so that a runaway regular expression, which no
// JavaScript engine can interrupt, stops only this worker (the bridge replaces it) and never the
// file browser's views.
import { loadPreset, type RuleRunner } from '../lib/secrets/preset.ts';
import { storedTarFrom } from './layer-tar.ts';
import { expose } from './rpc.ts';
import { storedSearch } from './search-service.ts';
import { store } from './store.ts';
import { SecretsService } from './secrets-service.ts';

let rules: Promise<RuleRunner> | undefined;

/** The secret scan, over the stored layers and their stored indexes. */
const secrets = new SecretsService({
  index: async (digest) => (await (await store()).layerIndexes.get(digest))?.files,
  stored: async (digest) => (await (await store()).content.info(digest)) !== undefined,
  tarFrom: async (layer, offset, signal) => storedTarFrom(await store(), layer, offset, signal),
  // Loaded on the first scan, and then kept: the rules are created once.
  runner: () =>
    (rules ??= loadPreset().catch((e: unknown) => {
      rules = undefined;
      throw e;
    })),
});

const api = {
  ...storedSearch(store).api,
  ...secrets.api,
};

export type ScanWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
