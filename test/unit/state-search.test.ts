// The file browser's search over an in-memory layers worker: debounced, and a newer query
// cancels the one in flight. (Node runs the state classes as Svelte's server build, where a
// $derived is not memoised: which answer is shown for which items is left to the e2e test.)
import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { searchPaths } from '../../src/lib/layers/search.ts';
import { FileBrowser, SEARCH_DEBOUNCE_MS } from '../../src/state/layers/browser.svelte.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { LayersWorkerApi, SearchRequest } from '../../src/workers/layers.ts';
import { entry, FakeLayers, summaryOf } from './state-fakes.ts';

interface Asked {
  request: SearchRequest;
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
  let heldPaths: string[] = [];
  const bridge: Bridge<LayersWorkerApi> = {
    call: ((method: string, arg: unknown, opts: { signal?: AbortSignal } = {}) => {
      if (method !== 'searchPaths') return layers.bridge.call(method as 'listLayer', arg as never);
      const request = arg as SearchRequest;
      asked.push({ request, signal: opts.signal! });
      if (request.paths) heldPaths = request.paths;
      const these = heldPaths;
      return new Promise<unknown>((resolve, reject) => {
        held.push(() => {
          if (opts.signal?.aborted) reject(opts.signal.reason);
          else resolve(searchPaths(these, request.query));
        });
      });
    }) as Bridge<LayersWorkerApi>['call'],
  };
  const files = new FileBrowser({ bridge, fetchLayer: async () => {}, save: () => {} });
  files.show(summary);
  return { files, asked, held };
}

const shownPaths = (files: FileBrowser) => files.rows.slice(0, files.rows.count).map((r) => r.path);

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
    expect(shownPaths(files)).toEqual(['bin', 'etc', 'usr']);

    for (const q of ['e', 'et', 'etc/']) {
      files.search(q);
      flushSync();
      vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS / 3);
    }
    expect(asked).toEqual([]); // still typing
    expect(files.searching).toBe(true);
    vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS);
    expect(asked.map((a) => a.request.query)).toEqual(['etc/']);
    // The first question carries the paths; the worker keeps them.
    expect(asked[0]!.request.paths).toEqual(
      expect.arrayContaining(['etc/passwd', 'usr/lib/libc.so']),
    );

    // A newer query while the worker works: the first search is cancelled.
    files.search('*.so');
    flushSync();
    expect(asked[0]!.signal.aborted).toBe(true);
    vi.advanceTimersByTime(SEARCH_DEBOUNCE_MS);
    expect(asked.map((a) => a.request.query)).toEqual(['etc/', '*.so']);
    for (const release of held.splice(0)) release();
    await vi.runAllTimersAsync();

    // Clearing the box shows everything at once, without asking.
    files.search('');
    flushSync();
    expect(files.searching).toBe(false);
    expect(shownPaths(files)).toEqual(['bin', 'etc', 'usr']);
    expect(asked).toHaveLength(2);
  });
});
