// SOCI over the network: finding the zTOC of a plain gzip layer among the image's referrers,
// fetching it, and reading one file by fetching only the spans that hold it, through the same
// Range requests as the eStargz and zstd:chunked reader.
import { DigestMismatchError } from '../../oci/errors.ts';
import type { Descriptor } from '../../oci/types.ts';
import type { Reference } from '../../reference/reference.ts';
import type { RegistryClient } from '../../registry/client.ts';
import { listReferrers } from '../../registry/referrers.ts';
import { fetchRange, type RemoteLayer } from './remote.ts';
import {
  maxZtocBytes,
  parseZtoc,
  sociIndexV1,
  sociIndexV2,
  spanBytes,
  spansFor,
  ztocsOf,
  type SociIndex,
} from './soci.ts';
import { TocError } from './toc.ts';

/** SOCI indexes of one image looked at, at most. */
const maxSociIndexes = 8;
/** The most compressed bytes of adjacent spans fetched with one request. */
const groupBytes = 8 << 20;

/**
 * The zTOCs the SOCI indexes of image manifest `subject` give, by image layer digest (empty
 * when there is none): first the one a SOCI-enabled image names in its manifest's annotation
 * (`sociIndex`, SOCI index manifest v2), then those attached as referrers (v1, and v2 ones
 * whose subject is the image), told apart by their artifact type. A registry that cannot list
 * referrers leaves only the first.
 */
export async function sociZtocs(
  client: RegistryClient,
  ref: Reference,
  subject: string,
  opts: { signal?: AbortSignal; sociIndex?: string | undefined } = {},
): Promise<Map<string, Descriptor>> {
  const { signal } = opts;
  const repo = { registry: ref.registry, repository: ref.repository };
  const found = new Map<string, Descriptor>();
  const add = (bytes: Uint8Array) => {
    for (const [layer, ztoc] of ztocsOf(bytes)) if (!found.has(layer)) found.set(layer, ztoc);
  };
  if (opts.sociIndex !== undefined) {
    add((await client.resolve({ ...repo, digest: opts.sociIndex }, signal)).bytes);
  }
  let referrers: Descriptor[] = [];
  try {
    referrers = (await listReferrers(client, ref, subject, { signal })).descriptors;
  } catch (e) {
    if (found.size === 0) throw e;
  }
  const indexes = referrers
    .filter((d) => d.artifactType === sociIndexV2 || d.artifactType === sociIndexV1)
    // v2 first: it is the one soci's current CLI makes.
    .sort((a, b) => Number(b.artifactType === sociIndexV2) - Number(a.artifactType === sociIndexV2))
    .slice(0, maxSociIndexes);
  for (const d of indexes) add((await client.fetchManifest(ref, d, signal)).bytes);
  return found;
}

/** Fetches zTOC `ztoc` whole, checks it against its digest and parses it for `layer`. */
export async function readSoci(
  layer: RemoteLayer,
  ztoc: Descriptor,
  signal?: AbortSignal,
): Promise<SociIndex> {
  if (ztoc.size > maxZtocBytes) {
    throw new TocError(
      `the SOCI zTOC of ${layer.desc.digest} is ${ztoc.size} bytes; Berth reads at most ${maxZtocBytes}`,
    );
  }
  // A registry that ignores Range would turn every read into a download of the whole layer and
  // fail it: one byte asked for beside the zTOC finds that out now, so that the listing falls
  // back to downloading the layer (RangeRefusedError), as the eStargz reader's footer does.
  const [fetched, probed] = await Promise.allSettled([
    layer.client.fetchBlobBytes(layer.ref, ztoc, maxZtocBytes, signal),
    fetchRange(layer, 0, 1, signal),
  ]);
  if (probed.status === 'rejected') throw probed.reason;
  if (fetched.status === 'rejected') {
    const e: unknown = fetched.reason;
    if (e instanceof DigestMismatchError) {
      throw new TocError(
        `the SOCI zTOC of ${layer.desc.digest} does not match its digest: got ${e.actual}, want ${ztoc.digest}`,
      );
    }
    throw e;
  }
  const bytes = fetched.value;
  return parseZtoc(bytes, layer.desc.size);
}

/**
 * Reads tar bytes [offset, offset + length) of a layer (a file's data: its IndexEntry.offset
 * and the first `length` bytes of it), fetching only the spans that hold them, adjacent spans
 * with one request, and hands them to `each` in order. `path` names the file in errors.
 */
export async function readSociFile(
  layer: RemoteLayer,
  index: SociIndex,
  offset: number,
  length: number,
  path: string,
  each: (bytes: Uint8Array) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (length <= 0) return;
  const end = offset + length;
  const [first, last] = spansFor(index.spans, offset, end);
  let i = first;
  while (i <= last) {
    // A run of spans, one request: a span's start is the next one's end or the byte before it.
    let j = i;
    while (j < last && index.spans[j + 1]!.end - index.spans[i]!.start <= groupBytes) j++;
    const from = index.spans[i]!.start;
    const compressed = await fetchRange(layer, from, index.spans[j]!.end, signal);
    for (let k = i; k <= j; k++) {
      signal?.throwIfAborted();
      const s = index.spans[k]!;
      const bytes = compressed.subarray(s.start - from, s.end - from);
      await spanBytes(s, bytes, Math.max(offset, s.out), end, path, each);
    }
    i = j + 1;
  }
}
