// The images worker: the registry client, the content store and the image records live here, so
// hashing, storing, importing and exporting never run on the page's thread. Each method is a
// short delegation; credentials, collection and archives have their own modules.
import { deleteImage, discardPull, type CollectResult } from '../lib/images/gc.ts';
import type { Documents } from '../lib/images/documents.ts';
import { StoredImage } from '../lib/images/image.ts';
import { readLibrary, type Library } from '../lib/images/library.ts';
import { whenFull } from '../lib/images/space.ts';
import { type ImageSummary, summarize } from '../lib/images/summary.ts';
import { verifyImage, type VerifyResult } from '../lib/images/verify.ts';
import {
  allPlatforms,
  defaultPlatform,
  parsePlatformChoice,
  type PlatformChoice,
  readPlatform,
  selectManifest,
} from '../lib/oci/platform.ts';
import type { Descriptor, Platform } from '../lib/oci/types.ts';
import { fetchDescriptor } from '../lib/pull/fetch.ts';
import type { BlobProgress } from '../lib/pull/progress.ts';
import { defaultParallelBlobs, maxParallelBlobs } from '../lib/pull/defaults.ts';
import { type PullContext, type ResolvedImage, pullImage, resolveImage } from '../lib/pull/pull.ts';
import {
  type Reference,
  formatReference,
  parseReference,
  repositoryOf,
} from '../lib/reference/reference.ts';
import { describeReferrer, listReferrers } from '../lib/registry/referrers.ts';
import { listTags, TagListTruncatedError } from '../lib/registry/tags.ts';
import type { RegistryClient } from '../lib/registry/client.ts';
import type { Connection } from '../lib/registry/transport.ts';
import { gcLock, withLock } from '../lib/store/locks.ts';
import { exportArchive, importArchive, type ImportEvent } from './images/archives.ts';
import { catalog, repositoryTags, tagDetails } from './images/catalog.ts';
import { collectOnce } from './images/collect.ts';
import {
  client,
  forgetCredentials,
  listCredentials,
  loadRemembered,
  setCredentials,
} from './images/credentials.ts';
import { rateLimit } from './images/ratelimits.ts';
import { readRemoteFile, remoteFileBlob, remoteIndex } from './images/remote.ts';
import { attached, fetchAttachedBlob, verifySignature } from './images/trust.ts';
import { expose, type CallContext } from './rpc.ts';
import { store, storeReporting, type StoreEvent } from './store.ts';

export type { ImportEvent };

/** What a pull reports along the way: the resolved root first, then progress per blob. */
export type PullEvent =
  | {
      type: 'resolved';
      name: string;
      root: ResolvedImage['root'];
      platforms: Platform[];
      /** The platform of the manifest being pulled, as the index lists it. */
      platform?: Platform;
      /** Every platform is being pulled. */
      all?: boolean;
    }
  | { type: 'progress'; progress: BlobProgress }
  /** The image's summary as soon as the manifest shown and its config are stored and checked,
   * while its layers download: `partial`, as the image is recorded only at the end. */
  | { type: 'summary'; summary: ImageSummary }
  /** What is attached to the image, asked for beside the pull once the root digest is known
   * (empty when the registry could not say). */
  | { type: 'referrers'; referrers: Referrer[] };

/** A signature, SBOM or attestation attached to an image, with what it is in words. */
export interface Referrer {
  descriptor: Descriptor;
  label: string;
}

export interface ResolveResult {
  name: string;
  platforms: Platform[];
  /** The digest the reference resolved to, when the registry said (not from the store alone):
   * the tag list and referrers can be asked for at once. */
  rootDigest?: string;
}

/** Names resolved in this worker's life whose root was stored without an image record: a pull
 * that follows starts with a HEAD, which finds the root stored and saves a counted GET. */
const resolvedNames = new Set<string>();

/** The referrers of a digest, labelled; empty when the registry could not say (they are an
 * extra, not worth failing for). */
async function referrersOf(
  registry: RegistryClient,
  ref: Reference,
  digest: string,
  signal: AbortSignal,
): Promise<Referrer[]> {
  const r = await listReferrers(registry, ref, digest, { signal, tagInParallel: true });
  return r.descriptors.map((descriptor) => ({ descriptor, label: describeReferrer(descriptor) }));
}

async function pullLocked(
  ref: Reference,
  platform: PlatformChoice | undefined,
  preferred: Platform | undefined,
  pctx: PullContext,
  ctx: CallContext<PullEvent>,
  referrers: boolean,
): Promise<ImageSummary> {
  const resolved = await resolveImage(ref, pctx);
  // The referrers need only the root digest, but the page waits for the platform manifest and
  // the config: the referrers are asked for once the walk's first request for one of those is
  // on its way, so that it, not they, takes the connection the root left idle; then they run
  // beside it.
  const stopReferrers = new AbortController();
  let listing: Promise<void> | undefined;
  const askReferrers = () => {
    if (!referrers || listing) return;
    const signal = AbortSignal.any([ctx.signal, stopReferrers.signal]);
    listing = new Promise<void>((r) => setTimeout(r, 0))
      .then(() => referrersOf(pctx.client, ref, resolved.root.digest, signal))
      .then(
        (list) => ctx.emit({ type: 'referrers', referrers: list } satisfies PullEvent),
        () => {
          if (!signal.aborted) ctx.emit({ type: 'referrers', referrers: [] } satisfies PullEvent);
        },
      );
  };
  const onProgress = (p: BlobProgress) => {
    pctx.onProgress(p);
    if ((p.role === 'manifest' || p.role === 'config') && p.state !== 'waiting') askReferrers();
  };
  try {
    const summary = await pullResolved(
      resolved,
      ref,
      platform,
      preferred,
      { ...pctx, onProgress },
      ctx,
    );
    // A pull with no image config to fetch (an artifact) asks for them now. Their event goes
    // before the pull's answer, which ends the call.
    askReferrers();
    await listing;
    return summary;
  } finally {
    stopReferrers.abort();
  }
}

/** The rest of a pull once its root is resolved: the platform chosen, the summary shown as
 * soon as the config is checked, then the image recorded and summarised from the store. */
async function pullResolved(
  resolved: ResolvedImage,
  ref: Reference,
  platform: PlatformChoice | undefined,
  preferred: Platform | undefined,
  pctx: PullContext,
  ctx: CallContext<PullEvent>,
): Promise<ImageSummary> {
  const want = resolved.index
    ? (platform ?? defaultPlatform(resolved.platforms, preferred))
    : undefined;

  const selected =
    resolved.index && want && want !== allPlatforms
      ? selectManifest(resolved.index, want)
      : undefined;
  ctx.emit({
    type: 'resolved',
    name: resolved.name,
    root: resolved.root,
    platforms: resolved.platforms,
    ...(selected?.platform ? { platform: selected.platform } : {}),
    ...(want === allPlatforms ? { all: true } : {}),
  } satisfies PullEvent);
  const onConfig = async (manifest: Descriptor, docs: Documents) => {
    const pulledAt = Date.now();
    const summary = await summarize(
      pctx.store.content,
      {
        name: resolved.name,
        target: resolved.root,
        manifests: [{ descriptor: manifest, pulledAt }],
      },
      manifest.digest,
      docs,
    );
    ctx.emit({ type: 'summary', summary: { ...summary, partial: true } } satisfies PullEvent);
  };
  // An Inspect ends once the configs are stored: its summary comes then, not in part.
  const { image, manifest, docs } = await pullImage(
    ref,
    want,
    pctx.lazy ? pctx : { ...pctx, onConfig },
    resolved,
  );
  return new StoredImage(pctx.store, image, docs).summary(manifest.digest);
}

/** The page's fetch settings, bounded: the largest Range piece and the stall allowance. */
function fetchTuning(arg: { pieceMiB?: number; stallSeconds?: number }) {
  return {
    pieceSize: Math.min(256, Math.max(1, arg.pieceMiB ?? 64)) << 20,
    stallMs: Math.min(600, Math.max(1, arg.stallSeconds ?? 30)) * 1000,
  };
}

/** The stored image a name (in any form) refers to. */
async function storedImage(name: string) {
  return StoredImage.open(await store(), formatReference(parseReference(name)));
}

const api = {
  /** Opens the store, reporting a wait for other tabs, then collects garbage once per worker
   * (abandoned ingests and pulls whose lease ran out): at once if no pull or resolve is
   * running, else later in the background. */
  async openStore(_arg: Record<string, never>, ctx: CallContext<StoreEvent>): Promise<void> {
    await collectOnce(await storeReporting((e) => ctx.emit(e)));
  },

  /** Resolves a reference (HEAD first) and lists its platforms; stores only the root. */
  async resolve(
    arg: { reference: string; connection: Connection },
    ctx: CallContext,
  ): Promise<ResolveResult> {
    await loadRemembered();
    const s = await store();
    // Shared with pulls: a collection must not remove the root between its store and read.
    const r = await withLock(
      gcLock,
      () =>
        resolveImage(parseReference(arg.reference), {
          client: client(arg.connection),
          store: s,
          signal: ctx.signal,
          onProgress: () => {},
          resolvedNames,
        }),
      { signal: ctx.signal, mode: 'shared' },
    );
    resolvedNames.add(r.name);
    return { name: r.name, platforms: r.platforms, rootDigest: r.root.digest };
  },

  /** The stored images and interrupted pulls, with their sizes. */
  async library(_arg: Record<string, never>): Promise<Library> {
    return readLibrary(await store());
  },

  /** Gives up an interrupted pull and frees what only it held. */
  async discardPull(arg: { name: string }): Promise<CollectResult> {
    return discardPull(await store(), arg.name);
  },

  async pull(
    arg: {
      reference: string;
      platform?: string;
      /** The platform chosen when none is asked for and the index offers it (a setting). */
      preferredPlatform?: string;
      connection: Connection;
      limit?: number;
      pieceMiB?: number;
      stallSeconds?: number;
      /** Inspect: manifests and config only. */
      lazy?: boolean;
      /** List the image's referrers beside the pull (a `referrers` event). */
      referrers?: boolean;
    },
    ctx: CallContext<PullEvent>,
  ): Promise<ImageSummary> {
    await loadRemembered();
    const ref = parseReference(arg.reference);
    const platform = arg.platform ? parsePlatformChoice(arg.platform) : undefined;
    const preferred = readPlatform(arg.preferredPlatform);
    const s = await store();
    const pctx: PullContext = {
      client: client(arg.connection),
      store: s,
      signal: ctx.signal,
      limit: Math.min(maxParallelBlobs, Math.max(1, arg.limit ?? defaultParallelBlobs)),
      ...fetchTuning(arg),
      lazy: arg.lazy ?? false,
      resolvedNames,
      onProgress: (progress: BlobProgress) =>
        ctx.emit({ type: 'progress', progress } satisfies PullEvent),
    };
    // Held shared from the first stored byte to the image record: garbage collection, which
    // takes it exclusively, never sees this pull's blobs stored but not yet rooted.
    try {
      return await withLock(
        gcLock,
        () => pullLocked(ref, platform, preferred, pctx, ctx, arg.referrers ?? false),
        { signal: ctx.signal, mode: 'shared' },
      );
    } catch (err) {
      throw await whenFull(err, formatReference(ref), s);
    }
  },

  /** Fetches one layer of an inspected image, from where its manifest was fetched (the
   * distribution source recorded in the store). */
  async fetchLayer(
    arg: {
      name: string;
      manifestDigest: string;
      layer: Descriptor;
      connection: Connection;
      pieceMiB?: number;
      stallSeconds?: number;
    },
    ctx: CallContext<PullEvent>,
  ): Promise<void> {
    await loadRemembered();
    const s = await store();
    const ref = parseReference(arg.name);
    const sources = (await s.content.info(arg.manifestDigest))?.sources ?? [];
    const own = repositoryOf(ref);
    const from = parseReference(sources.includes(own) ? own : (sources[0] ?? own));
    await withLock(
      gcLock,
      () =>
        fetchDescriptor(
          {
            client: client(arg.connection),
            store: s.content,
            reference: from,
            ...fetchTuning(arg),
            onProgress: (progress) => ctx.emit({ type: 'progress', progress } satisfies PullEvent),
          },
          arg.layer,
          ctx.signal,
        ),
      { signal: ctx.signal, mode: 'shared' },
    );
  },

  importArchive,

  /** Layers not downloaded, read through their table of contents (eStargz, zstd:chunked). */
  remoteIndex,
  readRemoteFile,
  remoteFileBlob,

  /** Re-hashes every stored blob of an image. */
  async verifyImage(arg: { name: string }, ctx: CallContext): Promise<VerifyResult> {
    const s = await store();
    const image = await s.images.get(formatReference(parseReference(arg.name)));
    if (!image) throw new Error(`${arg.name} is not stored`);
    return verifyImage(s, image, ctx.signal);
  },

  async deleteImage(arg: { name: string }): Promise<CollectResult> {
    return deleteImage(await store(), formatReference(parseReference(arg.name)));
  },

  /** The stored summary of an image for a platform, or null when that was not pulled. */
  async summary(arg: {
    name: string;
    platform?: string;
    preferredPlatform?: string;
  }): Promise<ImageSummary | null> {
    const image = await storedImage(arg.name);
    const digest = await image?.manifestFor(arg.platform, readPlatform(arg.preferredPlatform));
    if (!image || !digest || !image.pulled(digest)) return null;
    return image.summary(digest);
  },

  /** A stored image's canonical name and platforms, read from the store alone. */
  async openStored(arg: { name: string }): Promise<ResolveResult> {
    const image = await storedImage(arg.name);
    if (!image) throw new Error(`${arg.name} is not stored in this browser`);
    return { name: image.name, platforms: await image.platforms() };
  },

  exportArchive,

  setCredentials,

  listCredentials: (_arg: Record<string, never>) => listCredentials(),

  /** The tags of the reference's repository, for suggestions. A list cut short by the
   * registry's size is returned as far as it was read. */
  async listTags(
    arg: { reference: string; connection: Connection },
    ctx: CallContext,
  ): Promise<string[]> {
    await loadRemembered();
    try {
      return await listTags(client(arg.connection), parseReference(arg.reference), {
        signal: ctx.signal,
      });
    } catch (err) {
      if (err instanceof TagListTruncatedError) return err.tags;
      throw err;
    }
  },

  /** The signatures, SBOMs and attestations attached to a digest (OCI referrers). */
  async referrers(
    arg: { reference: string; digest: string; connection: Connection },
    ctx: CallContext,
  ): Promise<Referrer[]> {
    await loadRemembered();
    const ref = parseReference(arg.reference);
    return referrersOf(client(arg.connection), ref, arg.digest, ctx.signal);
  },

  forgetCredentials: (_arg: Record<string, never>) => forgetCredentials(),

  /** What is attached to a stored image (signatures, SBOMs, attestations), found, checked and
   * stored; a big blob of one fetched when opened; its signatures verified. */
  attached,
  fetchAttachedBlob,
  verifySignature,

  /** Browsing a registry: its catalog, a repository's tags, what a tag is and when it was
   * built, and the rate limit the registry's answers stated. */
  catalog,
  repositoryTags,
  tagDetails,
  rateLimit,
};

export type ImagesWorkerApi = typeof api;
export type { StoreEvent };

expose(api, self as unknown as Parameters<typeof expose>[1]);
