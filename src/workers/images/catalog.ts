// Browsing a registry from the images worker: a page of its catalog, a repository's tags, and
// what one tag is (its digest, platforms, size and build date). A tag's date is its config's
// `created`: the tag is resolved with a HEAD (which Docker Hub does not count as a pull), and
// the manifest and config are fetched into the content store, where they are content-addressed
// already. So a tag whose digest did not move costs one HEAD the next time, an image pulled
// later finds its manifest and config stored, and a pulled image's date costs no GET at all.
// Blobs stored here belong to no image record: the next garbage collection (once per visit)
// removes them, which keeps the cache bounded. The details themselves are kept by digest in
// the store (a bounded count), so a date read once survives the collection.
import { parseManifestDocument } from '../../lib/oci/validate.ts';
import { type FetchContext, ingestBytes } from '../../lib/pull/fetch.ts';
import { readTagDetails, type TagDetails } from '../../lib/pull/tag-details.ts';
import { parseReference, parseRegistry } from '../../lib/reference/reference.ts';
import { catalogPage, type CatalogPage } from '../../lib/registry/catalog.ts';
import { TagHeads } from '../../lib/registry/tag-heads.ts';
import { listTags, TagListTruncatedError } from '../../lib/registry/tags.ts';
import type { Connection } from '../../lib/registry/transport.ts';
import { SharedWork } from '../../lib/shared-work.ts';
import { gcLock, withLock } from '../../lib/store/locks.ts';
import type { TagDetailsRecord } from '../../lib/store/store.ts';
import type { CallContext } from '../rpc.ts';
import { store } from '../store.ts';
import { client, loadRemembered, listCredentials } from './credentials.ts';

export type { CatalogPage, TagDetails };

/** One page of a registry's catalog; a CatalogRefusedError (by name, on the page side) when
 * the registry does not list. */
export async function catalog(
  arg: { registry: string; cursor?: string; connection: Connection },
  ctx: CallContext,
): Promise<CatalogPage> {
  await loadRemembered();
  const registry = parseRegistry(arg.registry);
  const signedIn = (await listCredentials()).some((c) => c.registry === registry);
  return catalogPage(client(arg.connection), registry, {
    ...(arg.cursor === undefined ? {} : { cursor: arg.cursor }),
    signal: ctx.signal,
    signedIn,
  });
}

export interface RepositoryTags {
  tags: string[];
  /** The registry has more than Berth lists; `tags` holds the first ones. */
  truncated: boolean;
}

/** The HEAD made while listing a repository's tags, for the rate limit, kept for that tag's
 * first date. */
const heads = new TagHeads();

/** Every tag of a repository (`registry/name`), in the registry's order. The tag shown first
 * is HEADed too (see TagHeads), so the view can say what rate limit the registry states. */
export async function repositoryTags(
  arg: { repository: string; connection: Connection },
  ctx: CallContext,
): Promise<RepositoryTags> {
  await loadRemembered();
  const c = client(arg.connection);
  const ref = parseReference(arg.repository);
  let listed: RepositoryTags;
  try {
    listed = { tags: await listTags(c, ref, { signal: ctx.signal }), truncated: false };
  } catch (err) {
    if (!(err instanceof TagListTruncatedError)) throw err;
    listed = { tags: err.tags, truncated: true };
  }
  await heads.headFirst(c, ref, listed.tags, ctx.signal);
  return listed;
}

/** Details by the digest the tag pointed at: content never changes under a digest. Every tag
 * with that digest waits on the same work, which stops only when all of them have left. */
const known = new SharedWork<string, TagDetails>({ keep: 5000 });

/** What a tag is now, and when its image was built. */
export async function tagDetails(
  arg: {
    repository: string;
    tag: string;
    connection: Connection;
    preferredPlatform?: string;
  },
  ctx: CallContext,
): Promise<TagDetails> {
  await loadRemembered();
  const ref = parseReference(`${arg.repository}:${arg.tag}`);
  const c = client(arg.connection);
  const s = await store();
  const fctx: FetchContext = { client: c, store: s.content, reference: ref, onProgress: () => {} };
  const kept = heads.take(ref, arg.tag);
  let root = kept ? kept.root : await c.head(ref, ctx.signal);
  if (!root) {
    // The registry's HEAD did not say everything: a GET says it, with the bytes.
    const resolved = await c.resolve(ref, ctx.signal);
    const doc = parseManifestDocument(resolved.bytes, {
      contentType: resolved.descriptor.mediaType,
    });
    root = { ...resolved.descriptor, mediaType: doc.mediaType };
    await withLock(gcLock, () => ingestBytes(fctx, root!, resolved.bytes), {
      signal: ctx.signal,
      mode: 'shared',
    });
  }
  const desc = root;
  const preferred = arg.preferredPlatform ?? '';
  return known.run(
    desc.digest,
    async (signal) => {
      // Kept across visits: the manifest and config read for it are garbage by then.
      const stored = await s.tagDetails.get(desc.digest).catch(() => undefined);
      if (stored && (stored.platforms === 0 || stored.preferred === preferred)) {
        return detailsOf(stored);
      }
      const details = await withLock(
        gcLock,
        () => readTagDetails(fctx, desc, arg.preferredPlatform, signal),
        { signal, mode: 'shared' },
      );
      // Best effort: a store that cannot keep it costs the next visit a fetch, nothing more.
      await s.tagDetails.put({ ...details, preferred, storedAt: Date.now() }).catch(() => {});
      return details;
    },
    ctx.signal,
  );
}

function detailsOf(rec: TagDetailsRecord): TagDetails {
  const { digest, platforms, size, created } = rec;
  return { digest, platforms, size, ...(created === undefined ? {} : { created }) };
}
