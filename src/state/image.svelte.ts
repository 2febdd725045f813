// One image on screen: the reference it was shown for, what the registry and the store say
// about it (its canonical name, platforms, summary, referrers), its pull's progress and its file
// browser. It is an instance: a second image on screen (a comparison, another platform side by
// side) is a second ImageState. Which image is on screen, and the URL, are AppState's: this
// class is told what to show and never reports back up.
import { allPlatforms, formatPlatform } from '../lib/oci/platform.ts';
import type { Descriptor } from '../lib/oci/types.ts';
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import { parseReference } from '../lib/reference/reference.ts';
import type { Connection } from '../lib/registry/transport.ts';
import type { ImagesWorkerApi, PullEvent } from '../workers/images.ts';
import type { ScanWorkerApi } from '../workers/scan.ts';
import type { LayersWorkerApi } from '../workers/layers.ts';
import type { Activity } from './activity.svelte.ts';
import type { ExportTarget } from './actions.svelte.ts';
import type { Bridge } from './bridge.ts';
import { kindOf, signInKinds, unavailableKinds } from './errors.ts';
import { FileBrowser } from './layers/browser.svelte.ts';
import { PackagesState } from './packages.svelte.ts';
import { ExportFilesState } from './export-files.svelte.ts';
import { SpaceState } from './space.svelte.ts';
import { SearchState } from './search.svelte.ts';
import { SecretsState } from './secrets.svelte.ts';
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { RemoteLayers } from './layers/remote.ts';
import { type ProgressBatch, PullProgress } from './pull.svelte.ts';
import { ReferenceState } from './reference.svelte.ts';
import type { Settings } from './settings.ts';
import { type DocumentsCaller, TrustState, type TrustStorage } from './trust.svelte.ts';

export type { Descriptor, ImageSummary };

/** The image on screen, as the URL names it. */
export interface ShownImage {
  image: string;
  platform: string;
}

/** Work on the image that the registry (or the store) answers first and finishes later: it
 * settles when done, and `named` settles once the image and its platform are known, so that
 * the URL can say which platform is on screen before the summary is read. */
export type ImageWork = Promise<void> & { named: Promise<void> };

export interface ImageStateOptions {
  images: Bridge<ImagesWorkerApi>;
  layers: Bridge<LayersWorkerApi>;
  /** Read at each call, so a change in Settings applies to the next request. */
  settings: {
    readonly current: Settings;
    readonly connection: Connection;
    signIn(registry: string, username: string, password: string, remember: boolean): Promise<void>;
  };
  /** The task line this image reports into (shared with the image actions). */
  activity: Activity;
  save: (blob: Blob, fileName: string) => void;
  /** What the store holds may have changed: a pull or a layer fetch ended. */
  onStoreChanged?: () => void;
  /** A pull starts (the first one asks the browser to keep the store). */
  onPullStart?: () => void;
  /** The documents worker, for the referrers card's documents; and where keys the user asks
   * to remember go. */
  documents?: () => DocumentsCaller;
  trustStorage?: TrustStorage;
  /** The scan worker (search inside files, secrets), made on first use and shared. */
  scan?: () => Bridge<ScanWorkerApi>;
}

export class ImageState {
  /** The reference box and platform combobox of this image. */
  readonly form: ReferenceState;
  readonly progress = new PullProgress();
  readonly files: FileBrowser;
  /** The "Referrers and signatures" card: what is stored beside the image, and verifying it. */
  readonly trust: TrustState;
  /** The image's packages, read when the person asks. */
  readonly packages: PackagesState;
  /** Exports of the image's files as a tar, when the person asks. */
  readonly exportFiles: ExportFilesState;
  /** Where the space goes: treemap, largest files, duplicates, wasted space, on request. */
  readonly space: SpaceState;
  /** Search inside the image's files, when the person asks. */
  readonly search: SearchState;
  /** Secrets left in the image's layers and config, scanned when the person asks. */
  readonly secrets: SecretsState;
  /** The reference and platform this image was shown for; null before any. */
  shown = $state.raw<ShownImage | null>(null);
  /** The canonical name the reference resolved to. */
  name = $state<string | null>(null);
  /** What is attached to the image (signatures, SBOMs, attestations); null while unknown. */
  referrers = $state.raw<{ descriptor: Descriptor; label: string }[] | null>(null);
  /** The registry that asked for credentials, while the sign-in form is shown. */
  signInRegistry = $state<string | null>(null);
  #summary = $state.raw<ImageSummary | null>(null);

  readonly #opts: ImageStateOptions;
  readonly #activity: Activity;
  /** The last resolve or pull, for "Try again". */
  #last: (() => ImageWork | null) | undefined;
  /** Settles the latest work's `named`. */
  #named: (() => void) | undefined;
  /** The root digest whose referrers are being asked for, so a late answer for another
   * image is dropped. */
  #extrasFor: string | undefined;
  /** The stored image whose referrers the card shows. */
  #trustFor: string | undefined;

  constructor(opts: ImageStateOptions) {
    this.#opts = opts;
    this.trust = new TrustState({
      images: opts.images,
      ...(opts.documents ? { documents: opts.documents } : {}),
      connection: () => opts.settings.connection,
      ...(opts.trustStorage ? { storage: opts.trustStorage } : {}),
    });
    this.#activity = opts.activity;
    this.form = new ReferenceState({
      bridge: opts.images,
      connection: () => opts.settings.connection,
    });
    this.files = new FileBrowser({
      bridge: opts.layers,
      fetchLayer: (layer) => this.fetchLayer(layer),
      save: opts.save,
      remote: new RemoteLayers({
        images: opts.images,
        summary: () => this.#summary,
        connection: () => opts.settings.connection,
      }),
    });
    this.packages = new PackagesState({
      bridge: opts.layers,
      listings: this.files.listings,
      save: opts.save,
    });
    this.exportFiles = new ExportFilesState({
      bridge: opts.layers,
      listings: this.files.listings,
      summary: () => this.#summary,
      fetchLayer: (layer) => this.fetchLayer(layer),
      save: opts.save,
    });
    this.space = new SpaceState({
      bridge: opts.layers,
      listings: this.files.listings,
      fetchLayer: (layer) => this.fetchLayer(layer),
    });
    this.search = new SearchState({
      bridge: () => {
        const scan = opts.scan?.();
        if (!scan) throw new Error('this page has no scan worker');
        return scan;
      },
      listings: this.files.listings,
      fetchLayer: (layer) => this.fetchLayer(layer),
      open: (r) => this.files.openAt(r.layer, r.path, r.line, r.at),
    });
    this.secrets = new SecretsState({
      scan: () => {
        if (!opts.scan) throw new Error('this page has no scan worker');
        return opts.scan();
      },
      layers: opts.layers,
      listings: this.files.listings,
      fetchLayer: (layer) => this.fetchLayer(layer),
    });
  }

  /** The summary of the image: once it is stored, or while it is pulled as soon as its config
   * is checked (then `partial`, its layers marked stored as they arrive). */
  get summary(): ImageSummary | null {
    return this.#summary;
  }

  /** Share of the running pull's bytes received, 0 to 1; null when no pull runs. */
  get pulled(): number | null {
    return this.#activity.phase === 'pulling' ? this.progress.fraction : null;
  }

  /** What "Export" saves: the pulled manifest, or with all platforms the whole index. */
  get exportTarget(): ExportTarget | null {
    const s = this.#summary;
    if (!s || s.partial) return null;
    return this.form.platform === allPlatforms
      ? { name: s.name, all: true }
      : { name: s.name, manifestDigest: s.manifest.digest };
  }

  #show(summary: ImageSummary | null) {
    this.#summary = summary;
    this.files.show(summary);
    // Once stored, what is attached to the image is found and stored beside it.
    const stored =
      summary && !summary.partial ? `${summary.name}@${summary.rootDigest}` : undefined;
    if (stored !== this.#trustFor) {
      this.#trustFor = stored;
      if (summary && stored) void this.trust.load(summary.name);
      else this.trust.clear();
    }
    this.packages.show(summary);
    this.space.show(summary);
    this.search.show(summary);
    this.secrets.show(summary);
  }

  /** A layer of the partial summary on screen is stored now: it opens from the store. */
  #stored(digest: string) {
    const s = this.#summary;
    if (!s?.partial || !s.layers.some((l) => l.descriptor.digest === digest && !l.stored)) return;
    this.#show({
      ...s,
      layers: s.layers.map((l) => (l.descriptor.digest === digest ? { ...l, stored: true } : l)),
    });
  }

  /** Forgets what was shown: a new image, or another platform, is on its way. */
  #clear() {
    this.#show(null);
    this.progress.clear();
    this.referrers = null;
    this.#extrasFor = undefined;
  }

  /** This image is now the one the reference box and platform name; `answered` when the
   * registry or the store said so (the platform is known). */
  #mark(answered = false) {
    this.shown = { image: this.form.text.trim(), platform: this.form.platform };
    if (answered) this.#named?.();
  }

  /** Runs work whose `named` settles at the first answer, or at the end. */
  #work(run: () => Promise<void>): ImageWork {
    let settle!: () => void;
    const named = new Promise<void>((resolve) => (settle = resolve));
    this.#named = settle;
    return Object.assign(run().finally(settle), { named });
  }

  /** Shows an image as a URL names it: resolved on the registry (or from the store when the
   * registry cannot be reached). */
  show(image: string, platform = ''): ImageWork {
    this.form.set(image, platform);
    this.form.platforms = [];
    this.#clear();
    // The image is this one while it resolves, and if it fails.
    this.#mark();
    return this.#work(() => this.#resolve());
  }

  /** Resolves the reference: fills the platform list and shows a stored image at once. */
  resolve(): ImageWork {
    return this.#work(() => this.#resolve());
  }

  async #resolve(): Promise<void> {
    const input = this.#parse();
    if (!input) return;
    this.#last = () => this.resolve();
    const a = this.#activity;
    const abort = a.start('resolving');
    // The tags need only the repository: asked for beside the manifest.
    this.form.loadTags(input);
    try {
      const r = await this.#opts.images.call(
        'resolve',
        { reference: input, connection: this.#opts.settings.connection },
        { signal: abort.signal },
      );
      if (!a.owns(abort)) return; // something else took over meanwhile
      this.name = r.name;
      this.form.offer(r.platforms, this.#preferred);
      this.#mark(true);
      // The extras need only the root digest: they run beside the stored summary's read.
      void this.#loadExtras(input, r.rootDigest);
      await this.showStored();
    } catch (err) {
      if (!a.owns(abort)) return;
      // Offline, or the registry down or limiting: a stored copy still opens, from the store.
      const kind = kindOf(err);
      if (kind && unavailableKinds.includes(kind) && (await this.#openStored(input))) {
        a.notice =
          kind === 'unreachable'
            ? `The registry cannot be reached: showing the copy of ${input} stored in this browser.`
            : `${messageOf(err)} Showing the copy of ${input} stored in this browser.`;
        return;
      }
      this.#fail(err, input);
    } finally {
      a.finish(abort);
    }
  }

  /** Shows the stored summary for the current name and platform, if it was pulled. */
  async showStored(): Promise<void> {
    if (!this.name) return;
    const asked = { name: this.name, platform: this.form.platform };
    const summary = await this.#opts.images.call('summary', {
      name: asked.name,
      ...(asked.platform ? { platform: asked.platform } : {}),
      ...(this.#preferred ? { preferredPlatform: this.#preferred } : {}),
    });
    // A later choice may have been made while this one was read: only the latest shows.
    if (this.name === asked.name && this.form.platform === asked.platform) this.#show(summary);
  }

  /** Shows an image from the store, as the library lists it, without asking the registry:
   * this works offline. Returns whether it is on screen. */
  async open(name: string, platform = ''): Promise<boolean> {
    const a = this.#activity;
    const abort = a.start('resolving');
    try {
      this.form.platform = platform;
      return await this.#openStored(name, true);
    } catch (err) {
      a.error = messageOf(err);
      return false;
    } finally {
      a.finish(abort);
    }
  }

  /** Shows a stored image without the registry. Returns false when it is not stored (and
   * `must` is not set). */
  async #openStored(name: string, must = false): Promise<boolean> {
    let r;
    try {
      r = await this.#opts.images.call('openStored', { name });
    } catch (err) {
      if (must) throw err;
      return false;
    }
    this.form.text = r.name;
    this.name = r.name;
    this.form.offer(r.platforms, this.#preferred);
    this.#clear();
    this.#mark(true);
    await this.showStored();
    return true;
  }

  async choosePlatform(value: string): Promise<void> {
    this.form.platform = value;
    this.#show(null);
    this.#mark();
    await this.showStored();
  }

  /** Continues an interrupted pull where it stopped; null when nothing starts. */
  resume(name: string, platform?: string): ImageWork | null {
    this.form.set(name, platform ?? '');
    return this.pull();
  }

  /** Fetches the manifests and config only: the summary and history appear at once, and
   * layers are fetched when they are opened. */
  inspect(): ImageWork | null {
    return this.pull({ lazy: true });
  }

  /** Resolves and pulls what the reference box names, in one pass: the platform list fills in
   * from the pull itself. With `lazy`, layers are left for later (Inspect). Returns null, at
   * once, when the reference cannot be read: nothing started. */
  pull(opts: { lazy?: boolean } = {}): ImageWork | null {
    const input = this.#parse();
    return input ? this.#work(() => this.#pull(input, opts)) : null;
  }

  async #pull(input: string, opts: { lazy?: boolean }): Promise<void> {
    this.#last = () => this.pull(opts);
    this.#opts.onPullStart?.();
    const a = this.#activity;
    const abort = a.start('pulling');
    this.#clear();
    const batch = this.progress.batch();
    this.#batch = batch;
    this.#mark();
    // The tags need only the repository: asked for beside the manifest. The referrers come
    // with the pull, which asks for them once it knows the root digest.
    this.form.loadTags(input);
    // Layers stored during this pull, in case one is stored before the summary comes.
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping, never shown
    const stored = new Set<string>();
    const onEvent = (e: PullEvent) => {
      if (!a.owns(abort)) return; // a later action owns the page now
      switch (e.type) {
        case 'resolved':
          this.name = e.name;
          this.form.platforms = e.platforms;
          this.form.platform = e.all ? allPlatforms : e.platform ? formatPlatform(e.platform) : '';
          this.#mark(true);
          return;
        case 'summary': {
          // The config is checked: the image is shown while its layers download.
          const s = e.summary;
          this.#show({
            ...s,
            layers: s.layers.map((l) =>
              stored.has(l.descriptor.digest) ? { ...l, stored: true } : l,
            ),
          });
          return;
        }
        case 'referrers':
          this.referrers = e.referrers;
          return;
        case 'progress': {
          const p = e.progress;
          batch.add(p);
          if (p.role !== 'layer' || (p.state !== 'done' && p.state !== 'exists')) return;
          stored.add(p.digest);
          this.#stored(p.digest);
          // A layer stored: listed now, while the next ones download.
          if (p.state === 'done') this.#index(p);
        }
      }
    };
    const settings = this.#opts.settings.current;
    try {
      const summary = await this.#opts.images.call(
        'pull',
        {
          reference: input,
          connection: this.#opts.settings.connection,
          limit: settings.parallel,
          pieceMiB: settings.pieceMiB,
          stallSeconds: settings.stallSeconds,
          ...(opts.lazy ? { lazy: true } : {}),
          referrers: true,
          ...(this.form.platform ? { platform: this.form.platform } : {}),
          ...(this.#preferred ? { preferredPlatform: this.#preferred } : {}),
        },
        { signal: abort.signal, onEvent },
      );
      if (!a.owns(abort)) return; // finished as it was cancelled: not on screen
      batch.flush();
      this.#show(summary);
      this.signInRegistry = null;
      a.finished = { ok: true };
      const fetched = this.progress.fetched;
      a.notice = opts.lazy
        ? `Inspected ${summary.name}: its manifest and config are stored; a layer is downloaded when you open it.`
        : fetched === 0
          ? `${summary.name} is up to date: every blob was already stored.`
          : `Pulled ${summary.name}: ${fetched} blob${fetched === 1 ? '' : 's'} downloaded and verified.`;
    } catch (err) {
      if (!a.owns(abort)) return;
      batch.stop();
      if (!abort.signal.aborted) {
        this.#fail(err, input);
        a.finished = { ok: false };
      } else {
        a.notice = 'Pull cancelled. What was downloaded is kept and resumes next time.';
      }
    } finally {
      if (this.#batch === batch) this.#batch = undefined;
      a.finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** The running pull's progress rows, which a layer fetched meanwhile reports into. */
  #batch: ProgressBatch | undefined;

  /** Layers stored by a pull and waiting to be listed, one at a time (the layers worker is one
   * thread: a second listing at once would only slow the first). */
  #indexing: Promise<void> = Promise.resolve();

  /** Lists a layer the pull has just stored, in the background: the layers worker stores its
   * index (and diffID), which the file browser then finds. A failure is the browser's to tell
   * when the layer is opened. */
  #index(layer: { digest: string; mediaType: string; size: number }) {
    if (!this.#opts.settings.current.indexWhilePulling) return;
    if (layerCompression(layer.mediaType) === 'unknown') return;
    const ref = { digest: layer.digest, mediaType: layer.mediaType, size: layer.size };
    this.#indexing = this.#indexing.then(() =>
      this.#opts.layers.call('listLayer', ref).then(
        () => undefined,
        () => undefined,
      ),
    );
  }

  /** Downloads one layer of the image (an inspected image's), with a progress row. */
  async fetchLayer(layer: Descriptor): Promise<void> {
    const s = this.summary;
    if (!s) return;
    const settings = this.#opts.settings.current;
    try {
      await this.#opts.images.call(
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
            // While a pull runs its rows are the ones on screen: the layer's row is one of them.
            const batch = this.#batch;
            if (batch) batch.add(ev.progress);
            else this.progress.update(ev.progress);
          },
        },
      );
    } finally {
      this.#opts.onStoreChanged?.();
    }
    if (this.summary?.manifest.digest !== s.manifest.digest) return;
    // A partial summary has no stored image to read back yet: its layer is marked instead.
    if (this.summary.partial) this.#stored(layer.digest);
    else await this.showStored();
  }

  /** Signs in to the registry that asked (Settings keeps the sign-in) and pulls again; like
   * any pull, it is named as soon as the registry answers. Null when nothing starts. */
  signIn(username: string, password: string, remember = false): ImageWork | null {
    const registry = this.signInRegistry;
    const input = registry ? this.#parse() : undefined;
    if (!registry || !input) return null;
    return this.#work(async () => {
      await this.#opts.settings.signIn(registry, username, password, remember);
      await this.#pull(input, {});
    });
  }

  /** Runs the last resolve or pull again, after a failure the person may have fixed (the
   * network, a setting, free space). */
  retry(): ImageWork | null {
    return this.#last?.() ?? null;
  }

  cancel() {
    this.#activity.cancel();
  }

  /** An image was deleted from the store: if it is this one, what was shown of it goes. */
  forget(name: string) {
    if (this.summary?.name === name) this.#clear();
  }

  /** Tag suggestions for the repository and the referrers of the image, asked for together
   * as soon as the root digest is known. Both are extras: failing to load them is not an
   * error worth showing. */
  async #loadExtras(input: string, digest: string | undefined) {
    this.form.loadTags(input);
    this.#extrasFor = digest;
    this.referrers = null;
    if (!digest) return;
    try {
      const list = await this.#opts.images.call('referrers', {
        reference: input,
        digest,
        connection: this.#opts.settings.connection,
      });
      if (this.#extrasFor === digest) this.referrers = list;
    } catch {
      if (this.#extrasFor === digest) this.referrers = [];
    }
  }

  /** What is typed, checked; a problem is shown instead. */
  #parse(): string | undefined {
    const r = this.form.parse();
    if ('error' in r) {
      this.#activity.error = r.error;
      return undefined;
    }
    return r.input;
  }

  #fail(err: unknown, input: string) {
    this.#activity.fail(err);
    const kind = kindOf(err);
    let registry: string | null = null;
    if (kind && signInKinds.includes(kind)) {
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
}
