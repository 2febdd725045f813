// The pull worker: registry client, content store and exporter live here, so hashing, storing
// and composing archives never run on the page's thread.
import { buildOciArchive } from '../lib/export/oci-archive.ts';
import { defaultPlatform, parsePlatform, selectManifest } from '../lib/oci/platform.ts';
import type { Platform } from '../lib/oci/types.ts';
import { pullImage, resolveImage, type ResolvedImage } from '../lib/pull/pull.ts';
import type { BlobProgress } from '../lib/pull/progress.ts';
import { summarize, type ImageSummary } from '../lib/pull/summary.ts';
import { parseReference, formatReference } from '../lib/reference/reference.ts';
import { RegistryClient, type Credentials } from '../lib/registry/client.ts';
import { proxyTransport } from '../lib/registry/transport.ts';
import { ContentStore } from '../lib/store/content.ts';
import { openDatabase } from '../lib/store/db.ts';
import type { ImageRecord } from '../lib/store/schema.ts';
import { expose, type CallContext } from './rpc.ts';

const credentials = new Map<string, Credentials>();
let storePromise: Promise<ContentStore> | undefined;
const store = () => (storePromise ??= openDatabase().then((db) => new ContentStore(db)));
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
      platform?: Platform;
    }
  | { type: 'progress'; progress: BlobProgress };

export interface ResolveResult {
  name: string;
  root: ResolvedImage['root'];
  platforms: Platform[];
  /** The image record, when this reference was pulled before. */
  stored?: ImageRecord;
}

const api = {
  async resolve(
    arg: { reference: string; proxy: string },
    ctx: CallContext,
  ): Promise<ResolveResult> {
    const ref = parseReference(arg.reference);
    const s = await store();
    const r = await resolveImage(ref, {
      client: client(arg.proxy),
      store: s,
      signal: ctx.signal,
      onProgress: () => {},
    });
    const stored = await s.getImage(r.name);
    return {
      name: r.name,
      root: r.root,
      platforms: r.platforms,
      ...(stored && stored.target.digest === r.root.digest ? { stored } : {}),
    };
  },

  async pull(
    arg: { reference: string; platform?: string; proxy: string; limit?: number; pieceMiB?: number },
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
      onProgress: (progress: BlobProgress) =>
        ctx.emit({ type: 'progress', progress } satisfies PullEvent),
    };
    const resolved = await resolveImage(ref, pctx);
    const want = resolved.index ? (platform ?? defaultPlatform(resolved.platforms)) : undefined;
    ctx.emit({
      type: 'resolved',
      name: resolved.name,
      root: resolved.root,
      platforms: resolved.platforms,
      ...(want ? { platform: want } : {}),
    } satisfies PullEvent);
    const image = await pullImage(ref, want, pctx, resolved);
    const manifest = resolved.index && want ? selectManifest(resolved.index, want) : resolved.root;
    return summarize(s, image, manifest.digest);
  },

  async summary(arg: { name: string; manifestDigest?: string }): Promise<ImageSummary | null> {
    const s = await store();
    const image = await s.getImage(formatReference(parseReference(arg.name)));
    if (!image || image.manifests.length === 0) return null;
    return summarize(s, image, arg.manifestDigest);
  },

  async exportArchive(arg: { reference: string; manifestDigest: string }) {
    const ref = parseReference(arg.reference);
    const s = await store();
    const image = await s.getImage(formatReference(ref));
    const m = image?.manifests.find((x) => x.descriptor.digest === arg.manifestDigest);
    if (!m) throw new Error(`${arg.reference} is not stored: pull it first`);
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
