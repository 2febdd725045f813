// Layers of an inspected image that are listed and read without being downloaded, through their
// table of contents (eStargz, zstd:chunked, or a SOCI zTOC for a plain gzip layer), by the images
// worker. Listings and Viewer ask this module first: a layer it lists is read through it from
// then on; any other layer is fetched and read by the layers worker as before.
import type { ColumnIndex } from '../../lib/layers/columns.ts';
import type { IndexEntry } from '../../lib/layers/entry.ts';
import type { FileBytes } from '../../lib/layers/read.ts';
import { layerCompression } from '../../lib/oci/mediatypes.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import type { ImageSummary, LayerRow } from '../../lib/images/summary.ts';
import type { Connection } from '../../lib/registry/transport.ts';
import type { ImagesWorkerApi } from '../../workers/images.ts';
import type { Bridge } from '../bridge.ts';

/** A layer listed from its TOC: its index, for the layers worker's tree. */
export interface RemoteListing {
  files: ColumnIndex;
  /** The sum of the files' sizes: the tar's own size is not known without it. */
  uncompressed: number;
}

export interface RemoteLayersOptions {
  images: Bridge<ImagesWorkerApi>;
  summary: () => ImageSummary | null;
  connection: () => Connection;
}

export class RemoteLayers {
  readonly #opts: RemoteLayersOptions;
  /** Layers listed from their TOC, by digest: their files are read through the TOC too. */
  readonly #listed = new Set<string>();

  constructor(opts: RemoteLayersOptions) {
    this.#opts = opts;
  }

  /** Whether a layer's files are read through its TOC. */
  has(digest: string): boolean {
    return this.#listed.has(digest);
  }

  /** A layer that is not stored and could carry a TOC (gzip or zstd). */
  static candidate(row: LayerRow): boolean {
    const c = layerCompression(row.descriptor.mediaType);
    return !row.stored && !row.foreign && (c === 'gzip' || c === 'zstd');
  }

  #base(layer: Descriptor) {
    const s = this.#opts.summary();
    if (!s) throw new Error('no image is shown');
    return {
      name: s.name,
      manifestDigest: s.manifest.digest,
      layer,
      connection: this.#opts.connection(),
    };
  }

  /** The layer's listing from its TOC, or null when it has none or the registry cannot serve
   * ranges (then it is downloaded as before). A TOC that is refused is an error. */
  async listing(row: LayerRow, signal: AbortSignal): Promise<RemoteListing | null> {
    if (!RemoteLayers.candidate(row)) return null;
    let index;
    try {
      index = await this.#opts.images.call('remoteIndex', this.#base(row.descriptor), { signal });
    } catch (err) {
      if (err instanceof Error && err.name === 'RangeRefusedError') return null;
      throw err;
    }
    if (!index) return null;
    this.#listed.add(row.descriptor.digest);
    return { files: index.files, uncompressed: index.uncompressed };
  }

  /** Up to `limit` bytes of a file of a layer listed here. */
  read(
    layer: Descriptor,
    path: string,
    entry: IndexEntry,
    limit: number,
    signal: AbortSignal,
  ): Promise<FileBytes> {
    return this.#opts.images.call(
      'readRemoteFile',
      { ...this.#base(layer), file: entry.offset, path, size: entry.size, limit },
      { signal },
    );
  }

  /** A whole file of a layer listed here, for "Download this file". */
  blob(layer: Descriptor, path: string, entry: IndexEntry): Promise<Blob> {
    return this.#opts.images.call('remoteFileBlob', {
      ...this.#base(layer),
      file: entry.offset,
      path,
      size: entry.size,
    });
  }
}
