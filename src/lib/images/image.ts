// A stored image: its record and its documents, each read once. What the page opens, exports
// and summarises goes through it.
import { isIndex } from '../oci/mediatypes.ts';
import {
  allPlatforms,
  parsePlatform,
  selectManifest,
  selectablePlatforms,
  defaultPlatform,
} from '../oci/platform.ts';
import type { Descriptor, Index, Platform } from '../oci/types.ts';
import type { ImageRecord, Store } from '../store/store.ts';
import { Documents } from './documents.ts';
import { type ImageSummary, summarize } from './summary.ts';

/** The manifest shown for an index when no platform was named: the preferred platform's,
 * else linux/amd64's, else the first. */
export function defaultManifest(index: Index, preferred?: Platform): Descriptor | undefined {
  const platform = defaultPlatform(selectablePlatforms(index), preferred);
  return platform ? selectManifest(index, platform) : index.manifests[0];
}

export class StoredImage {
  readonly record: ImageRecord;
  readonly docs: Documents;
  readonly #store: Store;
  #index: Promise<Index> | undefined;

  constructor(store: Store, record: ImageRecord, docs = new Documents(store.content)) {
    this.#store = store;
    this.record = record;
    this.docs = docs;
  }

  /** The image stored under a canonical name, or undefined. */
  static async open(store: Store, name: string): Promise<StoredImage | undefined> {
    const record = await store.images.get(name);
    return record && new StoredImage(store, record);
  }

  get name() {
    return this.record.name;
  }

  /** The root index with nested indexes flattened, as resolve saw it; undefined for a single
   * manifest. */
  index(): Promise<Index | undefined> {
    if (!isIndex(this.record.target.mediaType)) return Promise.resolve(undefined);
    return (this.#index ??= this.docs.flatIndex(this.record.target));
  }

  /** The platforms its index offers, attestations left out; none for a single manifest. */
  async platforms(): Promise<Platform[]> {
    const index = await this.index();
    return index ? selectablePlatforms(index) : [];
  }

  /** The manifest digest for a platform: the root itself, or the entry of the (flattened)
   * index that platform selects, as the pull chose it. Undefined when the index lacks it. */
  async manifestFor(platform?: string, preferred?: Platform): Promise<string | undefined> {
    const index = await this.index();
    if (!index) return this.record.target.digest;
    const want = platform && platform !== allPlatforms ? parsePlatform(platform) : undefined;
    try {
      return (want ? selectManifest(index, want) : defaultManifest(index, preferred))?.digest;
    } catch {
      return undefined; // that platform is not in the index
    }
  }

  /** Whether that manifest was pulled (or inspected) into this image. */
  pulled(digest: string): boolean {
    return this.record.manifests.some((m) => m.descriptor.digest === digest);
  }

  summary(manifestDigest: string): Promise<ImageSummary> {
    return summarize(this.#store.content, this.record, manifestDigest, this.docs);
  }
}
