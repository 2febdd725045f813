// Exporting the image's files as a tar: the merged filesystem, a directory of it, or one layer
// (as it is, or as the changes it makes). The layers worker plans the export from the layers'
// indexes and writes it; the page only asks, says what is needed, and saves the Blob. Where the
// export reads layers that are not stored, it asks first ("Export needs 2 layers not stored:
// 31 MB to download. Download and export?") and downloads only those, through the same layer
// fetch as opening a view.
import { messageOf } from '../lib/errors.ts';
import { archiveFileName } from '../lib/export/oci-archive.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import { parseReference } from '../lib/reference/reference.ts';
import type { ExportLayer, FilesExportSpec, LayersWorkerApi } from '../workers/layers.ts';
import type { Bridge } from './bridge.ts';
import { formatBytes } from './format.ts';
import { browsable, type Listings } from './layers/listings.svelte.ts';

export type { FilesExportSpec };

export type ExportFilesStatus =
  'idle' | 'planning' | 'asking' | 'downloading' | 'writing' | 'done' | 'error';

export interface ExportFilesOptions {
  bridge: Bridge<LayersWorkerApi>;
  listings: Listings;
  summary: () => ImageSummary | null;
  /** Downloads one layer of the image (the lazy fetch "Download to open" uses). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
  save: (blob: Blob, fileName: string) => void;
}

/** What a spec is called on the page. */
export function exportLabel(spec: FilesExportSpec): string {
  switch (spec.kind) {
    case 'merged':
      return 'the merged filesystem';
    case 'subtree':
      return `/${spec.path}`;
    case 'layer':
      return `layer ${spec.index + 1} ${spec.as === 'raw' ? 'as it is' : 'as changes'}`;
  }
}

/** `<repo>_<tag>_merged.tar`, `_layer3.tar`, `_layer3_changes.tar`, `_etc.tar`: the OCI
 * archive's name (and its sanitising), with what was exported. */
export function exportFileName(summary: ImageSummary, spec: FilesExportSpec): string {
  let base: string;
  try {
    base = archiveFileName(parseReference(summary.name), summary.manifest.digest);
  } catch {
    base = 'image.tar';
  }
  const what =
    spec.kind === 'merged'
      ? 'merged'
      : spec.kind === 'subtree'
        ? spec.path || 'root'
        : `layer${spec.index + 1}${spec.as === 'changes' ? '_changes' : ''}`;
  return `${base.replace(/\.tar$/, '')}_${what}.tar`.replace(/[^A-Za-z0-9._-]/g, '_');
}

export class ExportFilesState {
  status = $state<ExportFilesStatus>('idle');
  /** What is being exported, as the page says it. */
  label = $state('');
  /** The layers to download before the export can run, while the page asks. */
  question = $state.raw<{ layers: number[]; bytes: number } | null>(null);
  /** Bytes of tar written so far, and about how many there will be. */
  written = $state(0);
  total = $state<number | null>(null);
  error = $state<string | null>(null);
  notice = $state<string | null>(null);
  /** Entries the export left out, and why. */
  problems = $state.raw<string[]>([]);

  readonly #opts: ExportFilesOptions;
  #spec: FilesExportSpec | null = null;
  #run: AbortController | null = null;

  constructor(opts: ExportFilesOptions) {
    this.#opts = opts;
  }

  get busy(): boolean {
    return ['planning', 'downloading', 'writing'].includes(this.status);
  }

  /** The image's layers as the worker names them. */
  #layers(s: ImageSummary): ExportLayer[] {
    return s.layers.map((l) =>
      browsable(l)
        ? {
            digest: l.descriptor.digest,
            mediaType: l.descriptor.mediaType,
            size: l.descriptor.size,
            ...(l.diffID ? { diffID: l.diffID } : {}),
          }
        : null,
    );
  }

  /** Starts an export: plans it, and runs it at once unless layers must be downloaded. */
  async start(spec: FilesExportSpec): Promise<void> {
    const s = this.#opts.summary();
    if (!s || this.busy) return;
    this.#spec = spec;
    this.label = exportLabel(spec);
    this.error = null;
    this.notice = null;
    this.problems = [];
    this.question = null;
    this.status = 'planning';
    const abort = new AbortController();
    this.#run = abort;
    try {
      const plan = await this.#plan(s, spec, abort.signal);
      if (this.#run !== abort) return;
      const missing = plan.missing.filter((i) => !s.layers[i]!.stored);
      const layers = [...plan.notStored, ...missing]
        .filter((i, k, all) => all.indexOf(i) === k)
        .sort((a, b) => a - b);
      if (layers.length > 0) {
        this.question = {
          layers,
          bytes: layers.reduce((n, i) => n + s.layers[i]!.descriptor.size, 0),
        };
        this.status = 'asking';
        return;
      }
      await this.#write(s, spec, abort);
    } catch (err) {
      this.#fail(abort, err);
    }
  }

  /** The question the page asks before downloading, in words. */
  get questionText(): string {
    const q = this.question;
    if (!q) return '';
    const n = q.layers.length;
    return `Export needs ${n} layer${n === 1 ? '' : 's'} not stored: ${formatBytes(q.bytes)} to download. Download and export?`;
  }

  /** The person said yes: the layers are downloaded, then the export runs. */
  async confirm(): Promise<void> {
    const s = this.#opts.summary();
    const q = this.question;
    const spec = this.#spec;
    if (!s || !q || !spec || this.status !== 'asking') return;
    this.question = null;
    this.status = 'downloading';
    const abort = new AbortController();
    this.#run = abort;
    try {
      for (const i of q.layers) {
        await this.#opts.fetchLayer(s.layers[i]!.descriptor);
        if (this.#run !== abort) return;
      }
      // The summary now says they are stored.
      const now = this.#opts.summary() ?? s;
      const plan = await this.#plan(now, spec, abort.signal);
      if (this.#run !== abort) return;
      if (plan.notStored.length > 0 || plan.missing.length > 0) {
        throw new Error(
          `layers ${[...plan.missing, ...plan.notStored].map((i) => i + 1).join(', ')} are still not stored`,
        );
      }
      await this.#write(now, spec, abort);
    } catch (err) {
      this.#fail(abort, err);
    }
  }

  /** The person said no. */
  decline() {
    this.question = null;
    this.status = 'idle';
    this.#run = null;
  }

  /** Stops the export: nothing is saved. */
  cancel() {
    const run = this.#run;
    this.#run = null;
    run?.abort(new DOMException('Export cancelled', 'AbortError'));
    this.question = null;
    this.status = 'idle';
    this.notice = 'Export cancelled: nothing was saved.';
  }

  /** The worker's plan, after listing the layers it has no index for (stored ones only: a
   * layer not stored is listed once downloaded). */
  async #plan(s: ImageSummary, spec: FilesExportSpec, signal: AbortSignal) {
    const layers = this.#layers(s);
    let plan = await this.#opts.bridge.call('exportFilesPlan', { layers, spec }, { signal });
    const listable = plan.missing.filter((i) => s.layers[i]!.stored);
    if (listable.length > 0) {
      await this.#opts.listings.read(listable);
      plan = await this.#opts.bridge.call('exportFilesPlan', { layers, spec }, { signal });
    }
    this.problems = plan.problems;
    this.total =
      spec.kind === 'layer' && spec.as === 'raw'
        ? (this.#opts.listings.of(spec.index)?.uncompressed ?? null)
        : plan.bytes !== undefined && plan.entries !== undefined
          ? plan.bytes + plan.entries * 1024
          : null;
    return plan;
  }

  async #write(s: ImageSummary, spec: FilesExportSpec, abort: AbortController) {
    this.status = 'writing';
    this.written = 0;
    const blob = await this.#opts.bridge.call(
      'exportFiles',
      { layers: this.#layers(s), spec },
      {
        signal: abort.signal,
        onEvent: (e) => {
          if (this.#run === abort) this.written = e.written;
        },
      },
    );
    if (this.#run !== abort) return;
    this.#run = null;
    this.written = blob.size;
    this.status = 'done';
    const name = exportFileName(s, spec);
    this.notice = `Exported ${this.label} as ${name} (${formatBytes(blob.size)}).`;
    this.#opts.save(blob, name);
  }

  #fail(abort: AbortController, err: unknown) {
    if (this.#run !== abort) return;
    this.#run = null;
    this.status = 'error';
    this.error = `The export of ${this.label} failed: ${messageOf(err)}`;
  }
}
