// Fetching one descriptor into the content store (containerd's remotes.fetch): skip what is
// stored, otherwise ingest under the digest's lock and commit only what verifies.
import type { Descriptor } from '../oci/types.ts';
import type { Documents } from '../images/documents.ts';
import { parseManifestDocument } from '../oci/validate.ts';
import { type Reference, repositoryOf } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import { DigestMismatchError } from '../oci/errors.ts';
import { RegistryError } from '../registry/errors.ts';
import { backoff, maxRetryAfterSeconds, sleep } from '../registry/retry.ts';
import { type ContentStore, type IngestWriter, chunkSize } from '../store/store.ts';
import { refKey, roleOf } from '../oci/refkey.ts';
import { type ProgressListener, progressOf } from './progress.ts';

/** The largest Range piece: each piece arrives as one Blob (its bytes stay out of JS), is
 * stored as chunk slices and is a resume point. */
export const pieceSize = 64 << 20;

/** The first piece of a layer; later pieces are sized from the measured rate so that progress
 * moves about once a second, up to the largest piece. */
export const firstPieceSize = 4 << 20;

export interface FetchContext {
  client: RegistryClient;
  store: ContentStore;
  /** The repository the bytes come from. */
  reference: Reference;
  /** Where a fetched document is kept once parsed, so the walk does not read it back. */
  docs?: Documents;
  onProgress: ProgressListener;
  /** The largest Range piece; pieceSize by default. */
  pieceSize?: number;
  /** How often one blob may fail transiently and resume before the pull gives up. */
  maxResumes?: number;
  /** How long a piece may stay silent beyond its expected time before it counts as stalled
   * and is fetched again; 30 s by default. */
  stallMs?: number;
}

/** A piece took far longer than its rate allowed: the connection is presumed dead. */
export class StalledError extends Error {
  override name = 'StalledError';
}

/** A resumed request came back with bytes from another offset: what is stored cannot be
 * continued, so the blob starts over. */
export class RangeMismatchError extends Error {
  override name = 'RangeMismatchError';
}

/** A failure that resuming can get past: the network, a 5xx, a 429, a truncated body. A digest
 * or size mismatch is not one (moby's DoNotRetry). */
export function isTransient(err: unknown): boolean {
  if (err instanceof RegistryError) return err.temporary;
  if (err instanceof StalledError) return true;
  return err instanceof TypeError; // fetch and body reads fail with TypeError on the network
}

/** Writes a whole in-memory document, resuming an ingest that an earlier run left behind. */
async function writeWhole(w: IngestWriter, bytes: Uint8Array) {
  if (w.offset < bytes.byteLength) {
    await w.write(new Blob([bytes.subarray(w.offset) as Uint8Array<ArrayBuffer>]));
  }
  await w.commit();
}

/** Stores a document already in memory and verified by the caller's digest check. Returns
 * false when it was stored already. */
export async function ingestBytes(ctx: FetchContext, desc: Descriptor, bytes: Uint8Array) {
  return ctx.store.withIngestLock(desc.digest, async () => {
    if (await ctx.store.info(desc.digest)) {
      await ctx.store.addSource(desc.digest, repositoryOf(ctx.reference));
      return false;
    }
    await writeWhole(await writerFor(ctx, desc), bytes);
    return true;
  });
}

/** Fetches a descriptor's content into the store unless it is there already. */
export async function fetchDescriptor(ctx: FetchContext, desc: Descriptor, signal: AbortSignal) {
  const { store, onProgress } = ctx;
  await store.withIngestLock(
    desc.digest,
    async () => {
      if (await store.info(desc.digest)) {
        await store.addSource(desc.digest, repositoryOf(ctx.reference));
        onProgress(progressOf(desc, 'exists', desc.size));
        return;
      }
      const role = roleOf(desc);
      if (role === 'index' || role === 'manifest') {
        onProgress(progressOf(desc, 'downloading', 0));
        const { bytes, contentType } = await ctx.client.fetchManifest(ctx.reference, desc, signal);
        onProgress(progressOf(desc, 'verifying', desc.size));
        // The document, the registry's Content-Type and the parent's descriptor must agree on
        // what it is before it is stored (a refusal explains which disagree).
        const doc = parseManifestDocument(bytes, {
          contentType,
          descriptorMediaType: desc.mediaType,
        });
        await writeWhole(await writerFor(ctx, desc), bytes);
        ctx.docs?.remember(desc, doc);
        onProgress(progressOf(desc, 'done', desc.size));
        return;
      }
      // A transient failure resumes from the last durable piece. A digest mismatch is final,
      // unless bytes were resumed: then the blob is fetched once more from the start, in case
      // the resumed parts did not belong together (moby's layerDescriptor.Download).
      for (let attempt = 0; ; attempt++) {
        try {
          await downloadBlob(ctx, desc, signal);
          return;
        } catch (err) {
          if (!(err instanceof ResumedMismatch) || attempt > 0) throw unwrap(err);
        }
      }
    },
    signal,
  );
}

class ResumedMismatch extends Error {
  constructor(readonly inner: unknown) {
    super('digest mismatch after a resumed download');
  }
}

const unwrap = (err: unknown) => (err instanceof ResumedMismatch ? err.inner : err);

/** How long to wait before resuming: the registry's Retry-After when it gave one (within a
 * cap), else exponential backoff. */
function resumeDelay(err: unknown, failures: number): number {
  if (err instanceof RegistryError && err.retryAfterSeconds !== undefined) {
    if (err.retryAfterSeconds > maxRetryAfterSeconds) throw err;
    return err.retryAfterSeconds * 1000;
  }
  return backoff(failures, 400, 5000);
}

/** A Range request under way, with the controller its stall watchdog aborts. */
interface PieceRequest {
  start: number;
  /** Inclusive. */
  end: number;
  watchdog: AbortController;
  response: Promise<Response>;
}

async function downloadBlob(ctx: FetchContext, desc: Descriptor, signal: AbortSignal) {
  const { onProgress } = ctx;
  const largest = Math.max(1, ctx.pieceSize ?? pieceSize);
  let length = Math.min(firstPieceSize, largest);
  let w = await writerFor(ctx, desc);
  let resumed = w.offset > 0;
  let failures = 0;
  // Restarts are never forgiven by later progress: a registry that answers every resume from
  // the wrong offset would otherwise loop for ever.
  let restarts = 0;
  let rate: number | undefined;
  // `received` counts bytes that arrived but are not stored yet, so a streamed piece moves the
  // bar as it arrives; the stored offset alone moves only when a chunk is written.
  const report = (received = 0) => onProgress(progressOf(desc, 'downloading', w.offset + received));
  const request = (start: number, size: number): PieceRequest => {
    const end = Math.min(desc.size, start + size) - 1;
    const watchdog = new AbortController();
    const whole = start === 0 && end === desc.size - 1;
    const response = ctx.client.fetchBlob(
      ctx.reference,
      desc,
      whole ? undefined : { start, end },
      AbortSignal.any([signal, watchdog.signal]),
    );
    // Its failure is seen when the piece is taken, or not at all if it is dropped.
    response.catch(() => {});
    return { start, end, watchdog, response };
  };
  // The next piece's request, sent while the current piece is stored and hashed, so that the
  // registry's answer is on its way meanwhile (one round trip and the store time hidden per
  // piece). At most one is ahead: memory holds at most two pieces' Blobs per blob.
  let ahead: PieceRequest | undefined;
  const dropAhead = () => {
    if (!ahead) return;
    const dropped = ahead;
    ahead = undefined;
    dropped.watchdog.abort(new Error('piece no longer needed'));
    dropped.response.then((r) => r.body?.cancel()).catch(() => {});
  };
  report();
  try {
    while (w.offset < desc.size) {
      if (signal.aborted) throw signal.reason;
      const before = w.offset;
      const started = performance.now();
      const piece = ahead?.start === w.offset ? ahead : (dropAhead(), request(w.offset, length));
      ahead = undefined;
      // A stall watchdog. A streamed body re-arms it with every chunk, so plain silence is
      // caught; the first piece of a blob is always streamed. A piece taken as one Blob gives
      // no progress to watch: it gets a deadline of four times its expected time at the
      // measured rate, plus the allowance.
      const stallMs = ctx.stallMs ?? 30_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = (ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(
          () =>
            piece.watchdog.abort(
              new StalledError(
                `${desc.digest}: no data for ${Math.round(ms / 1000)} s at byte ${w.offset}`,
              ),
            ),
          ms,
        );
      };
      const pieceLength = piece.end - piece.start + 1;
      arm(rate ? stallMs + (4000 * pieceLength) / rate : stallMs);
      try {
        await takePiece(desc, w, piece, report, {
          stream: rate === undefined,
          onChunk: () => arm(stallMs),
          // Asked for once the piece is in hand, before it is stored.
          onReceived: () => {
            if (piece.end + 1 < desc.size) ahead = request(piece.end + 1, length);
          },
        });
      } catch (caught) {
        dropAhead();
        const err =
          !signal.aborted && piece.watchdog.signal.aborted ? piece.watchdog.signal.reason : caught;
        const restart = err instanceof RangeMismatchError;
        if (
          signal.aborted ||
          !(restart || isTransient(err)) ||
          ++failures > (ctx.maxResumes ?? 5) ||
          (restart && ++restarts > 1)
        ) {
          throw err;
        }
        await sleep(resumeDelay(err, failures), signal);
        if (restart) {
          // Start over: drop what is stored, hash from the first byte again.
          await w.abort();
          w = await writerFor(ctx, desc);
          resumed = false;
          continue;
        }
        // The failed writer may hold a half-hashed piece: reopen from the durable state.
        w = await writerFor(ctx, desc);
        resumed = true;
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (w.offset === before) {
        throw new RegistryError(
          `${desc.digest}: the registry stopped sending data at byte ${before} of ${desc.size}`,
          'protocol',
          0,
        );
      }
      failures = 0;
      const seconds = (performance.now() - started) / 1000;
      rate = (w.offset - before) / Math.max(seconds, 0.001);
      length = Math.min(largest, Math.max(Math.min(firstPieceSize, largest), Math.round(rate)));
      report();
    }
  } finally {
    dropAhead();
  }
  onProgress(progressOf(desc, 'verifying', w.offset));
  try {
    await w.commit();
  } catch (err) {
    throw resumed && err instanceof DigestMismatchError ? new ResumedMismatch(err) : err;
  }
  onProgress(progressOf(desc, 'done', desc.size));
}

function writerFor(ctx: FetchContext, desc: Descriptor): Promise<IngestWriter> {
  return ctx.store.writer({
    ref: refKey(desc),
    digest: desc.digest,
    size: desc.size,
    mediaType: desc.mediaType,
    source: repositoryOf(ctx.reference),
  });
}

/** Takes a requested piece into the writer, which is at the piece's start. A whole small blob
 * is asked for without Range. A body of known, fitting length becomes one Blob without
 * passing through JS; anything else (a registry that ignores Range, no Content-Length) is
 * streamed in chunk-sized Blobs, so memory stays bounded either way. */
async function takePiece(
  desc: Descriptor,
  w: IngestWriter,
  piece: PieceRequest,
  report: (received?: number) => void,
  /** stream: take the body as a stream even when it would fit one Blob; onChunk: called for
   * every streamed chunk (the stall watchdog); onReceived: called when a piece taken as one
   * Blob has arrived, before it is stored. */
  opts: { stream: boolean; onChunk: () => void; onReceived: () => void },
) {
  const { start, end } = piece;
  const res = await piece.response;
  const declared = Number(res.headers.get('Content-Length') ?? NaN);
  const expected = end - start + 1;
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('Content-Range'));
    if (!range || range.start !== start || range.end > desc.size - 1) {
      await res.body?.cancel();
      throw new RangeMismatchError(
        `${desc.digest}: asked for bytes from ${start}, the registry sent ${res.headers.get('Content-Range') ?? 'no Content-Range'}`,
      );
    }
  }
  if (res.status === 200 && start > 0) {
    // The registry ignored the Range of a resume: its bytes cannot continue what is stored.
    await res.body?.cancel();
    throw new RangeMismatchError(
      `${desc.digest}: asked for bytes from ${start}, got the whole blob`,
    );
  }
  if (!opts.stream && Number.isFinite(declared) && declared > 0 && declared <= expected) {
    const blob = await res.blob();
    // A short body is refused by the writer's size checks or the next piece's offset; only
    // a full piece lets the next one be asked for.
    if (blob.size === expected) opts.onReceived();
    await w.write(blob);
    return;
  }
  await streamInto(res, w, report, opts.onChunk);
}

/** How often a streamed piece reports the bytes received but not yet stored. */
const receivedReportMs = 100;

async function streamInto(
  res: Response,
  w: IngestWriter,
  report: (received?: number) => void,
  onChunk: () => void,
) {
  if (!res.body) throw new RegistryError('blob response has no body', 'protocol', res.status);
  const reader = res.body.getReader();
  let parts: Uint8Array<ArrayBuffer>[] = [];
  let buffered = 0;
  // At most one report per interval, and the last bytes before a pause are reported too.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = async () => {
    clearTimeout(timer);
    timer = undefined;
    if (buffered === 0) return;
    const blob = new Blob(parts);
    parts = [];
    buffered = 0;
    await w.write(blob);
    report();
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk();
      const bytes = value as Uint8Array<ArrayBuffer>;
      parts.push(bytes);
      buffered += bytes.byteLength;
      if (buffered >= chunkSize) await flush();
      else
        timer ??= setTimeout(() => {
          timer = undefined;
          report(buffered);
        }, receivedReportMs);
    }
    await flush();
  } catch (err) {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
    throw err;
  }
}

function parseContentRange(v: string | null): { start: number; end: number } | undefined {
  const m = v?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  return m ? { start: Number(m[1]), end: Number(m[2]) } : undefined;
}
