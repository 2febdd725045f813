// The page's state for resolving, pulling and exporting one reference. It calls the images worker
// and holds what the components show; components never talk to the worker themselves.
import {
  allPlatforms,
  bestPlatform,
  defaultPlatform,
  formatPlatform,
  parsePlatform,
} from '../lib/oci/platform.ts';
import type { Descriptor, Platform } from '../lib/oci/types.ts';
import { messageOf } from '../lib/errors.ts';
import type { BlobProgress } from '../lib/pull/progress.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import { parseReference } from '../lib/reference/reference.ts';
import type { PullEvent, ImagesWorkerApi } from '../workers/images.ts';
import { WorkerError, type WorkerBridge } from '../workers/rpc.ts';
import type { Connection } from '../lib/registry/transport.ts';
import type { Settings } from './settings.ts';
import { formatBytes } from './format.ts';

export type { Descriptor, ImageSummary };

export interface ProgressRow extends BlobProgress {
  /** Bytes per second while downloading, averaged since the download started. */
  speed: number;
  startedAt?: number;
  /** The offset the download started from (a resumed ingest starts past 0). */
  base?: number;
}

export type Phase =
  'idle' | 'resolving' | 'pulling' | 'exporting' | 'deleting' | 'verifying' | 'importing';

/** The image on screen, as the URL names it. */
export interface ImageLocation {
  image: string;
  platform: string;
}

export interface PullStateOptions {
  bridge: WorkerBridge<ImagesWorkerApi>;
  /** Read at each call, so a change in Settings applies to the next request. */
  settings: { readonly current: Settings; readonly connection: Connection };
  /** The image on screen changed: the URL follows. `started` is set when a person's action
   * (Pull, Inspect, Open, a platform choice) put it there, rather than the registry's answer
   * refining it. */
  onLocation?: (location: ImageLocation, started: boolean) => void;
  /** The summary on screen was set; `changed` when it is another manifest (or none). */
  onSummary?: (summary: ImageSummary | null, changed: boolean) => void;
  /** Hands a finished archive to the user. */
  save: (blob: Blob, fileName: string) => void;
  /** Called when what the store holds may have changed: a pull ended, an image went. */
  onStoreChanged?: () => void;
  /** Called as a pull starts (the first one asks the browser to keep the store). */
  onPullStart?: () => void;
}

/** What to export: one pulled manifest of an image, or with `all` its whole index. */
export interface ExportTarget {
  name: string;
  manifestDigest?: string;
  all?: boolean;
}

export class PullState {
  reference = $state('');
  /** The platform picked in the combobox, in formatPlatform's form. */
  platform = $state('');
  phase = $state<Phase>('idle');
  error = $state<string | null>(null);
  notice = $state<string | null>(null);
  platforms = $state.raw<Platform[]>([]);
  /** The canonical name the reference resolved to. */
  resolvedName = $state<string | null>(null);
  rows = $state.raw<ProgressRow[]>([]);
  /** The image on screen; null before any. */
  location = $state.raw<ImageLocation | null>(null);
  /** What kind of failure `error` is (a RegistryError's kind, 'storage-full', …), so the page
   * can offer what to do next. */
  errorKind = $state<string | null>(null);
  /** How the last pull ended, until the next action: for the tab's title. */
  finished = $state.raw<{ ok: boolean } | null>(null);
  #summary = $state.raw<ImageSummary | null>(null);
  /** The registry that asked for credentials, while the sign-in form is shown. */
  signInRegistry = $state<string | null>(null);
  /** References to the resolved repository's other tags, for the reference box. */
  tagSuggestions = $state.raw<string[]>([]);
  /** What is attached to the image on screen (signatures, SBOMs, attestations); null while
   * unknown. */
  referrers = $state.raw<{ descriptor: Descriptor; label: string }[] | null>(null);
  /** Share of the archive read while importing, 0 to 1; null otherwise. */
  importProgress = $state<number | null>(null);

  #tagsFor: string | undefined;
  /** The last resolve or pull, for "Try again". */
  #last: (() => Promise<void>) | undefined;

  readonly #opts: PullStateOptions;
  #abort: AbortController | undefined;

  constructor(opts: PullStateOptions) {
    this.#opts = opts;
  }

  get busy() {
    return this.phase !== 'idle';
  }

  /** The summary of the image on screen, once it is stored. */
  get summary(): ImageSummary | null {
    return this.#summary;
  }

  set summary(value: ImageSummary | null) {
    const changed = value?.manifest.digest !== this.#summary?.manifest.digest;
    this.#summary = value;
    this.#opts.onSummary?.(value, changed);
  }

  /** Bytes of the pull on screen: received so far and in all, over the blobs known yet. */
  get totals(): { done: number; total: number } {
    let done = 0;
    let total = 0;
    for (const r of this.rows) {
      total += r.size;
      done += r.state === 'done' || r.state === 'exists' ? r.size : r.offset;
    }
    return { done, total };
  }

  /** Share of the running pull's bytes received, 0 to 1; null when no pull runs. */
  get progress(): number | null {
    if (this.phase !== 'pulling' || this.rows.length === 0) return null;
    const { done, total } = this.totals;
    return total > 0 ? done / total : 0;
  }

  /** The tag suggestions for what is typed now: while a tag is being typed, those it starts;
   * once it names a real tag, the others (at most 12). */
  get visibleSuggestions(): string[] {
    const typed = this.reference.trim();
    const base = repoName(typed);
    const same = this.tagSuggestions.filter((s) => s.startsWith(`${base}:`));
    const partial = same.includes(typed) ? '' : (/:([^:/]*)$/.exec(typed)?.[1] ?? '');
    return same
      .filter((s) => s !== typed && s.slice(base.length + 1).startsWith(partial))
      .slice(0, 12);
  }

  /** The combobox options: one per distinct platform string. */
  get platformOptions(): string[] {
    return this.platforms.map(formatPlatform).filter((p, i, all) => all.indexOf(p) === i);
  }

  /** The combobox entries: the platforms, then "All platforms". */
  get platformChoices(): { value: string; label: string }[] {
    const options = this.platformOptions;
    if (options.length === 0) return [];
    return [
      ...options.map((o) => ({ value: o, label: o })),
      { value: allPlatforms, label: 'All platforms' },
    ];
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
      this.error = messageOf(err);
      return undefined;
    }
  }

  #start(phase: Phase): AbortController {
    this.#abort?.abort();
    this.error = null;
    this.errorKind = null;
    this.notice = null;
    this.finished = null;
    this.phase = phase;
    return (this.#abort = new AbortController());
  }

  #finish(abort: AbortController) {
    if (this.#abort === abort) this.phase = 'idle';
  }

  /** Resolves the reference: fills the platform list and shows a stored image at once. */
  async resolve(): Promise<void> {
    const input = this.#parse();
    if (!input) return;
    this.#last = () => this.resolve();
    const abort = this.#start('resolving');
    try {
      const r = await this.#opts.bridge.call(
        'resolve',
        { reference: input, connection: this.#opts.settings.connection },
        { signal: abort.signal },
      );
      if (this.#abort !== abort) return; // something else took over meanwhile
      this.resolvedName = r.name;
      this.platforms = r.platforms;
      this.platform = closestOption(this.platforms, this.platform, this.#preferred);
      this.#syncLocation();
      await this.showStored();
      void this.#loadExtras(input);
    } catch (err) {
      if (this.#abort !== abort) return;
      // Offline, or the registry down or limiting: a stored copy still opens, from the store.
      const kind = err instanceof WorkerError ? err.kind : undefined;
      if (
        (kind === 'unreachable' || kind === 'server' || kind === 'rate-limited') &&
        (await this.#openStored(input))
      ) {
        this.notice =
          kind === 'unreachable'
            ? `The registry cannot be reached: showing the copy of ${input} stored in this browser.`
            : `${messageOf(err)} Showing the copy of ${input} stored in this browser.`;
        return;
      }
      this.#fail(err, input);
    } finally {
      this.#finish(abort);
    }
  }

  /** Shows the stored summary for the current reference and platform, if it was pulled. */
  async showStored(): Promise<void> {
    if (!this.resolvedName) return;
    const asked = { name: this.resolvedName, platform: this.platform };
    const summary = await this.#opts.bridge.call('summary', {
      name: asked.name,
      ...(asked.platform ? { platform: asked.platform } : {}),
      ...(this.#preferred ? { preferredPlatform: this.#preferred } : {}),
    });
    // A later choice may have been made while this one was read: only the latest shows.
    if (this.resolvedName === asked.name && this.platform === asked.platform) {
      this.summary = summary;
    }
  }

  /** Shows an image from the store, as the library lists it, without asking the registry:
   * this works offline. */
  async open(name: string, platform = ''): Promise<void> {
    const abort = this.#start('resolving');
    try {
      this.platform = platform;
      await this.#openStored(name, true, true);
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.#finish(abort);
    }
  }

  /** Shows a stored image without the registry. Returns false when it is not stored (and
   * `must` is not set). */
  async #openStored(name: string, must = false, started = false): Promise<boolean> {
    let r;
    try {
      r = await this.#opts.bridge.call('openStored', { name });
    } catch (err) {
      if (must) throw err;
      return false;
    }
    this.reference = r.name;
    this.resolvedName = r.name;
    this.platforms = r.platforms;
    this.platform = r.platforms.length
      ? closestOption(this.platforms, this.platform, this.#preferred)
      : '';
    this.summary = null;
    this.rows = [];
    this.referrers = null;
    this.#syncLocation(started);
    await this.showStored();
    return true;
  }

  /** Shows an image as a URL names it: resolved on the registry (or from the store when the
   * registry cannot be reached). With `inspect`, an image that is not stored yet is inspected,
   * so that a link to one of its layers or files can open. */
  async show(image: string, platform = '', opts: { inspect?: boolean } = {}): Promise<void> {
    this.reference = image;
    this.platform = platform;
    this.platforms = [];
    this.summary = null;
    this.rows = [];
    this.referrers = null;
    // The URL keeps naming this image while it resolves, and if it fails.
    this.#syncLocation();
    await this.resolve();
    if (opts.inspect && !this.summary && !this.error && this.location?.image === image) {
      await this.inspect();
    }
  }

  /** Continues an interrupted pull where it stopped. */
  async resume(name: string, platform?: string): Promise<void> {
    this.reference = name;
    this.platform = platform ?? '';
    await this.pull();
  }

  /** Imports an OCI layout, oci-archive or docker save tar, then shows its (first) image. */
  async importArchive(file: File): Promise<void> {
    const abort = this.#start('importing');
    this.importProgress = 0;
    try {
      const r = await this.#opts.bridge.call(
        'importArchive',
        { file },
        {
          signal: abort.signal,
          onEvent: (ev) => {
            this.importProgress = ev.total > 0 ? ev.done / ev.total : 0;
          },
        },
      );
      const names = r.images.map((i) => i.name);
      const text = `Imported ${names.join(', ')} from ${file.name}: ${r.blobs} blob${r.blobs === 1 ? '' : 's'} stored, ${formatBytes(r.bytes)}.`;
      this.#finish(abort);
      if (names[0]) await this.open(names[0]);
      if (!this.error) this.notice = text;
    } catch (err) {
      if (!abort.signal.aborted) this.error = `${file.name} was not imported: ${messageOf(err)}`;
    } finally {
      this.importProgress = null;
      this.#finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** Gives up an interrupted pull and frees what only it held. */
  async discardPull(name: string): Promise<void> {
    try {
      const freed = await this.#opts.bridge.call('discardPull', { name });
      this.notice = `Discarded the pull of ${name}: ${formatBytes(freed.bytes)} freed.`;
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.#opts.onStoreChanged?.();
    }
  }

  /** Fetches the manifests and config only: the summary and history appear at once, and
   * layers are fetched when they are opened. */
  inspect(): Promise<void> {
    return this.pull({ lazy: true });
  }

  /** Downloads one layer of the image on screen (an inspected image's), with a progress row. */
  async fetchLayer(layer: Descriptor): Promise<void> {
    const s = this.summary;
    if (!s) return;
    const settings = this.#opts.settings.current;
    try {
      await this.#opts.bridge.call(
        'fetchLayer',
        {
          name: s.name,
          manifestDigest: s.manifest.digest,
          layer,
          connection: this.#opts.settings.connection,
          pieceMiB: settings.pieceMiB,
          stallSeconds: settings.stallSeconds,
        },
        {
          onEvent: (ev) => {
            if (ev.type !== 'progress') return;
            const rows = this.rows.filter((r) => r.ref !== ev.progress.ref);
            const prev = this.rows.find((r) => r.ref === ev.progress.ref);
            this.rows = [...rows, nextRow(prev, ev.progress)];
          },
        },
      );
    } finally {
      this.#opts.onStoreChanged?.();
    }
    if (this.summary?.manifest.digest === s.manifest.digest) await this.showStored();
  }

  /** Resolves and pulls in one pass: the platform list fills in from the pull itself. With
   * `lazy`, layers are left for later (Inspect). */
  async pull(opts: { lazy?: boolean } = {}): Promise<void> {
    const input = this.#parse();
    if (!input) return;
    this.#last = () => this.pull(opts);
    this.#opts.onPullStart?.();
    const abort = this.#start('pulling');
    this.summary = null;
    this.rows = [];
    this.referrers = null;
    this.#syncLocation(true);
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
      if (this.#abort !== abort) return; // a later action owns the page now
      if (e.type === 'resolved') {
        this.resolvedName = e.name;
        this.platforms = e.platforms;
        this.platform = e.all ? allPlatforms : e.platform ? formatPlatform(e.platform) : '';
        this.#syncLocation();
        return;
      }
      rows.set(e.progress.ref, nextRow(rows.get(e.progress.ref), e.progress));
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    };
    const settings = this.#opts.settings.current;
    try {
      const summary = await this.#opts.bridge.call(
        'pull',
        {
          reference: input,
          connection: this.#opts.settings.connection,
          limit: settings.parallel,
          pieceMiB: settings.pieceMiB,
          stallSeconds: settings.stallSeconds,
          ...(opts.lazy ? { lazy: true } : {}),
          ...(this.platform ? { platform: this.platform } : {}),
          ...(this.#preferred ? { preferredPlatform: this.#preferred } : {}),
        },
        { signal: abort.signal, onEvent },
      );
      if (this.#abort !== abort) return; // finished as it was cancelled: not on screen
      flush();
      this.summary = summary;
      this.signInRegistry = null;
      this.finished = { ok: true };
      void this.#loadExtras(input);
      const fetched = this.rows.filter((r) => r.state === 'done').length;
      this.notice = opts.lazy
        ? `Inspected ${summary.name}: its manifest and config are stored; a layer is downloaded when you open it.`
        : fetched === 0
          ? `${summary.name} is up to date: every blob was already stored.`
          : `Pulled ${summary.name}: ${fetched} blob${fetched === 1 ? '' : 's'} downloaded and verified.`;
    } catch (err) {
      if (this.#abort !== abort) return;
      for (const [ref, row] of rows) {
        if (!['done', 'exists', 'failed'].includes(row.state)) {
          rows.set(ref, { ...row, state: 'cancelled' });
        }
      }
      flush();
      if (!abort.signal.aborted) {
        this.#fail(err, input);
        this.finished = { ok: false };
      } else if (this.#abort === abort) {
        this.notice = 'Pull cancelled. What was downloaded is kept and resumes next time.';
      }
    } finally {
      this.#finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** Hands credentials to the images worker and pulls again. They stay in the worker's memory,
   * and are stored only when the user asks to be remembered. */
  async signIn(username: string, password: string, remember = false): Promise<void> {
    const registry = this.signInRegistry;
    if (!registry) return;
    await this.#opts.bridge.call('setCredentials', {
      registry,
      credentials: { username, password },
      remember,
    });
    await this.pull();
  }

  /** Re-hashes every stored blob of an image (the one on screen by default) and says what
   * does not match. */
  async verify(name = this.summary?.name): Promise<void> {
    if (!name) return;
    const abort = this.#start('verifying');
    try {
      const r = await this.#opts.bridge.call('verifyImage', { name }, { signal: abort.signal });
      if (r.problems.length === 0) {
        this.notice = `Verified ${name}: ${r.checked} blobs, ${formatBytes(r.bytes)}, all match their digests.`;
      } else {
        this.error =
          `${name} is damaged in this browser's storage: ` +
          r.problems.map((p) => `${p.digest} (${p.mediaType}): ${p.problem}`).join('; ') +
          '. Delete the image and pull it again.';
      }
    } catch (err) {
      if (!abort.signal.aborted) this.error = messageOf(err);
    } finally {
      this.#finish(abort);
    }
  }

  /** Deletes an image (the one on screen by default) from this browser; blobs other images
   * share stay. */
  async deleteImage(name = this.summary?.name): Promise<void> {
    if (!name) return;
    const abort = this.#start('deleting');
    try {
      const freed = await this.#opts.bridge.call('deleteImage', { name });
      if (this.summary?.name === name) {
        this.summary = null;
        this.rows = [];
        this.referrers = null;
      }
      this.notice = `Deleted ${name}: ${freed.blobs} blob${freed.blobs === 1 ? '' : 's'} removed, ${formatBytes(freed.bytes)} freed.`;
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.#finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** Runs the last resolve or pull again, after a failure the user may have fixed (the
   * network, a setting, free space). */
  retry(): Promise<void> {
    return this.#last?.() ?? Promise.resolve();
  }

  cancel() {
    this.#abort?.abort();
  }

  /** Exports the image on screen, whatever the reference box says by now. */
  async download(): Promise<void> {
    const s = this.summary;
    if (!s) return;
    await this.exportImage(
      this.platform === allPlatforms
        ? { name: s.name, all: true }
        : { name: s.name, manifestDigest: s.manifest.digest },
    );
  }

  /** Builds an OCI archive of a stored image and hands it to the user. */
  async exportImage(target: ExportTarget): Promise<void> {
    const abort = this.#start('exporting');
    try {
      const { blob, fileName } = await this.#opts.bridge.call('exportArchive', target);
      this.#opts.save(blob, fileName);
      this.notice = `Saved ${fileName}.`;
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.#finish(abort);
    }
  }

  async choosePlatform(value: string) {
    this.platform = value;
    this.summary = null;
    this.#syncLocation(true);
    await this.showStored();
  }

  /** Tag suggestions for the repository (once per repository) and the referrers of the image
   * on screen. Both are extras: failing to load them is not an error worth showing. */
  async #loadExtras(input: string) {
    const ref = parseReference(input);
    const repo = `${ref.registry}/${ref.repository}`;
    if (this.#tagsFor !== repo) {
      this.#tagsFor = repo;
      const connection = this.#opts.settings.connection;
      this.#opts.bridge.call('listTags', { reference: input, connection }).then(
        (tags) =>
          (this.tagSuggestions = tags
            .filter((t) => !artifactTag.test(t))
            .slice(0, 1000)
            .map((t) => `${repoName(input)}:${t}`)),
        () => {
          this.tagSuggestions = [];
          this.#tagsFor = undefined; // try again next time
        },
      );
    }
    const digest = this.summary?.rootDigest;
    this.referrers = null;
    if (!digest) return;
    try {
      const list = await this.#opts.bridge.call('referrers', {
        reference: input,
        digest,
        connection: this.#opts.settings.connection,
      });
      if (this.summary?.rootDigest === digest) this.referrers = list;
    } catch {
      if (this.summary?.rootDigest === digest) this.referrers = [];
    }
  }

  #fail(err: unknown, input: string) {
    this.error = messageOf(err);
    const kind = err instanceof WorkerError ? err.kind : undefined;
    this.errorKind = kind ?? null;
    let registry: string | null = null;
    // A rate limit is lifted by signing in too (Docker Hub's is per account).
    if (kind === 'unauthorized' || kind === 'denied' || kind === 'rate-limited') {
      try {
        registry = parseReference(input).registry;
      } catch {
        registry = null;
      }
    }
    this.signInRegistry = registry;
  }

  /** The platform Settings prefers, when no platform is asked for. */
  get #preferred(): string {
    return this.#opts.settings.current.platform;
  }

  #syncLocation(started = false) {
    this.location = { image: this.reference.trim(), platform: this.platform };
    this.#opts.onLocation?.(this.location, started);
  }
}

/** Tags that hold referrers or signatures (sha256-<hex>, sha256-<hex>.sig, .att, .sbom), not
 * images anyone means to pull. */
const artifactTag = /^sha(256|512)-[0-9a-f]{64,128}(\.[a-z]+)?$/;

/** The reference as typed, without its tag or digest: the base for tag suggestions. */
function repoName(input: string): string {
  return input
    .trim()
    .replace(/@.*$/, '')
    .replace(/:[^:/]*$/, '');
}

/** The combobox option a requested platform means: the same string, else the best match of
 * the index's platforms (linux/arm64 means linux/arm64/v8; arm/v7 takes v7 over v6); without
 * one, the preferred platform's (a setting); else linux/amd64 or the first. */
function closestOption(platforms: Platform[], wanted: string, preferred = ''): string {
  if (platforms.length === 0) return '';
  const options = platforms.map(formatPlatform);
  if (options.includes(wanted) || wanted === allPlatforms) return wanted;
  const read = (p: string) => {
    try {
      return p ? parsePlatform(p) : undefined;
    } catch {
      return undefined; // an unreadable platform in the URL falls back to the default
    }
  };
  const want = read(wanted);
  const chosen =
    (want && bestPlatform(platforms, want)) ?? defaultPlatform(platforms, read(preferred));
  return chosen ? formatPlatform(chosen) : options[0]!;
}

function nextRow(prev: ProgressRow | undefined, p: BlobProgress): ProgressRow {
  const now = performance.now();
  const startedAt = prev?.startedAt ?? (p.state === 'downloading' ? now : undefined);
  const base = prev?.startedAt !== undefined ? (prev.base ?? 0) : p.offset;
  const elapsed = startedAt !== undefined ? (now - startedAt) / 1000 : 0;
  const speed =
    p.state === 'downloading' && elapsed > 0.05 ? (p.offset - base) / elapsed : (prev?.speed ?? 0);
  return { ...p, speed, base, ...(startedAt !== undefined ? { startedAt } : {}) };
}
