// Layer listings behind the real worker bridge and its watchdog, with an in-memory layers
// worker: a runaway layer is offered a Cancel, stops with an error naming the layer, and does
// not keep another layer from opening.
import { afterEach, describe, expect, test } from 'vitest';
import type { LayerListingResult, LayerRef, LayersWorkerApi } from '../../src/workers/layers.ts';
import { Listings } from '../../src/state/layers/listings.svelte.ts';
import { FileBrowser } from '../../src/state/layers/browser.svelte.ts';
import { WorkerBridge, type CallContext, type WatchdogOptions } from '../../src/workers/rpc.ts';
import { InMemoryWorker } from './rpc-fakes.ts';
import { entry, summaryOf } from './state-fakes.ts';

const summary = summaryOf('hostile', 7, 2);
const runaway = summary.layers[0]!.descriptor.digest;
const short = runaway.slice('sha256:'.length, 'sha256:'.length + 12);

/** The layers worker: the first layer never ends and ignores its cancel (a decoder stuck in
 * a loop); the second is listed at once. */
function layersApi(): LayersWorkerApi {
  const api = {
    listLayer: async (ref: LayerRef, _ctx: CallContext): Promise<LayerListingResult> => {
      if (ref.digest === runaway) return new Promise<never>(() => {});
      return { entries: 1, tooDeep: 0, diffID: 'sha256:x', uncompressedSize: 10 };
    },
  };
  return api as unknown as LayersWorkerApi;
}

let made: InMemoryWorker[] = [];
afterEach(() => {
  for (const w of made) w.terminate();
  made = [];
});

function listings(watchdog: WatchdogOptions) {
  const bridge = new WorkerBridge<LayersWorkerApi>(() => {
    const w = new InMemoryWorker(layersApi());
    made.push(w);
    return w;
  }, watchdog);
  const l = new Listings({ bridge, fetchLayer: async () => {}, slowMs: 20 });
  l.show(summary);
  return l;
}

describe('a runaway layer listing', () => {
  test('is offered a Cancel, and cancelling it ends in an error naming the layer', async () => {
    const l = listings({ cancelGraceMs: 20, stuckMs: 40 });
    const reading = l.read([0]);
    await expect.poll(() => l.of(0)?.slow, { timeout: 10_000 }).toBe(true);
    l.cancel(0);
    await reading;
    expect(l.of(0)).toMatchObject({
      status: 'error',
      error: `Layer 1 (${short}) could not be read: it did not stop when cancelled, so Berth stopped its worker.`,
    });
    expect(made[0]!.terminated).toBe(true);
  });

  test('does not keep another layer from opening while it runs', async () => {
    const l = listings({ cancelGraceMs: 10_000, stuckMs: 40 });
    void l.read([0]);
    // Let the worker take the call, then freeze it as a synchronous loop would.
    await expect.poll(() => l.of(0)?.slow, { timeout: 10_000 }).toBe(true);
    made[0]!.frozen = true;
    await l.read([1]);
    expect(l.of(1)?.status).toBe('done');
    expect(l.of(1)?.entries).toBe(1);
    expect(l.of(0)?.status, 'the runaway one still runs').toBe('reading');
  });

  test('past the time limit it stops with an error naming the layer and the limit', async () => {
    const l = listings({ cancelGraceMs: 20, jobLimitMs: () => 50 });
    await l.read([0]);
    expect(l.of(0)).toMatchObject({
      status: 'error',
      error: `Layer 1 (${short}) could not be read: stopped after 50 ms, and did not stop when cancelled`,
    });
  });

  test('a cancel the worker honours says the layer was not read', async () => {
    const api = {
      listLayer: (_: LayerRef, ctx: CallContext) =>
        new Promise<never>((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        ),
    };
    const bridge = new WorkerBridge<LayersWorkerApi>(() => {
      const w = new InMemoryWorker(api as unknown as LayersWorkerApi);
      made.push(w);
      return w;
    });
    const l = new Listings({ bridge, fetchLayer: async () => {}, slowMs: 20 });
    l.show(summary);
    const reading = l.read([0]);
    await expect.poll(() => l.of(0)?.slow, { timeout: 10_000 }).toBe(true);
    l.cancel(0);
    await reading;
    expect(l.of(0)).toMatchObject({
      status: 'error',
      error: `Layer 1 (${short}) was not read: cancelled.`,
    });
  });
});

test('a layer that failed is a problem of the view, no longer being read', async () => {
  const bridge = new WorkerBridge<LayersWorkerApi>(
    () => {
      const w = new InMemoryWorker(layersApi());
      made.push(w);
      return w;
    },
    { cancelGraceMs: 20, jobLimitMs: () => 50 },
  );
  const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
  files.show(summary);
  await files.open({ kind: 'layer', index: 0 });
  expect(files.reading).toEqual([]);
  expect(files.problems).toEqual([
    `Layer 1 (${short}) could not be read: stopped after 50 ms, and did not stop when cancelled`,
  ]);
});

test('a file read the person cancels says so, naming the layer', async () => {
  const api = {
    readFile: (_: unknown, ctx: CallContext) =>
      new Promise<never>((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      ),
  };
  const bridge = new WorkerBridge<LayersWorkerApi>(() => {
    const w = new InMemoryWorker(api as unknown as LayersWorkerApi);
    made.push(w);
    return w;
  });
  const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
  files.show(summary);
  const opening = files.viewer.open('etc/big', entry('etc/big', 'file'), 0);
  files.viewer.cancel();
  await opening;
  expect(files.viewer.file?.error).toBe(`Reading etc/big from Layer 1 (${short}) was cancelled.`);
});
