// Resolve, then pull: the root is resolved and stored, and a walk of small handlers fetches the
// rest (containerd's Dispatch(Handlers(FetchHandler, FilterPlatforms(ChildrenHandler)))).
import { isIndex, isManifest } from '../oci/mediatypes.ts';
import {
  formatPlatform,
  platformMatches,
  selectManifest,
  selectablePlatforms,
} from '../oci/platform.ts';
import type { Descriptor, Index, Manifest, Platform } from '../oci/types.ts';
import { parseImageConfig, parseManifestDocument } from '../oci/validate.ts';
import { type Reference, formatReference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
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
  /** Range piece size in bytes for layers. */
  pieceSize?: number;
}

export interface ResolvedImage {
  name: string;
  root: Descriptor;
  /** Set when the root is an index. */
  index?: Index;
  /** The platforms an index offers, attestations left out; empty for a single manifest. */
  platforms: Platform[];
}

export class ImageConfigMismatchError extends Error {
  override name = 'ImageConfigMismatchError';
}

/** Resolves the reference and stores its root document, verified against its digest. */
export async function resolveImage(ref: Reference, ctx: PullContext): Promise<ResolvedImage> {
  const { descriptor, bytes } = await ctx.client.resolve(ref, ctx.signal);
  const doc = parseManifestDocument(bytes, { contentType: descriptor.mediaType });
  const root = { ...descriptor, mediaType: doc.mediaType };
  const fctx: FetchContext = { ...ctx, reference: ref };
  const added = await ingestBytes(fctx, root, bytes);
  ctx.onProgress(progressOf(root, added ? 'done' : 'exists', root.size));
  const name = formatReference(ref);
  if (doc.kind === 'index') {
    return { name, root, index: doc.index, platforms: selectablePlatforms(doc.index) };
  }
  return { name, root, platforms: [] };
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

/** Narrows an index's children to the one manifest for the platform (images.FilterPlatforms). */
export function filterPlatform(h: Handler, platform: Platform): Handler {
  return async (desc, signal) => {
    const children = await h(desc, signal);
    if (!isIndex(desc.mediaType)) return children;
    const index: Index = { schemaVersion: 2, manifests: children };
    return [selectManifest(index, platform)];
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

/** Foreign layers (with urls) are never fetched: they are not the registry's to serve. */
function skipForeign(h: Handler): Handler {
  return async (desc, signal) => {
    if (desc.urls && desc.urls.length > 0) throw new SkipDescriptor(desc.digest);
    return h(desc, signal);
  };
}

/** Pulls one platform of the image completely and records it. */
export async function pullImage(
  ref: Reference,
  platform: Platform | undefined,
  ctx: PullContext,
  resolved?: ResolvedImage,
): Promise<ImageRecord> {
  const image = resolved ?? (await resolveImage(ref, ctx));
  const fctx: FetchContext = { ...ctx, reference: ref };
  let manifest: Descriptor = image.root;
  if (image.index) {
    if (!platform) throw new Error(`${image.name} is a multi-platform image: choose a platform`);
    manifest = selectManifest(image.index, platform);
  }
  // The root was fetched and stored by resolve; the walk only descends from it.
  const fetch: Handler = async (d, signal) => {
    if (d.digest !== image.root.digest) await fetchDescriptor(fctx, d, signal);
    return [];
  };
  let children = childrenHandler(ctx.store);
  if (image.index && platform) children = filterPlatform(children, platform);
  await dispatch(skipForeign(handlers(fetch, announce(children, ctx.onProgress))), [image.root], {
    limit: ctx.limit ?? 3,
    signal: ctx.signal,
  });
  const checked = await checkImage(ctx.store, manifest, platform);
  return ctx.store.putImage({
    name: image.name,
    target: image.root,
    manifests: [
      {
        descriptor: { ...manifest, ...(checked ? { platform: checked } : {}) },
        ...(checked ? { platform: checked } : {}),
        pulledAt: Date.now(),
      },
    ],
  });
}

/** Checks a pulled manifest against its config, as moby does before it registers an image: one
 * diffID per layer, and the platform the user asked for. Returns the config's platform. */
async function checkImage(store: ContentStore, desc: Descriptor, want?: Platform) {
  const doc = parseManifestDocument(await store.readBytes(desc.digest), {
    descriptorMediaType: desc.mediaType,
  });
  if (doc.kind !== 'manifest') return undefined;
  const m: Manifest = doc.manifest;
  let config;
  try {
    config = parseImageConfig(await store.readBytes(m.config.digest));
  } catch {
    return undefined; // an artifact, not an image config: nothing to check
  }
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
  if (want && !platformMatches(want, have)) {
    throw new ImageConfigMismatchError(
      `${desc.digest}: the index lists it for ${formatPlatform(want)}, but its config says ${formatPlatform(have)}`,
    );
  }
  return have;
}
