// The pull worker: registry client, content store and exporter live here, so hashing, storing
// and composing archives never run on the page's thread.
import { buildOciArchive } from '../lib/export/oci-archive.ts';
import { isIndex } from '../lib/oci/mediatypes.ts';
import { defaultPlatform, parsePlatform, selectManifest } from '../lib/oci/platform.ts';
import type { Platform } from '../lib/oci/types.ts';
import { parseManifestDocument } from '../lib/oci/validate.ts';
import type { BlobProgress } from '../lib/pull/progress.ts';
import { pullImage, resolveImage, type ResolvedImage } from '../lib/pull/pull.ts';
import { summarize, type ImageSummary } from '../lib/pull/summary.ts';
import { formatReference, parseReference } from '../lib/reference/reference.ts';
import { RegistryClient, type Credentials } from '../lib/registry/client.ts';
import { proxyTransport } from '../lib/registry/transport.ts';
import { ContentStore } from '../lib/store/content.ts';
import { openDatabase } from '../lib/store/db.ts';
import { expose, type CallContext } from './rpc.ts';

const credentials = new Map<string, Credentials>();
let storePromise: Promise<ContentStore> | undefined;
const store = () =>
  (storePromise ??= openDatabase(undefined, () => (storePromise = undefined)).then(
    (db) => new ContentStore(db),
    (err: unknown) => {
      storePromise = undefined;
      throw err;
    },
  ));
let clientFor: { proxy: string; client: RegistryClient } | undefined;

function client(proxy: string) {
  if (clientFor?.proxy !== proxy) {
    clientFor = {
      proxy,
      client: new RegistryClient({
        transport: proxyTransport(proxy),
        credentials: (registry) => credentials.get(registry),
      }),
    };
  }
  return clientFor.client;
}

/** What a pull reports along the way: the resolved root first, then progress per blob. */
export type PullEvent =
  | {
      type: 'resolved';
      name: string;
      root: ResolvedImage['root'];
      platforms: Platform[];
      /** The platform of the manifest being pulled, as the index lists it. */
      platform?: Platform;
    }
  | { type: 'progress'; progress: BlobProgress };

export interface ResolveResult {
  name: string;
  platforms: Platform[];
}

/** The manifest digest of a stored image for a platform: the root itself, or the index entry
 * that platform selects. */
async function manifestFor(s: ContentStore, name: string, platform?: string) {
  const image = await s.getImage(name);
  if (!image) return undefined;
  if (!isIndex(image.target.mediaType)) return { image, digest: image.target.digest };
  const doc = parseManifestDocument(await s.readBytes(image.target.digest), {
    descriptorMediaType: image.target.mediaType,
  });
  if (doc.kind !== 'index') return undefined;
  const want = platform ? parsePlatform(platform) : undefined;
  const chosen = want ?? defaultPlatform(doc.index.manifests.flatMap((m) => m.platform ?? []));
  if (!chosen) return undefined;
  try {
    return { image, digest: selectManifest(doc.index, chosen).digest };
  } catch {
    return undefined;
  }
}

const api = {
  /** Resolves a reference (HEAD first) and lists its platforms; stores only the root. */
  async resolve(
    arg: { reference: string; proxy: string },
    ctx: CallContext,
  ): Promise<ResolveResult> {
    const r = await resolveImage(parseReference(arg.reference), {
      client: client(arg.proxy),
      store: await store(),
      signal: ctx.signal,
      onProgress: () => {},
    });
    return { name: r.name, platforms: r.platforms };
  },

  async pull(
    arg: {
      reference: string;
      platform?: string;
      proxy: string;
      limit?: number;
      pieceMiB?: number;
      stallSeconds?: number;
    },
    ctx: CallContext,
  ): Promise<ImageSummary> {
    const ref = parseReference(arg.reference);
    const platform = arg.platform ? parsePlatform(arg.platform) : undefined;
    const s = await store();
    const pctx = {
      client: client(arg.proxy),
      store: s,
      signal: ctx.signal,
      limit: Math.min(8, Math.max(1, arg.limit ?? 3)),
      pieceSize: Math.min(256, Math.max(1, arg.pieceMiB ?? 64)) << 20,
      stallMs: Math.min(600, Math.max(1, arg.stallSeconds ?? 30)) * 1000,
      onProgress: (progress: BlobProgress) =>
        ctx.emit({ type: 'progress', progress } satisfies PullEvent),
    };
    const resolved = await resolveImage(ref, pctx);
    const want = resolved.index ? (platform ?? defaultPlatform(resolved.platforms)) : undefined;
    const selected = resolved.index && want ? selectManifest(resolved.index, want) : undefined;
    ctx.emit({
      type: 'resolved',
      name: resolved.name,
      root: resolved.root,
      platforms: resolved.platforms,
      ...(selected?.platform ? { platform: selected.platform } : {}),
    } satisfies PullEvent);
    const { image, manifest } = await pullImage(ref, want, pctx, resolved);
    return summarize(s, image, manifest.digest);
  },

  /** The stored summary of an image for a platform, or null when that was not pulled. */
  async summary(arg: { name: string; platform?: string }): Promise<ImageSummary | null> {
    const s = await store();
    const found = await manifestFor(s, formatReference(parseReference(arg.name)), arg.platform);
    if (!found || !found.image.manifests.some((m) => m.descriptor.digest === found.digest)) {
      return null;
    }
    return summarize(s, found.image, found.digest);
  },

  async exportArchive(arg: { name: string; manifestDigest: string }) {
    const ref = parseReference(arg.name);
    const s = await store();
    const image = await s.getImage(formatReference(ref));
    const m = image?.manifests.find((x) => x.descriptor.digest === arg.manifestDigest);
    if (!m) throw new Error(`${arg.name} is not stored: pull it first`);
    return buildOciArchive(s, { reference: ref, manifest: m.descriptor });
  },

  async setCredentials(arg: { registry: string; credentials: Credentials | null }) {
    if (arg.credentials) credentials.set(arg.registry, arg.credentials);
    else credentials.delete(arg.registry);
    clientFor = undefined; // drop tokens obtained with the old credentials
  },
};

export type PullWorkerApi = typeof api;

expose(api, self as unknown as Parameters<typeof expose>[1]);
