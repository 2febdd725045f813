import { toColumns } from '../../src/lib/layers/columns.ts';
// The file tree in the layers worker, behind the real bridge and its watchdog, with the
// worker's own tree service over an in-memory store: the page holds a window of rows, and a
// worker replaced by the watchdog (its views lost) gets the view built again from the page's
// state, the index read back from the store.
import { afterEach, describe, expect, test } from 'vitest';
import { FileBrowser } from '../../src/state/layers/browser.svelte.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import type { LayerListingResult, LayerRef, LayersWorkerApi } from '../../src/workers/layers.ts';
import { WorkerBridge, type CallContext } from '../../src/workers/rpc.ts';
import { countTooDeep, TreeService } from '../../src/workers/tree-service.ts';
import { RemoteLayers } from '../../src/state/layers/remote.ts';
import type { ImagesWorkerApi } from '../../src/workers/images.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { InMemoryWorker } from './rpc-fakes.ts';
import { entry, summaryOf } from './state-fakes.ts';

const summary = summaryOf('reg.example/tree:1', 9, 2);
const digest = (i: number) => summary.layers[i]!.descriptor.digest;

let made: InMemoryWorker[] = [];
afterEach(() => {
  for (const w of made) w.terminate();
  made = [];
});

/** Two stored layers: the second deletes bin/sh and adds etc/hosts. */
async function storeWithLayers() {
  const store = memoryStore();
  const put = (i: number, files: ReturnType<typeof entry>[]) =>
    store.layerIndexes.put(digest(i), {
      files: toColumns(files),
      diffID: '',
      uncompressedSize: files.length,
    });
  await put(0, [
    entry('etc', 'dir'),
    entry('etc/passwd', 'file', 512),
    entry('bin', 'dir'),
    entry('bin/sh', 'file', 1024),
  ]);
  await put(1, [entry('etc/hosts', 'file', 512), entry('bin/.wh.sh', 'file', 1024)]);
  return store;
}

/** A layers worker as layers.worker.ts makes it: a listing found stored feeds the tree. */
function workerApi(store: Awaited<ReturnType<typeof storeWithLayers>>): LayersWorkerApi {
  const tree = new TreeService({
    stored: async (d) => {
      const index = await store.layerIndexes.get(d);
      return index?.files;
    },
  });
  const api = {
    listLayer: async (ref: LayerRef, _ctx: CallContext): Promise<LayerListingResult> => {
      const stored = await store.layerIndexes.get(ref.digest);
      if (!stored) throw new Error(`${ref.digest} is not stored`);
      const index = stored.files;
      tree.remember(ref.digest, index);
      return {
        diffID: stored.diffID,
        uncompressedSize: stored.uncompressedSize,
        entries: index.count,
        tooDeep: countTooDeep(index),
      };
    },
    ...tree.api,
    adoptIndex: async (arg: { digest: string; index: ColumnIndex }) => {
      tree.adopt(arg.digest, arg.index);
      return countTooDeep(arg.index);
    },
  };
  return api as unknown as LayersWorkerApi;
}

async function shown(files: FileBrowser): Promise<string[]> {
  await files.rows.load(0, files.rows.count);
  return files.rows
    .slice(0, files.rows.count)
    .map((r) => `${r.path}${r.change ? ` ${r.change}` : ''}`);
}

describe('the tree in the layers worker', () => {
  test('a view of a layer shows its changes; the page asks rows by window', async () => {
    const store = await storeWithLayers();
    const bridge = new WorkerBridge<LayersWorkerApi>(() => {
      const w = new InMemoryWorker(workerApi(store));
      made.push(w);
      return w;
    });
    const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
    files.show(summary);
    await files.open({ kind: 'layer', index: 1 });
    expect(files.changesKnown).toBe(true);
    expect(await shown(files)).toEqual(['bin', 'etc']);
    files.toggle('bin');
    files.toggle('etc');
    await files.rows.settled();
    expect(await shown(files)).toEqual(['bin', 'bin/sh deleted', 'etc', 'etc/hosts added']);
    files.setSort('size');
    await files.rows.settled();
    expect(await files.reveal('etc/hosts')).toBe(true);
    await expect.poll(() => files.selectedEntry?.change).toBe('added');
    expect(await files.reveal('etc/nope')).toBe(false);
  });

  test('a worker replaced by the watchdog: the view is built again, directories open as they were', async () => {
    const store = await storeWithLayers();
    const bridge = new WorkerBridge<LayersWorkerApi>(
      () => {
        const w = new InMemoryWorker(workerApi(store));
        made.push(w);
        return w;
      },
      { cancelGraceMs: 20, stuckMs: 40 },
    );
    const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
    files.show(summary);
    await files.open({ kind: 'merged' });
    files.toggle('etc');
    await files.rows.settled();
    expect(await shown(files)).toEqual(['bin', 'etc', 'etc/hosts', 'etc/passwd']);
    files.select('etc/passwd');
    await expect.poll(() => files.selectedEntry?.entry?.offset).toBe(512);

    // The worker stops answering (a loop that never yields): the watchdog moves the calls to
    // a fresh worker, which holds no view.
    made[0]!.frozen = true;
    files.select('etc/hosts');
    await expect.poll(() => made.length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => files.selectedEntry?.path, { timeout: 5000 }).toBe('etc/hosts');
    expect(files.error).toBeNull();
    expect(await shown(files)).toEqual(['bin', 'etc', 'etc/hosts', 'etc/passwd']);
    // The fresh worker serves the page from then on.
    files.toggle('etc');
    await files.rows.settled();
    expect(await shown(files)).toEqual(['bin', 'etc']);
  });

  test(
    'a layer listed from its table of contents is listed again when a fresh worker lost its index',
    { timeout: 30_000 },
    async () => {
      // Not stored: its index came from the TOC, and lives only in the worker.
      const lazy = {
        ...summary,
        layers: [{ ...summary.layers[0]!, stored: false }],
      };
      const tocFiles = [entry('etc', 'dir'), entry('etc/motd', 'file', 64)];
      let tocReads = 0;
      const images = {
        call: async (method: string) => {
          if (method !== 'remoteIndex') throw new Error(`unexpected ${method}`);
          tocReads++;
          return { files: toColumns(tocFiles), uncompressed: 64 };
        },
      } as unknown as Bridge<ImagesWorkerApi>;
      const store = memoryStore();
      const bridge = new WorkerBridge<LayersWorkerApi>(
        () => {
          const w = new InMemoryWorker(workerApi(store as never));
          made.push(w);
          return w;
        },
        { cancelGraceMs: 20, stuckMs: 40 },
      );
      const remote = new RemoteLayers({
        images,
        summary: () => lazy,
        connection: () => ({}) as never,
      });
      const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {}, remote });
      files.show(lazy);
      await files.open({ kind: 'merged' });
      files.toggle('etc');
      await files.rows.settled();
      expect(await shown(files)).toEqual(['etc', 'etc/motd']);
      expect(tocReads).toBe(1);

      made[0]!.frozen = true;
      files.select('etc/motd');
      await expect.poll(() => made.length, { timeout: 5000 }).toBe(2);
      // The fresh worker had no index of the layer: the TOC was read again, and the tree shows it.
      await expect.poll(() => tocReads, { timeout: 5000 }).toBe(2);
      await expect
        .poll(async () => (files.rows.count > 0 ? await shown(files) : []), { timeout: 5000 })
        .toEqual(['etc', 'etc/motd']);
      await expect.poll(() => files.selectedEntry?.path, { timeout: 5000 }).toBe('etc/motd');
      expect(files.error).toBeNull();
    },
  );
});
