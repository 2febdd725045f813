// The files part of a comparison of two images, in the layers worker beside the file tree's
// views (tree-service.ts), for the same reasons: the layers' indexes are here, a million entries
// each, and the page only ever holds a window of rows. The page opens a comparison, gets an id,
// a summary and a row count, and asks for rows, opens directories, filters, sorts and decides
// the pending files by id (lib/compare/types.ts's CompareFilesApi, one object per call).
//
// Deciding reads each layer that holds pending files once, from the stored blob (from the
// checkpoint nearest the first file, as the viewer's reads do), hashing the files in offset
// order; the digests are kept by diffID and offset for every comparison this worker holds.
import {
  compareFiles,
  type DigestCache,
  type FilesComparison,
  type FilesSide,
} from '../lib/compare/files.ts';
import { hashFiles } from '../lib/compare/files-hash.ts';
import {
  compareSchema,
  type CompareLayer,
  type CompareWindow,
  type FilesFilter,
  type FilesSort,
  type FilesSummary,
  type ImageComparison,
  type OpenCompareRequest,
  type OpenedCompare,
  type PathDiff,
  type RowRange,
} from '../lib/compare/types.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';
import type { TarFrom } from '../lib/layers/checkpoints.ts';
import { findRowByName } from '../lib/layers/treemodel.ts';
import type { CallContext } from './rpc.ts';

export interface CompareServiceDeps {
  /** A layer's complete index, or undefined when it is not listed (or still listing). */
  index(digest: string): Promise<ColumnIndex | undefined>;
  /** The diffID a listing of the layer found, or undefined. */
  diffID(digest: string): Promise<string | undefined>;
  /** The layer's uncompressed tar from at or before `offset`. */
  tarFrom(layer: NonNullable<CompareLayer>, offset: number, signal: AbortSignal): Promise<TarFrom>;
}

/** A call named a comparison this worker does not hold (it was restarted, or it was closed). */
export class CompareLostError extends Error {
  override name = 'CompareLostError';
}

/** Comparisons kept at once: the page's, and one it is replacing. */
const keptCompares = 2;
/** Digests kept across comparisons (each about 200 bytes). */
const keptDigests = 100_000;

/** Digests by key, the oldest forgotten past `limit`. */
class DigestLru implements DigestCache {
  readonly #map = new Map<string, string>();
  constructor(readonly limit: number) {}
  get(key: string) {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, digest: string) {
    this.#map.delete(key);
    this.#map.set(key, digest);
    if (this.#map.size > this.limit) this.#map.delete(this.#map.keys().next().value!);
  }
}

/** A comparison's own digests (all it hashed, for as long as it lives) over the shared ones. */
class Digests implements DigestCache {
  readonly #own = new Map<string, string>();
  constructor(readonly shared: DigestLru) {}
  get(key: string) {
    return this.#own.get(key) ?? this.shared.get(key);
  }
  set(key: string, digest: string) {
    this.#own.set(key, digest);
    this.shared.set(key, digest);
  }
}

interface Held {
  files: FilesComparison;
  layers: { a: CompareLayer[]; b: CompareLayer[] };
}

/** Pieces of the export handed to the Blob at a time (characters). */
const exportChunk = 1 << 20;

export class CompareService {
  readonly #deps: CompareServiceDeps;
  readonly #held = new Map<number, Held>();
  readonly #digests = new DigestLru(keptDigests);
  #next = 1;

  constructor(deps: CompareServiceDeps) {
    this.#deps = deps;
  }

  #get(compareId: number): Held {
    const held = this.#held.get(compareId);
    if (!held) throw new CompareLostError(`comparison ${compareId} is not held by this worker`);
    return held;
  }

  #window(files: FilesComparison, [start, end]: RowRange): CompareWindow {
    const s = Math.max(0, Math.min(start, files.count));
    return { count: files.count, start: s, rows: files.rows(s, Math.max(s, end)) };
  }

  async #side(layers: CompareLayer[], missing: number[]): Promise<FilesSide> {
    const found = await Promise.all(
      layers.map(async (l, i) => {
        if (!l) return { index: undefined, id: undefined };
        const [index, diffID] = await Promise.all([
          this.#deps.index(l.digest),
          this.#deps.diffID(l.digest),
        ]);
        if (!index) missing.push(i);
        // The blob's digest names the same bytes when the diffID is not known.
        return { index, id: diffID ?? `blob ${l.digest}` };
      }),
    );
    return { layers: found.map((f) => f.index), ids: found.map((f) => f.id) };
  }

  readonly api = {
    /** Compares the two images' files, with the page's open directories, filter and sort. */
    openCompare: async (req: OpenCompareRequest, ctx: CallContext): Promise<OpenedCompare> => {
      const missing = { a: [] as number[], b: [] as number[] };
      const [a, b] = await Promise.all([
        this.#side(req.a, missing.a),
        this.#side(req.b, missing.b),
      ]);
      const files = await compareFiles(a, b, {
        signal: ctx.signal,
        digests: new Digests(this.#digests),
        sort: req.sort,
      });
      for (const path of req.expanded) files.toggle(path, true);
      await files.setFilter(req.filter, ctx.signal);
      ctx.signal.throwIfAborted();
      const compareId = this.#next++;
      this.#held.set(compareId, { files, layers: { a: req.a, b: req.b } });
      for (const id of this.#held.keys()) {
        if (this.#held.size <= keptCompares) break;
        this.#held.delete(id);
      }
      missing.a.sort((x, y) => x - y);
      missing.b.sort((x, y) => x - y);
      return { compareId, summary: files.summary, missing, ...this.#window(files, req.window) };
    },

    compareRows: async (arg: { compareId: number; window: RowRange }): Promise<CompareWindow> =>
      this.#window(this.#get(arg.compareId).files, arg.window),

    compareToggle: async (arg: {
      compareId: number;
      path: string;
      open: boolean;
      window: RowRange;
    }): Promise<CompareWindow> => {
      const { files } = this.#get(arg.compareId);
      files.toggle(arg.path, arg.open);
      return this.#window(files, arg.window);
    },

    compareFilter: async (
      arg: { compareId: number; filter: FilesFilter; window: RowRange },
      ctx: CallContext,
    ): Promise<CompareWindow> => {
      const { files } = this.#get(arg.compareId);
      await files.setFilter(arg.filter, ctx.signal);
      return this.#window(files, arg.window);
    },

    compareSort: async (
      arg: { compareId: number; sort: FilesSort; window: RowRange },
      ctx: CallContext,
    ): Promise<CompareWindow> => {
      const { files } = this.#get(arg.compareId);
      await files.sort(arg.sort, ctx.signal);
      return this.#window(files, arg.window);
    },

    compareIndexOf: async (arg: { compareId: number; path: string }): Promise<number> =>
      this.#get(arg.compareId).files.indexOf(arg.path),

    compareFind: async (
      arg: { compareId: number; prefix: string; from: number },
      ctx: CallContext,
    ): Promise<number> =>
      findRowByName(this.#get(arg.compareId).files, arg.prefix, arg.from, ctx.signal),

    comparePath: async (arg: { compareId: number; path: string }): Promise<PathDiff | undefined> =>
      this.#get(arg.compareId).files.path(arg.path),

    /** Hashes the pending files (all, or those under `paths`): each layer holding some is read
     * once, from the stored blob, its files in offset order. */
    compareDecide: async (
      arg: { compareId: number; paths?: string[] },
      ctx: CallContext,
    ): Promise<FilesSummary> => {
      const { files, layers } = this.#get(arg.compareId);
      for (const reads of files.pendingReads(arg.paths)) {
        const layer = layers[reads.side][reads.layer];
        if (!layer || reads.files.length === 0) continue;
        const from = await this.#deps.tarFrom(layer, reads.files[0]!.offset, ctx.signal);
        const digests = await hashFiles(from.tar, reads.files, {
          start: from.start,
          signal: ctx.signal,
        });
        reads.files.forEach((f, i) => files.digests.set(files.keyOf(reads, f), digests[i]!));
      }
      await files.decide(ctx.signal);
      return files.summary;
    },

    /** The comparison as the JSON export (CompareExport): the page's part, then the files'. */
    compareExport: async (
      arg: { compareId: number; meta: ImageComparison },
      ctx: CallContext,
    ): Promise<Blob> => {
      const { files } = this.#get(arg.compareId);
      const meta = JSON.stringify(arg.meta).slice(1, -1);
      const parts: BlobPart[] = [
        `{"schema":${JSON.stringify(compareSchema)}${meta ? `,${meta}` : ''},"files":{"summary":` +
          `${JSON.stringify(files.summary)},"paths":[`,
      ];
      // Each piece becomes a Blob of its own, so the text never builds up in this heap.
      for await (const piece of files.exportPaths(exportChunk, ctx.signal)) {
        parts.push(new Blob([piece]));
      }
      parts.push(']}}');
      return new Blob(parts, { type: 'application/json' });
    },

    closeCompare: async (arg: { compareId: number }): Promise<void> => {
      this.#held.delete(arg.compareId);
    },
  };
}
