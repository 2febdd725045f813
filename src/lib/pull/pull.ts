// Resolve, then pull: the root is resolved and stored, and a walk of small handlers fetches the
// rest (containerd's Dispatch(Handlers(FetchHandler, FilterPlatforms(ChildrenHandler)))).
import { messageOf } from '../errors.ts';
import { Documents, flattenIndex } from '../images/documents.ts';
import { defaultManifest } from '../images/image.ts';
import { isIndex, isLayer } from '../oci/mediatypes.ts';
import {
  allPlatforms,
  type PlatformChoice,
  formatPlatform,
  formatPlatformChoice,
  isAttestation,
  platformMatches,
  selectManifest,
  selectablePlatforms,
} from '../oci/platform.ts';
import type { Descriptor, Index, Platform } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { type Reference, formatReference, repositoryOf } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import { RegistryError } from '../registry/errors.ts';
import type { ImageRecord, Store } from '../store/store.ts';
import { type Handler, SkipDescriptor, dispatch, handlers } from './dispatch.ts';
import { type FetchContext, fetchDescriptor, ingestBytes } from './fetch.ts';
import { defaultParallelBlobs } from './defaults.ts';
import { type ProgressListener, progressOf } from './progress.ts';

export interface PullContext {
  client: RegistryClient;
  store: Store;
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
  /** Names whose root was resolved and stored a moment ago without an image record (the
   * page resolved before it pulled): their resolve starts with a HEAD too. */
  resolvedNames?: ReadonlySet<string>;
  /** Called once the manifest the pull shows and its config are stored and checked, with the
   * manifest (its platform as the config says): the image can be summarised while its layers
   * still download. The pull ends only after what it returns has settled. */
  onConfig?: (manifest: Descriptor, docs: Documents) => Promise<void> | void;
}

export interface ResolvedImage {
  name: string;
  root: Descriptor;
  /** Set when the root is an index: its leaf manifests, nested indexes flattened, as an index
   * to select platforms from. */
  index?: Index;
  /** The platforms an index offers, attestations left out; empty for a single manifest. */
  platforms: Platform[];
  /** The documents read so far, each parsed once; the pull goes on with them. */
  docs: Documents;
}

export interface PulledImage {
  image: ImageRecord;
  /** The platform manifest that was pulled, with its platform. */
  manifest: Descriptor;
  /** Its documents, parsed once: a summary reads them from here. */
  docs: Documents;
}

export class ImageConfigMismatchError extends Error {
  override name = 'ImageConfigMismatchError';
}

/** Resolves the reference and stores its root document, verified against its digest. A stored
 * digest reference needs no request. When something is stored under the name (an image, an
 * interrupted pull, a root resolved a moment ago), a HEAD comes first: when it names a document
 * already stored, no GET is made (registries such as Docker Hub count manifest GETs, not HEADs).
 * When nothing is, the HEAD could not save the GET, and would only cost a round trip. */
export async function resolveImage(ref: Reference, ctx: PullContext): Promise<ResolvedImage> {
  const content = ctx.store.content;
  const docs = new Documents(content);
  const fctx: FetchContext = { ...ctx, store: content, reference: ref, docs };
  let root: Descriptor | undefined;
  let bytes: Uint8Array | undefined;
  const storedRoot = async (digest: string) => {
    const info = await content.info(digest);
    return info ? { mediaType: info.mediaType, digest, size: info.size } : undefined;
  };
  const name = formatReference(ref);
  root = ref.digest ? await storedRoot(ref.digest) : undefined;
  if (!root && (await storedUnder(name, ctx))) {
    // A HEAD answer has no body to explain a failure: on not-found the GET below says why.
    const head = await ctx.client.head(ref, ctx.signal).catch((err: unknown) => {
      if (err instanceof RegistryError && err.kind === 'not-found') return undefined;
      throw err;
    });
    if (head) root = await storedRoot(head.digest);
  }
  if (root) {
    bytes = await content.readBytes(root.digest);
    await content.addSource(root.digest, repositoryOf(ref));
    ctx.onProgress(progressOf(root, 'exists', root.size));
  } else {
    const resolved = await ctx.client.resolve(ref, ctx.signal);
    root = resolved.descriptor;
    bytes = resolved.bytes;
  }
  const doc = parseManifestDocument(bytes, { contentType: root.mediaType });
  root = { ...root, mediaType: doc.mediaType };
  docs.remember(root, doc);
  if (await ingestBytes(fctx, root, bytes)) ctx.onProgress(progressOf(root, 'done', root.size));
  if (doc.kind === 'index') {
    const leaves = await flattenIndex(doc.index, async (d) => {
      await fetchDescriptor(fctx, d, ctx.signal);
      return docs.index(d);
    });
    const index: Index = { ...doc.index, manifests: leaves };
    return { name, root, index, platforms: selectablePlatforms(index), docs };
  }
  return { name, root, platforms: [], docs };
}

/** Whether anything is stored under the name that a HEAD could find unchanged. */
async function storedUnder(name: string, ctx: PullContext): Promise<boolean> {
  if (ctx.resolvedNames?.has(name)) return true;
  const [image, pull] = await Promise.all([
    ctx.store.images.get(name),
    ctx.store.images.getPull(name),
  ]);
  return image !== undefined || pull !== undefined;
}

/** The children of a stored manifest or index (images.ChildrenHandler). */
export function childrenHandler(docs: Documents): Handler {
  return (desc) => docs.children(desc);
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
        onProgress(progressOf(desc, 'failed', 0, messageOf(err)));
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
  const { docs } = image;
  const fctx: FetchContext = { ...ctx, store: ctx.store.content, reference: ref, docs };
  let manifests: Descriptor[] = [image.root];
  if (image.index) {
    if (!platform) throw new Error(`${image.name} is a multi-platform image: choose a platform`);
    manifests =
      platform === allPlatforms ? image.index.manifests : [selectManifest(image.index, platform)];
  }
  const want = (t: Descriptor) => (platform === allPlatforms ? t.platform : platform);
  const shown =
    platform === allPlatforms && image.index
      ? (manifests.find((d) => d.digest === defaultManifest(image.index!)?.digest) ?? manifests[0]!)
      : manifests[0]!;
  // The shown manifest's config, once the manifest is read: when it is stored, the summary can
  // be shown. It is checked then, so that a config that contradicts its manifest fails the
  // pull before the layers are downloaded.
  let shownConfig: string | undefined;
  let configReady: Promise<void> | undefined;
  const onStored = async (d: Descriptor) => {
    if (d.digest === shown.digest) {
      const doc = await docs.document(d);
      if (doc.kind === 'manifest') shownConfig = doc.manifest.config.digest;
      return;
    }
    const tell = ctx.onConfig;
    if (!tell || configReady || d.digest !== shownConfig) return;
    const checking = checkImage(docs, shown, want(shown));
    // Announced beside the walk: the layers' downloads do not wait for the page.
    configReady = checking.then((checked) =>
      tell({ ...shown, ...(checked ? { platform: checked } : {}) }, docs),
    );
    configReady.catch(() => undefined);
    await checking;
  };
  // Indexes were fetched and stored by resolve; the walk starts at the manifests.
  const fetch: Handler = async (d, signal) => {
    if (!isIndex(d.mediaType) && d.digest !== image.root.digest) {
      await fetchDescriptor(fctx, d, signal);
    }
    await onStored(d);
    return [];
  };
  await ctx.store.images.startPull({
    name: image.name,
    target: image.root,
    ...(platform ? { platform: formatPlatformChoice(platform) } : {}),
  });
  for (const t of manifests) if (t !== image.root) ctx.onProgress(progressOf(t, 'waiting', 0));
  const children = ctx.lazy ? filterLayers(childrenHandler(docs)) : childrenHandler(docs);
  const walk = reportFailure(
    skipForeign(handlers(fetch, announce(children, ctx.onProgress))),
    ctx.onProgress,
  );
  try {
    await dispatch(walk, manifests, {
      limit: ctx.limit ?? defaultParallelBlobs,
      signal: ctx.signal,
    });
  } finally {
    // What was announced is told before the pull ends, whichever way it ends.
    await configReady?.catch(() => undefined);
  }
  const pulled: Descriptor[] = [];
  for (const t of manifests) {
    const checked = await checkImage(docs, t, want(t));
    pulled.push({ ...t, ...(checked ? { platform: checked } : {}) });
  }
  const record = await ctx.store.images.put({
    name: image.name,
    target: image.root,
    manifests: pulled.map((descriptor) => ({
      descriptor,
      pulledAt: Date.now(),
      ...(ctx.lazy ? { lazy: true } : {}),
    })),
    ...(platform === allPlatforms && !ctx.lazy ? { complete: true } : {}),
  });
  return {
    image: record,
    manifest: pulled.find((d) => d.digest === shown.digest) ?? pulled[0]!,
    docs,
  };
}

/** Checks a pulled manifest against its config, as moby does before it registers an image: one
 * diffID per layer, and the platform the user asked for. Returns the config's platform, or
 * undefined for an artifact (a manifest whose config is not an image config). */
async function checkImage(docs: Documents, desc: Descriptor, want?: Platform) {
  const doc = await docs.document(desc);
  if (doc.kind !== 'manifest') return undefined;
  const m = doc.manifest;
  const config = await docs.config(m);
  if (!config) return undefined;
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
