// Search inside files, in the scan worker: every file of every stored layer (or only the merged
// view's), read once each in offset order through the layer's random access, matched as its
// bytes stream by (lib/search/matcher.ts). Results go to the page in batches as they are found,
// with progress, until the caps; the call ends with a summary. Cancelling stops the read at
// once. A regular expression that backtracks without end cannot be interrupted: before each
// window it matches, the worker says which file it is in ('matching'), so that when the page's
// watchdog replaces the silent worker it can say where the expression got stuck.
import { CHECKPOINT_SPACING, type TarFrom } from '../lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';
import { readFilesInOrder } from '../lib/layers/ordered.ts';
import { pathFilter, type SearchFilters } from '../lib/search/filters.ts';
import {
  defaultMatcherOptions,
  FileMatcher,
  type MatchHit,
  type MatcherOptions,
} from '../lib/search/matcher.ts';
import { compileQuery, type SearchQuery } from '../lib/search/query.ts';
import {
  planSearch,
  type FileStatus,
  type PlannedFile,
  type SearchScope,
} from '../lib/search/scope.ts';
import type { Store } from '../lib/store/store.ts';
import type { LayerRef } from './layer-tar.ts';
import { storedTarFrom } from './layer-tar.ts';
import type { CallContext } from './rpc.ts';

export type { FileStatus, SearchFilters, SearchQuery, SearchScope };

/** A layer as the search names it; null for one that is not a tar (it holds no files). */
export type SearchLayer = { digest: string; mediaType: string; size: number } | null;

export interface SearchRequest {
  layers: SearchLayer[];
  query: SearchQuery;
  filters: SearchFilters;
  scope: SearchScope;
}

export interface SearchResult extends MatchHit {
  path: string;
  layer: number;
  status: FileStatus;
  /** The file's size and where its bytes are in the layer's tar. */
  size: number;
}

/** A layer whose files cannot be searched: not stored in this browser, or not listed. */
export interface UnreadLayer {
  layer: number;
  size: number;
  why: 'not-stored' | 'not-listed';
}

export type SearchEvent =
  | { type: 'plan'; files: number; bytes: number; unread: UnreadLayer[] }
  /** Sent before an expression that may backtrack runs over a file (or a window of one). */
  | { type: 'matching'; path: string; layer: number }
  | { type: 'results'; results: SearchResult[] }
  | {
      type: 'progress';
      filesDone: number;
      files: number;
      bytesDone: number;
      bytes: number;
      layersDone: number;
      layers: number;
    };

export interface SearchSummary {
  files: number;
  bytes: number;
  /** Files whose content was searched (not turned down by the kind filter). */
  searched: number;
  /** Files turned down once their first bytes were read (binary, or not the kind asked). */
  skipped: number;
  /** Files with at least one result. */
  matchedFiles: number;
  results: number;
  /** The search stopped at the cap on results: the files after were not read. */
  truncated: boolean;
  /** Files with more matching lines than the per-file cap. */
  moreInFiles: number;
  unread: UnreadLayer[];
  /** Files that could not be read in order (a hostile index), by layer. */
  problems: { layer: number; path: string; message: string }[];
}

export interface SearchLimits {
  /** Results in all. */
  maxResults: number;
  /** How often results and progress are sent, and how many results make a batch go now. */
  batchMs: number;
  batchResults: number;
  matcher: MatcherOptions;
}

export const defaultSearchLimits: SearchLimits = {
  maxResults: 10_000,
  batchMs: 100,
  batchResults: 200,
  matcher: defaultMatcherOptions,
};

export interface SearchServiceDeps {
  /** A layer's complete index, or undefined when it is not listed. */
  index(digest: string): Promise<ColumnIndex | undefined>;
  /** Whether the layer's blob is stored (its files can be read). */
  stored(digest: string): Promise<boolean>;
  tarFrom(layer: NonNullable<SearchLayer>, offset: number, signal: AbortSignal): Promise<TarFrom>;
  /** The layers' checkpoint spacing (default CHECKPOINT_SPACING). */
  spacing?: number;
  limits?: Partial<SearchLimits>;
}

/** A search's request was refused before any file was read (an invalid expression). */
export class SearchQueryError extends Error {
  override name = 'SearchQueryError';
}

export class SearchService {
  readonly #deps: SearchServiceDeps;
  readonly #limits: SearchLimits;

  constructor(deps: SearchServiceDeps) {
    this.#deps = deps;
    this.#limits = { ...defaultSearchLimits, ...deps.limits };
  }

  async #search(req: SearchRequest, ctx: CallContext<SearchEvent>): Promise<SearchSummary> {
    const compiled = compileQuery(req.query);
    if (!compiled.ok) throw new SearchQueryError(compiled.message);
    const { finder } = compiled;
    const limits = this.#limits;
    const unread: UnreadLayer[] = [];
    const indexes = await Promise.all(
      req.layers.map(async (l, i) => {
        if (!l) return undefined;
        const [index, stored] = await Promise.all([
          this.#deps.index(l.digest),
          this.#deps.stored(l.digest),
        ]);
        if (!stored) unread.push({ layer: i, size: l.size, why: 'not-stored' });
        else if (!index) unread.push({ layer: i, size: l.size, why: 'not-listed' });
        return index;
      }),
    );
    unread.sort((a, b) => a.layer - b.layer);
    // A layer not stored is still planned (its index says what a later layer hides) but not
    // read; one not listed hides nothing that is known.
    const plan = planSearch(indexes, req.scope, pathFilter(req.filters));
    const skipLayer = new Set(unread.map((u) => u.layer));
    let files = 0;
    let bytes = 0;
    plan.layers.forEach((list, i) => {
      if (skipLayer.has(i)) return;
      files += list.length;
      for (const f of list) bytes += f.size;
    });
    ctx.emit({ type: 'plan', files, bytes, unread });

    const summary: SearchSummary = {
      files,
      bytes,
      searched: 0,
      skipped: 0,
      matchedFiles: 0,
      results: 0,
      truncated: false,
      moreInFiles: 0,
      unread,
      problems: [],
    };
    let batch: SearchResult[] = [];
    let sent = performance.now();
    let filesDone = 0;
    let bytesDone = 0;
    let layersDone = 0;
    const layers = plan.layers.filter((l, i) => l.length > 0 && !skipLayer.has(i)).length;
    const send = (force: boolean) => {
      const now = performance.now();
      if (!force && batch.length < limits.batchResults && now - sent < limits.batchMs) return;
      sent = now;
      if (batch.length > 0) ctx.emit({ type: 'results', results: batch });
      batch = [];
      ctx.emit({
        type: 'progress',
        filesDone,
        files,
        bytesDone,
        bytes,
        layersDone,
        layers,
      });
    };
    // Stops the reads once the cap is reached: the rest of the layers are not read.
    const capped = new AbortController();
    const signal = AbortSignal.any([ctx.signal, capped.signal]);

    // A heartbeat while the worker's loop turns (reads let it, every 50 ms): the page takes
    // silence after 'matching' as an expression that does not finish, and a long file, or a
    // gap read without a file ending, would otherwise look the same.
    const beat = setInterval(() => send(true), limits.batchMs);
    try {
      for (let i = 0; i < plan.layers.length; i++) {
        const list = plan.layers[i]!;
        const layer = req.layers[i];
        if (!layer || list.length === 0 || skipLayer.has(i)) continue;
        try {
          await readFilesInOrder(
            (offset, s) => this.#deps.tarFrom(layer, offset, s),
            list,
            (f: PlannedFile) => {
              // Files within the chunk in hand are opened before the read sees the signal.
              if (signal.aborted) return undefined;
              const m = new FileMatcher(
                finder,
                f.size,
                req.filters,
                limits.matcher,
                finder.backtracks
                  ? () => {
                      // Results held go first: if this file holds the worker until it is
                      // replaced, they are not lost with it.
                      if (batch.length > 0) send(true);
                      ctx.emit({ type: 'matching', path: f.path, layer: i });
                    }
                  : undefined,
              );
              return {
                push: (piece) => m.push(piece),
                end: () => {
                  m.end();
                  filesDone++;
                  bytesDone += f.size;
                  if (m.skipped) summary.skipped++;
                  else summary.searched++;
                  if (m.more) summary.moreInFiles++;
                  if (m.hits.length > 0) summary.matchedFiles++;
                  for (const h of m.hits) {
                    summary.results++;
                    batch.push({ ...h, path: f.path, layer: i, status: f.status, size: f.size });
                    if (summary.results >= limits.maxResults) {
                      // The cap: the files after this one are not read.
                      summary.truncated = true;
                      capped.abort();
                      break;
                    }
                  }
                  send(false);
                },
              };
            },
            {
              signal,
              spacing: this.#deps.spacing ?? CHECKPOINT_SPACING,
              problem: (f, message) => summary.problems.push({ layer: i, path: f.path, message }),
            },
          );
        } catch (err) {
          if (!capped.signal.aborted || ctx.signal.aborted) throw err;
        }
        layersDone++;
        if (summary.truncated) break;
      }
    } finally {
      clearInterval(beat);
    }
    send(true);
    return summary;
  }

  readonly api = {
    /** Searches the layers' files; results, progress and 'matching' come as events. Fails
     * with SearchQueryError for an empty query or an invalid expression. */
    searchStart: (req: SearchRequest, ctx: CallContext<SearchEvent>): Promise<SearchSummary> =>
      this.#search(req, ctx),
  };
}

/** The search over the layers of a content store (the scan worker's). */
export function storedSearch(store: () => Promise<Store>): SearchService {
  return new SearchService({
    index: async (digest) => (await (await store()).layerIndexes.get(digest))?.files,
    stored: async (digest) => !!(await (await store()).content.info(digest)),
    tarFrom: async (layer, offset, signal) =>
      storedTarFrom(await store(), layer as LayerRef, offset, signal),
  });
}
