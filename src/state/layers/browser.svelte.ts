/* eslint-disable svelte/prefer-svelte-reactivity -- the Sets here are replaced whole in
   $state.raw fields: never mutated where Svelte would need to see it. */
// The file browser of one image: which view is on screen (a layer, every layer, or the merged
// filesystem), the tree built from the listings, the rows the tree shows, the selection and the
// search. The view reads the tree through a narrow interface, a window of rows (`TreeRows`), so
// that building and merging can later move into a worker and the page hold only the rows on
// screen. The search already runs there: the page sends the query, debounced, and gets back
// which items match.
import type { IndexEntry } from '../../lib/layers/entry.ts';
import { untrack } from 'svelte';
import { layerChanges, mergeLayers, tooDeep } from '../../lib/layers/filesystem.ts';
import { MAX_DEPTH } from '../../lib/layers/paths.ts';
import { buildTree, sortTree, type TreeItem, type TreeNode } from '../../lib/layers/tree.ts';
import { wastedSpace, type WastedSpace } from '../../lib/layers/wasted.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import type { ImageSummary } from '../../lib/images/summary.ts';
import type { LayersWorkerApi } from '../../workers/layers.ts';
import type { Bridge } from '../bridge.ts';
import { allLayers, mergedLayers, type LayerView } from '../route.ts';
import { browsable, Listings, type Listing } from './listings.svelte.ts';
import type { RemoteLayers } from './remote.ts';
import { allDirs, findNode, flattenRows, windowOf, type TreeRow, type TreeRows } from './rows.ts';
import { Viewer } from './viewer.svelte.ts';

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

/** The answer to one search: which of `items` match `query` (indexes, in order). */
interface SearchResult {
  query: string;
  items: readonly TreeItem[];
  matches: Uint32Array;
}

export interface FileBrowserOptions {
  bridge: Bridge<LayersWorkerApi>;
  /** Downloads a layer that was not fetched yet (an inspected image). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  save: (blob: Blob, fileName: string) => void;
  /** Lists and reads layers not downloaded through their table of contents. */
  remote?: RemoteLayers;
}

export class FileBrowser {
  view = $state.raw<View | null>(null);
  expanded = $state.raw<ReadonlySet<string>>(new Set());
  selected = $state<string | null>(null);
  sort = $state<'name' | 'size'>('name');
  query = $state('');
  error = $state<string | null>(null);
  readonly listings: Listings;
  readonly viewer: Viewer;
  readonly #bridge: Bridge<LayersWorkerApi>;
  /** The latest search answered, for the items it was asked about. */
  #result = $state.raw<SearchResult | null>(null);
  /** The items whose paths the worker holds, and their version number there. */
  #sent: { items: readonly TreeItem[]; version: number } | null = null;
  #versions = 0;
  /** The search waiting for its timer or for the worker, and what it is for. */
  #pending: { query: string; items: readonly TreeItem[] } | null = null;
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
      ...(opts.remote ? { remote: opts.remote } : {}),
    });
    // A new query, or new items under a query (another view, a layer read further), asks
    // again. Lives as long as the browser, which lives as long as the page.
    $effect.root(() => {
      $effect(() => {
        const query = this.query.trim();
        const items = this.items;
        untrack(() => this.#schedule(query, items));
      });
    });
  }

  /** Whether a search is waiting for typing to pause or for the worker's answer. */
  get searching(): boolean {
    const q = this.query.trim();
    const r = this.#result;
    return q !== '' && !(r && r.query === q && r.items === this.items);
  }

  /** (Re)starts the wait before asking the worker; a search already on its way for the same
   * query and items goes on. */
  #schedule(query: string, items: readonly TreeItem[]) {
    const p = this.#pending;
    if (p && p.query === query && p.items === items) return;
    clearTimeout(this.#timer);
    this.#running?.abort();
    this.#running = undefined;
    this.#pending = null;
    if (!query) {
      this.#result = null;
      return;
    }
    const r = this.#result;
    if (r && r.query === query && r.items === items) return;
    this.#pending = { query, items };
    this.#timer = setTimeout(() => void this.#search(query, items), SEARCH_DEBOUNCE_MS);
  }

  /** Asks the worker which items match; a newer query aborts this one. Sends the paths only
   * when the worker does not hold these items yet. */
  async #search(query: string, items: readonly TreeItem[], again = true): Promise<void> {
    const ac = new AbortController();
    this.#running = ac;
    let paths: string[] | undefined;
    if (this.#sent?.items !== items) {
      this.#sent = { items, version: ++this.#versions };
      paths = items.map((i) => i.path);
    }
    const version = this.#sent.version;
    try {
      const matches = await this.#bridge.call(
        'searchPaths',
        { version, query, ...(paths ? { paths } : {}) },
        { signal: ac.signal },
      );
      if (!ac.signal.aborted) {
        this.#result = { query, items, matches };
        this.#pending = null;
      }
    } catch (err) {
      if (ac.signal.aborted) return;
      // The worker lost the paths (it was restarted): send them again, once.
      if (again && err instanceof Error && err.name === 'SearchListingError') {
        this.#sent = null;
        return this.#search(query, items, false);
      }
      this.#result = { query, items, matches: new Uint32Array(0) };
      this.#pending = null;
      this.error = `The search failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      if (this.#running === ac) this.#running = undefined;
    }
  }

  get summary(): ImageSummary | null {
    return this.listings.summary;
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
  }

  /** Opens a view: one layer, or the merged filesystem (which needs every layer). Resolves
   * when all of its layers are read. */
  async open(view: View): Promise<void> {
    const s = this.summary;
    if (!s) return;
    this.view = view;
    this.selected = null;
    this.viewer.close();
    this.error = null;
    await this.listings.read(wanted(s, view));
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

  /** What the tree is built from, for the current view. */
  readonly items = $derived.by((): TreeItem[] => {
    const view = this.view;
    const s = this.summary;
    const listings = this.listings;
    if (!view || !s) return [];
    if (view.kind === mergedLayers) {
      const all = listings.upTo(s.layers.length);
      return all ? mergeLayers(all) : [];
    }
    if (view.kind === allLayers) {
      return s.layers.flatMap((_, i) => {
        const files = listings.of(i)?.files ?? [];
        const folder = layerFolder(i);
        return files.map((entry) => ({
          path: entry.path ? `${folder}/${entry.path.replace(/^\/+/, '')}` : folder,
          entry,
          layer: i,
        }));
      });
    }
    const own = listings.of(view.index);
    if (!own) return [];
    const lower = listings.upTo(view.index);
    if (lower && own.status === 'done') {
      return layerChanges([...lower, own.files])[view.index] ?? [];
    }
    // While the layer streams in, or without the layers below: its entries as they are.
    return own.files.map((entry) => ({ path: entry.path, entry, layer: view.index }));
  });

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
    const deep = this.#shown.reduce((n, { listing }) => n + tooDeepCount(listing), 0);
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
    return !!v && (v.kind !== 'layer' || this.listings.upTo(v.index + 1) !== undefined);
  }

  readonly #tree = $derived.by((): TreeNode => {
    const items = this.items;
    let shown: readonly TreeItem[] = items;
    if (this.query.trim()) {
      // While typing, the last answer for these items stays on screen; for other items
      // (another view) nothing does until the worker answers.
      const r = this.#result;
      shown = r?.items === items ? Array.from(r.matches, (i) => items[i]!) : [];
    }
    const root = buildTree(shown, {
      maxDepth: this.view?.kind === allLayers ? MAX_DEPTH + 1 : MAX_DEPTH,
    });
    sortTree(root, this.sort);
    return root;
  });

  readonly #rows = $derived.by((): TreeRow[] =>
    // A search shows every match with its directories open.
    flattenRows(this.#tree, this.query.trim() ? allDirs(this.#tree) : this.expanded),
  );

  /** The visible rows, for a view that shows a window of them. */
  readonly rows: TreeRows = windowOf(() => this.#rows);

  /** Space wasted across layers, once every layer is read. */
  readonly wasted = $derived.by((): WastedSpace | null => {
    const s = this.summary;
    if (!s || s.layers.length === 0) return null;
    const all = this.listings.upTo(s.layers.length);
    return all ? wastedSpace(all) : null;
  });

  #find(path: string): TreeNode | undefined {
    return findNode(this.#tree, path);
  }

  get selectedEntry(): Selected | null {
    if (this.selected === null) return null;
    const node = this.#find(this.selected);
    if (!node) return null;
    return {
      path: node.path,
      ...(node.entry ? { entry: node.entry } : {}),
      ...(node.layer !== undefined ? { layer: node.layer } : {}),
      ...(node.change ? { change: node.change } : {}),
    };
  }

  select(path: string) {
    this.selected = path;
  }

  setSort(sort: 'name' | 'size') {
    this.sort = sort;
  }

  search(query: string) {
    this.query = query;
    // The effect in the constructor sees this too, and new items under the same query.
    this.#schedule(query.trim(), this.items);
  }

  toggle(path: string) {
    const next = new Set(this.expanded);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    this.expanded = next;
  }

  /** Selects a path and opens the directories above it, so that the tree shows it. Returns
   * false when the view has no such path. */
  reveal(path: string): boolean {
    if (!this.#find(path)) return false;
    const next = new Set(this.expanded);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) next.add(parts.slice(0, i).join('/'));
    this.expanded = next;
    this.selected = path;
    return true;
  }

  /** Opens the file a URL names: selected in the tree and shown in the viewer. */
  async openPath(path: string): Promise<void> {
    if (this.viewer.file?.path === path) return;
    if (!this.reveal(path)) {
      this.error = `${path} is not in this view of the image.`;
      return;
    }
    await this.openFile(path);
  }

  /** Shows a file of the tree in the viewer; a deleted entry or a directory opens nothing. */
  openFile(path: string): Promise<void> {
    const node = this.#find(path);
    const entry = node?.entry;
    if (!node || !entry || node.layer === undefined || node.change === 'deleted') {
      return Promise.resolve();
    }
    return this.viewer.open(path, entry, node.layer);
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

/** How many of a read listing's entries are too deep for the tree, counted once per listing. */
const deepCounts = new WeakMap<readonly IndexEntry[], number>();
function tooDeepCount(listing: Listing): number {
  if (listing.status !== 'done') return 0;
  let n = deepCounts.get(listing.files);
  if (n === undefined) {
    n = listing.files.reduce((k, e) => (tooDeep(e.path) ? k + 1 : k), 0);
    deepCounts.set(listing.files, n);
  }
  return n;
}

function viewOf(layer: LayerView): View {
  return typeof layer === 'number' ? { kind: 'layer', index: layer } : { kind: layer };
}

function sameView(a: View, b: View | null): boolean {
  return (
    !!b && a.kind === b.kind && (a.kind !== 'layer' || (b.kind === 'layer' && a.index === b.index))
  );
}
