// The documents of an image, read and parsed once (go-containerregistry's partial, memoised):
// an index, its manifests, their configs. `childrenOf` is the one definition of what a
// document points at; pull, garbage collection, export, import and verify all walk by it.
import { isConfig, isIndex, isManifest } from '../oci/mediatypes.ts';
import type { Descriptor, ImageConfig, Index, Manifest } from '../oci/types.ts';
import { IndexDepthError, maxIndexDepth, maxIndexManifests } from '../oci/limits.ts';
import { type ParsedDocument, parseImageConfig, parseManifestDocument } from '../oci/validate.ts';
import type { Provider } from '../store/store.ts';

/** A manifest or an index: a descriptor with children. */
export const isDocument = (d: Descriptor) => isIndex(d.mediaType) || isManifest(d.mediaType);

/** What a document points at (containerd's images.Children): an index's manifests, a
 * manifest's config then its layers, in that order. */
export function childrenOf(doc: ParsedDocument): Descriptor[] {
  return doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
}

/** Parses a stored document; the descriptor that pointed at it says what it should be. */
export function parseDocument(
  bytes: Uint8Array,
  desc: Pick<Descriptor, 'mediaType'>,
): ParsedDocument {
  return parseManifestDocument(bytes, { descriptorMediaType: desc.mediaType });
}

/** A document is checked against the media type of the descriptor that points at it, so one
 * digest reached under two media types is parsed (and checked) once for each. */
const keyOf = (desc: Pick<Descriptor, 'digest' | 'mediaType'>) =>
  `${desc.mediaType} ${desc.digest}`;

/** Reads the stored documents of one or more images, each read and parsed at most once. Share
 * one between walks over the same store (a library listing walks every image). Content never
 * changes under a digest, so a memo never goes stale; one that was deleted is simply not read
 * again by the same walk. */
export class Documents {
  readonly #provider: Pick<Provider, 'info' | 'readBytes'>;
  readonly #docs = new Map<string, Promise<ParsedDocument>>();
  readonly #configs = new Map<string, Promise<ImageConfig>>();

  constructor(provider: Pick<Provider, 'info' | 'readBytes'>) {
    this.#provider = provider;
  }

  /** Keeps a document already parsed (fetched, or resolved) so it is not read back. */
  remember(desc: Descriptor, doc: ParsedDocument): void {
    const key = keyOf(desc);
    if (!this.#docs.has(key)) this.#docs.set(key, Promise.resolve(doc));
  }

  /** The parsed document; BlobNotFoundError when it is not stored. */
  document(desc: Descriptor): Promise<ParsedDocument> {
    const key = keyOf(desc);
    let p = this.#docs.get(key);
    if (!p) {
      p = this.#provider.readBytes(desc.digest).then((bytes) => parseDocument(bytes, desc));
      this.#docs.set(key, p);
      // A failed read is not remembered: the document may be stored later.
      p.catch(() => this.#docs.delete(key));
    }
    return p;
  }

  /** Parses bytes the caller already read, remembering the result. */
  parse(desc: Descriptor, bytes: Uint8Array): ParsedDocument {
    const doc = parseDocument(bytes, desc);
    this.remember(desc, doc);
    return doc;
  }

  /** The children of a stored document; none for a blob that is not a document. */
  async children(desc: Descriptor): Promise<Descriptor[]> {
    if (!isDocument(desc)) return [];
    return childrenOf(await this.document(desc));
  }

  /** The children of a document if it is stored; none if it is not (an index entry never
   * pulled is reached but not descended into). */
  async storedChildren(desc: Descriptor): Promise<Descriptor[]> {
    if (!isDocument(desc)) return [];
    if (!this.#docs.has(keyOf(desc)) && !(await this.#provider.info(desc.digest))) return [];
    return this.children(desc);
  }

  async index(desc: Descriptor): Promise<Index> {
    const doc = await this.document(desc);
    if (doc.kind !== 'index') throw new Error(`${desc.digest} is not an index`);
    return doc.index;
  }

  async manifest(desc: Descriptor): Promise<Manifest> {
    const doc = await this.document(desc);
    if (doc.kind !== 'manifest') throw new Error(`${desc.digest} is not a manifest`);
    return doc.manifest;
  }

  /** The image config a manifest names, or undefined for an artifact (a manifest whose config
   * is not an image config). */
  async config(manifest: Manifest): Promise<ImageConfig | undefined> {
    const desc = manifest.config;
    if (!isConfig(desc.mediaType)) return undefined;
    let p = this.#configs.get(desc.digest);
    if (!p) {
      p = this.#provider.readBytes(desc.digest).then(parseImageConfig);
      this.#configs.set(desc.digest, p);
      p.catch(() => this.#configs.delete(desc.digest));
    }
    return p;
  }

  /** A stored index with nested indexes flattened, as resolve saw it. */
  async flatIndex(root: Descriptor): Promise<Index> {
    const index = await this.index(root);
    return { ...index, manifests: await flattenIndex(index, (d) => this.index(d)) };
  }
}

/** Reads a nested index; resolve fetches and stores it, a stored image only reads it. */
export type IndexLoader = (desc: Descriptor) => Promise<Index>;

/** The leaf manifests of an index, nested indexes flattened, each nested index read once. A
 * nested index takes the platform its parent entry names when it has none of its own. */
export async function flattenIndex(index: Index, load: IndexLoader): Promise<Descriptor[]> {
  const leaves: Descriptor[] = [];
  const seen = new Set<string>();
  const walk = async (idx: Index, depth: number, inherited?: Descriptor['platform']) => {
    for (const child of idx.manifests) {
      if (!isIndex(child.mediaType)) {
        if (leaves.length >= maxIndexManifests) {
          throw new IndexDepthError(
            `the index holds more than ${maxIndexManifests} manifests; Berth refuses such images`,
          );
        }
        leaves.push(child.platform || !inherited ? child : { ...child, platform: inherited });
        continue;
      }
      if (seen.has(child.digest)) continue;
      seen.add(child.digest);
      if (depth >= maxIndexDepth) {
        throw new IndexDepthError(
          `indexes nest deeper than ${maxIndexDepth} levels (at ${child.digest}); Berth refuses such images`,
        );
      }
      await walk(await load(child), depth + 1, child.platform ?? inherited);
    }
  };
  await walk(index, 0);
  return leaves;
}
