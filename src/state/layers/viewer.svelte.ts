// The file viewer: the first bytes of one file of a layer, read by the layers worker, or a
// sentence saying why a file has nothing to show (a link, a device, a sparse file).
import { messageOf } from '../../lib/errors.ts';
import type { IndexEntry } from '../../lib/layers/entry.ts';
import { safeFileName } from '../../lib/layers/view.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import type { LayersWorkerApi } from '../../workers/layers.ts';
import type { Bridge } from '../bridge.ts';
import { jobStopped } from '../../workers/rpc.ts';
import { layerName, slowMs, type Listings } from './listings.svelte.ts';
import type { RemoteLayers } from './remote.ts';

/** The first view of a file reads at most this much of it... */
export const viewLimit = 1 << 20;
/** ...and "Show more" at most this much. */
export const maxViewLimit = 64 << 20;

export interface ViewedFile {
  path: string;
  entry: IndexEntry;
  layer: number;
  bytes: Uint8Array | null;
  truncated: boolean;
  error: string | null;
  limit: number;
  /** Still being read after `slowMs`: the page offers to cancel it. */
  slow?: boolean;
  /** The line to scroll to and mark (a search result's), 1-based. */
  line?: number;
}

export interface ViewerOptions {
  bridge: Bridge<LayersWorkerApi>;
  listings: Listings;
  save: (blob: Blob, fileName: string) => void;
  /** A download failed: said where the browser shows its errors. */
  onError: (message: string) => void;
  /** The file a hard link of a layer names (the worker holds the layer's index). */
  hardlinkTarget: (layer: number, linkname: string) => Promise<IndexEntry | undefined>;
  /** Reads files of layers listed from their table of contents. */
  remote?: RemoteLayers;
}

export class Viewer {
  file = $state.raw<ViewedFile | null>(null);

  readonly #opts: ViewerOptions;
  /** Counts opens, so that one waiting for a hard link's target knows it was overtaken. */
  #seq = 0;
  #abort: AbortController | undefined;

  constructor(opts: ViewerOptions) {
    this.#opts = opts;
  }

  /** Whether "Show more" can read more. */
  get canShowMore(): boolean {
    return !!this.file && this.file.limit < maxViewLimit;
  }

  /** Shows an entry of a layer: its first `limit` bytes, at `line` when given. A hard link
   * shows the file it links to. */
  async open(
    path: string,
    entry: IndexEntry,
    layer: number,
    limit = viewLimit,
    line?: number,
  ): Promise<void> {
    const at = line === undefined ? {} : { line };
    const explain = (error: string) => {
      this.#abort?.abort();
      this.file = { path, entry, layer, bytes: null, truncated: false, limit, error, ...at };
    };
    const seq = ++this.#seq;
    if (entry.type === 'hardlink' && entry.linkname !== undefined) {
      const target = await this.#opts.hardlinkTarget(layer, entry.linkname).catch(() => undefined);
      // Another file was opened, or the viewer closed, meanwhile.
      if (seq !== this.#seq) return;
      if (!target) {
        return explain(
          `${path} is a hard link to ${entry.linkname}, which is not in layer ${layer + 1}.`,
        );
      }
      entry = target;
    }
    if (entry.sparse) {
      return explain(`${path} is a sparse file: Berth lists it but cannot show its content.`);
    }
    if (entry.type !== 'file') {
      return explain(
        entry.type === 'symlink'
          ? `${path} is a symbolic link to ${entry.linkname ?? '?'}.`
          : `${path} is a ${entry.type === 'dir' ? 'directory' : `${entry.type} device or special file`}: it has no content to show.`,
      );
    }
    this.#abort?.abort();
    const abort = (this.#abort = new AbortController());
    const ref = this.#opts.listings.ref(layer)!;
    this.file = { path, entry, layer, bytes: null, truncated: false, error: null, limit, ...at };
    const slow = setTimeout(() => {
      if (this.#abort === abort && this.file?.path === path && !this.file.bytes) {
        this.file = { ...this.file, slow: true };
      }
    }, slowMs);
    try {
      const remote = this.#opts.remote?.has(ref.digest) ? this.#opts.remote : undefined;
      const r = remote
        ? await remote.read(this.#descriptor(layer), path, entry, limit, abort.signal)
        : await this.#opts.bridge.call(
            'readFile',
            { layer: ref, offset: entry.offset, size: entry.size, limit },
            { signal: abort.signal },
          );
      if (this.file?.path === path) {
        this.file = { ...this.file, bytes: r.bytes, truncated: r.truncated, slow: false };
      }
    } catch (err) {
      const cancelled = this.#cancelled === abort;
      if (abort.signal.aborted && !cancelled) return;
      if (this.file?.path !== path) return;
      const name = layerName(layer, ref.digest);
      const error = cancelled
        ? err instanceof Error && err.name === jobStopped
          ? `${path} could not be read from ${name}: it ${messageOf(err)}, so Berth stopped its worker.`
          : `Reading ${path} from ${name} was cancelled.`
        : `${path} could not be read from ${name}: ${messageOf(err)}`;
      this.file = { ...this.file, error, slow: false };
    } finally {
      clearTimeout(slow);
    }
  }

  /** The read the person cancelled, so that it is said, not silently dropped. */
  #cancelled: AbortController | undefined;

  /** Stops reading the file on screen (the person asked to). */
  cancel() {
    if (!this.file || this.file.bytes || this.file.error || !this.#abort) return;
    this.#cancelled = this.#abort;
    this.#abort.abort();
  }

  showMore() {
    const v = this.file;
    if (v) void this.open(v.path, v.entry, v.layer, Math.min(maxViewLimit, v.limit * 4), v.line);
  }

  /** Closes the viewer; returns whether one was open. */
  close(): boolean {
    this.#seq++;
    this.#abort?.abort();
    if (!this.file) return false;
    this.file = null;
    return true;
  }

  #descriptor(layer: number): Descriptor {
    return this.#opts.listings.summary!.layers[layer]!.descriptor;
  }

  /** Saves the file on screen under a name that is safe on every OS. */
  async download(): Promise<void> {
    const v = this.file;
    if (!v) return;
    const entry =
      v.entry.type === 'hardlink' && v.entry.linkname !== undefined
        ? await this.#opts.hardlinkTarget(v.layer, v.entry.linkname).catch(() => undefined)
        : v.entry;
    if (!entry || entry.type !== 'file' || entry.sparse) return;
    try {
      const ref = this.#opts.listings.ref(v.layer)!;
      const blob = this.#opts.remote?.has(ref.digest)
        ? await this.#opts.remote.blob(this.#descriptor(v.layer), v.path, entry)
        : await this.#opts.bridge.call('fileBlob', {
            layer: ref,
            offset: entry.offset,
            size: entry.size,
          });
      this.#opts.save(blob, safeFileName(v.path));
    } catch (err) {
      this.#opts.onError(messageOf(err));
    }
  }
}
