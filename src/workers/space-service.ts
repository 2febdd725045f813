// Where the space goes, in the layers worker beside the file tree: the layers' indexes are here,
// and so is the random access into the stored layers. The page asks for the treemap of a zoom
// root in its own pixels and gets a few thousand rectangles at most; the largest files, the
// duplicated content and the wasted space come as short lists. The sized tree of a view is kept
// (by its layers), so that zooming lays out again without building again.
import type { ColumnIndex } from '../lib/layers/columns.ts';
import type { TarFrom } from '../lib/layers/checkpoints.ts';
import { CHECKPOINT_SPACING } from '../lib/layers/checkpoints.ts';
import { wastedSpaceOf } from '../lib/layers/treemodel-wasted.ts';
import type { WastedFile } from '../lib/layers/wasted.ts';
import {
  duplicateCandidates,
  hashDuplicates,
  type CandidatePlan,
  type DuplicateGroup,
} from '../lib/space/duplicates.ts';
import {
  buildSizeTree,
  largestFiles,
  layoutTreemap,
  type LargeFile,
  type SizeTree,
  type SpaceView,
  type Treemap,
  type TreemapRequest,
} from '../lib/space/sizes.ts';
import { wastedSteps, type WastedStep } from '../lib/space/wasted-steps.ts';
import type { CallContext } from './rpc.ts';

export type {
  DuplicateGroup,
  LargeFile,
  SpaceView,
  Treemap,
  TreemapRequest,
  WastedFile,
  WastedStep,
};
export type { SpaceRect, SpaceKind } from '../lib/space/sizes.ts';

/** A layer as the space views name it; null for one that is not a tar (no files). */
export type SpaceLayer = { digest: string; mediaType: string; size: number } | null;

export interface SpaceRequest {
  /** Every layer of the image, in order. */
  layers: SpaceLayer[];
  view: SpaceView;
}

/** A view's answer names the layers it could not see (not listed). */
export interface SpaceTreemap extends Treemap {
  missing: number[];
}

/** What finding the duplicates would read. */
export interface DuplicatesPlan {
  /** Files sharing their size with another, and the groups of equal size. */
  files: number;
  groups: number;
  /** Bytes the hashing reads (uncompressed). */
  bytes: number;
  /** Layers with candidates whose blob is not stored, numbered from 0, and their compressed
   * size: what would need downloading. */
  notStored: number[];
  download: number;
  /** Layers not listed: no plan until they are. */
  missing: number[];
}

export interface DuplicatesResult {
  /** The groups found, most bytes saved first (up to `shownGroups`). */
  groups: DuplicateGroup[];
  /** Every group found, and the bytes one copy of each would save. */
  totalGroups: number;
  saved: number;
  /** Layers with candidates that were not read (not stored). */
  skipped: number[];
  problems: { layer: number; path: string; message: string }[];
}

export type DuplicatesEvent = { type: 'progress'; files: number; bytes: number };

export interface WastedResult {
  /** Wasted paths, most wasted first (up to `shownFiles`), each with its occurrences. */
  files: WastedFile[];
  totalFiles: number;
  wastedBytes: number;
  efficiency: number;
  totalBytes: number;
  steps: WastedStep[];
  missing: number[];
}

export interface SpaceServiceDeps {
  /** A layer's complete index, or undefined when it is not listed. */
  index(digest: string): Promise<ColumnIndex | undefined>;
  /** Whether the layer's blob is stored (its files can be read). */
  stored(digest: string): Promise<boolean>;
  tarFrom(layer: NonNullable<SpaceLayer>, offset: number, signal: AbortSignal): Promise<TarFrom>;
}

/** Sized trees kept: the view on screen and the one before it. */
const keptTrees = 2;
const shownGroups = 500;
const shownFiles = 500;
/** How often hashing progress is sent. */
const progressMs = 100;

const keyOf = (layers: readonly SpaceLayer[]) => layers.map((l) => l?.digest ?? '-').join(',');
const viewKey = (v: SpaceView) => (v.kind === 'merged' ? 'merged' : `layer:${v.index}`);

export class SpaceService {
  readonly #deps: SpaceServiceDeps;
  /** Sized trees by view and layers, most recently used last; a build in progress is shared. */
  readonly #trees = new Map<string, Promise<{ tree: SizeTree; missing: number[] }>>();

  constructor(deps: SpaceServiceDeps) {
    this.#deps = deps;
  }

  async #indexes(layers: readonly SpaceLayer[]) {
    const missing: number[] = [];
    const indexes = await Promise.all(
      layers.map(async (l, i) => {
        if (!l) return undefined;
        const index = await this.#deps.index(l.digest);
        if (!index) missing.push(i);
        return index;
      }),
    );
    return { indexes, missing: missing.sort((a, b) => a - b) };
  }

  #tree(req: SpaceRequest, signal: AbortSignal): Promise<{ tree: SizeTree; missing: number[] }> {
    const key = `${viewKey(req.view)}|${keyOf(req.layers)}`;
    const have = this.#trees.get(key);
    if (have) {
      this.#trees.delete(key);
      this.#trees.set(key, have);
      return have;
    }
    const building = (async () => {
      const { indexes, missing } = await this.#indexes(req.layers);
      // A layer view needs only its own layer.
      const need =
        req.view.kind === 'layer' ? missing.filter((i) => i === viewIndex(req.view)) : missing;
      const tree = await buildSizeTree(indexes, req.view, signal);
      return { tree, missing: need };
    })();
    this.#trees.set(key, building);
    // A failed or cancelled build is not kept; neither is one built without every layer.
    void building.then(
      (b) => b.missing.length > 0 && this.#trees.delete(key),
      () => this.#trees.delete(key),
    );
    for (const k of this.#trees.keys()) {
      if (this.#trees.size <= keptTrees) break;
      this.#trees.delete(k);
    }
    return building;
  }

  async #plan(layers: readonly SpaceLayer[], signal: AbortSignal) {
    const { indexes, missing } = await this.#indexes(layers);
    const candidates = await duplicateCandidates(indexes, signal);
    const notStored: number[] = [];
    let download = 0;
    for (const l of [...candidates.byLayer.keys()].sort((a, b) => a - b)) {
      const layer = layers[l]!;
      if (!(await this.#deps.stored(layer.digest))) {
        notStored.push(l);
        download += layer.size;
      }
    }
    return { candidates, missing, notStored, download };
  }

  readonly api = {
    /** The treemap of a zoom root of a view, in the page's pixels. */
    spaceTreemap: async (
      arg: SpaceRequest & { map: TreemapRequest },
      ctx: CallContext,
    ): Promise<SpaceTreemap> => {
      const { tree, missing } = await this.#tree(arg, ctx.signal);
      return { ...layoutTreemap(tree, arg.map), missing };
    },

    /** The largest files of a view. */
    spaceLargest: async (
      arg: SpaceRequest & { count: number },
      ctx: CallContext,
    ): Promise<{ files: LargeFile[]; missing: number[] }> => {
      const { tree, missing } = await this.#tree(arg, ctx.signal);
      return { files: await largestFiles(tree, arg.count, ctx.signal), missing };
    },

    /** What finding duplicated content would read and download. */
    spaceDuplicatesPlan: async (
      arg: { layers: SpaceLayer[] },
      ctx: CallContext,
    ): Promise<DuplicatesPlan> => {
      const p = await this.#plan(arg.layers, ctx.signal);
      return planOf(p.candidates, p.missing, p.notStored, p.download);
    },

    /** Hashes the files of equal size in the stored layers and groups the equal ones. */
    spaceDuplicates: async (
      arg: { layers: SpaceLayer[] },
      ctx: CallContext<DuplicatesEvent>,
    ): Promise<DuplicatesResult> => {
      const p = await this.#plan(arg.layers, ctx.signal);
      const read = [...p.candidates.byLayer.keys()]
        .filter((l) => !p.notStored.includes(l))
        .sort((a, b) => a - b);
      const problems: DuplicatesResult['problems'] = [];
      let sent = 0;
      const groups = await hashDuplicates(p.candidates, read, {
        signal: ctx.signal,
        spacing: CHECKPOINT_SPACING,
        tarFrom: (l, offset, signal) => this.#deps.tarFrom(arg.layers[l]!, offset, signal),
        progress: (files, bytes) => {
          const now = performance.now();
          if (now - sent < progressMs) return;
          sent = now;
          ctx.emit({ type: 'progress', files, bytes } satisfies DuplicatesEvent);
        },
        problem: (c, message) => problems.push({ layer: c.layer, path: c.path, message }),
      });
      return {
        groups: groups.slice(0, shownGroups),
        totalGroups: groups.length,
        saved: groups.reduce((n, g) => n + g.saved, 0),
        skipped: p.notStored,
        problems: problems.slice(0, 100),
      };
    },

    /** The wasted space, each path's occurrences, and what each layer hid of the ones below. */
    spaceWasted: async (arg: { layers: SpaceLayer[] }, ctx: CallContext): Promise<WastedResult> => {
      const { indexes, missing } = await this.#indexes(arg.layers);
      const w = await wastedSpaceOf(indexes, { signal: ctx.signal, trace: true });
      return {
        files: w.files.slice(0, shownFiles),
        totalFiles: w.files.length,
        wastedBytes: w.wastedBytes,
        efficiency: w.efficiency,
        totalBytes: w.totalBytes,
        steps: wastedSteps(w),
        missing,
      };
    },
  };
}

const viewIndex = (v: SpaceView) => (v.kind === 'layer' ? v.index : -1);

function planOf(
  c: CandidatePlan,
  missing: number[],
  notStored: number[],
  download: number,
): DuplicatesPlan {
  return { files: c.files, groups: c.groups, bytes: c.bytes, notStored, download, missing };
}
