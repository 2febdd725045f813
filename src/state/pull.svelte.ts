// The page's state for resolving, pulling and exporting one reference. It calls the pull worker
// and holds what the components show; components never talk to the worker themselves.
import type { BlobProgress } from '../lib/pull/progress.ts';
import type { ImageSummary } from '../lib/pull/summary.ts';

export type { ImageSummary };
import type { Platform } from '../lib/oci/types.ts';
import { parseReference } from '../lib/reference/reference.ts';
import { WorkerError, type WorkerBridge } from '../workers/rpc.ts';
import type { PullEvent, PullWorkerApi } from '../workers/pull.ts';
import type { Settings } from './settings.ts';

export interface ProgressRow extends BlobProgress {
  /** Bytes per second while downloading, averaged since the download started. */
  speed: number;
  startedAt?: number;
}

export type Phase = 'idle' | 'resolving' | 'pulling' | 'exporting';

export interface PullStateOptions {
  bridge: WorkerBridge<PullWorkerApi>;
  /** Base URL of the CORS proxy, e.g. `${location.origin}/proxy`. */
  proxy: string;
  /** Where the URL's query is kept in step with the state. */
  onLocation?: (query: { image: string; platform?: string }) => void;
  /** Hands a finished archive to the user. */
  save: (blob: Blob, fileName: string) => void;
  settings: Settings;
}

export class PullState {
  reference = $state('');
  /** The platform picked in the combobox, as os/arch[/variant]. */
  platform = $state('');
  phase = $state<Phase>('idle');
  error = $state<string | null>(null);
  notice = $state<string | null>(null);
  platforms = $state.raw<Platform[]>([]);
  resolvedName = $state<string | null>(null);
  rootDigest = $state<string | null>(null);
  rows = $state.raw<ProgressRow[]>([]);
  summary = $state.raw<ImageSummary | null>(null);
  /** The registry that asked for credentials, while the sign-in form is shown. */
  signInRegistry = $state<string | null>(null);

  readonly #opts: PullStateOptions;
  #abort: AbortController | undefined;

  constructor(opts: PullStateOptions) {
    this.#opts = opts;
  }

  get busy() {
    return this.phase !== 'idle';
  }

  get platformOptions(): string[] {
    return this.platforms.map(formatPlatformValue);
  }

  /** The user edits the reference: a platform picked for another image no longer applies. */
  editReference(value: string) {
    this.reference = value;
    if (this.platforms.length > 0 || this.platform) {
      this.platforms = [];
      this.platform = '';
    }
  }

  /** Checks the reference in the page, so a typo is reported before any request. */
  #parse(): string | undefined {
    const input = this.reference.trim();
    if (!input) {
      this.error = 'Type an image reference, for example alpine:3.20.';
      return undefined;
    }
    try {
      parseReference(input);
      return input;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  /** Resolves the reference: fills the platform list and shows a stored image at once. */
  async resolve(): Promise<boolean> {
    this.error = null;
    this.notice = null;
    const input = this.#parse();
    if (!input) return false;
    this.#abort?.abort();
    const abort = (this.#abort = new AbortController());
    this.phase = 'resolving';
    try {
      const r = await this.#opts.bridge.call(
        'resolve',
        { reference: input, proxy: this.#opts.proxy },
        { signal: abort.signal },
      );
      this.resolvedName = r.name;
      this.rootDigest = r.root.digest;
      this.platforms = r.platforms;
      const options = this.platformOptions;
      if (options.length === 0) this.platform = '';
      else if (!options.includes(this.platform)) this.platform = defaultOption(options);
      this.#syncLocation();
      if (r.stored) await this.showStored();
      return true;
    } catch (err) {
      if (!abort.signal.aborted) this.#fail(err, input);
      return false;
    } finally {
      if (this.#abort === abort) this.phase = 'idle';
    }
  }

  /** Shows the stored summary for the current reference and platform, if it was pulled. */
  async showStored(): Promise<void> {
    if (!this.resolvedName) return;
    const summary = await this.#opts.bridge.call('summary', { name: this.resolvedName });
    if (!summary) return;
    const matches =
      !this.platform ||
      (summary.platform && formatPlatformValue(summary.platform) === this.platform);
    this.summary = matches ? summary : null;
  }

  /** Resolves and pulls in one pass: the platform list fills in from the pull itself. */
  async pull(): Promise<void> {
    this.error = null;
    this.notice = null;
    const input = this.#parse();
    if (!input) return;
    this.#abort?.abort();
    const abort = (this.#abort = new AbortController());
    this.phase = 'pulling';
    this.summary = null;
    this.rows = [];
    // A plain accumulator: progress arrives faster than the page paints, so rows are published
    // once per microtask through the $state.raw field instead of being reactive themselves.
    // eslint-disable-next-line svelte/prefer-svelte-reactivity
    const rows = new Map<string, ProgressRow>();
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      this.rows = [...rows.values()];
    };
    const onEvent = (e: PullEvent) => {
      if (e.type === 'resolved') {
        this.resolvedName = e.name;
        this.rootDigest = e.root.digest;
        this.platforms = e.platforms;
        this.platform = e.platform ? formatPlatformValue(e.platform) : '';
        this.#syncLocation();
        return;
      }
      rows.set(e.progress.ref, nextRow(rows.get(e.progress.ref), e.progress));
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    };
    try {
      const summary = await this.#opts.bridge.call(
        'pull',
        {
          reference: input,
          proxy: this.#opts.proxy,
          limit: this.#opts.settings.parallel,
          pieceMiB: this.#opts.settings.pieceMiB,
          ...(this.platform ? { platform: this.platform } : {}),
        },
        { signal: abort.signal, onEvent: (e) => onEvent(e as PullEvent) },
      );
      flush();
      this.summary = summary;
      this.signInRegistry = null;
      const fetched = this.rows.filter((r) => r.state === 'done').length;
      this.notice =
        fetched === 0
          ? `${summary.name} is up to date: every blob was already stored.`
          : `Pulled ${summary.name}: ${fetched} blob${fetched === 1 ? '' : 's'} downloaded and verified.`;
    } catch (err) {
      flush();
      if (!abort.signal.aborted) this.#fail(err, this.reference.trim());
    } finally {
      if (this.#abort === abort) this.phase = 'idle';
    }
  }

  /** Hands credentials to the pull worker (memory only, never stored) and pulls again. */
  async signIn(username: string, password: string): Promise<void> {
    const registry = this.signInRegistry;
    if (!registry) return;
    await this.#opts.bridge.call('setCredentials', {
      registry,
      credentials: { username, password },
    });
    await this.pull();
  }

  #fail(err: unknown, input: string) {
    this.error = messageOf(err);
    const kind = err instanceof WorkerError ? err.kind : undefined;
    if (kind === 'unauthorized' || kind === 'denied') {
      try {
        this.signInRegistry = parseReference(input).registry;
      } catch {
        this.signInRegistry = null;
      }
    } else {
      this.signInRegistry = null;
    }
  }

  cancel() {
    this.#abort?.abort();
    this.phase = 'idle';
  }

  async download(): Promise<void> {
    const s = this.summary;
    if (!s) return;
    this.error = null;
    this.phase = 'exporting';
    try {
      const { blob, fileName } = await this.#opts.bridge.call('exportArchive', {
        reference: this.reference.trim(),
        manifestDigest: s.manifest.digest,
      });
      this.#opts.save(blob, fileName);
      this.notice = `Saved ${fileName}.`;
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.phase = 'idle';
    }
  }

  async choosePlatform(value: string) {
    this.platform = value;
    this.summary = null;
    this.#syncLocation();
    await this.showStored();
  }

  #syncLocation() {
    this.#opts.onLocation?.({
      image: this.reference.trim(),
      ...(this.platform ? { platform: this.platform } : {}),
    });
  }
}

/** The combobox value of a platform: os/arch[/variant]. */
export function formatPlatformValue(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function defaultOption(options: string[]): string {
  return options.find((o) => o === 'linux/amd64') ?? options[0] ?? '';
}

function nextRow(prev: ProgressRow | undefined, p: BlobProgress): ProgressRow {
  const now = performance.now();
  const startedAt = prev?.startedAt ?? (p.state === 'downloading' ? now : undefined);
  const elapsed = startedAt !== undefined ? (now - startedAt) / 1000 : 0;
  const speed =
    p.state === 'downloading' && elapsed > 0.05 ? p.offset / elapsed : (prev?.speed ?? 0);
  return { ...p, speed, ...(startedAt !== undefined ? { startedAt } : {}) };
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
