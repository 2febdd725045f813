// The file tree's side of the layers worker: every layer index the browser needs, and the views
// built from them (lib/layers/model.ts's TreeModel), asked by the page for the rows on screen
// only. The page never holds a listing: it opens a view, gets a view id and a row count, and
// asks for windows of rows, opens directories, sorts and searches by id.
//
// It lives in the layers worker rather than a worker of its own because that is where the
// indexes are made: a listing in progress fills the very columns a view reads (no batch is
// copied to another thread, no second copy of a million-entry index is held), and every loop
// of a listing yields to the event loop at least every 50 ms, so a rows call waits at most one
// slice of it. The watchdog may replace this worker (stuck, or a job past its limit): the
// views then are gone, a call naming one fails with TreeViewLostError, and the page opens its
// view again, which reads the indexes back from IndexedDB.
import { ColumnsBuilder, pathOf, type ColumnIndex } from '../lib/layers/columns.ts';
import type { IndexEntry } from '../lib/layers/entry.ts';
import type { Selected, TreeModel, TreeRow, ViewSpec } from '../lib/layers/model.ts';
import { tooDeep } from '../lib/layers/filesystem.ts';
import { buildTreeModel, findRowByName, wastedSpaceOf } from '../lib/layers/treemodel.ts';
import type { WastedSpace } from '../lib/layers/wasted.ts';
import type { CallContext } from './rpc.ts';

export type { Selected, TreeRow, ViewSpec, WastedSpace };

/** A layer as the tree needs it: its digest names its index; null stands for a layer that is
 * not a tar (shown as empty). */
export type TreeLayer = { digest: string } | null;

/** A window of rows of a view, and the view's size, as every call that changes it answers. */
export interface TreeWindow {
  count: number;
  start: number;
  rows: TreeRow[];
}

/** Rows start … end-1 of a view; the page asks for the rows on screen and some either side. */
export type Range = [start: number, end: number];

export interface OpenViewRequest {
  view: ViewSpec;
  /** Every layer of the image, in order. */
  layers: TreeLayer[];
  /** Mark a layer's changes (false while it streams in, or without its lower layers). */
  changes: boolean;
  sort: 'name' | 'size';
  /** Directories open, opened again on the new view. */
  expanded: string[];
  query: string;
  window: Range;
}

export interface OpenedView extends TreeWindow {
  viewId: number;
  tooDeep: number;
  /** Layers whose index this worker did not have (not listed yet, or not stored). */
  missing: number[];
}

/** A call named a view this worker does not hold (it was restarted, or the view closed). */
export class TreeViewLostError extends Error {
  override name = 'TreeViewLostError';
}

/** The most entries the worker keeps in indexes not used by a view (each costs about a
 * hundred bytes in columns). */
const keptEntries = 4_000_000;
/** Views kept at once: the page's current one and the ones it is replacing. */
const keptViews = 4;

/** A layer's index as a listing fills it: the batches sealed so far and the one being filled. */
export class LiveIndex {
  /** The listing builds the index here (read.ts listLayer's `builder`). */
  readonly builder = new ColumnsBuilder();
  readonly #sealed: ColumnIndex['batches'][number][] = [];
  /** Entries too deep for the tree, counted as they arrive. */
  tooDeep = 0;

  get count(): number {
    return this.builder.count;
  }

  /** Counts an entry as the listing adds it (listLayer's `onEntry`). */
  saw(entry: IndexEntry) {
    if (tooDeep(entry.path)) this.tooDeep++;
  }

  /** The entries so far, the partial batch copied. */
  snapshot(): ColumnIndex {
    this.#sealed.push(...this.builder.take());
    const partial = this.builder.partial();
    return {
      count: this.builder.count,
      batches: partial ? [...this.#sealed, partial] : [...this.#sealed],
    };
  }

  finish(): ColumnIndex {
    return this.builder.finish();
  }
}

/** Entries of an index too deep for the tree. */
export function countTooDeep(index: ColumnIndex): number {
  let n = 0;
  for (const b of index.batches) for (let j = 0; j < b.count; j++) if (tooDeep(pathOf(b, j))) n++;
  return n;
}

export interface TreeServiceDeps {
  /** A layer's stored index, or undefined when it was never listed. */
  stored(digest: string): Promise<ColumnIndex | undefined>;
}

/** The tree part of the layers worker: its state and its API. */
export class TreeService {
  readonly #deps: TreeServiceDeps;
  /** Complete indexes, most recently used last. */
  readonly #indexes = new Map<string, ColumnIndex>();
  /** Indexes of layers listed from their table of contents (see adopt). */
  readonly #adopted = new Map<string, ColumnIndex>();
  /** Listings in progress, by digest. */
  readonly #live = new Map<string, LiveIndex>();
  readonly #views = new Map<number, { model: TreeModel; digests: Set<string> }>();
  #nextView = 1;

  constructor(deps: TreeServiceDeps) {
    this.#deps = deps;
  }

  /** A listing starts: its entries are gathered here as they come. */
  listingStarted(digest: string): LiveIndex {
    const live = new LiveIndex();
    this.#live.set(digest, live);
    return live;
  }

  /** A listing ended: its index is complete (or, on failure, dropped). */
  listingEnded(digest: string, live: LiveIndex, ok: boolean): ColumnIndex | undefined {
    if (this.#live.get(digest) === live) this.#live.delete(digest);
    if (!ok) return undefined;
    const index = live.finish();
    this.#keep(digest, index);
    return index;
  }

  /** A complete index read from the store (the listing found it there). */
  remember(digest: string, index: ColumnIndex) {
    this.#keep(digest, index);
  }

  /** An index that is in no store: a layer listed from its table of contents (eStargz,
   * zstd:chunked), never downloaded. Kept while the worker lives, never evicted, since it
   * cannot be read back. */
  adopt(digest: string, index: ColumnIndex) {
    this.#adopted.set(digest, index);
  }

  #keep(digest: string, index: ColumnIndex) {
    this.#indexes.delete(digest);
    this.#indexes.set(digest, index);
    const used = new Set([...this.#views.values()].flatMap((v) => [...v.digests]));
    let total = 0;
    for (const i of this.#indexes.values()) total += i.count;
    for (const [d, i] of this.#indexes) {
      if (total <= keptEntries) break;
      if (used.has(d) || d === digest) continue;
      this.#indexes.delete(d);
      total -= i.count;
    }
  }

  /** A layer's index: complete, or what a listing in progress has found so far. */
  async #index(digest: string): Promise<ColumnIndex | undefined> {
    const have = this.#indexes.get(digest) ?? this.#adopted.get(digest);
    if (have) return have;
    const live = this.#live.get(digest);
    if (live) return live.snapshot();
    const stored = await this.#deps.stored(digest);
    if (stored) this.#keep(digest, stored);
    return stored;
  }

  /** A layer's complete index (not a listing in progress), for a comparison of two images. */
  async completeIndex(digest: string): Promise<ColumnIndex | undefined> {
    if (this.#live.has(digest)) return undefined;
    return this.#index(digest);
  }

  #view(viewId: number): TreeModel {
    const v = this.#views.get(viewId);
    if (!v) throw new TreeViewLostError(`tree view ${viewId} is not held by this worker`);
    return v.model;
  }

  #window(model: TreeModel, [start, end]: Range): TreeWindow {
    const s = Math.max(0, Math.min(start, model.count));
    return { count: model.count, start: s, rows: model.rows(s, Math.max(s, end)) };
  }

  readonly api = {
    /** Builds a view of an image's layers, with the page's open directories, sort and query. */
    openView: async (arg: OpenViewRequest, ctx: CallContext): Promise<OpenedView> => {
      const missing: number[] = [];
      const layers = await Promise.all(
        arg.layers.map(async (l, i) => {
          if (!l) return { count: 0, batches: [] } satisfies ColumnIndex;
          const index = await this.#index(l.digest);
          if (!index) missing.push(i);
          return index;
        }),
      );
      const model = await buildTreeModel(arg.view, layers, {
        signal: ctx.signal,
        changes: arg.changes,
      });
      if (arg.sort !== 'name') await model.sort(arg.sort, ctx.signal);
      for (const path of arg.expanded) model.toggle(path);
      if (arg.query.trim()) await model.search(arg.query.trim(), ctx.signal);
      ctx.signal.throwIfAborted();
      const viewId = this.#nextView++;
      this.#views.set(viewId, {
        model,
        digests: new Set(arg.layers.flatMap((l) => (l ? [l.digest] : []))),
      });
      for (const id of this.#views.keys()) {
        if (this.#views.size <= keptViews) break;
        this.#views.delete(id);
      }
      return { viewId, tooDeep: model.tooDeep, missing, ...this.#window(model, arg.window) };
    },

    closeView: async (arg: { viewId: number }): Promise<void> => {
      this.#views.delete(arg.viewId);
    },

    treeRows: async (arg: { viewId: number; window: Range }): Promise<TreeWindow> =>
      this.#window(this.#view(arg.viewId), arg.window),

    treeToggle: async (arg: { viewId: number; path: string; window: Range }) => {
      const model = this.#view(arg.viewId);
      model.toggle(arg.path);
      return this.#window(model, arg.window);
    },

    /** Opens the directories above a path; its row index, or -1 when the view lacks it. */
    treeReveal: async (arg: {
      viewId: number;
      path: string;
      window: Range;
    }): Promise<TreeWindow & { index: number }> => {
      const model = this.#view(arg.viewId);
      const found = model.reveal(arg.path);
      return { index: found ? model.indexOf(arg.path) : -1, ...this.#window(model, arg.window) };
    },

    treeSort: async (
      arg: { viewId: number; by: 'name' | 'size'; window: Range },
      ctx: CallContext,
    ): Promise<TreeWindow> => {
      const model = this.#view(arg.viewId);
      await model.sort(arg.by, ctx.signal);
      return this.#window(model, arg.window);
    },

    treeSearch: async (
      arg: { viewId: number; query: string; window: Range },
      ctx: CallContext,
    ): Promise<TreeWindow> => {
      const model = this.#view(arg.viewId);
      await model.search(arg.query.trim(), ctx.signal);
      return this.#window(model, arg.window);
    },

    treeIndexOf: async (arg: { viewId: number; path: string }): Promise<number> =>
      this.#view(arg.viewId).indexOf(arg.path),

    /** Type-ahead: the first row from `from` on (wrapping around) whose name starts with the
     * prefix, compared in lower case; -1 when none does. */
    treeFind: async (
      arg: { viewId: number; prefix: string; from: number },
      ctx: CallContext,
    ): Promise<number> => {
      return findRowByName(this.#view(arg.viewId), arg.prefix, arg.from, ctx.signal);
    },

    treeSelect: async (arg: { viewId: number; path: string }): Promise<Selected | null> =>
      this.#view(arg.viewId).select(arg.path) ?? null,

    hardlinkTarget: async (arg: {
      viewId: number;
      layer: number;
      linkname: string;
    }): Promise<IndexEntry | null> =>
      this.#view(arg.viewId).hardlinkTarget(arg.layer, arg.linkname) ?? null,

    /** Space wasted across every layer of an image; null while one is not listed. */
    wasted: async (arg: { layers: TreeLayer[] }): Promise<WastedSpace | null> => {
      const layers: (ColumnIndex | undefined)[] = [];
      for (const l of arg.layers) {
        if (!l) {
          layers.push(undefined);
          continue;
        }
        const index = await this.#index(l.digest);
        if (!index || this.#live.has(l.digest)) return null;
        layers.push(index);
      }
      return wastedSpaceOf(layers);
    },
  };
}
