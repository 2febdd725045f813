// The packages of the image on screen: what listing them would read, the run (listing any layer
// not listed yet, then reading the package databases in the layers worker), and the table's
// window of rows, filtered and sorted in the worker. The page holds a window of rows, never the
// whole inventory. Runs only when asked: reading the files is the person's choice.
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { PackagesDiff } from '../lib/packages/diff.ts';
import type { InventoryPackage } from '../lib/packages/types.ts';
import { sbomFileName, sbomLayers } from '../lib/sbom/common.ts';
import type { SbomSubject } from '../lib/sbom/types.ts';
import type {
  LayersWorkerApi,
  PackagesLayer,
  PackagesPlan,
  PackagesQuery,
  PackagesSort,
  PackagesSortKey,
  PackagesSummary,
} from '../workers/layers.ts';
import { packagesLost } from '../workers/layers.ts';
import type { Bridge } from './bridge.ts';
import { shortHex } from './format.ts';

/** An ISO 8601 time in UTC, to the second. */
const isoSecond = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
import { browsable, type Listings } from './layers/listings.svelte.ts';

export type { PackagesSortKey };

export type PackagesStatus = 'idle' | 'listing' | 'reading' | 'ready' | 'error';

export interface PackagesStateOptions {
  bridge: Bridge<LayersWorkerApi>;
  listings: Listings;
  save: (blob: Blob, fileName: string) => void;
}

/** Rows fetched with each window: a few screens' worth. */
const windowRows = 200;
/** Berth's version, for the SBOM's tool fields. */
export const toolVersion = __BERTH_VERSION__;

export class PackagesState {
  status = $state<PackagesStatus>('idle');
  /** What a run would read; null while unknown (layers not listed). */
  plan = $state.raw<PackagesPlan | null>(null);
  summary = $state.raw<PackagesSummary | null>(null);
  progress = $state.raw<{ filesRead: number; files: number } | null>(null);
  error = $state<string | null>(null);
  filter = $state('');
  sort = $state.raw<PackagesSort>({ key: 'name', descending: false });
  removed = $state(false);
  /** Rows in the current query, and the window of them held. */
  count = $state(0);
  start = $state(0);
  rows = $state.raw<InventoryPackage[]>([]);

  readonly #opts: PackagesStateOptions;
  #image: ImageSummary | null = null;
  #id: number | null = null;
  /** Bumped with each new image or query: late answers for older ones are dropped. */
  #generation = 0;
  #run: AbortController | null = null;
  /** The rows being asked for (generation and start), so a redraw does not ask again. */
  #asking: string | null = null;

  constructor(opts: PackagesStateOptions) {
    this.#opts = opts;
  }

  /** The image on screen; another manifest starts over. */
  show(summary: ImageSummary | null) {
    if (
      summary?.manifest.digest === this.#image?.manifest.digest &&
      summary?.partial === this.#image?.partial
    ) {
      this.#image = summary;
      return;
    }
    this.#image = summary;
    this.#run?.abort();
    this.#run = null;
    this.#generation++;
    this.#id = null;
    this.status = 'idle';
    this.plan = null;
    this.summary = null;
    this.progress = null;
    this.error = null;
    this.count = 0;
    this.start = 0;
    this.rows = [];
    void this.refreshPlan();
  }

  /** The image's layers as the worker names them. */
  get layers(): PackagesLayer[] {
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

  /** Layers not stored in this browser (their packages cannot be read), numbered from 1. */
  get notStored(): number[] {
    return (this.#image?.layers ?? []).flatMap((l, i) =>
      browsable(l) && !l.stored ? [i + 1] : [],
    );
  }

  /** Layers not listed yet: a run lists them first. */
  get unlisted(): number {
    const s = this.#image;
    if (!s) return 0;
    return s.layers.filter((l, i) => browsable(l) && this.#opts.listings.of(i)?.status !== 'done')
      .length;
  }

  /** Asks the worker what a run would read, once every layer is listed. */
  async refreshPlan(): Promise<void> {
    const s = this.#image;
    if (!s || this.unlisted > 0) return;
    const gen = this.#generation;
    try {
      const plan = await this.#opts.bridge.call('packagesPlan', { layers: this.layers });
      if (gen === this.#generation) this.plan = plan;
    } catch {
      // Only the button's wording depends on it.
    }
  }

  #query(start = this.start): PackagesQuery {
    return {
      filter: this.filter,
      sort: this.sort,
      removed: this.removed,
      window: [start, start + windowRows],
    };
  }

  /** Lists the packages: the layers not listed first, then the worker reads the files. */
  async run(): Promise<void> {
    const s = this.#image;
    if (!s || this.status === 'listing' || this.status === 'reading') return;
    const gen = ++this.#generation;
    const current = () => gen === this.#generation;
    this.error = null;
    if (this.notStored.length > 0) {
      this.status = 'error';
      this.error = `Layer${this.notStored.length === 1 ? '' : 's'} ${this.notStored.join(', ')} ${this.notStored.length === 1 ? 'is' : 'are'} not stored in this browser: pull the image to read its packages.`;
      return;
    }
    const listings = this.#opts.listings;
    const wanted = s.layers.flatMap((l, i) => (browsable(l) ? [i] : []));
    if (this.unlisted > 0) {
      this.status = 'listing';
      await listings.read(wanted);
      if (!current()) return;
      const failed = wanted.filter((i) => listings.of(i)?.status !== 'done');
      if (failed.length > 0) {
        this.status = 'error';
        this.error = `The packages cannot be listed: ${failed
          .map(
            (i) =>
              `layer ${i + 1} (${shortHex(s.layers[i]!.descriptor.digest)}) ${listings.of(i)?.error ?? 'was not read'}`,
          )
          .join('; ')}.`;
        return;
      }
    }
    this.status = 'reading';
    this.progress = { filesRead: 0, files: this.plan?.files ?? 0 };
    const abort = new AbortController();
    this.#run = abort;
    try {
      this.start = 0;
      const opened = await this.#opts.bridge.call(
        'packagesOpen',
        { layers: this.layers, query: this.#query() },
        {
          signal: abort.signal,
          onEvent: (e) => {
            if (current()) this.progress = { filesRead: e.filesRead, files: e.files };
          },
        },
      );
      if (!current()) return;
      this.#id = opened.packagesId;
      this.summary = opened.summary;
      this.#take(opened);
      this.status = 'ready';
    } catch (err) {
      if (!current()) return;
      this.status = 'error';
      this.error = `The packages could not be read: ${messageOf(err)}`;
    } finally {
      if (this.#run === abort) this.#run = null;
    }
  }

  /** Stops a run. */
  cancel() {
    this.#run?.abort();
    this.#generation++;
    this.status = this.summary ? 'ready' : 'idle';
    this.progress = null;
  }

  #take(w: { count: number; start: number; rows: InventoryPackage[] }) {
    this.count = w.count;
    this.start = w.start;
    this.rows = w.rows;
  }

  /** Asks for the rows of the query from `start` (the table scrolled, or the query changed). */
  async #fetch(start: number): Promise<void> {
    if (this.#id === null) return;
    const gen = this.#generation;
    // One ask at a time for the same rows: the table asks again as it redraws.
    const key = `${gen}:${start}`;
    if (this.#asking === key) return;
    this.#asking = key;
    try {
      // The rows held stay with their own start until the new ones come.
      const w = await this.#opts.bridge.call('packagesRows', {
        packagesId: this.#id,
        query: this.#query(start),
      });
      if (gen === this.#generation) this.#take(w);
    } catch (err) {
      if (gen !== this.#generation) return;
      // The worker was replaced: read again (its indexes are in the store).
      if ((err as Error)?.name === packagesLost || messageOf(err).includes(packagesLost)) {
        this.#id = null;
        this.status = 'idle';
        await this.run();
        return;
      }
      this.error = `The packages could not be shown: ${messageOf(err)}`;
    } finally {
      if (this.#asking === key) this.#asking = null;
    }
  }

  /** The table shows rows first … last: fetch them unless held. */
  want(first: number, last: number) {
    if (first >= this.start && Math.min(last, this.count) <= this.start + this.rows.length) return;
    void this.#fetch(Math.max(0, first - windowRows / 4));
  }

  /** Row i, when held. */
  at(i: number): InventoryPackage | undefined {
    return this.rows[i - this.start];
  }

  setFilter(text: string) {
    this.filter = text;
    this.#generation++;
    void this.#fetch(0);
  }

  sortBy(key: PackagesSortKey) {
    this.sort = { key, descending: this.sort.key === key ? !this.sort.descending : false };
    this.#generation++;
    void this.#fetch(0);
  }

  showRemoved(on: boolean) {
    this.removed = on;
    this.#generation++;
    void this.#fetch(0);
  }

  /** Downloads the inventory as an SBOM, made in the worker. */
  async download(format: 'cyclonedx' | 'spdx'): Promise<void> {
    const s = this.#image;
    if (!s || this.#id === null) return;
    try {
      const subject: SbomSubject = {
        reference: s.name,
        digest: s.manifest.digest,
        ...(s.rootDigest !== s.manifest.digest ? { rootDigest: s.rootDigest } : {}),
        mediaType: s.manifest.mediaType,
        ...(s.platform ? { platform: s.platform } : {}),
        created: isoSecond(Date.now()),
        toolVersion,
        // Each package's layer named by digest and by the history step that made it.
        layers: sbomLayers(s),
      };
      const blob = await this.#opts.bridge.call('packagesSbom', {
        packagesId: this.#id,
        format,
        subject,
      });
      this.#opts.save(blob, sbomFileName(subject, format));
    } catch (err) {
      this.error = `The SBOM could not be made: ${messageOf(err)}`;
    }
  }
}

/** The packages of two compared images, side by side: read (or found read) in the layers
 * worker, the diff only crossing to the page. */
export class PackagesCompare {
  status = $state<'idle' | 'reading' | 'ready' | 'error'>('idle');
  diff = $state.raw<PackagesDiff | null>(null);
  error = $state<string | null>(null);
  progress = $state.raw<{ filesRead: number; files: number } | null>(null);
  /** The two images' layers the diff is of. */
  key = $state('');

  readonly #bridge: Bridge<LayersWorkerApi>;
  #run: AbortController | null = null;

  constructor(bridge: Bridge<LayersWorkerApi>) {
    this.#bridge = bridge;
  }

  static keyOf(a: PackagesLayer[], b: PackagesLayer[]): string {
    const k = (ls: PackagesLayer[]) => ls.map((l) => l?.digest ?? '-').join(',');
    return `${k(a)}|${k(b)}`;
  }

  /** Reads both images' packages (every layer must be listed and stored) and compares them. */
  async run(a: PackagesLayer[], b: PackagesLayer[]): Promise<void> {
    this.#run?.abort();
    const abort = new AbortController();
    this.#run = abort;
    const key = PackagesCompare.keyOf(a, b);
    this.key = key;
    this.status = 'reading';
    this.error = null;
    this.diff = null;
    this.progress = null;
    try {
      const diff = await this.#bridge.call(
        'packagesDiff',
        { a, b },
        {
          signal: abort.signal,
          onEvent: (e) => {
            if (this.#run === abort) this.progress = { filesRead: e.filesRead, files: e.files };
          },
        },
      );
      if (this.#run !== abort) return;
      this.diff = diff;
      this.status = 'ready';
    } catch (err) {
      if (this.#run !== abort) return;
      this.status = 'error';
      this.error = `The packages could not be compared: ${messageOf(err)}`;
    } finally {
      if (this.#run === abort) this.#run = null;
    }
  }
}
