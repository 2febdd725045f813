// The images worker: the registry client, the content store and the image records live here, so
// hashing, storing, importing and exporting never run on the page's thread.
import { buildOciArchive } from '../lib/export/oci-archive.ts';
import { isIndex } from '../lib/oci/mediatypes.ts';
import {
  allPlatforms,
  defaultPlatform,
  parsePlatform,
  type PlatformChoice,
  selectManifest,
  selectablePlatforms,
} from '../lib/oci/platform.ts';
import type { Descriptor, Platform } from '../lib/oci/types.ts';
import type { BlobProgress } from '../lib/pull/progress.ts';
import {
  defaultManifest,
  pullImage,
  resolveImage,
  storedIndex,
  type ResolvedImage,
} from '../lib/pull/pull.ts';
import { summarize, type ImageSummary } from '../lib/pull/summary.ts';
import { fetchDescriptor } from '../lib/pull/fetch.ts';
import { formatReference, parseReference, parseRegistry } from '../lib/reference/reference.ts';
import { RegistryClient, type Credentials } from '../lib/registry/client.ts';
import { describeReferrer, listReferrers } from '../lib/registry/referrers.ts';
import { listTags, TagListTruncatedError } from '../lib/registry/tags.ts';
import { type Connection, connectionKey, transportFor } from '../lib/registry/transport.ts';
import { BlobNotFoundError, type ContentStore } from '../lib/store/content.ts';
import { store, storeReporting, type StoreEvent } from './store.ts';
import { expose, type CallContext } from './rpc.ts';
import { collectGarbage, deleteImage, discardPull, type CollectResult } from '../lib/store/gc.ts';
import { readLibrary, type Library } from '../lib/store/library.ts';
import { importArchive, type ImportResult } from '../lib/import/archive.ts';
import { isQuotaError, storageFullError } from '../lib/store/space.ts';
import { verifyImage, type VerifyResult } from '../lib/store/verify.ts';
import { gcLock, withLock } from '../lib/store/locks.ts';

const credentials = new Map<string, Credentials>();
let clientFor: { key: string; client: RegistryClient } | undefined;
let remembered: Promise<void> | undefined;

/** Loads the credentials the user asked Berth to remember, once per worker. */
function loadRemembered() {
  return (remembered ??= store()
    .then((s) => s.db.getAll('credentials'))
    .then((all) => {
      for (const c of all) {
        if (!credentials.has(c.registry)) {
          credentials.set(c.registry, { username: c.username, password: c.password });
        }
      }
    })
    .catch(() => {
      remembered = undefined;
    }));
}

function client(connection: Connection) {
  const key = connectionKey(connection);
  if (clientFor?.key !== key) {
    clientFor = {
      key,
      client: new RegistryClient({
        transport: transportFor(connection),
        credentials: (registry) => credentials.get(registry),
      }),
    };
  }
  return clientFor.client;
}

/** How far an import has read. */
export type ImportEvent = { type: 'import'; done: number; total: number };

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
  | { type: 'progress'; progress: BlobProgress };

export interface ResolveResult {
  name: string;
  platforms: Platform[];
}

/** The manifest digest of a stored image for a platform: the root itself, or the entry of the
 * (flattened) index that platform selects, as the pull chose it. */
async function manifestFor(s: ContentStore, name: string, platform?: string, preferred?: Platform) {
  const image = await s.getImage(name);
  if (!image) return undefined;
  if (!isIndex(image.target.mediaType)) return { image, digest: image.target.digest };
  const index = await storedIndex(s, image.target);
  const want = platform && platform !== allPlatforms ? parsePlatform(platform) : undefined;
  try {
    const chosen = want ? selectManifest(index, want) : defaultManifest(index, preferred);
    return chosen ? { image, digest: chosen.digest } : undefined;
  } catch {
    return undefined; // that platform is not in the index
  }
}

async function pullLocked(
  ref: ReturnType<typeof parseReference>,
  platform: PlatformChoice | undefined,
  preferred: Platform | undefined,
  pctx: Parameters<typeof resolveImage>[1],
  ctx: CallContext<PullEvent>,
): Promise<ImageSummary> {
  const s = pctx.store;
  const resolved = await resolveImage(ref, pctx);
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
  const { image, manifest } = await pullImage(ref, want, pctx, resolved);
  return summarize(s, image, manifest.digest);
}

/** A preference is only a preference: one that cannot be read is ignored. */
function readPlatform(value: string | undefined): Platform | undefined {
  try {
    return value ? parsePlatform(value) : undefined;
  } catch {
    return undefined;
  }
}

let collected = false;

/** The page's fetch settings, bounded: the largest Range piece and the stall allowance. */
function fetchTuning(arg: { pieceMiB?: number; stallSeconds?: number }) {
  return {
    pieceSize: Math.min(256, Math.max(1, arg.pieceMiB ?? 64)) << 20,
    stallMs: Math.min(600, Math.max(1, arg.stallSeconds ?? 30)) * 1000,
  };
}

/** Collects garbage as soon as no pull or resolve (of any tab) holds the GC lock, trying again
 * every half minute: it never makes them wait. */
async function collectWhenIdle(s: ContentStore): Promise<void> {
  try {
    const r = await collectGarbage(s, { ifIdle: true });
    if (!r) setTimeout(() => void collectWhenIdle(s), 30_000);
  } catch {
    collected = false; // next time
  }
}

const api = {
  /** Opens the store, reporting a wait for other tabs, then collects garbage once per worker
   * (abandoned ingests and pulls whose lease ran out): at once if no pull or resolve is
   * running, else later in the background. */
  async openStore(_arg: Record<string, never>, ctx: CallContext<StoreEvent>): Promise<void> {
    const s = await storeReporting((e) => ctx.emit(e));
    if (!collected) {
      collected = true;
      await collectWhenIdle(s);
    }
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
        }),
      { signal: ctx.signal, mode: 'shared' },
    );
    return { name: r.name, platforms: r.platforms };
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
    },
    ctx: CallContext<PullEvent>,
  ): Promise<ImageSummary> {
    await loadRemembered();
    const ref = parseReference(arg.reference);
    const platform =
      arg.platform === allPlatforms
        ? allPlatforms
        : arg.platform
          ? parsePlatform(arg.platform)
          : undefined;
    const preferred = readPlatform(arg.preferredPlatform);
    const s = await store();
    const pctx = {
      client: client(arg.connection),
      store: s,
      signal: ctx.signal,
      limit: Math.min(8, Math.max(1, arg.limit ?? 3)),
      ...fetchTuning(arg),
      lazy: arg.lazy ?? false,
      onProgress: (progress: BlobProgress) =>
        ctx.emit({ type: 'progress', progress } satisfies PullEvent),
    };
    // Held shared from the first stored byte to the image record: garbage collection, which
    // takes it exclusively, never sees this pull's blobs stored but not yet rooted.
    try {
      return await withLock(gcLock, () => pullLocked(ref, platform, preferred, pctx, ctx), {
        signal: ctx.signal,
        mode: 'shared',
      });
    } catch (err) {
      if (!isQuotaError(err)) throw err;
      const estimate = await navigator.storage?.estimate().catch(() => undefined);
      throw storageFullError(formatReference(ref), await readLibrary(s), estimate);
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
    const sources = (await s.info(arg.manifestDigest))?.sources ?? [];
    const own = `${ref.registry}/${ref.repository}`;
    const from = parseReference(sources.includes(own) ? own : (sources[0] ?? own));
    await withLock(
      gcLock,
      () =>
        fetchDescriptor(
          {
            client: client(arg.connection),
            store: s,
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

  /** Stores the images of an archive the user dropped or picked. */
  async importArchive(arg: { file: Blob }, ctx: CallContext<ImportEvent>): Promise<ImportResult> {
    const s = await store();
    // Shared like a pull: collection must not see blobs stored but not yet rooted.
    return withLock(
      gcLock,
      () =>
        importArchive(s, arg.file, {
          signal: ctx.signal,
          onProgress: (done, total) =>
            ctx.emit({ type: 'import', done, total } satisfies ImportEvent),
        }),
      { signal: ctx.signal, mode: 'shared' },
    );
  },

  /** Re-hashes every stored blob of an image. */
  async verifyImage(arg: { name: string }, ctx: CallContext): Promise<VerifyResult> {
    const s = await store();
    const image = await s.getImage(formatReference(parseReference(arg.name)));
    if (!image) throw new Error(`${arg.name} is not stored`);
    return verifyImage(s, image, ctx.signal);
  },

  async deleteImage(arg: { name: string }): Promise<CollectResult> {
    const s = await store();
    return deleteImage(s, formatReference(parseReference(arg.name)));
  },

  /** The stored summary of an image for a platform, or null when that was not pulled. */
  async summary(arg: {
    name: string;
    platform?: string;
    preferredPlatform?: string;
  }): Promise<ImageSummary | null> {
    const s = await store();
    const found = await manifestFor(
      s,
      formatReference(parseReference(arg.name)),
      arg.platform,
      readPlatform(arg.preferredPlatform),
    );
    if (!found || !found.image.manifests.some((m) => m.descriptor.digest === found.digest)) {
      return null;
    }
    return summarize(s, found.image, found.digest);
  },

  /** A stored image's canonical name and platforms, read from the store alone. */
  async openStored(arg: { name: string }): Promise<ResolveResult> {
    const s = await store();
    const name = formatReference(parseReference(arg.name));
    const image = await s.getImage(name);
    if (!image) throw new Error(`${arg.name} is not stored in this browser`);
    const platforms = isIndex(image.target.mediaType)
      ? selectablePlatforms(await storedIndex(s, image.target))
      : [];
    return { name, platforms };
  },

  /** Exports one pulled manifest, or with `all` the whole index of an image pulled with All
   * platforms. */
  async exportArchive(arg: { name: string; manifestDigest?: string; all?: boolean }) {
    const ref = parseReference(arg.name);
    const s = await store();
    const image = await s.getImage(formatReference(ref));
    if (arg.all) {
      if (!image?.complete) throw new Error(`${arg.name}: pull All platforms first`);
      return buildOciArchive(s, { reference: ref, target: image.target });
    }
    const m = image?.manifests.find((x) => x.descriptor.digest === arg.manifestDigest);
    if (!m) throw new Error(`${arg.name} is not stored: pull it first`);
    try {
      return await buildOciArchive(s, { reference: ref, target: m.descriptor });
    } catch (err) {
      if (!(err instanceof BlobNotFoundError)) throw err;
      throw new Error(
        `${arg.name} was inspected, not pulled: some of its layers are not downloaded. Pull it to export it.`,
        { cause: err },
      );
    }
  },

  /** Sets a registry's credentials for this worker's life; `remember` also keeps them in the
   * store for later visits, and without it any remembered ones are forgotten. */
  async setCredentials(arg: {
    registry: string;
    credentials: Credentials | null;
    remember?: boolean;
  }) {
    await loadRemembered();
    const s = await store();
    const registry = parseRegistry(arg.registry);
    if (arg.credentials) credentials.set(registry, arg.credentials);
    else credentials.delete(registry);
    if (arg.credentials && arg.remember) {
      await s.db.put('credentials', { registry, ...arg.credentials, savedAt: Date.now() });
    } else {
      await s.db.delete('credentials', registry);
    }
    clientFor = undefined; // drop tokens obtained with the old credentials
  },

  /** The registries with credentials in this worker, and whether each is remembered. Never
   * the passwords. */
  async listCredentials(
    _arg: Record<string, never>,
  ): Promise<{ registry: string; username: string; remembered: boolean }[]> {
    await loadRemembered();
    const kept = new Set(await (await store()).db.getAllKeys('credentials'));
    return [...credentials]
      .map(([registry, c]) => ({ registry, username: c.username, remembered: kept.has(registry) }))
      .sort((a, b) => a.registry.localeCompare(b.registry));
  },

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
  ): Promise<{ descriptor: Descriptor; label: string }[]> {
    await loadRemembered();
    const r = await listReferrers(
      client(arg.connection),
      parseReference(arg.reference),
      arg.digest,
      {
        signal: ctx.signal,
      },
    );
    return r.descriptors.map((descriptor) => ({ descriptor, label: describeReferrer(descriptor) }));
  },

  /** Forgets every credential, remembered or not. */
  async forgetCredentials(_arg: Record<string, never>) {
    await loadRemembered(); // so a load still running cannot bring them back
    credentials.clear();
    await (await store()).db.clear('credentials');
    clientFor = undefined;
  },
};

export type ImagesWorkerApi = typeof api;
export type { StoreEvent };

expose(api, self as unknown as Parameters<typeof expose>[1]);
