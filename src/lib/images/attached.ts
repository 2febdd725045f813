// Finding, checking and storing what is attached to a stored image (its signatures, SBOMs and
// attestations), and reading it back offline. Each referrer is all or nothing: its manifest and
// small blobs are fetched into memory and checked (digests, subject, what it claims to be)
// before anything is written; a referrer that fails is reported, never stored. What is stored is
// recorded on the image (ImageRecord.referrers), so garbage collection keeps it with the image
// and removes it with the image.
import { messageOf } from '../errors.ts';
import { isIndex } from '../oci/mediatypes.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Descriptor, Manifest } from '../oci/types.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { fetchDescriptor, ingestBytes, type FetchContext } from '../pull/fetch.ts';
import { parseReference, repositoryOf, type Reference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import { RegistryError } from '../registry/errors.ts';
import { listReferrers } from '../registry/referrers.ts';
import { gcLock, withLock } from '../store/locks.ts';
import type { ImageRecord, ReferrerRecord, Store } from '../store/store.ts';
import { Documents } from './documents.ts';
import {
  cosignTags,
  createdOf,
  eagerBlobBytes,
  indexAttestations,
  isAttestationEntry,
  kindOf,
  labelOf,
  maxReferrerBlobBytes,
  problemOf,
  type ReferrerCandidate,
  type ReferrerKind,
} from './referrers.ts';

/** Referrers looked at, at most, per image: beyond this the rest are left unlisted. */
export const maxAttached = 200;

/** A blob of a stored referrer: stored now, or fetched when opened (with its size shown), or
 * refused for its size. */
export interface AttachedBlob {
  descriptor: Descriptor;
  role: 'config' | 'layer';
  stored: boolean;
  /** Why it will not be fetched (too big). */
  refused?: string;
}

/** A referrer stored for the image, as the page lists it. */
export interface AttachedReferrer extends ReferrerRecord {
  kind: ReferrerKind;
  label: string;
  artifactType?: string;
  created?: string;
  annotations?: Record<string, string>;
  blobs: AttachedBlob[];
  /** The platform of the manifest it describes, when that is one of the index's
   * (`linux/arm64`). */
  platform?: string;
}

/** A referrer found and not stored, with what is wrong with it. */
export interface FlaggedReferrer extends ReferrerRecord {
  label: string;
  problem: string;
}

export interface AttachedListing {
  referrers: AttachedReferrer[];
  flagged: FlaggedReferrer[];
  /** How the registry listed the referrers ('api' or 'tag-schema'); absent when read from the
   * store alone. */
  listedVia?: 'api' | 'tag-schema';
  /** Why the registry could not be asked (what is shown then is what was stored before). */
  unreachable?: string;
}

interface FindContext {
  client: RegistryClient;
  store: Store;
  signal: AbortSignal;
}

/** The platform of each manifest an index lists (attestation manifests have none). */
async function platformsOf(image: ImageRecord, docs: Documents): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!isIndex(image.target.mediaType)) return out;
  for (const d of (await docs.flatIndex(image.target)).manifests) {
    if (d.platform && !isAttestationEntry(d)) out.set(d.digest, formatPlatform(d.platform));
  }
  return out;
}

/** The digests an image is made of: its root and, for an index, every manifest listed. */
async function digestsOf(image: ImageRecord, docs: Documents): Promise<Set<string>> {
  const digests = new Set([
    image.target.digest,
    ...image.manifests.map((m) => m.descriptor.digest),
  ]);
  if (isIndex(image.target.mediaType)) {
    for (const d of (await docs.flatIndex(image.target)).manifests) digests.add(d.digest);
  }
  return digests;
}

/** What is attached to the image, asked of the registry: the referrers of its root and of its
 * pulled manifests, cosign's tags beside its root, and its index's attestation manifests. */
async function candidatesOf(
  ctx: FindContext,
  ref: Reference,
  image: ImageRecord,
  docs: Documents,
): Promise<{ candidates: ReferrerCandidate[]; listedVia?: 'api' | 'tag-schema' }> {
  const root = image.target.digest;
  const subjects = [root, ...image.manifests.map((m) => m.descriptor.digest)].filter(
    (d, i, all) => all.indexOf(d) === i,
  );
  const listings = await Promise.all(
    subjects.map((subject) =>
      listReferrers(ctx.client, ref, subject, { signal: ctx.signal, tagInParallel: true }).then(
        (r) => ({ subject, r }),
      ),
    ),
  );
  const candidates: ReferrerCandidate[] = [];
  for (const { subject, r } of listings) {
    for (const descriptor of r.descriptors) {
      candidates.push({ descriptor, subject, via: r.via });
    }
  }
  const tags = await Promise.all(
    cosignTags(root).map(async ({ tag }) => {
      try {
        // HEAD first: most images have no such tag, and Docker Hub counts manifest GETs
        // against the pull limit, not HEADs. A found tag is read by the digest HEAD gave.
        const tagged = { ...ref, tag, digest: undefined };
        const head = await ctx.client.head(tagged, ctx.signal);
        const resolved = await ctx.client.resolve(
          head ? { ...ref, tag: undefined, digest: head.digest } : tagged,
          ctx.signal,
        );
        return {
          descriptor: resolved.descriptor,
          bytes: resolved.bytes,
          subject: root,
          via: 'cosign-tag' as const,
        };
      } catch (e) {
        if (e instanceof RegistryError && e.kind === 'not-found') return undefined;
        throw e;
      }
    }),
  );
  for (const t of tags) if (t) candidates.push(t);
  if (isIndex(image.target.mediaType)) {
    candidates.push(...indexAttestations(await docs.index(image.target)));
  }
  const seen = new Set<string>();
  return {
    candidates: candidates
      .filter((c) => !seen.has(c.descriptor.digest) && !!seen.add(c.descriptor.digest))
      .slice(0, maxAttached),
    listedVia: listings[0]?.r.via,
  };
}

/** One candidate fetched and checked: the documents to store, or what is wrong with it. */
async function checkCandidate(
  ctx: FindContext,
  ref: Reference,
  c: ReferrerCandidate,
  imageDigests: ReadonlySet<string>,
): Promise<
  | { ok: true; record: ReferrerRecord; writes: [Descriptor, Uint8Array][] }
  | { ok: false; flagged: FlaggedReferrer }
> {
  const record: ReferrerRecord = { descriptor: c.descriptor, subject: c.subject, via: c.via };
  const flag = (problem: string, label = c.descriptor.artifactType || c.descriptor.mediaType) => ({
    ok: false as const,
    flagged: { ...record, label, problem },
  });
  try {
    const { bytes, contentType } = c.bytes
      ? { bytes: c.bytes, contentType: c.descriptor.mediaType }
      : await ctx.client.fetchManifest(ref, c.descriptor, ctx.signal);
    const doc = parseManifestDocument(bytes, {
      contentType,
      descriptorMediaType: c.descriptor.mediaType,
    });
    if (doc.kind !== 'manifest') {
      return flag('This referrer is an index, not a manifest; Berth opens manifests only.');
    }
    const manifest = doc.manifest;
    const problem = problemOf(record, manifest, imageDigests);
    if (problem) return flag(problem, labelOf(manifest, c.descriptor));
    const writes: [Descriptor, Uint8Array][] = [];
    // Blobs of what Berth cannot open (a SOCI index, an unknown artifact) wait to be asked for:
    // another part may fetch them for its own use (the zTOC of a lazily read layer).
    const eager = kindOf(manifest, c.descriptor) !== 'unknown';
    for (const blob of eager ? [manifest.config, ...manifest.layers] : []) {
      if (blob.size > eagerBlobBytes) continue;
      writes.push([blob, await ctx.client.fetchBlobBytes(ref, blob, eagerBlobBytes, ctx.signal)]);
    }
    // The manifest last: once it is stored, what it points at is.
    writes.push([c.descriptor, bytes]);
    return { ok: true, record, writes };
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    return flag(`It could not be read: ${messageOf(e)}`);
  }
}

/** The image's referrers as the store holds them, read offline. */
export async function storedReferrers(store: Store, name: string): Promise<AttachedReferrer[]> {
  const image = await store.images.get(name);
  if (!image) throw new Error(`${name} is not stored in this browser`);
  const docs = new Documents(store.content);
  const platforms = await platformsOf(image, docs).catch(() => new Map<string, string>());
  const out: AttachedReferrer[] = [];
  for (const r of image.referrers ?? []) {
    let manifest: Manifest;
    try {
      manifest = await docs.manifest(r.descriptor);
    } catch {
      continue; // not stored (a store cleared under the record): nothing to show
    }
    const blobs: AttachedBlob[] = [];
    for (const [role, descriptor] of [
      ['config', manifest.config] as const,
      ...manifest.layers.map((l) => ['layer', l] as const),
    ]) {
      const stored = !!(await store.content.info(descriptor.digest));
      blobs.push({
        descriptor,
        role,
        stored,
        ...(!stored && descriptor.size > maxReferrerBlobBytes
          ? { refused: tooBig(descriptor.size) }
          : {}),
      });
    }
    const artifactType = manifest.artifactType ?? r.descriptor.artifactType;
    const created = createdOf(manifest, r.descriptor);
    const platform = platforms.get(r.subject);
    out.push({
      ...r,
      ...(platform ? { platform } : {}),
      kind: kindOf(manifest, r.descriptor),
      label: labelOf(manifest, r.descriptor),
      ...(artifactType ? { artifactType } : {}),
      ...(created ? { created } : {}),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
      blobs,
    });
  }
  return out;
}

const tooBig = (size: number) =>
  `It is ${size} bytes; Berth opens referrer blobs up to ${maxReferrerBlobBytes} bytes.`;

/**
 * Asks the registry what is attached to a stored image, stores each referrer that checks out
 * (manifest and blobs up to eagerBlobBytes) and records it on the image. Those that do not are
 * returned flagged, and leave the store as it was. When the registry cannot be reached, the
 * listing is what was stored before, with `unreachable` saying why.
 */
export async function findReferrers(ctx: FindContext, name: string): Promise<AttachedListing> {
  const image = await ctx.store.images.get(name);
  if (!image) throw new Error(`${name} is not stored in this browser`);
  const docs = new Documents(ctx.store.content);
  // The repository the image came from; the record's name carries it.
  const ref = parseReference(name);
  let found;
  try {
    found = await candidatesOf(ctx, ref, image, docs);
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    return {
      referrers: await storedReferrers(ctx.store, name),
      flagged: [],
      unreachable: messageOf(e),
    };
  }
  const imageDigests = await digestsOf(image, docs);
  const checked = await Promise.all(
    found.candidates.map((c) => checkCandidate(ctx, ref, c, imageDigests)),
  );
  const flagged: FlaggedReferrer[] = [];
  const good: ReferrerRecord[] = [];
  const fctx: FetchContext = {
    client: ctx.client,
    store: ctx.store.content,
    reference: ref,
    onProgress: () => {},
  };
  await withLock(
    gcLock,
    async () => {
      for (const c of checked) {
        if (!c.ok) {
          flagged.push(c.flagged);
          continue;
        }
        for (const [desc, bytes] of c.writes) await ingestBytes(fctx, desc, bytes);
        good.push(c.record);
      }
      // Read again under the lock: a pull may have recorded the image meanwhile.
      const now = await ctx.store.images.get(name);
      if (!now || now.target.digest !== image.target.digest) return;
      // Recording the image ends a pull of it; one that is running records it itself later,
      // and the referrers are recorded at the next look.
      if (await ctx.store.images.getPull(name)) return;
      const records = [...(now.referrers ?? [])];
      for (const r of good) {
        if (!records.some((x) => x.descriptor.digest === r.descriptor.digest)) records.push(r);
      }
      if (records.length === (now.referrers ?? []).length) return; // nothing new: unchanged
      await ctx.store.images.put({
        name: now.name,
        target: now.target,
        manifests: [],
        referrers: records,
      });
    },
    { signal: ctx.signal, mode: 'shared' },
  );
  return {
    referrers: await storedReferrers(ctx.store, name),
    flagged,
    ...(found.listedVia ? { listedVia: found.listedVia } : {}),
  };
}

/** Fetches a blob of a stored referrer that was left for later (bigger than eagerBlobBytes);
 * refuses one over maxReferrerBlobBytes, or one that is not a stored referrer's. */
export async function fetchReferrerBlob(
  ctx: FindContext & { onProgress?: FetchContext['onProgress'] },
  name: string,
  referrer: string,
  blob: string,
): Promise<void> {
  const image = await ctx.store.images.get(name);
  const record = image?.referrers?.find((r) => r.descriptor.digest === referrer);
  if (!record) throw new Error(`${referrer} is not a referrer stored for ${name}`);
  const manifest = await new Documents(ctx.store.content).manifest(record.descriptor);
  const desc = [manifest.config, ...manifest.layers].find((d) => d.digest === blob);
  if (!desc) throw new Error(`${blob} is not a blob of ${referrer}`);
  if (desc.size > maxReferrerBlobBytes) throw new Error(tooBig(desc.size));
  const ref = parseReference(name);
  const sources = (await ctx.store.content.info(referrer))?.sources ?? [];
  const from = sources.includes(repositoryOf(ref)) ? ref : parseReference(sources[0] ?? name);
  await withLock(
    gcLock,
    () =>
      fetchDescriptor(
        {
          client: ctx.client,
          store: ctx.store.content,
          reference: from,
          onProgress: ctx.onProgress ?? (() => {}),
        },
        desc,
        ctx.signal,
      ),
    { signal: ctx.signal, mode: 'shared' },
  );
}
