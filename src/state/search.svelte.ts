// Search inside files, for the image on screen: the query and filters, the run (listing any
// layer not listed yet, then the scan worker reading the stored layers), the results as they
// stream in, and the end: a summary, a cancel, or the watchdog's stop. The page holds the
// results (at most the worker's cap, 10,000) and draws only those in view. Runs only when
// asked.
//
// A regular expression that backtracks without end cannot be interrupted in the worker. The
// worker says which file it is about to match ('matching') and beats while its loop turns;
// silence longer than scanStuckMs after 'matching' is such an expression: the run is
// cancelled (the bridge then replaces the worker), its results kept, and the page says where.
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import { noFilters, type SearchFilters } from '../lib/search/filters.ts';
import { compileQuery } from '../lib/search/query.ts';
import type { SearchScope } from '../lib/search/scope.ts';
import {
  scanStuckMs,
  type ScanWorkerApi,
  type SearchLayer,
  type SearchResult,
  type SearchSummary,
  type UnreadLayer,
} from '../workers/scan.ts';
import type { Bridge } from './bridge.ts';
import { formatBytes } from './format.ts';
import { browsable, type Listings } from './layers/listings.svelte.ts';

export type { SearchResult };

export type SearchStatus =
  'idle' | 'downloading' | 'listing' | 'searching' | 'done' | 'cancelled' | 'stopped' | 'error';

export interface SearchStateOptions {
  /** The scan worker, made on first use. */
  bridge: () => Bridge<ScanWorkerApi>;
  listings: Listings;
  /** Downloads one layer of the image (ImageState.fetchLayer). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  /** Opens a result's file in the viewer, at its line. */
  open: (result: SearchResult) => Promise<void>;
}

export interface SearchProgress {
  filesDone: number;
  files: number;
  bytesDone: number;
  bytes: number;
}

/** How often the page looks for a silent worker. */
const watchMs = 250;

export class SearchState {
  text = $state('');
  regex = $state(false);
  caseSensitive = $state(false);
  scope = $state<SearchScope>('all');
  filters = $state<SearchFilters>({ ...noFilters });
  status = $state<SearchStatus>('idle');
  /** Results found so far: `count` of `results` (kept out of the reactive graph: it may grow
   * to 10,000 in batches). */
  count = $state(0);
  progress = $state.raw<SearchProgress | null>(null);
  summary = $state.raw<SearchSummary | null>(null);
  /** Why the last run failed or stopped. */
  error = $state<string | null>(null);
  /** Layers the last run could not read (not stored, or not listed). */
  unread = $state.raw<UnreadLayer[]>([]);

  #results: SearchResult[] = [];
  readonly #opts: SearchStateOptions;
  /** Reactive: which layers are stored changes as they are downloaded. */
  #image = $state.raw<ImageSummary | null>(null);
  /** Bumped with each run, image and cancel: late answers for older ones are dropped. */
  #generation = 0;
  #run: AbortController | null = null;

  constructor(opts: SearchStateOptions) {
    this.#opts = opts;
  }

  /** The image on screen; another manifest starts over. */
  show(summary: ImageSummary | null) {
    const same = summary?.manifest.digest === this.#image?.manifest.digest;
    this.#image = summary;
    if (same) return;
    this.#stop();
    this.status = 'idle';
    this.#clear();
  }

  #clear() {
    this.#results = [];
    this.count = 0;
    this.progress = null;
    this.summary = null;
    this.error = null;
    this.unread = [];
  }

  #stop() {
    this.#run?.abort();
    this.#run = null;
    this.#generation++;
  }

  /** Result i, when found. */
  at(i: number): SearchResult | undefined {
    return this.#results[i];
  }

  get running(): boolean {
    return (
      this.status === 'downloading' || this.status === 'listing' || this.status === 'searching'
    );
  }

  /** The query's own problem (empty, or an invalid expression), before any run. */
  get invalid(): string | null {
    if (this.text === '') return null;
    const c = compileQuery({
      text: this.text,
      regex: this.regex,
      caseSensitive: this.caseSensitive,
    });
    return c.ok ? null : c.message;
  }

  /** The image's layers as the worker names them. */
  get #layers(): SearchLayer[] {
    return (this.#image?.layers ?? []).map((l) =>
      browsable(l)
        ? {
            digest: l.descriptor.digest,
            mediaType: l.descriptor.mediaType,
            size: l.descriptor.size,
          }
        : null,
    );
  }

  /** Layers not stored in this browser, numbered from 0, with their sizes: a search reads only
   * stored ones, and offers to download these first. */
  get notStored(): { layer: number; size: number }[] {
    return (this.#image?.layers ?? []).flatMap((l, i) =>
      browsable(l) && !l.stored ? [{ layer: i, size: l.descriptor.size }] : [],
    );
  }

  /** "Layers 2 and 3 (12.5 MB)": what downloading them costs, in words. */
  get notStoredText(): string {
    const list = this.notStored;
    const bytes = list.reduce((n, l) => n + l.size, 0);
    const names = list.map((l) => l.layer + 1);
    const joined =
      names.length === 1
        ? String(names[0])
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    return `Layer${names.length === 1 ? '' : 's'} ${joined} (${formatBytes(bytes)})`;
  }

  /** Downloads the layers not stored, then searches. */
  async downloadAndRun(): Promise<void> {
    const s = this.#image;
    if (!s || this.running) return;
    const gen = ++this.#generation;
    this.status = 'downloading';
    this.error = null;
    try {
      for (const l of this.notStored) {
        await this.#opts.fetchLayer(s.layers[l.layer]!.descriptor);
        if (gen !== this.#generation) return;
      }
    } catch (err) {
      if (gen !== this.#generation) return;
      this.status = 'error';
      this.error = `The layers could not be downloaded: ${messageOf(err)}`;
      return;
    }
    this.status = 'idle';
    await this.run();
  }

  /** Searches: lists the layers not listed yet, then has the worker read the stored ones. */
  async run(): Promise<void> {
    const s = this.#image;
    if (!s || this.running) return;
    const query = { text: this.text, regex: this.regex, caseSensitive: this.caseSensitive };
    const compiled = compileQuery(query);
    this.#clear();
    if (!compiled.ok) {
      this.status = 'error';
      this.error = compiled.message;
      return;
    }
    const gen = ++this.#generation;
    const current = () => gen === this.#generation;
    const listings = this.#opts.listings;
    // Stored layers only: they are the ones the worker can read.
    const wanted = s.layers.flatMap((l, i) => (browsable(l) && l.stored ? [i] : []));
    if (wanted.some((i) => listings.of(i)?.status !== 'done')) {
      this.status = 'listing';
      await listings.read(wanted);
      if (!current()) return;
    }
    this.status = 'searching';
    const abort = new AbortController();
    this.#run = abort;
    let heard = Date.now();
    let matching: string | null = null;
    let stuck: string | null = null;
    const watch = setInterval(() => {
      if (matching === null || Date.now() - heard <= scanStuckMs) return;
      stuck = matching;
      abort.abort(new Error('stuck'));
    }, watchMs);
    let stopped: (reason: string) => void = () => {};
    const stop = new Promise<never>((_, reject) => (stopped = (r) => reject(new Error(r))));
    abort.signal.addEventListener('abort', () => stopped('aborted'), { once: true });
    try {
      const summary = await Promise.race([
        this.#opts.bridge().call(
          'searchStart',
          {
            layers: this.#layers,
            query,
            filters: $state.snapshot(this.filters),
            scope: this.scope,
          },
          {
            signal: abort.signal,
            onEvent: (e) => {
              if (!current()) return;
              heard = Date.now();
              switch (e.type) {
                case 'matching':
                  matching = e.path;
                  break;
                case 'results':
                  for (const r of e.results) this.#results.push(r);
                  this.count = this.#results.length;
                  break;
                case 'progress':
                  this.progress = {
                    filesDone: e.filesDone,
                    files: e.files,
                    bytesDone: e.bytesDone,
                    bytes: e.bytes,
                  };
                  break;
                case 'plan':
                  this.unread = e.unread;
                  this.progress = { filesDone: 0, files: e.files, bytesDone: 0, bytes: e.bytes };
                  break;
              }
            },
          },
        ),
        // A stuck worker answers the cancel only once the bridge has replaced it: the run
        // ends here at once.
        stop,
      ]);
      if (!current()) return;
      this.summary = summary;
      this.unread = summary.unread;
      this.status = 'done';
    } catch (err) {
      if (!current()) return;
      if (stuck !== null) {
        this.status = 'stopped';
        this.error =
          `The search was stopped: the expression ran for more than ${scanStuckMs / 1000} s ` +
          `on /${stuck} without finishing (catastrophic backtracking). Results so far are kept.`;
      } else if (abort.signal.aborted) {
        this.status = 'cancelled';
      } else {
        this.status = 'error';
        this.error = `The search failed: ${messageOf(err)}`;
      }
    } finally {
      clearInterval(watch);
      if (this.#run === abort) this.#run = null;
    }
  }

  /** Stops the run; the results so far stay. */
  cancel() {
    if (!this.running) return;
    const run = this.#run;
    this.#generation++;
    this.#run = null;
    run?.abort();
    this.status = 'cancelled';
  }

  /** Opens a result's file in the viewer, at its line. */
  open(r: SearchResult): Promise<void> {
    return this.#opts.open(r);
  }
}
