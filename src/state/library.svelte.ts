// The page's view of the store: the stored images and interrupted pulls, storage use against
// the browser's quota, and whether the browser may evict it.
import { messageOf } from '../lib/errors.ts';
import { allPlatforms } from '../lib/oci/platform.ts';
import { formatReference, parseReference } from '../lib/reference/reference.ts';
import type { InterruptedPull, Library, LibraryImage } from '../lib/images/library.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { Bridge } from './bridge.ts';
import type { ExportTarget } from './actions.svelte.ts';
import { formatPlatform, shortHex, showControls } from './format.ts';

export type { InterruptedPull, LibraryImage };

/** The parts of navigator.storage the library uses. */
export type StorageInfo = Pick<StorageManager, 'estimate' | 'persist' | 'persisted'>;

export class LibraryState {
  images = $state.raw<LibraryImage[]>([]);
  pulls = $state.raw<InterruptedPull[]>([]);
  /** Bytes Berth holds. */
  bytes = $state(0);
  /** The origin's usage and quota, as the browser estimates them. */
  usage = $state<number | null>(null);
  quota = $state<number | null>(null);
  /** Whether the browser promised not to evict the store; null while unknown. */
  persisted = $state<boolean | null>(null);
  /** Set when there is no store to use: the page says why instead of offering to pull. */
  unavailable = $state<string | null>(null);
  /** Opening the store waits for another tab that holds an older version open. */
  blocked = $state(false);
  loaded = $state(false);

  readonly #bridge: Bridge<ImagesWorkerApi>;
  readonly #storage: StorageInfo | undefined;
  #asked = false;

  constructor(bridge: Bridge<ImagesWorkerApi>, storage?: StorageInfo) {
    this.#bridge = bridge;
    this.#storage = storage;
  }

  /** Opens the store (reporting a wait on other tabs), then reads the library. */
  async open(): Promise<void> {
    try {
      await this.#bridge.call(
        'openStore',
        {},
        { onEvent: (e) => (this.blocked = e.type === 'blocked') },
      );
      this.blocked = false;
      this.unavailable = null;
    } catch (err) {
      this.blocked = false;
      this.unavailable = messageOf(err);
      return;
    }
    const persisted = (await this.#storage?.persisted().catch(() => null)) ?? null;
    this.persisted ??= persisted; // a pull may have asked meanwhile
    await this.refresh();
  }

  async refresh(): Promise<void> {
    if (this.unavailable) return;
    const [library, estimate] = await Promise.all([
      this.#bridge.call('library', {}).catch(() => null),
      this.#storage?.estimate().catch(() => null),
    ]);
    if (library) this.#apply(library);
    if (estimate) {
      this.usage = estimate.usage ?? null;
      this.quota = estimate.quota ?? null;
    }
    this.loaded = true;
  }

  /** Whether an image is stored, by any spelling of its reference (alpine:3.20 is
   * docker.io/library/alpine:3.20). */
  has(reference: string): boolean {
    let name: string;
    try {
      name = formatReference(parseReference(reference));
    } catch {
      return false;
    }
    return this.images.some((i) => i.name === name);
  }

  /** Asks the browser, once, to keep the store through storage pressure: on the first pull,
   * when the user has shown they mean to keep images here. */
  async requestPersistence(): Promise<void> {
    if (this.#asked || this.persisted || !this.#storage) return;
    this.#asked = true;
    this.persisted = await this.#storage.persist().catch(() => false);
  }

  #apply(l: Library) {
    this.images = l.images;
    this.pulls = l.pulls;
    this.bytes = l.bytes;
  }
}

/** The platforms pulled of a stored image. */
export function platformsOf(i: LibraryImage): string[] {
  // For people: a platform is text from the image, so its invisible characters are escaped.
  return i.manifests
    .map((m) => (m.platform ? showControls(formatPlatform(m.platform)) : ''))
    .filter(Boolean);
}

/** One archive for the image, or one per pulled platform when only some were pulled. */
export function exportsOf(i: LibraryImage): { label: string; target: ExportTarget }[] {
  if (i.complete || i.manifests.length <= 1) {
    const target: ExportTarget = i.complete
      ? { name: i.name, all: true }
      : { name: i.name, manifestDigest: i.manifests[0]?.digest ?? i.target.digest };
    return [{ label: 'Export', target }];
  }
  return i.manifests.map((m) => ({
    label: `Export ${m.platform ? showControls(formatPlatform(m.platform)) : shortHex(m.digest)}`,
    target: { name: i.name, manifestDigest: m.digest },
  }));
}

/** The platform "Open" shows: all of them for a complete image, else the one pulled last. */
export function latestPlatform(i: LibraryImage): string {
  if (i.complete) return allPlatforms;
  const m = i.manifests.reduce((a, b) => (b.pulledAt > a.pulledAt ? b : a), i.manifests[0]!);
  return m?.platform ? formatPlatform(m.platform) : '';
}
