/* eslint-disable svelte/prefer-svelte-reactivity -- the Map is replaced whole in a $state.raw
   field, and the Set is bookkeeping never shown. */
// The page's window onto the files of a comparison, which live in the layers worker: the rows
// around the viewport, in blocks, fetched when the list asks for a row it does not have and
// dropped when far away (as layers/window.svelte.ts does for the file tree). Each row is shown
// as the file tree shows one (ui/FileTree.svelte), with its difference beside it.
import type { CompareRow, CompareWindow, RowRange } from '../lib/compare/types.ts';
import type { TreeRow, TreeRows } from './layers/rows.ts';

/** A row of the comparison as the file tree takes it: the entry of b (of a when b has none),
 * its change in the tree's words, and the comparison's row itself. */
export interface CompareTreeRow extends TreeRow {
  diff: CompareRow;
}

const changeOf = { added: 'added', removed: 'deleted', changed: 'modified' } as const;

function treeRow(diff: CompareRow): CompareTreeRow {
  const e = diff.b ?? diff.a;
  const change = diff.difference === 'unchanged' ? undefined : changeOf[diff.difference];
  return {
    path: diff.path,
    name: diff.name,
    depth: diff.depth,
    dir: diff.dir,
    expanded: diff.expanded,
    setSize: diff.setSize,
    posInSet: diff.posInSet,
    size: e?.size ?? 0,
    type: e?.type ?? (diff.dir ? 'dir' : 'file'),
    ...(change ? { change } : {}),
    ...(e?.linkname !== undefined ? { linkname: e.linkname } : {}),
    diff,
  };
}

const BLOCK_BITS = 7;
const BLOCK = 1 << BLOCK_BITS;
const keptBlocks = 24;

export class CompareRows implements TreeRows {
  #count = $state(0);
  #blocks = $state.raw<ReadonlyMap<number, readonly CompareTreeRow[]>>(new Map());
  /** Bumped whenever the rows change: answers for older content are dropped. */
  #generation = 0;
  #asked = new Set<number>();
  #flush: Promise<void> | null = null;
  #focus = 0;
  readonly #source: (window: RowRange) => Promise<CompareWindow | undefined>;

  constructor(source: (window: RowRange) => Promise<CompareWindow | undefined>) {
    this.#source = source;
  }

  get count(): number {
    return this.#count;
  }

  /** The rows to ask for with a change to the view: the blocks around the viewport. */
  get around(): RowRange {
    const first = Math.max(0, (this.#focus >> BLOCK_BITS) - 1) << BLOCK_BITS;
    return [first, first + 4 * BLOCK];
  }

  /** New content: a filter, a sort, a directory opened or closed. */
  reset(win: CompareWindow | null) {
    this.#generation++;
    this.#asked = new Set();
    const blocks = new Map<number, readonly CompareTreeRow[]>();
    if (win) this.#store(blocks, win);
    this.#count = win?.count ?? 0;
    this.#blocks = blocks;
  }

  #store(blocks: Map<number, readonly CompareTreeRow[]>, win: CompareWindow) {
    const end = win.start + win.rows.length;
    for (let b = win.start >> BLOCK_BITS; b << BLOCK_BITS < end; b++) {
      const from = b << BLOCK_BITS;
      const to = Math.min(from + BLOCK, win.count);
      if (from < win.start || to > end) continue;
      blocks.set(b, win.rows.slice(from - win.start, to - win.start).map(treeRow));
    }
  }

  /** Row i, or undefined while it is not fetched (it is then asked for). */
  at(i: number): CompareTreeRow | undefined {
    if (!(i >= 0 && i < this.#count)) return undefined;
    this.#focus = i;
    const rows = this.#blocks.get(i >> BLOCK_BITS);
    if (rows) return rows[i & (BLOCK - 1)];
    this.#want(i >> BLOCK_BITS);
    return undefined;
  }

  slice(start: number, end: number): CompareTreeRow[] {
    const out: CompareTreeRow[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.#count); i++) {
      const row = this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
      if (row) out.push(row);
    }
    return out;
  }

  /** A path's row among those fetched (the worker is not asked: -1 when not among them). */
  indexOf(path: string): number {
    for (const [b, rows] of this.#blocks) {
      const k = rows.findIndex((r) => r.path === path);
      if (k >= 0) return (b << BLOCK_BITS) + k;
    }
    return -1;
  }

  async fetch(i: number): Promise<CompareTreeRow | undefined> {
    if (!(i >= 0 && i < this.#count)) return undefined;
    const have = this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
    if (have) return have;
    this.#focus = i;
    this.#want(i >> BLOCK_BITS);
    await this.loaded();
    return this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
  }

  async locate(path: string): Promise<number> {
    return this.indexOf(path);
  }

  /** Type-ahead among the rows fetched, from `from` on, wrapping around. */
  async find(prefix: string, from: number): Promise<number> {
    const n = this.#count;
    for (let k = 0; k < n; k++) {
      const i = (from + k) % n;
      const row = this.#blocks.get(i >> BLOCK_BITS)?.[i & (BLOCK - 1)];
      if (row?.name.toLowerCase().startsWith(prefix)) return i;
    }
    return -1;
  }

  /** Changes on their way to the worker. */
  readonly #busy = new Set<Promise<unknown>>();

  /** Marks a change to the rows as on its way until it settles (see settled()). */
  hold<T>(change: Promise<T>): Promise<T> {
    this.#busy.add(change);
    const done = () => void this.#busy.delete(change);
    change.then(done, done);
    return change;
  }

  async settled(): Promise<void> {
    while (this.#busy.size > 0) await Promise.allSettled([...this.#busy]);
  }

  /** Fetches on their way. */
  readonly #fetching = new Set<Promise<unknown>>();

  /** Resolves once the blocks asked for so far have come. */
  async loaded(): Promise<void> {
    await this.#flush;
    while (this.#fetching.size > 0) await Promise.allSettled([...this.#fetching]);
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
    const ranges: RowRange[] = [];
    for (const b of blocks) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === b << BLOCK_BITS) last[1] += BLOCK;
      else ranges.push([b << BLOCK_BITS, (b + 1) << BLOCK_BITS]);
    }
    const fetching = Promise.all(ranges.map((r) => this.#source(r).catch(() => undefined)));
    this.#fetching.add(fetching);
    const wins = await fetching.finally(() => this.#fetching.delete(fetching));
    if (this.#generation !== generation) return;
    const next = new Map(this.#blocks);
    for (const w of wins) if (w) this.#store(next, w);
    if (next.size > keptBlocks) {
      const focus = this.#focus >> BLOCK_BITS;
      const far = [...next.keys()].sort((a, b) => Math.abs(b - focus) - Math.abs(a - focus));
      for (const b of far.slice(0, next.size - keptBlocks)) next.delete(b);
    }
    for (const b of blocks) this.#asked.delete(b);
    this.#blocks = next;
  }
}
