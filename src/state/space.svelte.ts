// Where the space of the image on screen goes: the treemap of a view (merged, or one layer) and
// its zoom root, the largest files, the duplicated content and the wasted space, each asked of
// the layers worker when the person asks (listing the layers first when they are not listed).
// The page holds the rectangles of one treemap and a few short lists, never a listing.
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import type {
  DuplicatesPlan,
  DuplicatesResult,
  LargeFile,
  LayersWorkerApi,
  SpaceLayer,
  SpaceTreemap,
  SpaceView,
  WastedResult,
} from '../workers/layers.ts';
import type { Bridge } from './bridge.ts';
import { browsable, type Listings } from './layers/listings.svelte.ts';

export type { SpaceView };

export interface SpaceStateOptions {
  bridge: Bridge<LayersWorkerApi>;
  listings: Listings;
  /** Downloads a layer into the store (the duplicates read stored layers only). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
}

/** Files in the largest-files list. */
export const largestCount = 1000;

export class SpaceState {
  /** Whether the person asked to see where the space goes. */
  shown = $state(false);
  status = $state<'idle' | 'listing' | 'ready' | 'error'>('idle');
  error = $state<string | null>(null);
  view = $state.raw<SpaceView>({ kind: 'merged' });
  /** The treemap's zoom root ("" for the view's root). */
  path = $state('');
  treemap = $state.raw<SpaceTreemap | null>(null);
  largest = $state.raw<LargeFile[] | null>(null);
  duplicatesPlan = $state.raw<DuplicatesPlan | null>(null);
  duplicates = $state.raw<DuplicatesResult | null>(null);
  duplicatesStatus = $state<'idle' | 'downloading' | 'hashing' | 'ready' | 'error'>('idle');
  duplicatesProgress = $state.raw<{ files: number; bytes: number } | null>(null);
  wasted = $state.raw<WastedResult | null>(null);

  readonly #opts: SpaceStateOptions;
  #image: ImageSummary | null = null;
  /** The treemap's size in pixels, as the page last drew it; unknown until the map is on the
   * page (its first size lays it out). */
  #size = { width: 800, height: 360 };
  #sized = false;
  /** Bumped with each new image or view: late answers for older ones are dropped. */
  #generation = 0;
  #mapAsk = 0;
  #hashing: AbortController | null = null;

  constructor(opts: SpaceStateOptions) {
    this.#opts = opts;
  }

  /** The image on screen; another manifest starts over. */
  show(summary: ImageSummary | null) {
    if (summary?.manifest.digest === this.#image?.manifest.digest) {
      this.#image = summary;
      return;
    }
    this.#image = summary;
    this.#generation++;
    this.#hashing?.abort();
    this.#hashing = null;
    this.shown = false;
    this.status = 'idle';
    this.error = null;
    this.view = { kind: 'merged' };
    this.path = '';
    this.treemap = null;
    this.largest = null;
    this.duplicatesPlan = null;
    this.duplicates = null;
    this.duplicatesStatus = 'idle';
    this.duplicatesProgress = null;
    this.wasted = null;
  }

  get layers(): SpaceLayer[] {
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

  /** Layers not stored in this browser (numbered from 0) and their compressed bytes: showing
   * the space lists them, which downloads those that have no table of contents. */
  get notStored(): { layers: number[]; bytes: number } {
    const layers = (this.#image?.layers ?? []).flatMap((l, i) =>
      browsable(l) && !l.stored ? [i] : [],
    );
    const bytes = layers.reduce((n, i) => n + this.#image!.layers[i]!.descriptor.size, 0);
    return { layers, bytes };
  }

  /** How many layers the image has. */
  get layerCount(): number {
    return this.#image?.layers.length ?? 0;
  }

  /** Lists the layers not listed yet, then shows the treemap, the largest files, the wasted
   * space and what finding duplicates would read. */
  async open(): Promise<void> {
    const s = this.#image;
    if (!s) return;
    this.shown = true;
    const gen = ++this.#generation;
    this.error = null;
    const wanted = s.layers.flatMap((l, i) => (browsable(l) ? [i] : []));
    const listings = this.#opts.listings;
    if (wanted.some((i) => listings.of(i)?.status !== 'done')) {
      this.status = 'listing';
      await listings.read(wanted);
      if (gen !== this.#generation) return;
      const failed = wanted.filter((i) => listings.of(i)?.status !== 'done');
      if (failed.length > 0) {
        this.status = 'error';
        this.error = `Layer${failed.length === 1 ? '' : 's'} ${failed.map((i) => i + 1).join(', ')} could not be listed.`;
        return;
      }
    }
    this.status = 'ready';
    // The map is laid out once the page says how big it is (resize), unless it said so before.
    await Promise.all([
      this.#sized ? this.#map() : undefined,
      this.#largest(),
      this.#wasted(),
      this.#plan(),
    ]);
  }

  #fail(gen: number, what: string, err: unknown) {
    if (gen !== this.#generation) return;
    this.error = `${what}: ${messageOf(err)}`;
  }

  async #map(): Promise<void> {
    const gen = this.#generation;
    const ask = ++this.#mapAsk;
    try {
      const m = await this.#opts.bridge.call('spaceTreemap', {
        layers: this.layers,
        view: this.view,
        map: { path: this.path, ...this.#size, depth: 3, labelHeight: 14, padding: 1 },
      });
      if (gen === this.#generation && ask === this.#mapAsk) this.treemap = m;
    } catch (err) {
      this.#fail(gen, 'The treemap could not be made', err);
    }
  }

  async #largest(): Promise<void> {
    const gen = this.#generation;
    try {
      const r = await this.#opts.bridge.call('spaceLargest', {
        layers: this.layers,
        view: this.view,
        count: largestCount,
      });
      if (gen === this.#generation) this.largest = r.files;
    } catch (err) {
      this.#fail(gen, 'The largest files could not be found', err);
    }
  }

  async #wasted(): Promise<void> {
    const gen = this.#generation;
    try {
      const w = await this.#opts.bridge.call('spaceWasted', { layers: this.layers });
      if (gen === this.#generation) this.wasted = w;
    } catch (err) {
      this.#fail(gen, 'The wasted space could not be traced', err);
    }
  }

  async #plan(): Promise<void> {
    const gen = this.#generation;
    try {
      const p = await this.#opts.bridge.call('spaceDuplicatesPlan', { layers: this.layers });
      if (gen === this.#generation) this.duplicatesPlan = p;
    } catch (err) {
      this.#fail(gen, 'The duplicates could not be planned', err);
    }
  }

  /** The treemap of another view (merged, or one layer): from its root. */
  async setView(view: SpaceView): Promise<void> {
    this.view = view;
    this.path = '';
    this.treemap = null;
    this.largest = null;
    await Promise.all([this.#map(), this.#largest()]);
  }

  /** Zooms the treemap to a directory ("" for the root). */
  async zoom(path: string): Promise<void> {
    this.path = path;
    await this.#map();
  }

  /** Zooms out one level. */
  async up(): Promise<void> {
    const p = this.path;
    await this.zoom(p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  }

  /** The page drew the treemap at another size: lay it out again. */
  async resize(width: number, height: number): Promise<void> {
    const w = Math.round(width);
    const h = Math.round(height);
    if (w <= 0 || h <= 0) return;
    if (this.#sized && w === this.#size.width && h === this.#size.height) return;
    this.#size = { width: w, height: h };
    this.#sized = true;
    if (this.shown && this.status === 'ready') await this.#map();
  }

  /** Hashes the files of equal size. With `download`, the layers not stored are downloaded
   * first (the person was told how much). */
  async findDuplicates(download = false): Promise<void> {
    const s = this.#image;
    const plan = this.duplicatesPlan;
    if (!s || !plan) return;
    const gen = this.#generation;
    this.#hashing?.abort();
    const abort = new AbortController();
    this.#hashing = abort;
    this.duplicates = null;
    try {
      if (download && plan.notStored.length > 0) {
        this.duplicatesStatus = 'downloading';
        for (const i of plan.notStored) await this.#opts.fetchLayer(s.layers[i]!.descriptor);
        if (gen !== this.#generation) return;
      }
      this.duplicatesStatus = 'hashing';
      this.duplicatesProgress = { files: 0, bytes: 0 };
      const r = await this.#opts.bridge.call(
        'spaceDuplicates',
        { layers: this.layers },
        {
          signal: abort.signal,
          onEvent: (e) => {
            if (this.#hashing === abort)
              this.duplicatesProgress = { files: e.files, bytes: e.bytes };
          },
        },
      );
      if (gen !== this.#generation || this.#hashing !== abort) return;
      this.duplicates = r;
      this.duplicatesStatus = 'ready';
      if (download) void this.#plan();
    } catch (err) {
      if (gen !== this.#generation || this.#hashing !== abort) return;
      this.duplicatesStatus = 'error';
      this.error = `The duplicates could not be found: ${messageOf(err)}`;
    } finally {
      if (this.#hashing === abort) this.#hashing = null;
    }
  }

  /** Stops hashing. */
  cancelDuplicates() {
    this.#hashing?.abort();
    this.#hashing = null;
    this.duplicatesStatus = this.duplicates ? 'ready' : 'idle';
    this.duplicatesProgress = null;
  }
}
