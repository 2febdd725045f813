// Fetching one descriptor into the content store (containerd's remotes.fetch): skip what is
// stored, otherwise ingest under the digest's lock and commit only what verifies.
import type { Descriptor } from '../oci/types.ts';
import type { Reference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import { RegistryError } from '../registry/errors.ts';
import { type ContentStore, type IngestWriter, chunkSize } from '../store/content.ts';
import { type ProgressListener, progressOf, refKey, roleOf } from './progress.ts';

/** Blobs are fetched in Range pieces of this size: each piece arrives as one Blob (its bytes
 * stay out of JS), is stored as chunk slices and is a resume point. */
export const pieceSize = 64 << 20;

export interface FetchContext {
  client: RegistryClient;
  store: ContentStore;
  /** The repository the bytes come from. */
  reference: Reference;
  onProgress: ProgressListener;
}

export function sourceOf(ref: Reference) {
  return `${ref.registry}/${ref.repository}`;
}

/** Stores a document already in memory and verified by the caller's digest check. */
export async function ingestBytes(ctx: FetchContext, desc: Descriptor, bytes: Uint8Array) {
  await ctx.store.withIngestLock(desc.digest, async () => {
    if (await ctx.store.info(desc.digest)) {
      await ctx.store.addSource(desc.digest, sourceOf(ctx.reference));
      return;
    }
    const w = await writerFor(ctx, desc);
    await w.write(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    await w.commit();
  });
}

/** Fetches a descriptor's content into the store unless it is there already. */
export async function fetchDescriptor(ctx: FetchContext, desc: Descriptor, signal: AbortSignal) {
  const { store, onProgress } = ctx;
  await store.withIngestLock(
    desc.digest,
    async () => {
      if (await store.info(desc.digest)) {
        await store.addSource(desc.digest, sourceOf(ctx.reference));
        onProgress(progressOf(desc, 'exists', desc.size));
        return;
      }
      const role = roleOf(desc);
      if (role === 'index' || role === 'manifest') {
        onProgress(progressOf(desc, 'downloading', 0));
        const bytes = await ctx.client.fetchManifest(ctx.reference, desc, signal);
        const w = await writerFor(ctx, desc);
        await w.write(new Blob([bytes as Uint8Array<ArrayBuffer>]));
        onProgress(progressOf(desc, 'verifying', desc.size));
        await w.commit();
        onProgress(progressOf(desc, 'done', desc.size));
        return;
      }
      // A failure other than a digest or size mismatch leaves the durable part of the ingest in
      // place, to resume from its last piece; a mismatch has already removed it.
      const w = await writerFor(ctx, desc);
      onProgress(progressOf(desc, 'downloading', w.offset));
      while (w.offset < desc.size) {
        if (signal.aborted) throw signal.reason;
        const before = w.offset;
        await fetchPiece(ctx, desc, w, signal);
        if (w.offset === before) {
          throw new RegistryError(
            `${desc.digest}: the registry stopped sending data at byte ${before} of ${desc.size}`,
            'protocol',
            0,
          );
        }
        onProgress(progressOf(desc, 'downloading', w.offset));
      }
      onProgress(progressOf(desc, 'verifying', w.offset));
      await w.commit();
      onProgress(progressOf(desc, 'done', desc.size));
    },
    signal,
  );
}

function writerFor(ctx: FetchContext, desc: Descriptor): Promise<IngestWriter> {
  return ctx.store.writer({
    ref: refKey(desc),
    digest: desc.digest,
    size: desc.size,
    mediaType: desc.mediaType,
    source: sourceOf(ctx.reference),
  });
}

/** Fetches the next piece at the writer's offset. A registry that ignores Range is streamed
 * whole instead, in chunk-sized Blobs, so memory stays bounded either way. */
async function fetchPiece(
  ctx: FetchContext,
  desc: Descriptor,
  w: IngestWriter,
  signal: AbortSignal,
) {
  const start = w.offset;
  const end = Math.min(desc.size, start + pieceSize) - 1;
  const whole = start === 0 && end === desc.size - 1;
  const res = await ctx.client.fetchBlob(
    ctx.reference,
    desc,
    whole ? undefined : { start, end },
    signal,
  );
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('Content-Range'));
    if (!range || range.start !== start) {
      await res.body?.cancel();
      throw new RegistryError(
        `${desc.digest}: the registry answered a range request with the wrong range (${res.headers.get('Content-Range')})`,
        'protocol',
        206,
      );
    }
    const piece = await res.blob();
    if (piece.size === 0) {
      throw new RegistryError(`${desc.digest}: the registry sent an empty range`, 'protocol', 206);
    }
    await w.write(piece);
    return;
  }
  await streamInto(res, w, start);
}

async function streamInto(res: Response, w: IngestWriter, skip: number) {
  if (!res.body) throw new RegistryError('blob response has no body', 'protocol', res.status);
  const reader = res.body.getReader();
  let parts: Uint8Array<ArrayBuffer>[] = [];
  let buffered = 0;
  let toSkip = skip;
  const flush = async () => {
    if (buffered === 0) return;
    const blob = new Blob(parts);
    parts = [];
    buffered = 0;
    await w.write(blob);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let bytes = value as Uint8Array<ArrayBuffer>;
    if (toSkip > 0) {
      const n = Math.min(toSkip, bytes.byteLength);
      toSkip -= n;
      bytes = bytes.subarray(n);
      if (bytes.byteLength === 0) continue;
    }
    parts.push(bytes);
    buffered += bytes.byteLength;
    if (buffered >= chunkSize) await flush();
  }
  await flush();
}

function parseContentRange(v: string | null): { start: number; end: number } | undefined {
  const m = v?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  return m ? { start: Number(m[1]), end: Number(m[2]) } : undefined;
}
