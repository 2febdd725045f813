/* eslint-disable svelte/prefer-svelte-reactivity -- the Sets here are replaced whole in
   $state.raw fields: never mutated where Svelte would need to see it. */
// The file browser of one image: which view is on screen (a layer, every layer, or the merged
// filesystem), the rows the tree shows, the selection and the search. The tree itself is built,
// merged, sorted, searched and flattened in the layers worker (workers/tree-service.ts), from
// the layers' indexes it holds: the page keeps the view's state (which view, open directories,
// sort, query, selection) and a window of the rows on screen (`rows`), and asks the worker for
// more as the view scrolls. A worker replaced by its watchdog loses its views: the page opens
// its view again from that state, and the worker reads the indexes back from IndexedDB.
import { untrack } from 'svelte';
import { messageOf } from '../../lib/errors.ts';
import type { IndexEntry } from '../../lib/layers/entry.ts';
import type { ViewSpec } from '../../lib/layers/model.ts';
import { MAX_DEPTH } from '../../lib/layers/paths.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import type { ImageSummary } from '../../lib/images/summary.ts';
import {
  treeViewLost,
  type LayersWorkerApi,
  type TreeLayer,
  type TreeWindow,
  type WastedSpace,
} from '../../workers/layers.ts';
import type { Bridge } from '../bridge.ts';
import { allLayers, mergedLayers, type LayerView } from '../route.ts';
import { browsable, Listings, type Listing } from './listings.svelte.ts';
import type { TreeRow, TreeRows } from './rows.ts';
import type { RemoteLayers } from './remote.ts';
import { maxViewLimit, Viewer, viewLimit } from './viewer.svelte.ts';
import { RowWindow } from './window.svelte.ts';

export type { Listing, TreeRow, TreeRows, WastedSpace };
export { browsable };

/** What the browser shows: one layer's changes, the merged filesystem, or every layer side by
 * side (one folder per layer: a search there finds a path in any layer). */
export type View =
  { kind: typeof mergedLayers } | { kind: typeof allLayers } | { kind: 'layer'; index: number };

/** The folder a layer's entries sit in, in the "all layers" view. */
export const layerFolder = (i: number) => `Layer ${i + 1}`;

/** An entry as the details pane shows it. */
export interface Selected {
  path: string;
  entry?: IndexEntry;
  layer?: number;
  change?: 'added' | 'modified' | 'deleted';
}

/** How long the search waits for typing to pause before it asks the worker. */
export const SEARCH_DEBOUNCE_MS = 150;

/** While a layer of the view streams in, the worker's tree is rebuilt after this long, then
 * after twice as long each time (up to progressiveMaxMs): a rebuild costs the entries so far,
 * so rebuilding per batch would cost the square of the entries. */
export const progressiveMs = 500;
const progressiveMaxMs = 8000;

export interface FileBrowserOptions {
  bridge: Bridge<LayersWorkerApi>;
  /** Downloads a layer that was not fetched yet (an inspected image). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  save: (blob: Blob, fileName: string) => void;
  /** Lists and reads layers not downloaded through their table of contents. */
  remote?: RemoteLayers;
}

/** What the worker builds for the view on screen, and when it must build it again. */
interface Plan {
  view: ViewSpec;
  layers: TreeLayer[];
  changes: boolean;
  /** Changes when the tree must be built again at once (another view, a layer read). */
  key: string;
  /** A layer of the view is still streaming in. */
  streaming: boolean;
  /** Entries listed so far across the view's layers. */
  entries: number;
}

export class FileBrowser {
  view = $state.raw<View | null>(null);
  expanded = $state.raw<ReadonlySet<string>>(new Set());
  selected = $state<string | null>(null);
  sort = $state<'name' | 'size'>('name');
  query = $state('');
  error = $state<string | null>(null);
  /** Space wasted across layers, once every layer is read. */
  wasted = $state.raw<WastedSpace | null>(null);
  readonly listings: Listings;
  readonly viewer: Viewer;
  /** The rows on screen, fetched from the worker's tree as the view asks for them. */
  readonly rows: RowWindow;
  readonly #bridge: Bridge<LayersWorkerApi>;

  /** The worker's view whose rows are on screen. */
  #handle = $state.raw<{ viewId: number } | null>(null);
  /** The query the rows on screen answer ('' for the whole tree). */
  #shownQuery = $state('');
  #selectedEntry = $state.raw<Selected | null>(null);
  /** What the view on screen was built from. */
  #builtKey: string | null = null;
  #builtEntries = 0;
  /** Counts changes to the view's state (open directories, sort, search): a tree built while
   * one was made is built again. */
  #edits = 0;
  #build: { abort: AbortController; done: Promise<void> } | null = null;
  #recovery: { viewId: number; done: Promise<void> } | null = null;
  #progressive: { timer: ReturnType<typeof setTimeout> | undefined; ms: number } = {
    timer: undefined,
    ms: progressiveMs,
  };
  #wastedFor: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: AbortController | undefined;

  constructor(opts: FileBrowserOptions) {
    this.#bridge = opts.bridge;
    this.listings = new Listings(opts);
    this.viewer = new Viewer({
      bridge: opts.bridge,
      listings: this.listings,
      save: opts.save,
      onError: (message) => (this.error = message),
      hardlinkTarget: (layer, linkname) =>
        this.#ask((viewId) =>
          this.#bridge.call('hardlinkTarget', { viewId, layer, linkname }),
        ).then((e) => e ?? undefined),
      ...(opts.remote ? { remote: opts.remote } : {}),
    });
    this.rows = new RowWindow({
      rows: (window) =>
        this.#ask((viewId) => this.#bridge.call('treeRows', { viewId, window }), {
          only: true,
        }),
      indexOf: async (path) =>
        (await this.#ask((viewId) => this.#bridge.call('treeIndexOf', { viewId, path }))) ?? -1,
      find: async (prefix, from) =>
        (await this.#ask((viewId) => this.#bridge.call('treeFind', { viewId, prefix, from }))) ??
        -1,
    });
    // The view follows the listings it is built from, and the wasted space follows every
    // layer. Lives as long as the browser, which lives as long as the page.
    $effect.root(() => {
      $effect(() => {
        const plan = this.#plan();
        untrack(() => this.#follow(plan));
      });
      $effect(() => {
        const s = this.summary;
        const done = !!s && s.layers.length > 0 && this.listings.doneUpTo(s.layers.length);
        untrack(() => this.#measureWaste(done ? s : null));
      });
    });
  }

  get summary(): ImageSummary | null {
    return this.listings.summary;
  }

  /** Whether a search is waiting for typing to pause or for the worker's answer. */
  get searching(): boolean {
    const q = this.query.trim();
    return q !== '' && q !== this.#shownQuery;
  }

  /** The worker's tree for the view on screen: what to build it from, or null for none. */
  #plan(): Plan | null {
    const view = this.view;
    const s = this.summary;
    if (!view || !s) return null;
    const n = s.layers.length;
    const top = view.kind === 'layer' ? view.index : n - 1;
    // The merged filesystem needs every layer: it is shown once they are all read.
    if (view.kind === mergedLayers && !this.listings.doneUpTo(n)) return null;
    if (view.kind === 'layer' && !this.listings.of(view.index)) return null;
    const layers: TreeLayer[] = s.layers.map((l, i) =>
      i <= top && browsable(l) ? { digest: l.descriptor.digest } : null,
    );
    const listings = layers.map((_, i) => (i <= top ? this.listings.of(i) : undefined));
    const changes = view.kind === 'layer' && this.listings.doneUpTo(view.index + 1);
    const spec: ViewSpec = view.kind === 'layer' ? { kind: 'layer', index: view.index } : view;
    return {
      view: spec,
      layers,
      changes,
      key: JSON.stringify([
        s.manifest.digest,
        spec,
        changes,
        listings.map((l) => (l?.status === 'fetching' ? 'reading' : (l?.status ?? ''))),
      ]),
      streaming: listings.some((l) => l?.status === 'reading' || l?.status === 'fetching'),
      entries: listings.reduce((k, l) => k + (l?.entries ?? 0), 0),
    };
  }

  /** Builds the tree again when the view or its layers changed; while a layer streams in, at
   * growing intervals. */
  #follow(plan: Plan | null) {
    const p = this.#progressive;
    if (!plan) {
      clearTimeout(p.timer);
      p.timer = undefined;
      this.#builtKey = null;
      this.#build?.abort.abort();
      this.#build = null;
      this.#setHandle(null, null);
      return;
    }
    if (plan.key !== this.#builtKey) {
      clearTimeout(p.timer);
      p.timer = undefined;
      p.ms = progressiveMs;
      void this.#rebuild();
    } else if (plan.streaming && plan.entries > this.#builtEntries && p.timer === undefined) {
      p.timer = setTimeout(() => {
        p.timer = undefined;
        void this.#rebuild();
      }, p.ms);
      p.ms = Math.min(progressiveMaxMs, p.ms * 2);
    }
  }

  /** Has the worker build the view on screen, with the page's open directories, sort and
   * query; resolves once its rows are on screen. */
  #rebuild(): Promise<void> {
    this.#build?.abort.abort();
    const plan = untrack(() => this.#plan());
    if (!plan) {
      this.#follow(null);
      return Promise.resolve();
    }
    const abort = new AbortController();
    const done = this.#open(plan, abort).finally(() => {
      if (this.#build?.abort === abort) this.#build = null;
    });
    this.#build = { abort, done };
    return done;
  }

  async #open(plan: Plan, abort: AbortController): Promise<void> {
    this.#builtKey = plan.key;
    this.#builtEntries = plan.entries;
    let relisted = false;
    for (;;) {
      const edits = this.#edits;
      const query = this.query.trim();
      let opened;
      try {
        opened = await this.#bridge.call(
          'openView',
          {
            view: plan.view,
            layers: plan.layers,
            changes: plan.changes,
            sort: this.sort,
            expanded: [...this.expanded],
            query,
            window: this.rows.around,
          },
          { signal: abort.signal },
        );
      } catch (err) {
        if (abort.signal.aborted) return;
        this.#setHandle(null, null);
        this.error = `The file tree could not be built: ${messageOf(err)}`;
        return;
      }
      if (abort.signal.aborted) {
        void this.#close(opened.viewId);
        return;
      }
      // The open directories, sort or search changed on the way: built again with them.
      if (edits !== this.#edits) {
        void this.#close(opened.viewId);
        continue;
      }
      // Layers the worker has no index of, though the page listed them: a fresh worker lost
      // those read from a table of contents. They are listed again, and the view follows.
      const relisting = relisted ? null : this.listings.relist(opened.missing);
      if (relisting) {
        relisted = true;
        void this.#close(opened.viewId);
        this.#setHandle(null, null);
        await relisting;
        if (abort.signal.aborted) return;
        continue;
      }
      this.#setHandle({ viewId: opened.viewId }, opened);
      this.#shownQuery = query;
      if (this.selected !== null) void this.#loadSelected(this.selected);
      // Typed while the tree was built: searched now.
      this.#schedule();
      return;
    }
  }

  #setHandle(handle: { viewId: number } | null, win: TreeWindow | null) {
    const old = this.#handle;
    this.#handle = handle;
    this.rows.reset(win);
    if (old && old.viewId !== handle?.viewId) void this.#close(old.viewId);
    if (!handle) this.#selectedEntry = null;
  }

  #close(viewId: number): Promise<void> {
    return this.#bridge.call('closeView', { viewId }).catch(() => undefined);
  }

  /** Asks the worker about the view on screen. A worker that lost it (replaced by its
   * watchdog) gets it built again from the page's state, and the question asked again.
   * `only` asks nothing of a rebuilt view: a window of the old one is not wanted. */
  async #ask<T>(
    ask: (viewId: number) => Promise<T>,
    { only = false }: { only?: boolean } = {},
  ): Promise<T | undefined> {
    const h = this.#handle ?? (await this.#build?.done, this.#handle);
    if (!h) return undefined;
    try {
      return await ask(h.viewId);
    } catch (err) {
      if (!(err instanceof Error && err.name === treeViewLost)) throw err;
      await this.#recover(h.viewId);
      const again = this.#handle;
      return again && !only ? ask(again.viewId) : undefined;
    }
  }

  /** The worker lost a view: built again once, whoever noticed. */
  #recover(viewId: number): Promise<void> {
    if (this.#recovery?.viewId === viewId) return this.#recovery.done;
    if (this.#handle?.viewId !== viewId) return this.#build?.done ?? Promise.resolve();
    const done = this.#rebuild();
    this.#recovery = { viewId, done };
    return done;
  }

  /** A change to the view's state, asked of the worker; its answer (a window of rows) goes on
   * screen if the view is still the one asked. A lost view is built again with the state, so
   * the change is not asked again. */
  #change(ask: (viewId: number) => Promise<TreeWindow>): Promise<TreeWindow | undefined> {
    return this.rows.hold(this.#changeNow(ask));
  }

  async #changeNow(ask: (viewId: number) => Promise<TreeWindow>): Promise<TreeWindow | undefined> {
    this.#edits++;
    const h = this.#handle;
    if (!h) return undefined;
    try {
      const win = await ask(h.viewId);
      if (this.#handle?.viewId === h.viewId) this.rows.reset(win);
      return win;
    } catch (err) {
      if (err instanceof Error && err.name === treeViewLost) {
        await this.#recover(h.viewId);
        return undefined;
      }
      throw err;
    }
  }

  /** (Re)starts the wait before asking the worker to search; a search already on its way for
   * the same query goes on. */
  #schedule() {
    const q = this.query.trim();
    if (this.#pendingQuery === q) return;
    clearTimeout(this.#timer);
    this.#running?.abort();
    this.#running = undefined;
    this.#pendingQuery = null;
    if (q === this.#shownQuery) return;
    this.#pendingQuery = q;
    // Clearing the query shows the whole tree again at once.
    this.#timer = setTimeout(() => void this.#search(q), q === '' ? 0 : SEARCH_DEBOUNCE_MS);
  }

  #pendingQuery: string | null = null;

  /** Asks the worker to search the view; a newer query aborts this one. */
  async #search(query: string): Promise<void> {
    const ac = new AbortController();
    this.#running = ac;
    try {
      for (;;) {
        const h = this.#handle;
        // No tree yet: the one being built takes the query.
        if (!h) return;
        const win = await this.#change((viewId) =>
          this.#bridge.call(
            'treeSearch',
            { viewId, query, window: this.rows.around },
            { signal: ac.signal },
          ),
        );
        if (ac.signal.aborted) return;
        // The view was replaced while it searched: the new one is searched, unless it was
        // built with this query.
        if (!win || this.#handle?.viewId !== h.viewId) {
          if (this.#shownQuery === query) return;
          continue;
        }
        this.#shownQuery = query;
        return;
      }
    } catch (err) {
      if (ac.signal.aborted) return;
      this.rows.reset(null);
      this.#shownQuery = query;
      this.error = `The search failed: ${messageOf(err)}`;
    } finally {
      if (this.#running === ac) this.#running = undefined;
      if (this.#pendingQuery === query) this.#pendingQuery = null;
    }
  }

  /** Follows the image on screen; a different image closes the browser. */
  show(summary: ImageSummary | null) {
    if (!this.listings.show(summary)) return;
    this.viewer.close();
    this.view = null;
    this.expanded = new Set();
    this.selected = null;
    this.query = '';
    this.error = null;
    this.wasted = null;
    this.#wastedFor = null;
  }

  /** The view on screen as a URL names it; undefined when the browser is closed. */
  get shown(): { layer: LayerView; path?: string } | undefined {
    const v = this.view;
    if (!v) return undefined;
    const layer = v.kind === 'layer' ? v.index : v.kind;
    const file = this.viewer.file;
    return file ? { layer, path: file.path } : { layer };
  }

  /** Opens the view a URL names; an unknown layer number opens nothing. */
  openLocation(layer: LayerView): Promise<void> {
    const v = viewOf(layer);
    if (v.kind === 'layer' && !this.summary?.layers[v.index]) {
      this.error = `This image has no layer ${v.index + 1}: it has ${this.summary?.layers.length ?? 0}.`;
      return Promise.resolve();
    }
    return sameView(v, this.view) ? Promise.resolve() : this.open(v);
  }

  /** Closes the file browser, and the viewer with it. */
  close() {
    this.viewer.close();
    this.view = null;
    this.selected = null;
    this.#follow(null);
  }

  /** Opens a view: one layer, or the merged filesystem (which needs every layer). Resolves
   * when all of its layers are read and the tree shows them. */
  async open(view: View): Promise<void> {
    const s = this.summary;
    if (!s) return;
    this.view = view;
    this.selected = null;
    this.viewer.close();
    this.error = null;
    const reading = this.listings.read(wanted(s, view));
    // The tree shows the layers as they stream in...
    this.#follow(untrack(() => this.#plan()));
    await reading;
    // ...and is complete once they are read.
    if (this.view !== view) return;
    this.#follow(untrack(() => this.#plan()));
    await this.#build?.done;
  }

  /** What opening a view would download: its layers not stored yet. */
  downloadsFor(layer: LayerView): { layers: number; bytes: number } {
    const s = this.summary;
    if (!s) return { layers: 0, bytes: 0 };
    const missing = wanted(s, viewOf(layer)).filter((i) => !s.layers[i]!.stored);
    return {
      layers: missing.length,
      bytes: missing.reduce((n, i) => n + s.layers[i]!.descriptor.size, 0),
    };
  }

  /** The listings the view on screen depends on, with their layer numbers. */
  get #shown(): { i: number; listing: Listing }[] {
    const v = this.view;
    const layers = this.summary?.layers ?? [];
    return layers.flatMap((_, i) => {
      const listing = this.listings.of(i);
      return listing && (v?.kind !== 'layer' || i <= v.index) ? [{ i, listing }] : [];
    });
  }

  /** The listings of the view still being read (a failed one is among `problems`). */
  get reading(): { i: number; listing: Listing }[] {
    return this.#shown.filter(
      ({ listing }) => listing.status === 'reading' || listing.status === 'fetching',
    );
  }

  /** What went wrong reading the view's layers: errors, content that does not match, and
   * entries too deep to show. */
  get problems(): string[] {
    const problems = this.#shown.flatMap(({ listing }) =>
      [listing.mismatch, listing.error].filter((m): m is string => !!m),
    );
    const deep = this.#shown.reduce(
      (n, { listing }) => n + (listing.status === 'done' ? listing.tooDeep : 0),
      0,
    );
    if (deep > 0) {
      problems.push(
        `${deep.toLocaleString()} ${deep === 1 ? 'entry is' : 'entries are'} more than ${MAX_DEPTH} directories deep and not shown.`,
      );
    }
    return problems;
  }

  /** Whether the changes of the layer on screen could be worked out (its lower layers read). */
  get changesKnown(): boolean {
    const v = this.view;
    return !!v && (v.kind !== 'layer' || this.listings.doneUpTo(v.index + 1));
  }

  /** Asks the worker for the wasted space once every layer is read. */
  #measureWaste(s: ImageSummary | null) {
    const key = s?.manifest.digest ?? null;
    if (key === this.#wastedFor) return;
    this.#wastedFor = key;
    this.wasted = null;
    if (!s) return;
    const layers = s.layers.map((l) => (browsable(l) ? { digest: l.descriptor.digest } : null));
    // The worker does one thing at a time: the tree on screen is built first, and the wasted
    // space (as long again as the tree for a million entries) comes after it.
    const after = this.#build?.done.catch(() => undefined) ?? Promise.resolve();
    const manifest = s.manifest.digest;
    void after.then(() => {
      if (this.#wastedFor === manifest) this.#askWaste(manifest, layers);
    });
  }

  #askWaste(key: string, layers: TreeLayer[]) {
    this.#bridge.call('wasted', { layers }).then(
      (w) => {
        if (this.#wastedFor === key) this.wasted = w;
      },
      () => undefined,
    );
  }

  get selectedEntry(): Selected | null {
    const e = this.#selectedEntry;
    return e && e.path === this.selected ? e : null;
  }

  async #loadSelected(path: string): Promise<void> {
    const got = await this.#ask((viewId) => this.#bridge.call('treeSelect', { viewId, path }));
    if (this.selected === path) this.#selectedEntry = got ?? null;
  }

  select(path: string) {
    this.selected = path;
    void this.#loadSelected(path).catch(() => undefined);
  }

  setSort(sort: 'name' | 'size') {
    this.sort = sort;
    void this.#change((viewId) =>
      this.#bridge.call('treeSort', { viewId, by: sort, window: this.rows.around }),
    ).catch((err: unknown) => (this.error = `Sorting failed: ${messageOf(err)}`));
  }

  search(query: string) {
    this.query = query;
    this.#schedule();
  }

  toggle(path: string) {
    const next = new Set(this.expanded);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    this.expanded = next;
    void this.#change((viewId) =>
      this.#bridge.call('treeToggle', { viewId, path, window: this.rows.around }),
    ).catch(() => undefined);
  }

  /** Selects a path and opens the directories above it, so that the tree shows it. Resolves
   * to false when the view has no such path. */
  async reveal(path: string): Promise<boolean> {
    await this.#build?.done;
    let index = -1;
    const win = await this.#change(async (viewId) => {
      const r = await this.#bridge.call('treeReveal', {
        viewId,
        path,
        window: this.rows.around,
      });
      index = r.index;
      // The rows around the path, not around the old viewport.
      if (r.index < 0) return r;
      const start = Math.max(0, r.index - 64);
      return this.#bridge.call('treeRows', { viewId, window: [start, start + 6 * 128] });
    });
    if (!win || index < 0) return false;
    const next = new Set(this.expanded);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) next.add(parts.slice(0, i).join('/'));
    this.expanded = next;
    this.select(path);
    return true;
  }

  /** Opens the file a URL names: selected in the tree and shown in the viewer. */
  async openPath(path: string): Promise<void> {
    if (this.viewer.file?.path === path) return;
    if (!(await this.reveal(path))) {
      this.error = `${path} is not in this view of the image.`;
      return;
    }
    await this.openFile(path);
  }

  /** Shows a file of the tree in the viewer (at a line, reading at least `limit` bytes); a
   * deleted entry or a directory opens nothing. */
  async openFile(path: string, at?: { line: number; limit: number }): Promise<void> {
    const node = await this.#ask((viewId) => this.#bridge.call('treeSelect', { viewId, path }));
    const entry = node?.entry;
    if (!node || !entry || node.layer === undefined || node.change === 'deleted') return;
    return this.viewer.open(path, entry, node.layer, at?.limit, at?.line);
  }

  /** Opens a file of one layer at a line (a search result's): the layer's view, the file
   * revealed in its tree and shown in the viewer, read far enough to reach the line. */
  async openAt(layer: number, path: string, line: number, chars: number): Promise<void> {
    await this.openLocation(layer);
    if (!(await this.reveal(path))) {
      this.error = `${path} is not in layer ${layer + 1}.`;
      return;
    }
    // A character takes at most 3 bytes of UTF-8 (a surrogate pair's two take 4).
    const limit = Math.min(maxViewLimit, Math.max(viewLimit, chars * 3 + 65_536));
    await this.openFile(path, { line, limit });
  }
}

/** The layers a view reads: every one for the merged and all-layers views; for one layer,
 * that layer and, when they are stored (cheap), those below it, whose files its changes are
 * relative to. An inspected image fetches only the layer asked for. */
function wanted(s: ImageSummary, view: View): number[] {
  const all = s.layers.map((_, i) => i).filter((i) => browsable(s.layers[i]!));
  if (view.kind !== 'layer') return all;
  return all.filter((i) => i === view.index || (i < view.index && s.layers[i]!.stored));
}

function viewOf(layer: LayerView): View {
  return typeof layer === 'number' ? { kind: 'layer', index: layer } : { kind: layer };
}

function sameView(a: View, b: View | null): boolean {
  return (
    !!b && a.kind === b.kind && (a.kind !== 'layer' || (b.kind === 'layer' && a.index === b.index))
  );
}
