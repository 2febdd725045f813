/* eslint-disable svelte/prefer-svelte-reactivity -- the Maps here are replaced whole in
   $state.raw fields, and the Sets are bookkeeping never shown. */
// The page's window onto a tree that lives in the layers worker: the rows around the viewport,
// in blocks, fetched when the view asks for a row it does not have and dropped when far away.
// A view of a million rows costs the page a few hundred rows. The file tree and a comparison's
// files both use it, each with rows of its own kind.
import type { Range } from '../../workers/layers.ts';
import type { TreeRow, TreeRows } from './rows.ts';

/** Rows per block: what one fetch brings. */
const BLOCK_BITS = 7;
const BLOCK = 1 << BLOCK_BITS;
/** Blocks kept: a few screens either side of the viewport. */
const keptBlocks = 32;

/** Rows start … start+rows.length-1 of a view of `count` rows, as the worker answers. */
export interface RowsAnswer<R extends TreeRow = TreeRow> {
  count: number;
  start: number;
  rows: readonly R[];
}

/** Where the rows come from: the worker's view on screen. */
export interface RowSource<R extends TreeRow = TreeRow> {
  rows(range: Range): Promise<RowsAnswer<R> | undefined>;
  /** A path's row in the whole view (not only the rows fetched); -1 when it shows none. */
  indexOf(path: string): Promise<number>;
  /** Type-ahead: the first row from `from` on, wrapping, whose name starts with `prefix`. */
  find(prefix: string, from: number): Promise<number>;
}

export class RowWindow<R extends TreeRow = TreeRow> implements TreeRows {
  #count = $state(0);
  #blocks = $state.raw<ReadonlyMap<number, readonly R[]>>(new Map());
  /** A path's index asked of the worker, for the content on screen now. */
  #located = $state.raw<{ path: string; index: number } | null>(null);
  /** Bumped whenever the rows change: answers for older content are dropped. */
  #generation = 0;
  /** Blocks asked for and not answered, for this generation. */
  #asked = new Set<number>();
  #askedPath: string | null = null;
  #flush: Promise<void> | null = null;
  /** The last row asked for: where the viewport is. */
  #focus = 0;
  readonly #source: RowSource<R>;

  constructor(source: RowSource<R>) {
    this.#source = source;
  }

  get count(): number {
    return this.#count;
  }

  /** The rows to ask for with a change to the view: the blocks around the viewport. */
  get around(): Range {
    const first = Math.max(0, (this.#focus >> BLOCK_BITS) - 2) << BLOCK_BITS;
    return [first, first + 6 * BLOCK];
  }

  /** New content: the view changed (another view, a directory opened, a sort, a search). */
  reset(win: RowsAnswer<R> | null) {
    this.#generation++;
    this.#asked = new Set();
    this.#askedPath = null;
    this.#located = null;
    const blocks = new Map<number, readonly R[]>();
    if (win) this.#store(blocks, win);
    this.#count = win?.count ?? 0;
    this.#blocks = blocks;
  }

  /** Rows of a window into blocks; only whole blocks (or the tree's last one) are kept. */
  #store(blocks: Map<number, readonly R[]>, win: RowsAnswer<R>) {
    const end = win.start + win.rows.length;
    for (let b = win.start >> BLOCK_BITS; b << BLOCK_BITS < end; b++) {
      const from = b << BLOCK_BITS;
      const to = Math.min(from + BLOCK, win.count);
      if (from < win.start || to > end) continue;
      blocks.set(b, win.rows.slice(from - win.start, to - win.start));
    }
  }

  at(i: number): R | undefined {
    if (!(i >= 0 && i < this.#count)) return undefined;
    this.#focus = i;
    const b = i >> BLOCK_BITS;
    const rows = this.#blocks.get(b);
    if (rows) return rows[i & (BLOCK - 1)];
    this.#want(b);
    return undefined;
  }

  slice(start: number, end: number): R[] {
    const out: R[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.#count); i++) {
      const row = this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
      if (row) out.push(row);
    }
    return out;
  }

  indexOf(path: string): number {
    for (const [b, rows] of this.#blocks) {
      const k = rows.findIndex((r) => r.path === path);
      if (k >= 0) return (b << BLOCK_BITS) + k;
    }
    const located = this.#located;
    if (located?.path === path) return located.index;
    if (this.#askedPath !== path) {
      this.#askedPath = path;
      const generation = this.#generation;
      // Asked after the read that wants it: state is not written while the page renders.
      queueMicrotask(() => {
        void this.#source.indexOf(path).then(
          (index) => {
            if (this.#generation === generation) this.#located = { path, index };
          },
          () => undefined,
        );
      });
    }
    return -1;
  }

  async fetch(i: number): Promise<R | undefined> {
    if (!(i >= 0 && i < this.#count)) return undefined;
    const have = this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
    if (have) return have;
    this.#focus = i;
    this.#want(i >> BLOCK_BITS);
    await this.#flush;
    return this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
  }

  /** Fetches rows start..end-1 (tests, and a view that wants a range at once). */
  async load(start: number, end: number): Promise<void> {
    for (
      let b = Math.max(0, start) >> BLOCK_BITS;
      b << BLOCK_BITS < Math.min(end, this.#count);
      b++
    ) {
      if (!this.#blocks.has(b)) this.#want(b);
    }
    await this.#flush;
  }

  async locate(path: string): Promise<number> {
    for (const [b, rows] of this.#blocks) {
      const k = rows.findIndex((r) => r.path === path);
      if (k >= 0) return (b << BLOCK_BITS) + k;
    }
    return this.#source.indexOf(path);
  }

  find(prefix: string, from: number): Promise<number> {
    return this.#source.find(prefix, from);
  }

  /** Changes on their way to the worker. */
  readonly #busy = new Set<Promise<unknown>>();

  /** Marks a change to the view as on its way until it settles (see settled()). */
  hold<T>(change: Promise<T>): Promise<T> {
    this.#busy.add(change);
    const done = () => void this.#busy.delete(change);
    change.then(done, done);
    return change;
  }

  async settled(): Promise<void> {
    while (this.#busy.size > 0) await Promise.allSettled([...this.#busy]);
  }

  #want(block: number) {
    if (this.#asked.has(block)) return;
    this.#asked.add(block);
    // Every block asked while the page renders goes in one round of requests, after it.
    this.#flush ??= Promise.resolve().then(() => this.#fetch());
  }

  async #fetch(): Promise<void> {
    const generation = this.#generation;
    const blocks = [...this.#asked].filter((b) => !this.#blocks.has(b)).sort((a, b) => a - b);
    this.#flush = null;
    // Neighbouring blocks are asked in one range.
    const ranges: Range[] = [];
    for (const b of blocks) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === b << BLOCK_BITS) last[1] += BLOCK;
      else ranges.push([b << BLOCK_BITS, (b + 1) << BLOCK_BITS]);
    }
    const wins = await Promise.all(ranges.map((r) => this.#source.rows(r).catch(() => undefined)));
    if (this.#generation !== generation) return;
    const next = new Map(this.#blocks);
    for (const w of wins) if (w) this.#store(next, w);
    // Far blocks go, nearest to the viewport kept.
    if (next.size > keptBlocks) {
      const focus = this.#focus >> BLOCK_BITS;
      const far = [...next.keys()].sort((a, b) => Math.abs(b - focus) - Math.abs(a - focus));
      for (const b of far.slice(0, next.size - keptBlocks)) next.delete(b);
    }
    for (const b of blocks) this.#asked.delete(b);
    this.#blocks = next;
  }
}
