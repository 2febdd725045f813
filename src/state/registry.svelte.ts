// Browsing a registry: its catalog page by page (CatalogState), one repository's tags with their
// dates (RepositoryState), and the rate limits registries state in answers Berth got anyway
// (RateLimits). RegistryBrowser holds the three and says which is on screen, for the route.
//
// A tag's date costs requests: a HEAD, then the manifest and config unless the store has them.
// So dates are fetched only for the rows on screen, or for every row when the person sorts by
// date; a few at a time; and dropped when the person leaves. On Docker Hub each manifest GET
// counts as a pull, so there the person asks for dates first, told what they cost.
import { SvelteMap } from 'svelte/reactivity';
import { messageOf } from '../lib/errors.ts';
import {
  defaultRegistry,
  familiarName,
  parseReference,
  parseRegistry,
} from '../lib/reference/reference.ts';
import { isReferrerTag, sortTagRows, type TagOrder } from '../lib/registry/catalog.ts';
import { registryLabel } from '../lib/registry/errors.ts';
import type { RateLimit } from '../lib/registry/ratelimit.ts';
import type { Connection } from '../lib/registry/transport.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { TagDetails } from '../workers/images/catalog.ts';
import type { Bridge } from './bridge.ts';
import type { Route } from './route.ts';

export type { RateLimit, TagDetails, TagOrder };

export interface RegistryStateOptions {
  bridge: Bridge<ImagesWorkerApi>;
  /** Read at each call, so a change in Settings applies to the next request. */
  connection: () => Connection;
  /** The platform a pull would choose from an index (a setting), in formatPlatform's form. */
  preferredPlatform?: () => string;
}

/** The image reference a tag row opens, in the short form people type (`alpine:3.20`). */
export function imageOf(repository: string, tag: string): string {
  return familiarName(parseReference(`${repository}:${tag}`));
}

/** The repository (`registry/name`) an image reference belongs to, or undefined when the
 * reference cannot be read. */
export function repositoryOfImage(image: string): string | undefined {
  try {
    const ref = parseReference(image);
    return `${ref.registry}/${ref.repository}`;
  } catch {
    return undefined;
  }
}

/** The registry an image reference or repository names, or undefined. */
export function registryOfImage(image: string): string | undefined {
  try {
    return parseReference(image).registry;
  } catch {
    return undefined;
  }
}

/** Where "Browse" goes for what a person typed: a registry host lists its catalog; anything
 * else is read as a repository, as `docker pull` would read it (`alpine` is Docker Hub's
 * library/alpine, `ghcr.io/owner/app:v1` the repository ghcr.io/owner/app). */
export function browseRoute(typed: string): Route | null {
  const text = typed
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/+$/, '');
  if (!text) return null;
  if (!text.includes('/')) {
    try {
      return { view: 'registry', registry: parseRegistry(text) };
    } catch {
      // Not a host: a Docker Hub repository, or something the repository view explains.
    }
  }
  return { view: 'repository', repository: repositoryOfImage(text) ?? text };
}

/** What people call a registry: Docker Hub for docker.io, else its host. */
export { registryLabel };

const isAbort = (err: unknown) => (err as { name?: unknown })?.name === 'AbortError';

/** The rate limits registries stated, by registry, as the images worker last read them. */
export class RateLimits {
  readonly #opts: RegistryStateOptions;
  readonly byRegistry = new SvelteMap<string, RateLimit>();

  constructor(opts: RegistryStateOptions) {
    this.#opts = opts;
  }

  /** Asks the worker what the registry's answers last said (no request to the registry). */
  async refresh(registry: string): Promise<void> {
    try {
      const limit = await this.#opts.bridge.call('rateLimit', { registry });
      if (limit) this.byRegistry.set(registry, limit);
    } catch {
      // A worker that cannot say leaves what is shown as it was.
    }
  }

  of(registry: string): RateLimit | undefined {
    return this.byRegistry.get(registry);
  }
}

/** A registry's catalog, page by page. */
export class CatalogState {
  registry = $state('');
  repositories = $state.raw<string[]>([]);
  /** The next page's cursor, when the registry has more. */
  next = $state<string | undefined>(undefined);
  loading = $state(false);
  /** The registry does not list its repositories: the words to say so. */
  refused = $state<string | null>(null);
  error = $state<string | null>(null);

  readonly #opts: RegistryStateOptions;
  #abort: AbortController | undefined;

  constructor(opts: RegistryStateOptions) {
    this.#opts = opts;
  }

  /** Shows a registry's first page; the same registry again keeps what is listed. */
  async show(host: string): Promise<void> {
    let registry: string;
    try {
      registry = parseRegistry(host);
    } catch (err) {
      this.stop();
      this.registry = host;
      this.repositories = [];
      this.next = undefined;
      this.refused = null;
      this.error = messageOf(err);
      return;
    }
    if (registry === this.registry && (this.loading || this.repositories.length > 0)) return;
    this.stop();
    this.registry = registry;
    this.repositories = [];
    this.next = undefined;
    await this.#load(undefined);
  }

  /** The next page, added below the ones shown. */
  async more(): Promise<void> {
    if (this.loading || this.next === undefined) return;
    await this.#load(this.next);
  }

  /** Leaves the registry: a page on its way is dropped. */
  stop() {
    this.#abort?.abort();
    this.#abort = undefined;
    this.loading = false;
  }

  async #load(cursor: string | undefined): Promise<void> {
    const abort = new AbortController();
    this.#abort = abort;
    this.loading = true;
    this.error = null;
    this.refused = null;
    try {
      const page = await this.#opts.bridge.call(
        'catalog',
        {
          registry: this.registry,
          connection: this.#opts.connection(),
          ...(cursor === undefined ? {} : { cursor }),
        },
        { signal: abort.signal },
      );
      if (abort.signal.aborted) return;
      // eslint-disable-next-line svelte/prefer-svelte-reactivity -- local, never shown
      const seen = new Set(this.repositories);
      this.repositories = [...this.repositories, ...page.repositories.filter((r) => !seen.has(r))];
      this.next = page.next;
    } catch (err) {
      if (abort.signal.aborted || isAbort(err)) return;
      if ((err as { name?: unknown }).name === 'CatalogRefusedError') {
        this.refused = messageOf(err);
      } else this.error = messageOf(err);
    } finally {
      if (this.#abort === abort) {
        this.loading = false;
        this.#abort = undefined;
      }
    }
  }
}

/** What is known of one tag's details: being fetched, fetched, or failed with words. */
export type TagInfo =
  | { state: 'loading' }
  | { state: 'done'; details: TagDetails }
  | { state: 'failed'; error: string };

/** How many rows a page of the tag table shows; "Show more" adds as many again. */
export const tagRowsPerPage = 50;
/** Tags whose details are fetched at once. */
const parallelDetails = 4;

/** One repository's tags, sorted, with their dates fetched as they are needed. */
export class RepositoryState {
  /** `registry/name`, as references name it: docker.io/library/alpine. */
  repository = $state('');
  tags = $state.raw<string[]>([]);
  /** The registry has more tags than Berth lists. */
  truncated = $state(false);
  loading = $state(false);
  error = $state<string | null>(null);
  order = $state<TagOrder>('name');
  /** Referrers tag-schema fallbacks (`sha256-<hex>`) are listed too. */
  showReferrers = $state(false);
  /** Rows on screen: the first page, then more as the person asks. */
  shown = $state(tagRowsPerPage);
  /** On Docker Hub, the person agreed that dates cost pulls. */
  datesAccepted = $state(false);
  readonly info = new SvelteMap<string, TagInfo>();

  readonly #opts: RegistryStateOptions;
  readonly #limits: RateLimits;
  #abort: AbortController | undefined;
  #queue: string[] = [];
  #running = 0;

  constructor(opts: RegistryStateOptions, limits: RateLimits) {
    this.#opts = opts;
    this.#limits = limits;
  }

  get registry(): string {
    return this.repository ? parseReference(this.repository).registry : '';
  }

  /** Whether a date costs a counted pull here (Docker Hub counts manifest GETs). */
  get datesCostPulls(): boolean {
    return this.registry === defaultRegistry;
  }

  /** Dates are fetched: anywhere but Docker Hub, and there once the person agreed. */
  get datesOn(): boolean {
    return !this.datesCostPulls || this.datesAccepted;
  }

  /** Referrer-fallback tags among the tags (hidden unless asked for). */
  get referrerCount(): number {
    return this.tags.filter(isReferrerTag).length;
  }

  /** The tags listed, as the toggle says. */
  get listed(): string[] {
    return this.showReferrers ? this.tags : this.tags.filter((t) => !isReferrerTag(t));
  }

  /** Every listed tag in order, with its date when known. */
  get sorted(): { tag: string; created?: number }[] {
    const rows = this.listed.map((tag) => {
      const i = this.info.get(tag);
      const created = i?.state === 'done' ? i.details.created : undefined;
      return created === undefined ? { tag } : { tag, created };
    });
    return sortTagRows(rows, this.order);
  }

  /** The rows on screen. */
  get rows(): { tag: string; created?: number }[] {
    return this.sorted.slice(0, this.shown);
  }

  /** Tags whose details are known (fetched or failed), of those listed. */
  get settled(): number {
    return this.listed.filter((t) => {
      const s = this.info.get(t)?.state;
      return s === 'done' || s === 'failed';
    }).length;
  }

  /** Shows a repository's tags; the same repository again keeps what is listed. */
  async show(repository: string, order: TagOrder = 'name'): Promise<void> {
    let name: string;
    try {
      // A tag or digest typed along is left out: the repository is what is shown.
      const ref = parseReference(repository);
      name = `${ref.registry}/${ref.repository}`;
    } catch (err) {
      this.stop();
      this.repository = repository;
      this.tags = [];
      this.error = messageOf(err);
      return;
    }
    this.order = order;
    if (name === this.repository && !this.error && (this.loading || this.tags.length > 0)) {
      this.#pump();
      return;
    }
    this.stop();
    this.repository = name;
    this.tags = [];
    this.truncated = false;
    this.error = null;
    this.shown = tagRowsPerPage;
    this.datesAccepted = false;
    this.info.clear();
    const abort = new AbortController();
    this.#abort = abort;
    this.loading = true;
    try {
      const r = await this.#opts.bridge.call(
        'repositoryTags',
        { repository: name, connection: this.#opts.connection() },
        { signal: abort.signal },
      );
      if (abort.signal.aborted) return;
      this.tags = r.tags;
      this.truncated = r.truncated;
      this.#pump();
    } catch (err) {
      if (!abort.signal.aborted && !isAbort(err)) this.error = messageOf(err);
    } finally {
      if (this.#abort === abort) this.loading = false;
      void this.#limits.refresh(this.registry);
    }
  }

  sortBy(order: TagOrder) {
    this.order = order;
    this.#pump();
  }

  toggleReferrers() {
    this.showReferrers = !this.showReferrers;
    this.#pump();
  }

  showMore() {
    this.shown += tagRowsPerPage;
    this.#pump();
  }

  /** On Docker Hub: the person agreed that each date costs a pull. */
  acceptDates() {
    this.datesAccepted = true;
    this.#pump();
  }

  /** Stops fetching dates (the person pressed Stop, or left): what was fetched stays. */
  stopDates() {
    this.#abort?.abort();
    this.#abort = new AbortController();
    this.#queue = [];
    for (const [tag, i] of this.info) if (i.state === 'loading') this.info.delete(tag);
    this.#running = 0;
  }

  /** Leaves the repository: everything on its way is dropped. */
  stop() {
    this.#abort?.abort();
    this.#abort = undefined;
    this.#queue = [];
    this.#running = 0;
    for (const [tag, i] of this.info) if (i.state === 'loading') this.info.delete(tag);
    this.loading = false;
  }

  /** Whether dates are still being fetched. */
  get fetching(): boolean {
    for (const i of this.info.values()) if (i.state === 'loading') return true;
    return false;
  }

  /** Queues the details wanted now: every listed tag when sorting by date, else the rows on
   * screen. */
  #pump() {
    if (!this.datesOn || this.tags.length === 0) return;
    this.#abort ??= new AbortController();
    const wanted = this.order === 'date' ? this.listed : this.rows.map((r) => r.tag);
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- local, never shown
    const queued = new Set(this.#queue);
    for (const tag of wanted) {
      if (!this.info.has(tag) && !queued.has(tag)) this.#queue.push(tag);
    }
    while (this.#running < parallelDetails && this.#queue.length > 0) {
      this.#running++;
      void this.#work(this.#abort);
    }
  }

  async #work(abort: AbortController) {
    const repository = this.repository;
    try {
      for (;;) {
        if (abort.signal.aborted) return;
        const tag = this.#queue.shift();
        if (tag === undefined) return;
        if (this.info.has(tag)) continue;
        this.info.set(tag, { state: 'loading' });
        try {
          const preferred = this.#opts.preferredPlatform?.() ?? '';
          const details = await this.#opts.bridge.call(
            'tagDetails',
            {
              repository,
              tag,
              connection: this.#opts.connection(),
              ...(preferred ? { preferredPlatform: preferred } : {}),
            },
            { signal: abort.signal },
          );
          if (abort.signal.aborted || this.repository !== repository) return;
          this.info.set(tag, { state: 'done', details });
        } catch (err) {
          if (abort.signal.aborted || isAbort(err) || this.repository !== repository) return;
          this.info.set(tag, { state: 'failed', error: messageOf(err) });
        }
      }
    } finally {
      if (!abort.signal.aborted) {
        this.#running--;
        if (this.#running === 0) void this.#limits.refresh(this.registry);
      }
    }
  }
}

/** Which browsing view is on screen, with its state. */
export class RegistryBrowser {
  readonly limits: RateLimits;
  readonly catalog: CatalogState;
  readonly repository: RepositoryState;
  /** What the registry or repository view shows, as its route says. */
  showing = $state.raw<Route | null>(null);

  constructor(opts: RegistryStateOptions) {
    this.limits = new RateLimits(opts);
    this.catalog = new CatalogState(opts);
    this.repository = new RepositoryState(opts, this.limits);
  }

  /** The route of the view on screen. */
  get route(): Route | null {
    const at = this.showing;
    if (at?.view === 'registry') return at;
    if (at?.view === 'repository') {
      const r = this.repository;
      const name = r.repository || at.repository;
      if (!name) return at;
      return {
        view: 'repository',
        repository: name,
        ...(r.order === 'date' ? { sort: 'date' } : {}),
      };
    }
    return null;
  }

  /** Puts on screen what a registry or repository route names. */
  async show(route: Route): Promise<void> {
    this.showing = route;
    if (route.view === 'registry' && route.registry) {
      this.repository.stop();
      await this.catalog.show(route.registry);
    } else if (route.view === 'repository' && route.repository) {
      this.catalog.stop();
      await this.repository.show(route.repository, route.sort === 'date' ? 'date' : 'name');
    }
  }

  /** The page went to another view: nothing keeps fetching for this one. */
  leave() {
    this.showing = null;
    this.catalog.stop();
    this.repository.stop();
  }
}
