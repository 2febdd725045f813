// The secrets of the image on screen: what a scan would read, the scan itself (in the scan
// worker, after listing any layer not listed yet), and its findings, masked. A value is asked of
// the worker only when the person presses Reveal, and forgotten again on Hide. Runs only when
// asked; layers not in this browser are downloaded first only when the person says so.
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import type { SecretFinding } from '../lib/secrets/types.ts';
import type { LayersWorkerApi } from '../workers/layers.ts';
import {
  secretsLost,
  type ScanConfig,
  type ScanWorkerApi,
  type SecretsLayer,
  type SecretsPlan,
  type SecretsReport,
} from '../workers/scan.ts';
import type { Bridge } from './bridge.ts';
import { browsable, type Listings } from './layers/listings.svelte.ts';

export type SecretsStatus = 'idle' | 'downloading' | 'listing' | 'scanning' | 'ready' | 'error';

export interface SecretsStateOptions {
  /** The scan worker, made on first use. */
  scan: () => Bridge<ScanWorkerApi>;
  /** The layers worker: it stores the index of a layer the scan needs listed. */
  layers: Bridge<LayersWorkerApi>;
  listings: Listings;
  /** Downloads a layer of an inspected image (with its progress row). */
  fetchLayer: (layer: Descriptor) => Promise<void>;
}

export interface SecretsProgress {
  filesRead: number;
  files: number;
  bytesRead: number;
  bytes: number;
  findings: number;
}

export class SecretsState {
  status = $state<SecretsStatus>('idle');
  /** What a scan would read; null while unknown (layers not listed). */
  plan = $state.raw<SecretsPlan | null>(null);
  report = $state.raw<SecretsReport | null>(null);
  progress = $state.raw<SecretsProgress | null>(null);
  error = $state<string | null>(null);
  /** Values the person asked to see, by finding id. */
  revealed = $state.raw<Record<number, string>>({});

  readonly #opts: SecretsStateOptions;
  #image: ImageSummary | null = null;
  /** Bumped with each new image or run: late answers for older ones are dropped. */
  #generation = 0;
  #run: AbortController | null = null;

  constructor(opts: SecretsStateOptions) {
    this.#opts = opts;
  }

  /** The image on screen; another manifest starts over. The same one with more layers stored
   * (one was downloaded) keeps its findings. */
  show(summary: ImageSummary | null) {
    if (summary?.manifest.digest === this.#image?.manifest.digest) {
      this.#image = summary;
      return;
    }
    this.#image = summary;
    this.#run?.abort();
    this.#run = null;
    this.#generation++;
    this.#forget();
    this.status = 'idle';
    this.plan = null;
    this.report = null;
    this.progress = null;
    this.error = null;
  }

  /** Drops the values of the scan shown, here and in the worker. */
  #forget() {
    const scanId = this.report?.scanId;
    this.revealed = {};
    if (scanId !== undefined) {
      void this.#opts
        .scan()
        .call('secretsClose', { scanId })
        .catch(() => undefined);
    }
  }

  /** The image's layers as the worker names them. */
  get layers(): SecretsLayer[] {
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

  /** Layers not stored in this browser, numbered from 0, and their compressed size. */
  get notStored(): { layers: number[]; bytes: number } {
    const layers: number[] = [];
    let bytes = 0;
    (this.#image?.layers ?? []).forEach((l, i) => {
      if (browsable(l) && !l.stored) {
        layers.push(i);
        bytes += l.descriptor.size;
      }
    });
    return { layers, bytes };
  }

  /** Layers not listed yet: a scan lists them first. */
  get unlisted(): number {
    const s = this.#image;
    if (!s) return 0;
    return s.layers.filter((l, i) => browsable(l) && this.#opts.listings.of(i)?.status !== 'done')
      .length;
  }

  /** What the config gives the scan: Env, labels, and each history step's command. */
  get #config(): ScanConfig {
    const s = this.#image;
    const c = s?.config?.config;
    return {
      ...(c?.Env ? { env: c.Env } : {}),
      ...(c?.Labels ? { labels: c.Labels } : {}),
      history: (s?.history ?? []).map((h) => ({
        createdBy: h.entry.created_by ?? '',
        ...(h.layerIndex !== undefined ? { layer: h.layerIndex } : {}),
      })),
    };
  }

  /** Asks the worker what a scan would read, once every layer is listed. */
  async refreshPlan(): Promise<void> {
    if (!this.#image || this.unlisted > 0) return;
    const gen = this.#generation;
    try {
      const plan = await this.#opts.scan().call('secretsPlan', { layers: this.layers });
      if (gen === this.#generation) this.plan = plan;
    } catch {
      // Only the button's wording depends on it.
    }
  }

  /** Downloads the layers not in this browser, then scans. */
  async downloadAndScan(): Promise<void> {
    const s = this.#image;
    if (!s || this.#busy) return;
    const gen = ++this.#generation;
    this.status = 'downloading';
    this.error = null;
    try {
      for (const i of this.notStored.layers) {
        await this.#opts.fetchLayer(s.layers[i]!.descriptor);
        if (gen !== this.#generation) return;
      }
    } catch (err) {
      if (gen !== this.#generation) return;
      this.status = 'error';
      this.error = `The layers could not be downloaded: ${messageOf(err)}`;
      return;
    }
    this.status = 'idle';
    await this.scan();
  }

  get #busy(): boolean {
    return this.status === 'downloading' || this.status === 'listing' || this.status === 'scanning';
  }

  /** Scans every file of every layer, and the config. */
  async scan(): Promise<void> {
    const s = this.#image;
    if (!s || this.#busy) return;
    const gen = ++this.#generation;
    const current = () => gen === this.#generation;
    this.error = null;
    const missing = this.notStored;
    if (missing.layers.length > 0) {
      this.status = 'error';
      this.error = `Layer${missing.layers.length === 1 ? '' : 's'} ${missing.layers.map((i) => i + 1).join(', ')} ${missing.layers.length === 1 ? 'is' : 'are'} not stored in this browser: download ${missing.layers.length === 1 ? 'it' : 'them'} first.`;
      return;
    }
    const wanted = s.layers.flatMap((l, i) => (browsable(l) ? [i] : []));
    this.status = 'listing';
    await this.#opts.listings.read(wanted);
    if (!current()) return;
    const failed = wanted.filter((i) => this.#opts.listings.of(i)?.status !== 'done');
    if (failed.length > 0) {
      this.status = 'error';
      this.error = `The layers cannot be listed: ${failed
        .map((i) => `layer ${i + 1} ${this.#opts.listings.of(i)?.error ?? 'was not read'}`)
        .join('; ')}.`;
      return;
    }
    const abort = new AbortController();
    this.#run = abort;
    try {
      // A layer listed from its table of contents before it was downloaded has no stored
      // index: the layers worker stores one now (from the store, without the network).
      const plan = await this.#opts.scan().call('secretsPlan', { layers: this.layers });
      for (const i of plan.missing) {
        const l = this.layers[i];
        if (l) await this.#opts.layers.call('listLayer', l, { signal: abort.signal });
      }
      if (!current()) return;
      this.status = 'scanning';
      this.progress = {
        filesRead: 0,
        files: plan.files,
        bytesRead: 0,
        bytes: plan.bytes,
        findings: 0,
      };
      this.#forget();
      const report = await this.#opts.scan().call(
        'secretsScan',
        { layers: this.layers, config: this.#config },
        {
          signal: abort.signal,
          onEvent: (e) => {
            if (current()) {
              this.progress = {
                filesRead: e.filesRead,
                files: e.files,
                bytesRead: e.bytesRead,
                bytes: e.bytes,
                findings: e.findings,
              };
            }
          },
        },
      );
      if (!current()) {
        void this.#opts
          .scan()
          .call('secretsClose', { scanId: report.scanId })
          .catch(() => undefined);
        return;
      }
      this.report = report;
      this.status = 'ready';
    } catch (err) {
      if (!current()) return;
      this.status = 'error';
      this.error = `The scan failed: ${messageOf(err)}`;
    } finally {
      if (this.#run === abort) this.#run = null;
    }
  }

  /** Stops a scan (or a download before one). */
  cancel() {
    this.#run?.abort();
    this.#generation++;
    this.status = this.report ? 'ready' : 'idle';
    this.progress = null;
  }

  /** Shows a finding's value: asked of the worker, which alone holds it. */
  async reveal(f: SecretFinding): Promise<void> {
    const report = this.report;
    if (!report) return;
    try {
      const value = await this.#opts
        .scan()
        .call('secretsReveal', { scanId: report.scanId, id: f.id });
      if (this.report === report) this.revealed = { ...this.revealed, [f.id]: value };
    } catch (err) {
      if (this.report !== report) return;
      // The worker was replaced and took the values with it: the scan must run again.
      const lost = (err as Error)?.name === secretsLost || messageOf(err).includes(secretsLost);
      this.error = lost
        ? 'The values of this scan are gone (the scan worker was restarted): scan again to reveal them.'
        : `The value could not be shown: ${messageOf(err)}`;
    }
  }

  /** Hides a revealed value again: the page keeps it no longer. */
  hide(f: SecretFinding) {
    if (!(f.id in this.revealed)) return;
    const { [f.id]: _gone, ...rest } = this.revealed;
    this.revealed = rest;
  }
}
