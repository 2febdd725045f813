// Exporting an image's files as a tar, in the layers worker beside the tree (whose indexes the
// plan is made from) and the random access into the stored layers. The page asks what an export
// needs (exportFilesPlan: which layers it reads, and which of those are not stored), has the
// person agree to download those, then asks for the tar (exportFiles), which is written here
// into Blobs of at most a few MiB and handed over whole: JS never holds more than one part, and
// the browser keeps the parts (on disk when they are big). Cancelling stops the read and drops
// the parts; nothing is stored.
import {
  BlobParts,
  FilesExportError,
  layersToRead,
  planChanges,
  planMerged,
  writeExport,
  type FilesExportPlan,
  type FilesExportSpec,
} from '../lib/export/files.ts';
import type { TarFrom } from '../lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../lib/layers/columns.ts';
import { yielder } from '../lib/tasks.ts';
import type { LayerRef } from './layer-tar.ts';
import type { CallContext } from './rpc.ts';

export type { FilesExportSpec };

/** A layer as the export names it; null for one that is not a tar (it holds no files). */
export type ExportLayer = LayerRef | null;

/** What an export needs before it can run. */
export interface ExportFilesPlan {
  /** Layers this worker has no index for: they must be listed first. */
  missing: number[];
  /** Layers whose bytes the export reads. */
  reads: number[];
  /** Of those, the ones not stored in this browser, and their compressed bytes. */
  notStored: number[];
  notStoredBytes: number;
  /** Entries and file bytes the tar will hold (unknown for a layer as it is: its own tar). */
  entries?: number;
  bytes?: number;
  /** Entries left out, and why. */
  problems: string[];
}

/** Sent while an export is written: bytes of tar so far. */
export type ExportFilesEvent = { type: 'progress'; written: number };

export interface ExportServiceDeps {
  /** A layer's complete index, or undefined when it is not listed. */
  index(digest: string): Promise<ColumnIndex | undefined>;
  stored(digest: string): Promise<boolean>;
  tarFrom(layer: LayerRef, offset: number, signal: AbortSignal): Promise<TarFrom>;
  /** Bytes per Blob part (tests make it small). */
  partBytes?: number;
}

/** How often progress is sent while the tar is written. */
const progressMs = 100;
const empty: ColumnIndex = { count: 0, batches: [] };

/** The layers a spec's plan is made from: all of them, or those up to the layer exported. */
const planLayers = (spec: FilesExportSpec, n: number) =>
  spec.kind === 'layer' ? spec.index + 1 : n;

export class ExportService {
  readonly #deps: ExportServiceDeps;
  /** The last plan made, for the export that follows asking for it. */
  #last: { key: string; plan: FilesExportPlan } | undefined;

  constructor(deps: ExportServiceDeps) {
    this.#deps = deps;
  }

  async #indexes(layers: readonly ExportLayer[], spec: FilesExportSpec) {
    const n = planLayers(spec, layers.length);
    if (spec.kind === 'layer' && (spec.index < 0 || spec.index >= layers.length)) {
      throw new FilesExportError(`the image has no layer ${spec.index + 1}`);
    }
    const missing: number[] = [];
    const indexes = await Promise.all(
      layers.slice(0, n).map(async (l, i) => {
        if (!l) return empty;
        const index = await this.#deps.index(l.digest);
        if (!index) missing.push(i);
        return index;
      }),
    );
    missing.sort((a, b) => a - b);
    return { indexes, missing };
  }

  async #plan(
    layers: readonly ExportLayer[],
    spec: FilesExportSpec,
    signal?: AbortSignal,
  ): Promise<{ plan?: FilesExportPlan; missing: number[] }> {
    // A layer as it is needs no index: it is its own tar.
    if (spec.kind === 'layer' && spec.as === 'raw') return { missing: [] };
    const key = JSON.stringify([spec, layers.map((l) => l?.digest ?? null)]);
    if (this.#last?.key === key) return { plan: this.#last.plan, missing: [] };
    const { indexes, missing } = await this.#indexes(layers, spec);
    if (missing.length > 0) return { missing };
    const plan =
      spec.kind === 'layer'
        ? planChanges(indexes, spec.index)
        : await planMerged(indexes, spec.kind === 'subtree' ? spec.path : '', signal);
    this.#last = { key, plan };
    return { plan, missing };
  }

  readonly api = {
    /** What exporting would read, and which of those layers must be downloaded first. */
    exportFilesPlan: async (
      arg: { layers: ExportLayer[]; spec: FilesExportSpec },
      ctx: CallContext,
    ): Promise<ExportFilesPlan> => {
      const { plan, missing } = await this.#plan(arg.layers, arg.spec, ctx.signal);
      const reads = missing.length > 0 ? [] : layersToRead(arg.spec, plan);
      const notStored: number[] = [];
      let notStoredBytes = 0;
      for (const i of reads) {
        const l = arg.layers[i];
        if (l && !(await this.#deps.stored(l.digest))) {
          notStored.push(i);
          notStoredBytes += l.size;
        }
      }
      return {
        missing,
        reads,
        notStored,
        notStoredBytes,
        ...(plan ? { entries: plan.entries, bytes: plan.bytes } : {}),
        problems: plan?.problems ?? [],
      };
    },

    /** The tar itself, as one Blob of parts. Fails when a layer it reads is not stored. */
    exportFiles: async (
      arg: { layers: ExportLayer[]; spec: FilesExportSpec },
      ctx: CallContext<ExportFilesEvent>,
    ): Promise<Blob> => {
      const { signal } = ctx;
      const { plan, missing } = await this.#plan(arg.layers, arg.spec, signal);
      // The plan holds the merged tree: kept for the export that follows planning, no longer.
      this.#last = undefined;
      if (missing.length > 0) {
        throw new FilesExportError(
          `layers ${missing.map((i) => i + 1).join(', ')} are not listed yet`,
        );
      }
      const layerOf = (i: number) => {
        const l = arg.layers[i];
        if (!l) throw new FilesExportError(`layer ${i + 1} is not a tar`);
        return l;
      };
      const out = new BlobParts(this.#deps.partBytes);
      let last = 0;
      const report = () => {
        const now = performance.now();
        if (now - last < progressMs) return;
        last = now;
        ctx.emit({ type: 'progress', written: out.written });
      };
      const sink = {
        write: (bytes: Uint8Array) => {
          out.write(bytes);
          report();
        },
      };
      if (arg.spec.kind === 'layer' && arg.spec.as === 'raw') {
        // The layer's tar exactly: the decompressed blob, whose digest is its diffID.
        const from = await this.#deps.tarFrom(layerOf(arg.spec.index), 0, signal);
        const reader = from.tar.getReader();
        const tick = yielder();
        try {
          for (;;) {
            signal.throwIfAborted();
            const { done, value } = await reader.read();
            if (done) break;
            sink.write(value);
            const w = tick();
            if (w) await w;
          }
        } finally {
          await reader.cancel().catch(() => undefined);
        }
      } else {
        await writeExport(plan!, sink, {
          signal,
          tarFrom: (i, offset, s) => this.#deps.tarFrom(layerOf(i), offset, s),
        });
      }
      signal.throwIfAborted();
      ctx.emit({ type: 'progress', written: out.written });
      return out.finish();
    },
  };
}
