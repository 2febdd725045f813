// The page as a whole: which view is on screen, the URL that names it (so every view can be
// shared, and back and forward work), the recent images and the tab's title. It coordinates
// the other state classes; it holds nothing they hold.
import type { LayerState } from './layers.svelte.ts';
import type { PullState } from './pull.svelte.ts';
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
  pull: PullState;
  layers: LayerState;
  history: HistoryPort;
  storage: Storage | undefined;
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

  readonly #pull: PullState;
  readonly #layers: LayerState;
  readonly #history: HistoryPort;
  readonly #storage: Storage | undefined;
  /** Counts URL applications; a newer one, or the person taking over, makes an older one stop
   * at its next step. */
  #generation = 0;
  /** The generation being applied (0 when none): its state changes replace the URL entry,
   * never push one. */
  #applying = 0;

  constructor(opts: AppStateOptions) {
    this.#pull = opts.pull;
    this.#layers = opts.layers;
    this.#history = opts.history;
    this.#storage = opts.storage;
    this.recent = loadRecent(opts.storage);
  }

  /** The route the page shows now. */
  get route(): Route {
    if (this.view !== 'image') return { view: this.view };
    const at = this.#pull.location;
    if (!at?.image) return home;
    const files = this.#layers.location;
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
    const pull = this.#pull;
    const image = pull.location?.image;
    const suffix = ' — Berth';
    if (pull.phase === 'pulling' && image) {
      const p = pull.progress;
      return `${p === null ? '' : `${Math.floor(p * 100)}% · `}Pulling ${image}${suffix}`;
    }
    if (pull.phase === 'resolving' && image) return `Resolving ${image}${suffix}`;
    if (pull.phase === 'exporting') return `Exporting…${suffix}`;
    if (pull.phase === 'importing') return `Importing…${suffix}`;
    if (this.view === 'library') return `Library${suffix}`;
    if (this.view === 'settings') return `Settings${suffix}`;
    if (this.view !== 'image' || !image) return 'Berth';
    const file = this.#layers.viewer?.path;
    if (file) return `${file.split('/').pop()} · ${image}${suffix}`;
    if (pull.finished) {
      return `${pull.finished.ok ? '✓ Pulled' : '✗ Pull failed:'} ${image}${suffix}`;
    }
    return `${image}${suffix}`;
  }

  /** An image was put on screen by a pull, an open or a platform choice. */
  imageShown() {
    this.view = 'image';
    this.pending = null;
    this.record();
  }

  /** A summary is on screen: it joins the recent images. */
  summaryShown() {
    const at = this.#pull.location;
    if (!at?.image) return;
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
   * The state moved: the URL follows. A new image, layer or file is a new history entry; a
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
      was.view === 'image' &&
      was.image === now.image &&
      !was.platform &&
      was.layer === now.layer &&
      was.path === now.path;
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
      if (route.view !== 'image' || !route.image) return;
      const pull = this.#pull;
      const wantsFiles = route.layer !== undefined;
      const at = pull.location;
      if (at?.image !== route.image) {
        await pull.show(route.image, route.platform ?? '', { inspect: wantsFiles });
      } else if (route.platform && route.platform !== at.platform) {
        await pull.choosePlatform(route.platform);
        if (wantsFiles && !pull.summary && !pull.error && current()) await pull.inspect();
      }
      if (!current()) return;
      if (route.layer === undefined || !pull.summary) {
        if (pull.error) kept = route;
        this.#layers.close();
        return;
      }
      const needs = this.#layers.downloadsFor(route.layer);
      if (needs.layers > 0) {
        this.#layers.close();
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
    await this.#layers.openLocation(route.layer);
    if (!current()) return;
    if (route.path) await this.#layers.openPath(route.path);
    else this.#layers.closeViewer();
  }
}
