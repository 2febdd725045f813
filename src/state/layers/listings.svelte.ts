// The listings of an image's layers, read by the layers worker: one per layer, counted while
// the layer is read (and fetched first, for an inspected image's layer). The entries stay in the
// worker, which builds the file tree from them: the page holds status and counts only.
import { messageOf } from '../../lib/errors.ts';
import { layerCompression } from '../../lib/oci/mediatypes.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import type { ImageSummary, LayerRow } from '../../lib/images/summary.ts';
import type { LayerRef, LayersWorkerApi } from '../../workers/layers.ts';
import { jobStopped } from '../../workers/rpc.ts';
import type { Bridge } from '../bridge.ts';
import { shortHex } from '../format.ts';
import type { RemoteLayers } from './remote.ts';

export interface Listing {
  status: 'fetching' | 'reading' | 'done' | 'error';
  /** Entries listed so far. */
  entries: number;
  /** Entries more than MAX_DEPTH directories deep (known once the layer is read). */
  tooDeep: number;
  /** Uncompressed bytes read so far. */
  uncompressed: number;
  diffID?: string;
  error?: string;
  /** The layer's content does not match the config's diffID (moby's errRootFSMismatch). */
  mismatch?: string;
  /** Still being read after `slowMs`: the page offers to cancel it. */
  slow?: boolean;
}

/** A listing read longer than this is offered a Cancel button. */
export const slowMs = 3000;

/** How a layer is named in what the page says about it: its number and short digest. */
export function layerName(i: number, digest: string): string {
  return `Layer ${i + 1} (${shortHex(digest)})`;
}

/** How often a layer's listing, while it is read, publishes its count of entries. */
const progressiveMs = 250;

/** A layer Berth can list: a tar (gzip, zstd or plain) it has or can fetch. Foreign layers and
 * other media types (an artifact's blobs) are shown, not opened. */
export function browsable(layer: LayerRow): boolean {
  return !layer.foreign && layerCompression(layer.descriptor.mediaType) !== 'unknown';
}

export interface ListingsOptions {
  bridge: Bridge<LayersWorkerApi>;
  /** Downloads a layer that was not fetched yet (an inspected image). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  /** After how long a listing is `slow` (default slowMs); for tests. */
  slowMs?: number;
  /** Lists a layer not downloaded from its table of contents, when it has one. */
  remote?: RemoteLayers;
}

export class Listings {
  /** Keyed by layer digest. */
  byDigest = $state.raw<Record<string, Listing>>({});
  summary = $state.raw<ImageSummary | null>(null);

  readonly #opts: ListingsOptions;
  /* eslint-disable svelte/prefer-svelte-reactivity -- bookkeeping, never shown */
  #aborts = new Map<string, AbortController>();
  /** Listings the person cancelled, by digest: said so, not silently dropped. */
  #cancelled = new Set<string>();
  /** Listings being read, by layer index. */
  #loads = new Map<number, Promise<void>>();
  /* eslint-enable svelte/prefer-svelte-reactivity */

  constructor(opts: ListingsOptions) {
    this.#opts = opts;
  }

  /** Follows the image on screen. Returns whether it is another manifest: then every listing
   * is dropped and reads under way stop. */
  show(summary: ImageSummary | null): boolean {
    const same =
      summary && this.summary && summary.manifest.digest === this.summary.manifest.digest;
    this.summary = summary;
    if (same) return false;
    for (const a of this.#aborts.values()) a.abort();
    this.#aborts.clear();
    this.#cancelled.clear();
    this.#loads.clear();
    this.byDigest = {};
    return true;
  }

  of(i: number): Listing | undefined {
    const d = this.summary?.layers[i]?.descriptor.digest;
    return d ? this.byDigest[d] : undefined;
  }

  /** Uncompressed sizes of the layers read completely, by digest. */
  get unpacked(): Record<string, number> {
    return Object.fromEntries(
      Object.entries(this.byDigest)
        .filter(([, l]) => l.status === 'done')
        .map(([d, l]) => [d, l.uncompressed]),
    );
  }

  /** Whether layers 0..n-1 are all read completely (a layer that is not a tar counts as
   * read: it is empty). */
  doneUpTo(n: number): boolean {
    for (let i = 0; i < n; i++) {
      const row = this.summary?.layers[i];
      if (row && !browsable(row)) continue;
      if (this.of(i)?.status !== 'done') return false;
    }
    return true;
  }

  /** A layer as the layers worker wants it. */
  ref(i: number): LayerRef | undefined {
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

  /** Stops reading a layer's listing (the person asked to): it ends as an error that says so,
   * and opening the layer again starts over. */
  cancel(i: number) {
    const d = this.summary?.layers[i]?.descriptor.digest;
    const abort = d ? this.#aborts.get(d) : undefined;
    if (!d || !abort) return;
    this.#cancelled.add(d);
    abort.abort();
  }

  /** Reads the listings of these layers; one already under way is waited for, not started
   * again, so that the caller knows when all of them are complete. */
  read(layers: number[]): Promise<unknown> {
    return Promise.all(layers.map((i) => this.#loads.get(i) ?? this.#load(i)));
  }

  /** Lists these layers again, where the layers worker no longer holds the index it was given
   * (a fresh worker, after the watchdog replaced one): an index read from a table of contents
   * lives only in the worker, never in the store. Returns null when none was listed as done,
   * else a promise of the listings. */
  relist(layers: number[]): Promise<unknown> | null {
    const lost = layers.filter((i) => this.of(i)?.status === 'done');
    if (lost.length === 0) return null;
    const byDigest = { ...this.byDigest };
    for (const i of lost) delete byDigest[this.ref(i)!.digest];
    this.byDigest = byDigest;
    return this.read(lost);
  }

  #load(i: number): Promise<void> {
    const p = this.#read(i).finally(() => {
      if (this.#loads.get(i) === p) this.#loads.delete(i);
    });
    this.#loads.set(i, p);
    return p;
  }

  async #read(i: number): Promise<void> {
    const s = this.summary;
    const ref = this.ref(i);
    const row = s?.layers[i];
    if (!s || !ref || !row || !browsable(row)) return;
    const have = this.byDigest[ref.digest];
    if (have && have.status !== 'error') return;
    const abort = new AbortController();
    this.#aborts.set(ref.digest, abort);
    this.#set(ref.digest, {
      status: row.stored ? 'reading' : 'fetching',
      entries: 0,
      tooDeep: 0,
      uncompressed: 0,
    });
    let fetchError: unknown;
    let entries = 0;
    let uncompressed = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#cancelled.delete(ref.digest);
    const slowTimer = setTimeout(() => {
      const cur = this.byDigest[ref.digest];
      if (cur && this.#current(s) && (cur.status === 'reading' || cur.status === 'fetching')) {
        this.#set(ref.digest, { ...cur, slow: true });
      }
    }, this.#opts.slowMs ?? slowMs);
    try {
      const lazy = row.stored ? null : await this.#opts.remote?.listing(row, abort.signal);
      if (lazy) {
        // The tree lives in the layers worker: it takes the TOC's index from here.
        const tooDeep = await this.#opts.bridge.call(
          'adoptIndex',
          { digest: ref.digest, index: lazy.files },
          { signal: abort.signal },
        );
        if (this.#current(s)) {
          this.#set(ref.digest, {
            status: 'done',
            entries: lazy.files.count,
            tooDeep,
            uncompressed: lazy.uncompressed,
          });
        }
        return;
      }
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
        // Sent again to a fresh worker (another job stopped the one it ran in): starts over.
        onRestart: () => {
          entries = 0;
          uncompressed = 0;
          const cur = this.byDigest[ref.digest];
          if (cur && this.#current(s))
            this.#set(ref.digest, { ...cur, entries: 0, uncompressed: 0 });
        },
        onEvent: (ev) => {
          entries = ev.entries;
          uncompressed = ev.uncompressed;
          if (timer === undefined) {
            timer = setTimeout(() => {
              timer = undefined;
              const cur = this.byDigest[ref.digest];
              if (!cur || !this.#current(s) || cur.status === 'done') return;
              this.#set(ref.digest, { ...cur, entries, uncompressed });
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
        entries: result.entries,
        tooDeep: result.tooDeep,
        uncompressed: result.uncompressedSize,
        diffID: result.diffID,
        ...(mismatch ? { mismatch } : {}),
      });
    } catch (caught) {
      const cancelled = this.#cancelled.has(ref.digest);
      if (!this.#current(s) || (abort.signal.aborted && fetchError === undefined && !cancelled)) {
        return;
      }
      const cur = this.byDigest[ref.digest];
      const name = layerName(i, ref.digest);
      const error = cancelled
        ? caught instanceof Error && caught.name === jobStopped
          ? `${name} could not be read: it ${messageOf(caught)}, so Berth stopped its worker.`
          : `${name} was not read: cancelled.`
        : `${name} could not be read: ${messageOf(fetchError ?? caught)}`;
      this.#set(ref.digest, {
        status: 'error',
        entries: cur?.entries ?? 0,
        tooDeep: 0,
        uncompressed: cur?.uncompressed ?? 0,
        error,
      });
    } finally {
      clearTimeout(timer);
      clearTimeout(slowTimer);
      this.#cancelled.delete(ref.digest);
      if (this.#aborts.get(ref.digest) === abort) this.#aborts.delete(ref.digest);
    }
  }

  /** The image on screen is still the one a listing started for (its summary may have been
   * refreshed since, when a layer was fetched). */
  #current(s: ImageSummary) {
    return this.summary?.manifest.digest === s.manifest.digest;
  }

  #set(digest: string, listing: Listing) {
    this.byDigest = { ...this.byDigest, [digest]: listing };
  }
}
