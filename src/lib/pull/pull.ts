// Resolve, then pull: the root is resolved and stored, and a walk of small handlers fetches the
// rest (containerd's Dispatch(Handlers(FetchHandler, FilterPlatforms(ChildrenHandler)))).
import { isConfig, isIndex, isLayer, isManifest } from '../oci/mediatypes.ts';
import {
  allPlatforms,
  defaultPlatform,
  type PlatformChoice,
  formatPlatform,
  isAttestation,
  platformMatches,
  selectManifest,
  selectablePlatforms,
} from '../oci/platform.ts';
import type { Descriptor, Index, Manifest, Platform } from '../oci/types.ts';
import { parseImageConfig, parseManifestDocument } from '../oci/validate.ts';
import { IndexDepthError, maxIndexDepth, maxIndexManifests } from '../oci/limits.ts';
import { type Reference, formatReference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import { RegistryError } from '../registry/errors.ts';
import type { ContentStore } from '../store/content.ts';
import type { ImageRecord } from '../store/schema.ts';
import { type Handler, SkipDescriptor, dispatch, handlers } from './dispatch.ts';
import { type FetchContext, fetchDescriptor, ingestBytes } from './fetch.ts';
import { type ProgressListener, progressOf } from './progress.ts';

export interface PullContext {
  client: RegistryClient;
  store: ContentStore;
  onProgress: ProgressListener;
  signal: AbortSignal;
  /** Blobs fetched at once. */
  limit?: number;
  /** Largest Range piece for a layer, in bytes. */
  pieceSize?: number;
  /** Silence allowed to a download beyond its expected time, in ms. */
  stallMs?: number;
  /** Fetch the manifests and configs only ("Inspect"): layers are fetched when opened
   * (buildkit's filterLayerBlobs). */
  lazy?: boolean;
}

export interface ResolvedImage {
  name: string;
  root: Descriptor;
  /** Set when the root is an index: its leaf manifests, nested indexes flattened, as an index
   * to select platforms from. */
  index?: Index;
  /** The platforms an index offers, attestations left out; empty for a single manifest. */
  platforms: Platform[];
}

export interface PulledImage {
  image: ImageRecord;
  /** The platform manifest that was pulled, with its platform. */
  manifest: Descriptor;
}

export class ImageConfigMismatchError extends Error {
  override name = 'ImageConfigMismatchError';
}

/** Resolves the reference and stores its root document, verified against its digest. A HEAD
 * comes first: when it names a document already stored, no GET is made (registries such as
 * Docker Hub count manifest GETs, not HEADs), and a stored digest reference needs no request. */
export async function resolveImage(ref: Reference, ctx: PullContext): Promise<ResolvedImage> {
  const fctx: FetchContext = { ...ctx, reference: ref };
  let root: Descriptor | undefined;
  let bytes: Uint8Array | undefined;
  const storedRoot = async (digest: string) => {
    const info = await ctx.store.info(digest);
    return info ? { mediaType: info.mediaType, digest, size: info.size } : undefined;
  };
  root = ref.digest ? await storedRoot(ref.digest) : undefined;
  if (!root) {
    // A HEAD answer has no body to explain a failure: on not-found the GET below says why.
    const head = await ctx.client.head(ref, ctx.signal).catch((err: unknown) => {
      if (err instanceof RegistryError && err.kind === 'not-found') return undefined;
      throw err;
    });
    if (head) root = await storedRoot(head.digest);
  }
  if (root) {
    bytes = await ctx.store.readBytes(root.digest);
    await ctx.store.addSource(root.digest, `${ref.registry}/${ref.repository}`);
    ctx.onProgress(progressOf(root, 'exists', root.size));
  } else {
    const resolved = await ctx.client.resolve(ref, ctx.signal);
    root = resolved.descriptor;
    bytes = resolved.bytes;
  }
  const doc = parseManifestDocument(bytes, { contentType: root.mediaType });
  root = { ...root, mediaType: doc.mediaType };
  if (await ingestBytes(fctx, root, bytes)) ctx.onProgress(progressOf(root, 'done', root.size));
  const name = formatReference(ref);
  if (doc.kind === 'index') {
    const leaves = await flattenIndex(doc.index, async (d) => {
      await fetchDescriptor(fctx, d, ctx.signal);
      return readIndex(ctx.store, d);
    });
    const index: Index = { ...doc.index, manifests: leaves };
    return { name, root, index, platforms: selectablePlatforms(index) };
  }
  return { name, root, platforms: [] };
}

/** Reads a nested index; resolve fetches and stores it, a stored image only reads it. */
type IndexLoader = (desc: Descriptor) => Promise<Index>;

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

/** Reads a stored index document. */
async function readIndex(store: ContentStore, desc: Descriptor): Promise<Index> {
  const doc = parseManifestDocument(await store.readBytes(desc.digest), {
    descriptorMediaType: desc.mediaType,
  });
  if (doc.kind !== 'index') throw new Error(`${desc.digest} is not an index`);
  return doc.index;
}

/** A stored image's root index with nested indexes flattened, as resolve saw it. */
export async function storedIndex(store: ContentStore, root: Descriptor): Promise<Index> {
  const index = await readIndex(store, root);
  return { ...index, manifests: await flattenIndex(index, (d) => readIndex(store, d)) };
}

/** The children of a stored manifest or index (images.ChildrenHandler). */
export function childrenHandler(store: ContentStore): Handler {
  return async (desc) => {
    if (!isIndex(desc.mediaType) && !isManifest(desc.mediaType)) return [];
    const doc = parseManifestDocument(await store.readBytes(desc.digest), {
      descriptorMediaType: desc.mediaType,
    });
    if (doc.kind === 'index') return doc.index.manifests;
    return [doc.manifest.config, ...doc.manifest.layers];
  };
}

/** Announces children as waiting as soon as they are known. */
function announce(h: Handler, onProgress: ProgressListener): Handler {
  return async (desc, signal) => {
    const children = await h(desc, signal);
    for (const c of children) onProgress(progressOf(c, 'waiting', 0));
    return children;
  };
}

/** Drops layers from the children, so the walk fetches manifests and configs only. */
function filterLayers(h: Handler): Handler {
  return async (desc, signal) => (await h(desc, signal)).filter((c) => !isLayer(c.mediaType));
}

/** Foreign layers (with urls) are never fetched: they are not the registry's to serve. */
function skipForeign(h: Handler): Handler {
  return async (desc, signal) => {
    if (desc.urls && desc.urls.length > 0) throw new SkipDescriptor(desc.digest);
    return h(desc, signal);
  };
}

/** Reports the descriptor that failed; siblings cancelled because of it are left to the
 * caller, which knows the walk has stopped. */
function reportFailure(h: Handler, onProgress: ProgressListener): Handler {
  return async (desc, signal) => {
    try {
      return await h(desc, signal);
    } catch (err) {
      if (!signal.aborted && !(err instanceof SkipDescriptor)) {
        onProgress(progressOf(desc, 'failed', 0, err instanceof Error ? err.message : String(err)));
      }
      throw err;
    }
  };
}

/** Pulls the image and records it: one platform of an index, or with platform 'all' every
 * manifest the index holds (attestations included), so the index can be exported whole. */
export async function pullImage(
  ref: Reference,
  platform: PlatformChoice | undefined,
  ctx: PullContext,
  resolved?: ResolvedImage,
): Promise<PulledImage> {
  const image = resolved ?? (await resolveImage(ref, ctx));
  const fctx: FetchContext = { ...ctx, reference: ref };
  let manifests: Descriptor[] = [image.root];
  if (image.index) {
    if (!platform) throw new Error(`${image.name} is a multi-platform image: choose a platform`);
    manifests =
      platform === allPlatforms ? image.index.manifests : [selectManifest(image.index, platform)];
  }
  // Indexes were fetched and stored by resolve; the walk starts at the manifests.
  const fetch: Handler = async (d, signal) => {
    if (!isIndex(d.mediaType) && d.digest !== image.root.digest) {
      await fetchDescriptor(fctx, d, signal);
    }
    return [];
  };
  await ctx.store.startPull({
    name: image.name,
    target: image.root,
    ...(platform
      ? { platform: platform === allPlatforms ? allPlatforms : formatPlatform(platform) }
      : {}),
  });
  for (const t of manifests) if (t !== image.root) ctx.onProgress(progressOf(t, 'waiting', 0));
  const children = ctx.lazy ? filterLayers(childrenHandler(ctx.store)) : childrenHandler(ctx.store);
  const walk = reportFailure(
    skipForeign(handlers(fetch, announce(children, ctx.onProgress))),
    ctx.onProgress,
  );
  await dispatch(walk, manifests, {
    limit: ctx.limit ?? 3,
    signal: ctx.signal,
  });
  const pulled: Descriptor[] = [];
  for (const t of manifests) {
    const want = platform === allPlatforms ? t.platform : platform;
    const checked = await checkImage(ctx.store, t, want);
    pulled.push({ ...t, ...(checked ? { platform: checked } : {}) });
  }
  const record = await ctx.store.putImage({
    name: image.name,
    target: image.root,
    manifests: pulled.map((descriptor) => ({
      descriptor,
      pulledAt: Date.now(),
      ...(ctx.lazy ? { lazy: true } : {}),
    })),
    ...(platform === allPlatforms && !ctx.lazy ? { complete: true } : {}),
  });
  const shown =
    platform === allPlatforms && image.index
      ? (pulled.find((d) => d.digest === defaultManifest(image.index!)?.digest) ?? pulled[0]!)
      : pulled[0]!;
  return { image: record, manifest: shown };
}

/** The manifest shown for an index when no platform was named: the preferred platform's,
 * else linux/amd64's, else the first. */
export function defaultManifest(index: Index, preferred?: Platform): Descriptor | undefined {
  const platform = defaultPlatform(selectablePlatforms(index), preferred);
  return platform ? selectManifest(index, platform) : index.manifests[0];
}

/** Checks a pulled manifest against its config, as moby does before it registers an image: one
 * diffID per layer, and the platform the user asked for. Returns the config's platform, or
 * undefined for an artifact (a manifest whose config is not an image config). */
async function checkImage(store: ContentStore, desc: Descriptor, want?: Platform) {
  const doc = parseManifestDocument(await store.readBytes(desc.digest), {
    descriptorMediaType: desc.mediaType,
  });
  if (doc.kind !== 'manifest') return undefined;
  const m: Manifest = doc.manifest;
  if (!isConfig(m.config.mediaType)) return undefined;
  const config = parseImageConfig(await store.readBytes(m.config.digest));
  if (config.rootfs.diff_ids.length !== m.layers.length) {
    throw new ImageConfigMismatchError(
      `${desc.digest}: the config lists ${config.rootfs.diff_ids.length} diffIDs but the manifest has ${m.layers.length} layers; the image is broken`,
    );
  }
  const have: Platform = {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
    ...(config['os.version'] ? { 'os.version': config['os.version'] } : {}),
  };
  if (want && !isAttestation(desc) && !platformMatches(want, have)) {
    throw new ImageConfigMismatchError(
      `${desc.digest}: the index lists it for ${formatPlatform(want)}, but its config says ${formatPlatform(have)}`,
    );
  }
  // The index's platform is the one users pick by; the config fills in what it leaves out.
  return { ...have, ...(desc.platform ?? {}) };
}
