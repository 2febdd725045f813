// The file browser's search over an in-memory layers worker (the worker's own tree service):
// debounced, and a newer query cancels the one in flight.
import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { FileBrowser, SEARCH_DEBOUNCE_MS } from '../../src/state/layers/browser.svelte.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { LayersWorkerApi } from '../../src/workers/layers.ts';
import { entry, FakeLayers, summaryOf } from './state-fakes.ts';

interface Asked {
  request: { viewId: number; query: string };
  signal: AbortSignal;
}

function setup() {
  const layers = new FakeLayers();
  const summary = summaryOf('reg.example/x:1', 1, 1);
  const paths = ['etc/passwd', 'etc/hosts', 'bin/sh', 'usr/lib/libc.so'];
  layers.files.set(
    summary.layers[0]!.descriptor.digest,
    paths.map((p, i) => entry(p, 'file', i * 512)),
  );
  const asked: Asked[] = [];
  /** Answers held until the test releases them. */
  const held: (() => void)[] = [];
  const bridge: Bridge<LayersWorkerApi> = {
    call: ((method: string, arg: unknown, opts: { signal?: AbortSignal } = {}) => {
      const pass = () => layers.bridge.call(method as 'listLayer', arg as never, opts);
      if (method !== 'treeSearch') return pass();
      asked.push({ request: arg as Asked['request'], signal: opts.signal! });
      return new Promise<unknown>((resolve, reject) => {
        held.push(() => {
          if (opts.signal?.aborted) reject(opts.signal.reason);
          else resolve(pass());
        });
      });
    }) as Bridge<LayersWorkerApi>['call'],
  };
  const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
  files.show(summary);
  return { files, asked, held };
}

async function shownPaths(files: FileBrowser): Promise<string[]> {
  await files.rows.load(0, files.rows.count);
  return files.rows.slice(0, files.rows.count).map((r) => r.path);
}

describe('FileBrowser search', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('waits for typing to pause, asks the worker once, and a newer query cancels an older one', async () => {
    const { files, asked, held } = setup();
    await files.open({ kind: 'layer', index: 0 });
    flushSync();
    expect(await shownPaths(files)).toEqual(['bin', 'etc', 'usr']);

    for (const q of ['e', 'et', 'etc/']) {
      files.search(q);
      flushSync();
      vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS / 3);
    }
    expect(asked).toEqual([]); // still typing
    expect(files.searching).toBe(true);
    vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS);
    expect(asked.map((a) => a.request.query)).toEqual(['etc/']);
    // The page sends the query alone: the worker holds the paths.
    expect(Object.keys(asked[0]!.request)).not.toContain('paths');

    // A newer query while the worker works: the first search is cancelled.
    files.search('*.so');
    flushSync();
    expect(asked[0]!.signal.aborted).toBe(true);
    vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS);
    expect(asked.map((a) => a.request.query)).toEqual(['etc/', '*.so']);
    for (const release of held.splice(0)) release();
    await vi.runAllTimersAsync();
    expect(files.searching).toBe(false);
    expect(await shownPaths(files)).toEqual(['usr', 'usr/lib', 'usr/lib/libc.so']);

    // Clearing the box is no longer searching, and shows everything without waiting for
    // typing to pause.
    files.search('');
    flushSync();
    expect(files.searching).toBe(false);
    vi.advanceTimersByTime(1);
    for (const release of held.splice(0)) release();
    await vi.runAllTimersAsync();
    expect(await shownPaths(files)).toEqual(['bin', 'etc', 'usr']);
    expect(asked.map((a) => a.request.query)).toEqual(['etc/', '*.so', '']);
  });
});
