// The page as a whole, and the one owner of where it is: which view is on screen, which image
// (an ImageState, told what to show), the URL that names them (so every view can be shared,
// and back and forward work), the recent images and the tab's title.
//
// The route flows one way. A URL (the first load, back, forward) is applied here and handed
// down: `image.show(…)`, `files.openLocation(…)`. A person's action that moves the page (pull,
// open, a platform, a layer, a file) is a method here too: it tells the image what to do, then
// writes the URL from what is on screen. Nothing below calls back up to change the URL.
import type { Activity } from './activity.svelte.ts';
import type { ImageActions } from './actions.svelte.ts';
import type { CompareState } from './compare.svelte.ts';
import type { ImageState } from './image.svelte.ts';
import type { View } from './layers/browser.svelte.ts';
import type { RegistryBrowser, TagOrder } from './registry.svelte.ts';
import { addRecent, loadRecent, recentKey, type RecentImage } from './recent.ts';
import { formatRoute, home, parseRoute, type Route, type RouteView } from './route.ts';

export type { RecentImage, Route, RouteView };

/** The browser's history, as the page uses it. */
export interface HistoryPort {
  /** The current URL's query (`?…`, or empty). */
  read(): string;
  push(query: string): void;
  replace(query: string): void;
}

export interface AppStateOptions {
  image: ImageState;
  activity: Activity;
  actions: ImageActions;
  history: HistoryPort;
  storage: Storage | undefined;
  /** The registry and repository views' state. */
  registry?: RegistryBrowser;
  /** Two images compared. */
  compare?: CompareState;
}

/** A view a URL asked for that needs layers this browser does not hold: it opens when the
 * person says so, as a link alone never starts a large download. */
export interface PendingDownload {
  route: Route;
  layers: number;
  bytes: number;
}

export class AppState {
  view = $state<RouteView>('home');
  recent = $state.raw<RecentImage[]>([]);
  pending = $state.raw<PendingDownload | null>(null);
  /** The image on screen in the image view. One for now; a comparison would hold two. */
  readonly image: ImageState;

  readonly #activity: Activity;
  readonly #actions: ImageActions;
  readonly #history: HistoryPort;
  readonly #storage: Storage | undefined;
  readonly #registry: RegistryBrowser | undefined;
  /** The comparison on screen in the compare view. */
  readonly compare: CompareState | undefined;
  /** Counts URL applications; a newer one, or the person taking over, makes an older one stop
   * at its next step. */
  #generation = 0;
  /** The generation being applied (0 when none): its state changes replace the URL entry,
   * never push one. */
  #applying = 0;

  constructor(opts: AppStateOptions) {
    this.image = opts.image;
    this.#activity = opts.activity;
    this.#actions = opts.actions;
    this.#history = opts.history;
    this.#storage = opts.storage;
    this.#registry = opts.registry;
    this.compare = opts.compare;
    this.recent = loadRecent(opts.storage);
  }

  /** The route the page shows now. */
  get route(): Route {
    if (this.view === 'registry' || this.view === 'repository') {
      return this.#registry?.route ?? home;
    }
    if (this.view === 'compare') return this.compare?.route ?? home;
    if (this.view !== 'image') return { view: this.view };
    const at = this.image.shown;
    if (!at?.image) return home;
    const files = this.image.files.shown;
    return {
      view: 'image',
      image: at.image,
      ...(at.platform ? { platform: at.platform } : {}),
      ...(files ? { layer: files.layer } : {}),
      ...(files?.path ? { path: files.path } : {}),
    };
  }

  /** The tab's title: what runs, with its progress, or what is on screen. */
  get title(): string {
    const a = this.#activity;
    const image = this.image.shown?.image;
    const suffix = ' — Berth';
    if (a.phase === 'pulling' && image) {
      const p = this.image.pulled;
      return `${p === null ? '' : `${Math.floor(p * 100)}% · `}Pulling ${image}${suffix}`;
    }
    if (a.phase === 'resolving' && image) return `Resolving ${image}${suffix}`;
    if (a.phase === 'exporting') return `Exporting…${suffix}`;
    if (a.phase === 'importing') return `Importing…${suffix}`;
    if (this.view === 'library') return `Library${suffix}`;
    if (this.view === 'settings') return `Settings${suffix}`;
    const browsed = this.view === 'registry' || this.view === 'repository' ? this.route : null;
    if (browsed?.registry) return `${browsed.registry} repositories${suffix}`;
    if (browsed?.repository) return `${browsed.repository} tags${suffix}`;
    const compared = this.view === 'compare' ? this.compare : undefined;
    if (compared?.a && compared.b) {
      const file = compared.diff?.path.split('/').pop();
      return `${file ? `${file} · ` : ''}${compared.a.label} ↔ ${compared.b.label}${suffix}`;
    }
    if (this.view !== 'image' || !image) return 'Berth';
    const file = this.image.files.viewer.file?.path;
    if (file) return `${file.split('/').pop()} · ${image}${suffix}`;
    if (a.finished) return `${a.finished.ok ? '✓ Pulled' : '✗ Pull failed:'} ${image}${suffix}`;
    return `${image}${suffix}`;
  }

  // A person's actions on the image. Each starts the image's work, puts the image view on
  // screen with its URL as soon as the image is named, and records what the registry said
  // once the work is done.

  pull(opts: { lazy?: boolean } = {}): Promise<void> {
    return this.#person(this.image.pull(opts));
  }

  inspect(): Promise<void> {
    return this.#person(this.image.inspect());
  }

  /** Continues an interrupted pull (from the library). */
  resume(name: string, platform?: string): Promise<void> {
    return this.#person(this.image.resume(name, platform));
  }

  choosePlatform(value: string): Promise<void> {
    return this.#person(this.image.choosePlatform(value));
  }

  retry(): Promise<void> {
    return this.#person(this.image.retry());
  }

  signIn(username: string, password: string, remember: boolean): Promise<void> {
    return this.#person(this.image.signIn(username, password, remember));
  }

  /** Opens a stored image (from the library); the view changes once the store has it. */
  async open(name: string, platform = ''): Promise<void> {
    if (!(await this.image.open(name, platform))) return;
    this.#imageShown();
    this.#noteRecent();
  }

  /** Imports an archive, then opens its first image. */
  async importArchive(file: File): Promise<void> {
    const r = await this.#actions.importArchive(file);
    if (!r) return;
    if (r.names[0]) await this.open(r.names[0]);
    if (!this.#activity.error) this.#activity.notice = r.notice;
  }

  async #person(work: (Promise<void> & { named?: Promise<void> }) | null): Promise<void> {
    if (!work) return; // nothing started: the reference could not be read
    this.#imageShown();
    if (work.named) {
      // The registry said which platform: the URL says it too, without waiting for the rest.
      await work.named;
      this.record();
    }
    await work;
    this.record();
    this.#noteRecent();
  }

  // The file browser: each view and each file is a step in history.

  browse(view: View): Promise<void> {
    const opening = this.image.files.open(view);
    this.record();
    return opening;
  }

  closeFiles() {
    this.image.files.close();
    this.record();
  }

  openFile(path: string): Promise<void> {
    const opening = this.image.files.openFile(path);
    this.record();
    // The worker is asked for the entry first: the file is in the URL once it is on screen.
    return opening.then(() => this.record());
  }

  closeViewer() {
    this.image.files.viewer.close();
    this.record();
  }

  // The comparison: the file whose diff is open is a step in history.

  /** Opens one path's diff in the comparison. */
  openDiff(path: string): Promise<void> {
    const opening = this.compare?.openDiff(path) ?? Promise.resolve();
    this.record();
    return opening;
  }

  closeDiff() {
    this.compare?.closeDiff();
    this.record();
  }

  /** The person agreed to download the layers the comparison's files need. */
  compareFiles(): Promise<void> {
    return this.compare?.compareFiles() ?? Promise.resolve();
  }

  /** The repository view's tags in another order: a step in history, as the URL says it. */
  sortTags(order: TagOrder) {
    this.#registry?.repository.sortBy(order);
    this.record();
  }

  /** An image was put on screen by a person's action: the image view shows it. */
  #imageShown() {
    this.#registry?.leave();
    this.compare?.leave();
    this.view = 'image';
    this.pending = null;
    this.record();
  }

  /** An image whose summary is on screen joins the recent images, or moves to their top; not
   * one pulled in part (its pull failed or was cancelled). */
  #noteRecent() {
    const at = this.image.shown;
    if (!at?.image || !this.image.summary || this.image.summary.partial) return;
    this.recent = addRecent(this.recent, { ...at, openedAt: Date.now() });
    this.#keepRecent();
  }

  clearRecent() {
    this.recent = [];
    this.#keepRecent();
  }

  #keepRecent() {
    try {
      this.#storage?.setItem(recentKey, JSON.stringify(this.recent));
    } catch {
      // Storage refused: the list holds for this visit.
    }
  }

  /**
   * The page moved: the URL follows. A new image, layer or file is a new history entry; a
   * platform filled in for the same image (the registry said which) replaces the entry, and so
   * does anything that happens while a URL is being applied.
   */
  record() {
    const next = formatRoute(this.route);
    const current = this.#history.read();
    if (next === current) return;
    const was = parseRoute(current);
    const now = parseRoute(next);
    const refined =
      (was.view === 'image' &&
        was.image === now.image &&
        !was.platform &&
        was.layer === now.layer &&
        was.path === now.path) ||
      // A comparison whose platforms the registries named: the same comparison.
      (was.view === 'compare' &&
        now.view === 'compare' &&
        was.image === now.image &&
        was.compare === now.compare &&
        was.path === now.path &&
        (!was.platform || was.platform === now.platform) &&
        (!was.comparePlatform || was.comparePlatform === now.comparePlatform));
    if (this.#applying !== 0 || refined) this.#history.replace(next);
    else this.#history.push(next);
  }

  /** Goes to a view as a link would: a new history entry, then the view. */
  async go(route: Route): Promise<void> {
    const q = formatRoute(route);
    if (q !== this.#history.read()) this.#history.push(q);
    await this.apply(route);
  }

  /** The person acted (a click, a key) while a URL was being applied: what they do now is
   * theirs, and the rest of that URL is given up. */
  interrupt() {
    if (this.#applying === 0) return;
    this.#generation++;
    this.#applying = 0;
  }

  /** Puts on screen what a URL names (the first load, back and forward). */
  async apply(route: Route): Promise<void> {
    const gen = ++this.#generation;
    this.#applying = gen;
    const current = () => this.#generation === gen;
    // What the URL keeps saying when the image cannot be shown (an error, a sign-in to give):
    // the link as it was followed, to reload or share once the problem is solved.
    let kept: Route | undefined;
    try {
      this.view = route.view;
      this.pending = null;
      if (route.view === 'registry' || route.view === 'repository') {
        this.compare?.leave();
        await this.#registry?.show(route);
        return;
      }
      this.#registry?.leave();
      if (route.view === 'compare') {
        await this.compare?.show(route);
        return;
      }
      this.compare?.leave();
      if (route.view !== 'image' || !route.image) return;
      const image = this.image;
      const files = image.files;
      const wantsFiles = route.layer !== undefined;
      const at = image.shown;
      // Another image, or another platform of it: the image is told; the same one stays.
      let moved = true;
      if (at?.image !== route.image) {
        const showing = image.show(route.image, route.platform ?? '');
        // The URL names the platform the registry chose as soon as it is on screen.
        await showing.named;
        if (current()) this.record();
        await showing;
      } else if (route.platform && route.platform !== at.platform) {
        await image.choosePlatform(route.platform);
      } else moved = false;
      if (!current()) return;
      // A link to files of an image not stored yet inspects it (manifests and config only),
      // so that its layers can be offered; the layers themselves wait for a yes.
      // Not when the registry failed and a stored copy is shown under its own name instead:
      // that copy is what the link gets, with no request to a registry that cannot answer.
      if (
        moved &&
        wantsFiles &&
        !image.summary &&
        !this.#activity.error &&
        image.shown?.image === route.image
      ) {
        await image.inspect();
        if (!current()) return;
      }
      if (moved) this.#noteRecent(); // back and forward within one image are not new visits
      if (route.layer === undefined || !image.summary) {
        if (this.#activity.error) kept = route;
        files.close();
        return;
      }
      const needs = files.downloadsFor(route.layer);
      if (needs.layers > 0) {
        files.close();
        this.pending = { route, ...needs };
        return;
      }
      await this.#openFiles(route, current);
    } finally {
      this.#settle(gen, kept);
    }
  }

  /** The person agreed to download what the pending view needs: it opens, as the URL said. */
  async download(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    const gen = ++this.#generation;
    this.#applying = gen;
    try {
      await this.#openFiles(p.route, () => this.#generation === gen);
    } finally {
      this.#settle(gen);
    }
  }

  /** Ends an application that was not overtaken: the URL names what is on screen (or, while a
   * download waits for a yes, what was asked for). */
  #settle(gen: number, kept?: Route) {
    if (this.#applying !== gen) return;
    this.#applying = 0;
    const q = formatRoute(this.pending?.route ?? kept ?? this.route);
    if (q !== this.#history.read()) this.#history.replace(q);
  }

  async #openFiles(route: Route, current: () => boolean) {
    if (route.layer === undefined) return;
    const files = this.image.files;
    await files.openLocation(route.layer);
    if (!current()) return;
    if (route.path) await files.openPath(route.path);
    else files.viewer.close();
  }
}
