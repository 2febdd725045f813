/* eslint-disable svelte/prefer-svelte-reactivity -- the Sets here are replaced whole in
   $state.raw fields, and the Map is bookkeeping never shown. */
// A comparison of two images on screen: both images resolved as the image view resolves one
// (from the store offline; otherwise the manifests and configs only), the small part (config,
// history, layers) computed here at once, and the files part, which needs every layer listed,
// driven through the layers worker once the person agrees to download what is missing. The
// files stay in the worker: the page holds the summary, a window of rows and one file's diff.
// Which comparison is on screen, and the URL, are AppState's: this class is told what to show.
import { compareImages } from '../lib/compare/meta.ts';
import type {
  Aspect,
  CompareFilesApi,
  CompareLayer,
  CompareWindow,
  Difference,
  FilesFilter,
  FilesSort,
  FilesSummary,
  ImageComparison,
  PathDiff,
  PathSide,
  RowRange,
  Side,
} from '../lib/compare/types.ts';
import { messageOf } from '../lib/errors.ts';
import type { ImageSummary } from '../lib/images/summary.ts';
import { hexLines, sniff } from '../lib/layers/view.ts';
import { formatPlatform } from '../lib/oci/platform.ts';
import type { Descriptor, Platform } from '../lib/oci/types.ts';
import type { Connection } from '../lib/registry/transport.ts';
import { diffBound, type DiffWorkerApi, type TextDiff } from '../workers/diff.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import { compareLost, type LayersWorkerApi } from '../workers/layers.ts';
import { PackagesCompare } from './packages.svelte.ts';
import type { Bridge } from './bridge.ts';
import { type CompareTreeRow, treeRows } from './compare-rows.ts';
import { RowWindow } from './layers/window.svelte.ts';
import { kindOf, unavailableKinds } from './errors.ts';
import { formatBytes, shortHex } from './format.ts';
import { browsable, Listings } from './layers/listings.svelte.ts';
import type { Route } from './route.ts';
import type { Settings } from './settings.ts';

export type { Aspect, Difference, FilesSort, PathDiff, Side, TextDiff };

/** Why there is nothing (or nothing more) to compare, in words the page shows as they are. */
export interface CompareProblem {
  kind: 'identical' | 'platform' | 'artifact' | 'unresolved' | 'failed';
  message: string;
  /** The image the problem is about. */
  side?: Side;
  /** For `platform`: the platforms to choose from. */
  platforms?: string[];
}

class ProblemError extends Error {
  constructor(readonly problem: CompareProblem) {
    super(problem.message);
  }
}

const fail = (problem: CompareProblem): never => {
  throw new ProblemError(problem);
};

export interface CompareStateOptions {
  images: Bridge<ImagesWorkerApi>;
  layers: Bridge<LayersWorkerApi>;
  /** The files part, kept by the layers worker. */
  files: CompareFilesApi;
  /** The diff worker, asked for when a first text is diffed. */
  diff: () => Bridge<DiffWorkerApi>;
  settings: { readonly current: Settings; readonly connection: Connection };
  save: (blob: Blob, fileName: string) => void;
  /** What the store holds may have changed: an image inspected, a layer fetched. */
  onStoreChanged?: () => void;
}

/** One image of the comparison: the reference as given, what the registry or the store said
 * about it, and its layers' listings. */
export class CompareSide {
  /** The platform asked for, then the one compared (for an index); '' for a single image. */
  platform = $state('');
  /** The canonical name. */
  name = $state<string | null>(null);
  /** The platforms of an index; empty for a single image. */
  platforms = $state.raw<Platform[]>([]);
  summary = $state.raw<ImageSummary | null>(null);
  /** The registry could not be reached: the stored copy is compared. */
  offline = $state(false);
  /** Bytes of this image's layers downloaded so far, by digest. */
  fetched = $state.raw<Record<string, number>>({});
  readonly listings: Listings;
  rootDigest: string | undefined;

  constructor(
    readonly side: Side,
    readonly ref: string,
    platform: string,
    readonly fetchLayer: (side: CompareSide, layer: Descriptor) => Promise<void>,
    layers: Bridge<LayersWorkerApi>,
  ) {
    this.platform = platform;
    this.listings = new Listings({ bridge: layers, fetchLayer: (l) => this.fetchLayer(this, l) });
  }

  get platformOptions(): string[] {
    return this.platforms.map(formatPlatform).filter((p, i, all) => all.indexOf(p) === i);
  }

  /** The layers the files part reads: every tar layer, bottom first. */
  get browsable(): number[] {
    const layers = this.summary?.layers ?? [];
    return layers.map((_, i) => i).filter((i) => browsable(layers[i]!));
  }

  /** The layers as the files comparison names them. */
  get compareLayers(): CompareLayer[] {
    return (this.summary?.layers ?? []).map((l) =>
      browsable(l)
        ? {
            digest: l.descriptor.digest,
            mediaType: l.descriptor.mediaType,
            size: l.descriptor.size,
          }
        : null,
    );
  }

  /** How this image is named on screen: the reference, with its platform for an index. */
  get label(): string {
    return this.platform ? `${this.ref} (${this.platform})` : this.ref;
  }
}

/** The files part's progress and content. */
export type FilesStatus = 'idle' | 'waiting' | 'listing' | 'opening' | 'ready' | 'error';

/** What the files part would download before it can start. */
export interface Needs {
  layers: number;
  bytes: number;
}

/** The diff pane: one path of the comparison, and its content compared. */
export interface DiffView {
  path: string;
  status: 'loading' | 'ready' | 'error';
  error?: string;
  diff?: PathDiff;
  /** Why there is no content to compare (a directory, a link, a device), in words. */
  note?: string;
  /** The text diff of the two files (a missing side is empty). */
  text?: TextDiff;
  /** Only the first `diffBound` bytes of a file were compared. */
  bounded?: boolean;
  /** Two binaries, or a binary and a text: their sizes, digests and first difference. */
  binary?: BinaryDiff;
}

export interface BinarySide {
  size: number;
  digest?: string;
}

export interface BinaryDiff {
  a?: BinarySide;
  b?: BinarySide;
  /** The offset of the first byte that differs, within what was read; -1 when none does. */
  first: number;
  /** hexdump -C lines of each side around the first difference. */
  hexA: string[];
  hexB: string[];
}

/** The files view's default: every path, by name. */
const everyPath: FilesFilter = { differences: [], aspects: [], query: '' };

/** How long the path filter waits for typing to pause before it asks the worker. */
export const FILTER_DEBOUNCE_MS = 150;

export class CompareState {
  a = $state.raw<CompareSide | null>(null);
  b = $state.raw<CompareSide | null>(null);
  /** Resolving and reading both images' manifests and configs. */
  loading = $state(false);
  problem = $state.raw<CompareProblem | null>(null);
  /** Everything but the files, once both images are read. */
  meta = $state.raw<ImageComparison | null>(null);
  /** The layers the files part would download, while it waits for a yes. */
  needs = $state.raw<Needs | null>(null);
  filesStatus = $state<FilesStatus>('idle');
  filesError = $state<string | null>(null);
  filesSummary = $state.raw<FilesSummary | null>(null);
  filter = $state.raw<FilesFilter>(everyPath);
  sort = $state<FilesSort>('name');
  expanded = $state.raw<ReadonlySet<string>>(new Set());
  /** Pending contents being hashed. */
  deciding = $state(false);
  exporting = $state(false);
  diff = $state.raw<DiffView | null>(null);
  /** How a text diff is laid out. */
  layout = $state<'split' | 'unified'>('split');
  readonly rows: RowWindow<CompareTreeRow>;

  readonly #opts: CompareStateOptions;
  #compareId = $state<number | null>(null);
  #abort: AbortController | undefined;
  /** Counts comparisons shown: work for an older one stops at its next step. */
  #generation = 0;
  /** The file a URL names, opened once the files are compared. */
  #wantedPath: string | undefined;
  #filterTimer: ReturnType<typeof setTimeout> | undefined;
  #diffSeq = 0;
  #diffAbort: AbortController | undefined;
  #diffBridge: Bridge<DiffWorkerApi> | undefined;

  /** The two images' packages, compared when asked. */
  readonly packages: PackagesCompare;

  constructor(opts: CompareStateOptions) {
    this.#opts = opts;
    this.packages = new PackagesCompare(opts.layers);
    this.rows = new RowWindow<CompareTreeRow>({
      rows: async (window) =>
        treeRows(await this.#ask((id) => this.#files.compareRows(id, window))),
      indexOf: async (path) =>
        (await this.#ask((id) => this.#files.compareIndexOf(id, path))) ?? -1,
      find: async (prefix, from) =>
        (await this.#ask((id) => this.#files.compareFind(id, prefix, from))) ?? -1,
    });
  }

  get #files(): CompareFilesApi {
    return this.#opts.files;
  }

  /** Whether the files are compared and their rows can be asked for. */
  get filesReady(): boolean {
    return this.filesStatus === 'ready' && this.#compareId !== null;
  }

  /** The comparison on screen as a URL names it; undefined when none is. */
  get route(): Route | undefined {
    const { a, b } = this;
    if (!a || !b) return undefined;
    const path = this.diff?.path ?? this.#wantedPath;
    return {
      view: 'compare',
      image: a.ref,
      ...(a.platform ? { platform: a.platform } : {}),
      compare: b.ref,
      ...(b.platform ? { comparePlatform: b.platform } : {}),
      ...(path ? { path } : {}),
    };
  }

  /** Whether a route names the comparison on screen (its file aside). */
  #showing(route: Route): boolean {
    const { a, b } = this;
    return (
      !!a &&
      !!b &&
      a.ref === route.image &&
      b.ref === route.compare &&
      (route.platform ?? '') === a.platform &&
      (route.comparePlatform ?? '') === b.platform
    );
  }

  /** Shows the comparison a URL names: the same one keeps what it read, and only opens or
   * closes the file named; another starts over. */
  async show(route: Route): Promise<void> {
    if (!route.image || !route.compare) return;
    if (this.#showing(route)) {
      if (route.path) await this.openDiff(route.path);
      else this.closeDiff();
      return;
    }
    await this.#load(route);
  }

  /** Forgets the comparison on screen (the page went elsewhere): what runs stops. */
  leave() {
    this.#generation++;
    this.#abort?.abort();
    this.#diffAbort?.abort();
    void this.#closeFiles();
    this.a = null;
    this.b = null;
    this.diff = null;
  }

  async #load(route: Route): Promise<void> {
    this.leave();
    const gen = this.#generation;
    const abort = (this.#abort = new AbortController());
    const signal = abort.signal;
    const current = () => gen === this.#generation;
    const fetch = (side: CompareSide, layer: Descriptor) => this.#fetchLayer(side, layer);
    const a = new CompareSide('a', route.image!, route.platform ?? '', fetch, this.#opts.layers);
    const b = new CompareSide(
      'b',
      route.compare!,
      route.comparePlatform ?? '',
      fetch,
      this.#opts.layers,
    );
    this.a = a;
    this.b = b;
    this.problem = null;
    this.meta = null;
    this.needs = null;
    this.diff = null;
    this.filesStatus = 'idle';
    this.filesError = null;
    this.filesSummary = null;
    this.filter = everyPath;
    this.sort = 'name';
    this.expanded = new Set();
    this.rows.reset(null);
    this.#wantedPath = route.path;
    this.loading = true;
    try {
      await Promise.all([this.#resolve(a, signal), this.#resolve(b, signal)]);
      if (!current()) return;
      this.#choosePlatforms(a, b);
      if (this.#sameRoot(a, b)) {
        fail({
          kind: 'identical',
          message: `${a.label} and ${b.label} are the same image (${shortHex(a.rootDigest!)}): there is nothing to compare.`,
        });
      }
      await this.#read(a, signal);
      if (!current()) return;
      // Two indexes: the second is compared for the platform the first was read for.
      if (!b.platform && b.platformOptions.includes(a.platform)) b.platform = a.platform;
      await this.#read(b, signal);
      if (!current()) return;
      const sa = a.summary!;
      const sb = b.summary!;
      if (sa.manifest.digest === sb.manifest.digest) {
        fail({
          kind: 'identical',
          message: `${a.label} and ${b.label} are the same image (${shortHex(sa.manifest.digest)}): there is nothing to compare.`,
        });
      }
      this.meta = compareImages(sa, sb);
      this.needs = this.#needs();
      this.loading = false;
      // Everything stored: the files are compared at once; else they wait for a yes.
      if (this.needs.layers === 0) await this.compareFiles();
      else this.filesStatus = 'waiting';
    } catch (err) {
      if (!current()) return;
      this.problem =
        err instanceof ProblemError
          ? err.problem
          : { kind: 'failed', message: `The comparison failed: ${messageOf(err)}` };
    } finally {
      if (current()) this.loading = false;
    }
  }

  /** Resolves one image on its registry; when the registry cannot be reached, a stored copy
   * is compared instead. */
  async #resolve(side: CompareSide, signal: AbortSignal): Promise<void> {
    const images = this.#opts.images;
    try {
      const r = await images.call(
        'resolve',
        { reference: side.ref, connection: this.#opts.settings.connection },
        { signal },
      );
      side.name = r.name;
      side.platforms = r.platforms;
      side.rootDigest = r.rootDigest;
    } catch (err) {
      if (signal.aborted) throw err;
      const kind = kindOf(err);
      if (kind && unavailableKinds.includes(kind)) {
        const stored = await images.call('openStored', { name: side.ref }).catch(() => null);
        if (stored) {
          side.name = stored.name;
          side.platforms = stored.platforms;
          side.offline = true;
          return;
        }
      }
      fail({
        kind: 'unresolved',
        side: side.side,
        message: `${side.ref} could not be resolved: ${messageOf(err)}`,
      });
    }
  }

  /** An index compared with a single image needs its platform named; two indexes are
   * compared for the same platform when only one is named. */
  #choosePlatforms(a: CompareSide, b: CompareSide) {
    const offers = (s: CompareSide, p: string) => s.platformOptions.includes(p);
    if (a.platforms.length > 0 && b.platforms.length > 0) {
      if (!a.platform && b.platform && offers(a, b.platform)) a.platform = b.platform;
      if (!b.platform && a.platform && offers(b, a.platform)) b.platform = a.platform;
      return;
    }
    for (const [index, single] of [
      [a, b],
      [b, a],
    ] as const) {
      if (index.platforms.length === 0 || index.platform) continue;
      fail({
        kind: 'platform',
        side: index.side,
        platforms: index.platformOptions,
        message: `${index.ref} is an index of ${index.platforms.length} platform${index.platforms.length === 1 ? '' : 's'} and ${single.ref} is a single image: choose which platform of ${index.ref} to compare.`,
      });
    }
  }

  /** The same root, for the same platform (or none): the same image, with nothing read. */
  #sameRoot(a: CompareSide, b: CompareSide): boolean {
    return !!a.rootDigest && a.rootDigest === b.rootDigest && a.platform === b.platform;
  }

  /** Reads one image's summary from the store; one not stored is inspected (its manifests
   * and config only, as Inspect does). An artifact is refused, and one inspected only for
   * this comparison is removed again: a comparison that cannot be made changes nothing. */
  async #read(side: CompareSide, signal: AbortSignal): Promise<void> {
    const images = this.#opts.images;
    const settings = this.#opts.settings.current;
    const preferred = settings.platform;
    let summary = await images.call('summary', {
      name: side.name!,
      ...(side.platform ? { platform: side.platform } : {}),
      ...(preferred ? { preferredPlatform: preferred } : {}),
    });
    let inspectedNew = false;
    if (!summary) {
      if (side.offline) {
        fail({
          kind: 'unresolved',
          side: side.side,
          message: `${side.label} is not stored in this browser, and its registry cannot be reached.`,
        });
      }
      const known = await images.call('openStored', { name: side.name! }).then(
        () => true,
        () => false,
      );
      try {
        summary = await images.call(
          'pull',
          {
            reference: side.ref,
            connection: this.#opts.settings.connection,
            lazy: true,
            pieceMiB: settings.pieceMiB,
            stallSeconds: settings.stallSeconds,
            ...(side.platform ? { platform: side.platform } : {}),
            ...(preferred ? { preferredPlatform: preferred } : {}),
          },
          { signal },
        );
      } catch (err) {
        if (signal.aborted) throw err;
        fail({
          kind: 'unresolved',
          side: side.side,
          message: `${side.label} could not be read: ${messageOf(err)}`,
        });
      } finally {
        this.#opts.onStoreChanged?.();
      }
      inspectedNew = !known;
    }
    const s = summary!;
    if (s.artifactType || !s.config) {
      if (inspectedNew) {
        await images.call('deleteImage', { name: s.name }).catch(() => undefined);
        this.#opts.onStoreChanged?.();
      }
      fail({
        kind: 'artifact',
        side: side.side,
        message: `${side.label} is not an image: it is an artifact (${s.artifactType ?? 'no image config'}), with no filesystem or config to compare.`,
      });
    }
    side.summary = s;
    if (side.platforms.length > 0 && s.platform) side.platform = formatPlatform(s.platform);
    side.listings.show(s);
  }

  /** The layers of both images not stored yet, each counted once. */
  #needs(): Needs {
    const missing = new Map<string, number>();
    for (const side of [this.a, this.b]) {
      const layers = side?.summary?.layers ?? [];
      for (const i of side?.browsable ?? []) {
        const l = layers[i]!;
        if (!l.stored) missing.set(l.descriptor.digest, l.descriptor.size);
      }
    }
    return { layers: missing.size, bytes: [...missing.values()].reduce((n, s) => n + s, 0) };
  }

  /** Bytes of the missing layers downloaded so far. */
  get fetchedBytes(): number {
    const seen: Record<string, number> = {};
    for (const side of [this.a, this.b]) Object.assign(seen, side?.fetched ?? {});
    return Object.values(seen).reduce((n, b) => n + b, 0);
  }

  /** Layers read so far, of those the files part needs. */
  get listed(): { done: number; total: number } {
    let done = 0;
    let total = 0;
    for (const side of [this.a, this.b]) {
      for (const i of side?.browsable ?? []) {
        total++;
        if (side!.listings.of(i)?.status === 'done') done++;
      }
    }
    return { done, total };
  }

  async #fetchLayer(side: CompareSide, layer: Descriptor): Promise<void> {
    const s = side.summary;
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
          ...(this.#abort ? { signal: this.#abort.signal } : {}),
          onEvent: (ev) => {
            if (ev.type !== 'progress' || ev.progress.digest !== layer.digest) return;
            side.fetched = { ...side.fetched, [layer.digest]: ev.progress.offset };
          },
        },
      );
    } finally {
      this.#opts.onStoreChanged?.();
    }
  }

  /** Lists every layer of both images (downloading those not stored: the person agreed, or
   * there were none), then has the layers worker compare the two filesystems. */
  async compareFiles(): Promise<void> {
    const { a, b } = this;
    if (!a?.summary || !b?.summary || this.filesStatus === 'listing') return;
    const gen = this.#generation;
    const current = () => gen === this.#generation;
    this.needs = null;
    this.filesStatus = 'listing';
    this.filesError = null;
    // One image after the other: layers they share are read once, and found by the second.
    await a.listings.read(a.browsable);
    if (!current()) return;
    await b.listings.read(b.browsable);
    if (!current()) return;
    const problems = [a, b].flatMap((side) =>
      side.browsable.flatMap((i) => {
        const l = side.listings.of(i);
        return l?.status === 'done'
          ? []
          : [`${side.label}: ${l?.error ?? `layer ${i + 1} was not read.`}`];
      }),
    );
    if (problems.length > 0) {
      this.filesStatus = 'error';
      this.filesError = `The files cannot be compared: ${problems.join(' ')}`;
      return;
    }
    this.filesStatus = 'opening';
    try {
      if (!(await this.#open(current))) return;
      this.filesStatus = 'ready';
    } catch (err) {
      if (!current()) return;
      this.filesStatus = 'error';
      this.filesError = `The files could not be compared: ${messageOf(err)}`;
      return;
    }
    const wanted = this.#wantedPath;
    if (wanted) await this.openDiff(wanted);
  }

  /** Has the layers worker compare the files as the page has them (filter, sort, open
   * directories); false when the comparison was left meanwhile, or a layer is not listed. */
  async #open(current: () => boolean): Promise<boolean> {
    const { a, b } = this;
    if (!a || !b) return false;
    const opened = await this.#files.openCompare({
      a: a.compareLayers,
      b: b.compareLayers,
      filter: this.filter,
      sort: this.sort,
      expanded: [...this.expanded],
      window: this.rows.around,
    });
    if (!current()) {
      void this.#files.closeCompare(opened.compareId).catch(() => undefined);
      return false;
    }
    this.#compareId = opened.compareId;
    const missing = opened.missing.a.length + opened.missing.b.length;
    if (missing > 0) {
      this.filesStatus = 'error';
      this.filesError = `The files cannot be compared: ${missing} layer${missing === 1 ? ' is' : 's are'} not listed.`;
      return false;
    }
    this.filesSummary = opened.summary;
    this.rows.reset(treeRows(opened));
    return true;
  }

  #reopening: { id: number; done: Promise<void> } | null = null;

  /** The layers worker lost the comparison (its watchdog replaced it): compared again, once,
   * whoever noticed. The indexes are in the store; hashed digests are hashed again. */
  #reopen(id: number): Promise<void> {
    if (this.#reopening?.id === id) return this.#reopening.done;
    const gen = this.#generation;
    const done = this.#open(() => gen === this.#generation).then(
      () => undefined,
      (err: unknown) => {
        this.filesStatus = 'error';
        this.filesError = `The files could not be compared again: ${messageOf(err)}`;
      },
    );
    this.#reopening = { id, done };
    return done;
  }

  /** Asks the worker about the comparison on screen (undefined when there is none); a lost
   * comparison is opened again and the question asked again, unless `again` is false (a
   * change to the rows: the comparison opened again already has it). */
  async #ask<T>(
    ask: (id: number) => Promise<T>,
    { again = true }: { again?: boolean } = {},
  ): Promise<T | undefined> {
    const id = this.#compareId;
    if (id === null) return undefined;
    try {
      return await ask(id);
    } catch (err) {
      if (!(err instanceof Error && err.name === compareLost)) throw err;
      await this.#reopen(id);
      const now = this.#compareId;
      return again && now !== null && now !== id ? ask(now) : undefined;
    }
  }

  async #closeFiles() {
    const id = this.#compareId;
    this.#compareId = null;
    clearTimeout(this.#filterTimer);
    if (id !== null) await this.#files.closeCompare(id).catch(() => undefined);
  }

  /** A change to the rows (a filter, a sort, a directory), asked of the worker: its window
   * goes on screen if the comparison is still the one asked. */
  async #change(ask: (id: number, window: RowRange) => Promise<CompareWindow>): Promise<void> {
    let asked: number | null = null;
    try {
      const win = await this.rows.hold(
        this.#ask(
          (id) => {
            asked = id;
            return ask(id, this.rows.around);
          },
          { again: false },
        ),
      );
      if (win && this.#compareId === asked) this.rows.reset(treeRows(win));
    } catch (err) {
      if (this.#compareId === asked) this.filesError = messageOf(err);
    }
  }

  toggle(path: string): Promise<void> {
    const next = new Set(this.expanded);
    const open = !next.has(path);
    if (open) next.add(path);
    else next.delete(path);
    this.expanded = next;
    return this.#change((id, w) => this.#files.compareToggle(id, path, open, w));
  }

  setSort(sort: FilesSort): Promise<void> {
    this.sort = sort;
    return this.#change((id, w) => this.#files.compareSort(id, sort, w));
  }

  /** Shows only these differences (all when empty). */
  setDifferences(differences: Difference[]): Promise<void> {
    return this.#setFilter({ ...this.filter, differences });
  }

  /** Of the changed paths, shows only those with one of these aspects (all when empty). */
  setAspects(aspects: Aspect[]): Promise<void> {
    return this.#setFilter({ ...this.filter, aspects });
  }

  /** Filters by path or glob, once typing pauses. */
  search(query: string) {
    this.filter = { ...this.filter, query };
    clearTimeout(this.#filterTimer);
    this.#filterTimer = setTimeout(() => void this.#setFilter(this.filter), FILTER_DEBOUNCE_MS);
  }

  #setFilter(filter: FilesFilter): Promise<void> {
    this.filter = filter;
    clearTimeout(this.#filterTimer);
    return this.#change((id, w) => this.#files.compareFilter(id, filter, w));
  }

  /** Hashes the files whose content is not decided yet (all, or those under `paths`). */
  async decide(paths?: string[]): Promise<void> {
    const id = this.#compareId;
    if (id === null || this.deciding) return;
    this.deciding = true;
    try {
      const summary = await this.#ask((cid) => this.#files.compareDecide(cid, paths));
      if (!summary) return;
      this.filesSummary = summary;
      await this.#change((cid, w) => this.#files.compareRows(cid, w));
      const open = this.diff?.path;
      if (open) await this.openDiff(open, true);
    } catch (err) {
      if (this.#compareId === id) this.filesError = `Hashing failed: ${messageOf(err)}`;
    } finally {
      this.deciding = false;
    }
  }

  /** The whole comparison as JSON, saved as a file. */
  async exportJson(): Promise<void> {
    const id = this.#compareId;
    const meta = this.meta;
    if (id === null || !meta || this.exporting) return;
    this.exporting = true;
    try {
      const blob = await this.#ask((cid) => this.#files.compareExport(cid, meta));
      if (blob) this.#opts.save(blob, exportName(meta));
    } catch (err) {
      this.filesError = `The export failed: ${messageOf(err)}`;
    } finally {
      this.exporting = false;
    }
  }

  closeDiff() {
    this.#diffSeq++;
    this.#diffAbort?.abort();
    this.#wantedPath = undefined;
    this.diff = null;
  }

  /** Opens one path's diff: its entries compared, and their content when both are files (or
   * one is, the other absent). `again` reads it anew after its digests were decided. */
  async openDiff(path: string, again = false): Promise<void> {
    if (!again && this.diff?.path === path) return;
    this.#wantedPath = path;
    const id = this.#compareId;
    // Not compared yet: opened once the files are.
    if (id === null) return;
    const seq = ++this.#diffSeq;
    this.#diffAbort?.abort();
    const abort = (this.#diffAbort = new AbortController());
    const live = () => seq === this.#diffSeq;
    this.diff = { path, status: 'loading' };
    try {
      const diff = await this.#ask((cid) => this.#files.comparePath(cid, path));
      if (!live()) return;
      if (!diff) {
        this.diff = { path, status: 'error', error: `/${path} is in neither image.` };
        return;
      }
      const view = await this.#content(path, diff, abort.signal);
      if (live()) this.diff = view;
    } catch (err) {
      if (!live()) return;
      this.diff = {
        path,
        status: 'error',
        error: `/${path} could not be compared: ${messageOf(err)}`,
      };
    }
  }

  async #content(path: string, diff: PathDiff, signal: AbortSignal): Promise<DiffView> {
    const sides = [diff.a, diff.b];
    const note = noteFor(path, diff);
    if (note) return { path, status: 'ready', diff, note };
    const [ra, rb] = await Promise.all(
      (['a', 'b'] as const).map((s, k) => this.#readSide(s, sides[k], signal)),
    );
    const bounded = !!(ra?.truncated || rb?.truncated);
    const sniffed = [ra, rb].map((r) => (r ? sniff(r.bytes) : undefined));
    const texts = sniffed.every((s) => !s || s.kind === 'text');
    if (texts) {
      const text = (k: 0 | 1) => {
        const s = sniffed[k];
        return s?.kind === 'text' ? s.text : '';
      };
      const worker = (this.#diffBridge ??= this.#opts.diff());
      const result = await worker.call('diffText', { a: text(0), b: text(1) }, { signal });
      return { path, status: 'ready', diff, text: result, bounded };
    }
    const binarySide = async (
      side: PathSide | undefined,
      r: { bytes: Uint8Array; truncated: boolean } | undefined,
    ): Promise<BinarySide | undefined> => {
      if (!side) return undefined;
      const digest = side.digest ?? (r && !r.truncated ? await sha256(r.bytes) : undefined);
      return { size: side.size, ...(digest ? { digest } : {}) };
    };
    const [ba, bb] = await Promise.all([binarySide(diff.a, ra), binarySide(diff.b, rb)]);
    const first = firstDifference(ra?.bytes, rb?.bytes);
    const around = (bytes: Uint8Array | undefined) =>
      bytes && first >= 0 ? hexLines(bytes, Math.max(0, (first >> 4) - 2), 5) : [];
    return {
      path,
      status: 'ready',
      diff,
      bounded,
      binary: {
        ...(ba ? { a: ba } : {}),
        ...(bb ? { b: bb } : {}),
        first,
        hexA: around(ra?.bytes),
        hexB: around(rb?.bytes),
      },
    };
  }

  /** Up to diffBound bytes of one side's file; undefined when that side has no file. */
  async #readSide(
    s: Side,
    entry: PathSide | undefined,
    signal: AbortSignal,
  ): Promise<{ bytes: Uint8Array; truncated: boolean } | undefined> {
    if (!entry || entry.type !== 'file') return undefined;
    const side = s === 'a' ? this.a : this.b;
    const layer = side?.listings.ref(entry.layer);
    if (!layer) throw new Error(`layer ${entry.layer + 1} of ${side?.ref ?? s} is not known`);
    return this.#opts.layers.call(
      'readFile',
      { layer, offset: entry.offset, size: entry.size, limit: diffBound },
      { signal },
    );
  }
}

/** Why a path has no content to compare, or undefined when it has (a regular file on at
 * least one side, and nothing else on the other). */
function noteFor(path: string, d: PathDiff): string | undefined {
  const describe = (side: PathSide) =>
    side.type === 'symlink'
      ? `a symbolic link to ${side.linkname ?? '?'}`
      : side.type === 'hardlink'
        ? `a hard link to ${side.linkname ?? '?'}`
        : side.type === 'dir'
          ? 'a directory'
          : side.type === 'file'
            ? `a file of ${formatBytes(side.size)}`
            : `a ${side.type} device or special file`;
  const kinds = [d.a, d.b].filter((s): s is PathSide => !!s).map((s) => s.type);
  if (kinds.every((t) => t === 'file')) return undefined;
  const a = d.a ? describe(d.a) : 'absent';
  const b = d.b ? describe(d.b) : 'absent';
  return `/${path} is ${a} in the first image and ${b} in the second.`;
}

/** The offset of the first byte that differs (a shorter side differs where it ends); -1 when
 * the two are equal. A missing side differs at 0. */
export function firstDifference(a: Uint8Array | undefined, b: Uint8Array | undefined): number {
  if (!a || !b) return a || b ? 0 : -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The export's file name: both images' names, safe on every OS. */
export function exportName(meta: ImageComparison): string {
  const part = (s: string) =>
    s
      .replace(/^.*\//, '')
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .slice(0, 60);
  return `compare-${part(meta.a.name)}-${part(meta.b.name)}.json`;
}
