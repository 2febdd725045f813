/* eslint-disable svelte/prefer-svelte-reactivity -- the Sets and Maps here are local, or are
   replaced whole in $state.raw fields: never mutated where Svelte would need to see it. */
// The page's state for looking inside an image: which layer (or the merged filesystem) is on
// screen, the listings read by the layers worker, the tree the user sees, and the file viewer.
import type { IndexEntry } from '../lib/layers/entry.ts';
import { layerChanges, mergeLayers, type ChangeKind } from '../lib/layers/filesystem.ts';
import { globMatcher } from '../lib/layers/glob.ts';
import {
  buildTree,
  flattenVisible,
  sortTree,
  type TreeItem,
  type TreeNode,
} from '../lib/layers/tree.ts';
import { wastedSpace, type WastedSpace } from '../lib/layers/wasted.ts';
import { safeFileName } from '../lib/layers/view.ts';
import { layerCompression } from '../lib/oci/mediatypes.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { LayerRef, LayersWorkerApi } from '../workers/layers.ts';
import type { WorkerBridge } from '../workers/rpc.ts';
import type { LayerView } from './route.ts';

export type { WastedSpace };

/** What the browser shows: one layer's changes, the merged filesystem, or every layer side by
 * side (one folder per layer: a search there finds a path in any layer). */
export type View = { kind: 'merged' } | { kind: 'all' } | { kind: 'layer'; index: number };

/** The folder a layer's entries sit in, in the "all layers" view. */
export const layerFolder = (i: number) => `Layer ${i + 1}`;

export interface Listing {
  status: 'fetching' | 'reading' | 'done' | 'error';
  files: IndexEntry[];
  /** Uncompressed bytes read so far. */
  uncompressed: number;
  diffID?: string;
  error?: string;
  /** The layer's content does not match the config's diffID (moby's errRootFSMismatch). */
  mismatch?: string;
}

/** One row of the file tree as FileTree shows it: the tree already flattened, only the open
 * directories' children included. */
export interface TreeRow {
  /** Unique key. */
  path: string;
  /** Label, shown literally (control characters made visible). */
  name: string;
  /** 0 = top level. */
  depth: number;
  dir: boolean;
  expanded: boolean;
  /** Bytes; for directories the total below them. */
  size: number;
  type: IndexEntry['type'];
  change?: ChangeKind;
  linkname?: string;
  /** Number of siblings, for aria-setsize. */
  setSize: number;
  /** 1-based position among the siblings, for aria-posinset. */
  posInSet: number;
}

/** An entry as the details pane shows it. */
export interface Selected {
  path: string;
  entry?: IndexEntry;
  layer?: number;
  change?: 'added' | 'modified' | 'deleted';
}

export interface ViewerState {
  path: string;
  entry: IndexEntry;
  layer: number;
  bytes: Uint8Array | null;
  truncated: boolean;
  error: string | null;
  limit: number;
}

/** How often a layer's listing, while it is read, is shown with the entries found so far. */
const progressiveMs = 500;

/** The first view of a file reads at most this much of it... */
export const viewLimit = 1 << 20;
/** ...and "Show more" at most this much. */
export const maxViewLimit = 64 << 20;

export interface LayerStateOptions {
  bridge: WorkerBridge<LayersWorkerApi>;
  /** Downloads a layer that was not fetched yet (an inspected image). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  save: (blob: Blob, fileName: string) => void;
  /** The view or the file on screen changed: the URL follows. */
  onLocation?: () => void;
}

export class LayerState {
  summary = $state.raw<ImageSummary | null>(null);
  view = $state.raw<View | null>(null);
  /** Keyed by layer digest. */
  listings = $state.raw<Record<string, Listing>>({});
  expanded = $state.raw<ReadonlySet<string>>(new Set());
  selected = $state<string | null>(null);
  sort = $state<'name' | 'size'>('name');
  query = $state('');
  viewer = $state.raw<ViewerState | null>(null);
  error = $state<string | null>(null);

  readonly #opts: LayerStateOptions;
  #aborts = new Map<string, AbortController>();
  /** Listings being read, by layer index. */
  #loads = new Map<number, Promise<void>>();
  #viewerAbort: AbortController | undefined;

  constructor(opts: LayerStateOptions) {
    this.#opts = opts;
  }

  /** Follows the image on screen; a different image closes the browser. */
  show(summary: ImageSummary | null) {
    const same =
      summary && this.summary && summary.manifest.digest === this.summary.manifest.digest;
    this.summary = summary;
    if (same) return;
    for (const a of this.#aborts.values()) a.abort();
    this.#aborts.clear();
    this.#loads.clear();
    this.#viewerAbort?.abort();
    this.view = null;
    this.listings = {};
    this.expanded = new Set();
    this.selected = null;
    this.query = '';
    this.viewer = null;
    this.error = null;
  }

  /** The layers as the layers worker wants them. */
  #ref(i: number): LayerRef | undefined {
    const l = this.summary?.layers[i];
    if (!l) return undefined;
    const d = l.descriptor;
    return {
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      ...(l.diffID ? { diffID: l.diffID } : {}),
    };
  }

  /** The view on screen as a URL names it; undefined when the browser is closed. */
  get location(): { layer: LayerView; path?: string } | undefined {
    const v = this.view;
    if (!v) return undefined;
    const layer = v.kind === 'layer' ? v.index : v.kind;
    return this.viewer ? { layer, path: this.viewer.path } : { layer };
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

  /** Closes the file browser. */
  close() {
    this.#viewerAbort?.abort();
    if (!this.view && !this.viewer) return;
    // One step in history, not two: the viewer goes with the browser.
    this.viewer = null;
    this.view = null;
    this.selected = null;
    this.#opts.onLocation?.();
  }

  /** Opens a view: one layer, or the merged filesystem (which needs every layer). */
  async open(view: View): Promise<void> {
    const s = this.summary;
    if (!s) return;
    this.view = view;
    this.selected = null;
    this.viewer = null;
    this.error = null;
    this.#opts.onLocation?.();
    // A listing already under way (an earlier open of this image) is waited for, not started
    // again: the view is complete only when all of its layers are.
    await Promise.all(this.#wanted(s, view).map((i) => this.#loads.get(i) ?? this.#load(i)));
  }

  /** The layers a view reads: every one for the merged and all-layers views; for one layer,
   * that layer and, when they are stored (cheap), those below it, whose files its changes are
   * relative to. An inspected image fetches only the layer asked for. */
  #wanted(s: ImageSummary, view: View): number[] {
    const all = s.layers.map((_, i) => i).filter((i) => browsable(s.layers[i]!.descriptor));
    if (view.kind !== 'layer') return all;
    return all.filter((i) => i === view.index || (i < view.index && s.layers[i]!.stored));
  }

  /** What opening a view would download: its layers not stored yet. */
  downloadsFor(layer: LayerView): { layers: number; bytes: number } {
    const s = this.summary;
    if (!s) return { layers: 0, bytes: 0 };
    const missing = this.#wanted(s, viewOf(layer)).filter((i) => !s.layers[i]!.stored);
    return {
      layers: missing.length,
      bytes: missing.reduce((n, i) => n + s.layers[i]!.descriptor.size, 0),
    };
  }

  /** Reads a layer's listing (from the store's index, or by reading the layer through),
   * fetching the layer first when it was not downloaded. */
  #load(i: number): Promise<void> {
    const p = this.#read(i).finally(() => {
      if (this.#loads.get(i) === p) this.#loads.delete(i);
    });
    this.#loads.set(i, p);
    return p;
  }

  async #read(i: number): Promise<void> {
    const s = this.summary;
    const ref = this.#ref(i);
    const row = s?.layers[i];
    if (!s || !ref || !row || !browsable(row.descriptor)) return;
    const have = this.listings[ref.digest];
    if (have && have.status !== 'error') return;
    const abort = new AbortController();
    this.#aborts.set(ref.digest, abort);
    this.#set(ref.digest, {
      status: row.stored ? 'reading' : 'fetching',
      files: [],
      uncompressed: 0,
    });
    let fetchError: unknown;
    let pending: IndexEntry[] = [];
    let uncompressed = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A layer not downloaded yet is fetched while its files are listed from the ingest as
      // it arrives. A failed fetch stops the listing too.
      const fetching = row.stored
        ? undefined
        : this.#opts.fetchLayer(row.descriptor).catch((err: unknown) => {
            fetchError = err;
            abort.abort();
          });
      const listing = this.#opts.bridge.call('listLayer', ref, {
        signal: abort.signal,
        onEvent: (ev) => {
          // Batches are gathered and published at most every half second: each publication
          // rebuilds the tree, so publishing every batch would cost the square of the entries.
          pending.push(...ev.files);
          uncompressed = ev.uncompressed;
          if (timer === undefined) {
            timer = setTimeout(() => {
              timer = undefined;
              const cur = this.listings[ref.digest];
              if (!cur || !this.#current(s) || cur.status === 'done') return;
              this.#set(ref.digest, { ...cur, files: cur.files.concat(pending), uncompressed });
              pending = [];
            }, progressiveMs);
          }
        },
      });
      const [result] = await Promise.all([listing, fetching]);
      if (!this.#current(s)) return;
      const mismatch =
        row.diffID && row.diffID !== result.diffID
          ? `Layer ${i + 1} does not match the image config: its content hashes to ${result.diffID}, but rootfs.diff_ids lists ${row.diffID}. The image is broken or was altered.`
          : undefined;
      this.#set(ref.digest, {
        status: 'done',
        files: result.files,
        uncompressed: result.uncompressedSize,
        diffID: result.diffID,
        ...(mismatch ? { mismatch } : {}),
      });
    } catch (caught) {
      if (!this.#current(s) || (abort.signal.aborted && fetchError === undefined)) return;
      const err = fetchError ?? caught;
      const cur = this.listings[ref.digest];
      this.#set(ref.digest, {
        status: 'error',
        files: cur?.files ?? [],
        uncompressed: cur?.uncompressed ?? 0,
        error: `Layer ${i + 1} could not be read: ${err instanceof Error ? err.message : String(err)}`,
      });
    } finally {
      clearTimeout(timer);
      if (this.#aborts.get(ref.digest) === abort) this.#aborts.delete(ref.digest);
    }
  }

  /** The image on screen is still the one a listing started for (its summary may have been
   * refreshed since, when a layer was fetched). */
  #current(s: ImageSummary) {
    return this.summary?.manifest.digest === s.manifest.digest;
  }

  #set(digest: string, listing: Listing) {
    this.listings = { ...this.listings, [digest]: listing };
  }

  listingOf(i: number): Listing | undefined {
    const d = this.summary?.layers[i]?.descriptor.digest;
    return d ? this.listings[d] : undefined;
  }

  /** Files of layers 0..n-1, or undefined when one is not read completely. */
  #layersUpTo(n: number): IndexEntry[][] | undefined {
    const out: IndexEntry[][] = [];
    for (let i = 0; i < n; i++) {
      const l = this.listingOf(i);
      const row = this.summary?.layers[i];
      if (row && !browsable(row.descriptor)) {
        out.push([]);
        continue;
      }
      if (l?.status !== 'done') return undefined;
      out.push(l.files);
    }
    return out;
  }

  /** What the tree is built from, for the current view. */
  readonly items = $derived.by((): TreeItem[] => {
    const view = this.view;
    const s = this.summary;
    if (!view || !s) return [];
    if (view.kind === 'merged') {
      const all = this.#layersUpTo(s.layers.length);
      return all ? mergeLayers(all) : [];
    }
    if (view.kind === 'all') {
      return s.layers.flatMap((_, i) => {
        const files = this.listingOf(i)?.files ?? [];
        const folder = layerFolder(i);
        return files.map((entry) => ({
          path: entry.path ? `${folder}/${entry.path.replace(/^\/+/, '')}` : folder,
          entry,
          layer: i,
        }));
      });
    }
    const own = this.listingOf(view.index);
    if (!own) return [];
    const lower = this.#layersUpTo(view.index);
    if (lower && own.status === 'done') {
      return layerChanges([...lower, own.files])[view.index] ?? [];
    }
    // While the layer streams in, or without the layers below: its entries as they are.
    return own.files.map((entry) => ({ path: entry.path, entry, layer: view.index }));
  });

  /** Whether the changes of the layer on screen could be worked out (its lower layers read). */
  get changesKnown(): boolean {
    const v = this.view;
    return !!v && (v.kind !== 'layer' || this.#layersUpTo(v.index + 1) !== undefined);
  }

  readonly tree = $derived.by((): TreeNode => {
    const q = this.query.trim();
    const match = q ? globMatcher(q) : undefined;
    const root = buildTree(match ? this.items.filter((i) => match(i.path)) : this.items);
    sortTree(root, this.sort);
    return root;
  });

  readonly rows = $derived.by((): TreeRow[] => {
    const root = this.tree;
    // A search shows every match with its directories open.
    const expanded = this.query.trim() ? allDirs(root) : this.expanded;
    const position = new Map<TreeNode, [number, number]>();
    const index = (n: TreeNode) => {
      const c = n.children ?? [];
      for (let k = 0; k < c.length; k++) position.set(c[k]!, [k + 1, c.length]);
    };
    index(root);
    return flattenVisible(root, expanded).map(({ node, depth }) => {
      if (node.children && expanded.has(node.path)) index(node);
      const [posInSet, setSize] = position.get(node) ?? [1, 1];
      const entry = node.entry;
      return {
        path: node.path,
        name: node.name,
        depth,
        dir: node.children !== undefined,
        expanded: expanded.has(node.path),
        size: node.size,
        type: entry?.type ?? 'dir',
        ...(node.change ? { change: node.change } : {}),
        ...(entry?.linkname !== undefined ? { linkname: entry.linkname } : {}),
        setSize,
        posInSet,
      };
    });
  });

  /** Space wasted across layers, once every layer is read. */
  readonly wasted = $derived.by((): WastedSpace | null => {
    const s = this.summary;
    if (!s || s.layers.length === 0) return null;
    const all = this.#layersUpTo(s.layers.length);
    return all ? wastedSpace(all) : null;
  });

  /** The node at a path of the current tree. */
  #find(path: string): TreeNode | undefined {
    let node: TreeNode | undefined = this.tree;
    for (const part of path.split('/')) {
      node = node?.children?.find((c) => c.name === part);
      if (!node) return undefined;
    }
    return node;
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
    if (this.viewer?.path === path) return;
    if (!this.reveal(path)) {
      this.error = `${path} is not in this view of the image.`;
      return;
    }
    await this.openFile(path);
  }

  toggle(path: string) {
    const next = new Set(this.expanded);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    this.expanded = next;
  }

  /** Opens a file in the viewer: its first `viewLimit` bytes, read by the layers worker. A hard
   * link shows the file it links to. */
  async openFile(path: string, limit = viewLimit): Promise<void> {
    const node = this.#find(path);
    let entry = node?.entry;
    const layer = node?.layer;
    if (!node || !entry || layer === undefined || node.change === 'deleted') return;
    if (entry.type === 'hardlink' && entry.linkname !== undefined) {
      const target = this.#hardlinkTarget(layer, entry.linkname);
      if (!target) {
        return this.#explain(
          path,
          entry,
          layer,
          limit,
          `${path} is a hard link to ${entry.linkname}, which is not in layer ${layer + 1}.`,
        );
      }
      entry = target;
    }
    if (entry.sparse) {
      return this.#explain(
        path,
        entry,
        layer,
        limit,
        `${path} is a sparse file: Berth lists it but cannot show its content.`,
      );
    }
    if (entry.type !== 'file') {
      return this.#explain(
        path,
        entry,
        layer,
        limit,
        entry.type === 'symlink'
          ? `${path} is a symbolic link to ${entry.linkname ?? '?'}.`
          : `${path} is a ${entry.type === 'dir' ? 'directory' : `${entry.type} device or special file`}: it has no content to show.`,
      );
    }
    this.#viewerAbort?.abort();
    const abort = (this.#viewerAbort = new AbortController());
    const ref = this.#ref(layer)!;
    const moved = this.viewer?.path !== path;
    this.viewer = { path, entry, layer, bytes: null, truncated: false, error: null, limit };
    if (moved) this.#opts.onLocation?.();
    try {
      const r = await this.#opts.bridge.call(
        'readFile',
        { layer: ref, offset: entry.offset, size: entry.size, limit },
        { signal: abort.signal },
      );
      if (this.viewer?.path === path) {
        this.viewer = { ...this.viewer, bytes: r.bytes, truncated: r.truncated };
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      if (this.viewer?.path === path) {
        this.viewer = { ...this.viewer, error: err instanceof Error ? err.message : String(err) };
      }
    }
  }

  /** Shows a message in the viewer instead of content. */
  #explain(path: string, entry: IndexEntry, layer: number, limit: number, error: string) {
    const moved = this.viewer?.path !== path;
    this.viewer = { path, entry, layer, bytes: null, truncated: false, limit, error };
    if (moved) this.#opts.onLocation?.();
  }

  showMore() {
    const v = this.viewer;
    if (v) void this.openFile(v.path, Math.min(maxViewLimit, v.limit * 4));
  }

  closeViewer() {
    this.#viewerAbort?.abort();
    if (!this.viewer) return;
    this.viewer = null;
    this.#opts.onLocation?.();
  }

  /** Saves the file in the viewer under a name that is safe on every OS. */
  async downloadFile(): Promise<void> {
    const v = this.viewer;
    if (!v) return;
    const entry =
      v.entry.type === 'hardlink' && v.entry.linkname !== undefined
        ? this.#hardlinkTarget(v.layer, v.entry.linkname)
        : v.entry;
    if (!entry || entry.type !== 'file' || entry.sparse) return;
    try {
      const blob = await this.#opts.bridge.call('fileBlob', {
        layer: this.#ref(v.layer)!,
        offset: entry.offset,
        size: entry.size,
      });
      this.#opts.save(blob, safeFileName(v.path));
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  /** A hard link names a file of its own layer (tar semantics). */
  #hardlinkTarget(layer: number, target: string): IndexEntry | undefined {
    const files = this.listingOf(layer)?.files ?? [];
    const want = target.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    for (let k = files.length - 1; k >= 0; k--) {
      const f = files[k]!;
      if (f.path === want && f.type !== 'hardlink') return f;
    }
    return undefined;
  }
}

/** A layer Berth can list: a tar (gzip, zstd or plain) it has or can fetch. Foreign layers and
 * other media types (an artifact's blobs) are shown, not opened. */
export function browsable(layer: Descriptor): boolean {
  return !layer.urls?.length && layerCompression(layer.mediaType) !== 'unknown';
}

function viewOf(layer: LayerView): View {
  return typeof layer === 'number' ? { kind: 'layer', index: layer } : { kind: layer };
}

function sameView(a: View, b: View | null): boolean {
  return (
    !!b && a.kind === b.kind && (a.kind !== 'layer' || (b.kind === 'layer' && a.index === b.index))
  );
}

function allDirs(root: TreeNode): Set<string> {
  const out = new Set<string>();
  const stack = [root];
  for (let n = stack.pop(); n; n = stack.pop()) {
    for (const c of n.children ?? []) {
      if (c.children) {
        out.add(c.path);
        stack.push(c);
      }
    }
  }
  return out;
}
