// Importing an image archive the user picked: an OCI image layout tar (oci-archive, what Berth
// exports, Docker 25+'s `docker save`) or a legacy `docker save` tar.
//
// The archive is never read into memory. One pass over its stream reads the tar headers
// (members.ts); small documents are then read from slices of the file and checked (plan.ts);
// blobs are stored from slices of the file, which keeps their bytes out of JS.
//
// All or nothing: every blob is written as an ingest, invisible until committed, under its
// digest's ingest lock held until the end, and checked against its digest as soon as it is
// written. Only when every blob has verified are they committed and the image records written;
// on any failure every ingest opened is aborted, so the store is as it was.
import type { Descriptor } from '../oci/types.ts';
import { refKey } from '../oci/refkey.ts';
import type { IngestWriter, Store } from '../store/store.ts';
import { ImportError } from './errors.ts';
import { type ArchiveMembers, scanArchive } from './members.ts';
import { type Plan, type PlannedBlob, planImport } from './plan.ts';

export { ImportError } from './errors.ts';

export interface ImportedImage {
  /** The canonical name the image is stored under. */
  name: string;
  target: Descriptor;
}

export interface ImportResult {
  images: ImportedImage[];
  /** Blobs newly stored (blobs already in the store are not counted). */
  blobs: number;
  bytes: number;
}

export interface ImportOptions {
  signal?: AbortSignal;
  /** Bytes of the archive read so far, of its total. The archive is read twice, once for its
   * headers and once for the blobs to store, so `total` is the archive's size plus the bytes
   * to store (twice its size until the headers are read). */
  onProgress?: (done: number, total: number) => void;
}

/** The largest piece written at once: it becomes one IndexedDB transaction of chunk slices. */
export const importPieceSize = 64 << 20;

/** Reads an OCI image layout tar (oci-archive, or what Berth exports) or a `docker save` tar,
 * verifies every blob, and stores it with its image records; on any error nothing is stored. */
export async function importArchive(
  store: Store,
  file: Blob,
  opts: ImportOptions = {},
): Promise<ImportResult> {
  const { signal } = opts;
  const progress = new Throttled(opts.onProgress);
  progress.total = 2 * file.size;
  const members = await scanArchive(file, {
    ...(signal ? { signal } : {}),
    onProgress: (done) => progress.report(done),
  });
  signal?.throwIfAborted();
  const plan = await planImport(members, store.content);
  signal?.throwIfAborted();
  const stored = await storePlan(store, members, plan, progress, signal);
  return {
    images: plan.images.map(({ name, target }) => ({ name, target })),
    ...stored,
  };
}

/** Reports progress at most every 100 ms or 64 MiB, and always at the end. */
class Throttled {
  total = 0;
  #at = 0;
  #done = 0;
  readonly #cb: ((done: number, total: number) => void) | undefined;

  constructor(cb?: (done: number, total: number) => void) {
    this.#cb = cb;
  }

  report(done: number) {
    if (!this.#cb) return;
    const now = performance.now();
    if (done < this.total && now - this.#at < 100 && done - this.#done < importPieceSize) return;
    this.#at = now;
    this.#done = done;
    this.#cb(done, this.total);
  }
}

/** Holds a digest's ingest lock until the returned function is called. */
function hold(store: Store, digest: string, signal?: AbortSignal): Promise<() => void> {
  return new Promise((acquired, failed) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    store.content
      .withIngestLock(
        digest,
        () => {
          acquired(release);
          return released;
        },
        signal,
      )
      .catch(failed);
  });
}

async function storePlan(
  store: Store,
  members: ArchiveMembers,
  plan: Plan,
  progress: Throttled,
  signal?: AbortSignal,
): Promise<{ blobs: number; bytes: number }> {
  const releases: (() => void)[] = [];
  const writers: IngestWriter[] = [];
  let committed = 0;
  try {
    // Locks are taken in digest order, so two imports sharing blobs cannot deadlock; a pull
    // holds one lock at a time.
    const wanted = [...plan.blobs.values()].sort((a, b) =>
      a.desc.digest < b.desc.digest ? -1 : 1,
    );
    const todo: PlannedBlob[] = [];
    for (const blob of wanted) {
      releases.push(await hold(store, blob.desc.digest, signal));
      // Another tab may have stored it meanwhile.
      if (!(await store.content.info(blob.desc.digest))) todo.push(blob);
    }
    // In archive order, so the file is read front to back.
    todo.sort((a, b) => (a.member?.offset ?? Infinity) - (b.member?.offset ?? Infinity));
    const bytes = todo.reduce((n, b) => n + b.desc.size, 0);
    const file = members.file;
    progress.total = file.size + bytes;
    let done = file.size;
    progress.report(done);

    for (const blob of todo) {
      const { desc } = blob;
      const w = await store.content.writer({
        ref: refKey(desc),
        digest: desc.digest,
        size: desc.size,
        mediaType: desc.mediaType,
        source: '',
      });
      writers.push(w);
      // A pull interrupted earlier may have left part of this blob: the writer resumes it.
      done += w.offset;
      if (blob.bytes) {
        if (w.offset < blob.bytes.byteLength) {
          await w.write(new Blob([blob.bytes.subarray(w.offset) as Uint8Array<ArrayBuffer>]));
        }
      } else {
        const member = blob.member!;
        while (w.offset < desc.size) {
          signal?.throwIfAborted();
          const from = w.offset;
          const to = Math.min(desc.size, from + importPieceSize);
          await w.write(members.slice(member, from, to));
          done += to - from;
          progress.report(done);
        }
      }
      const actual = w.digest();
      if (actual !== desc.digest) throw new ImportError(blob.mismatch(actual));
    }
    signal?.throwIfAborted();

    for (const w of writers) {
      await w.commit();
      committed++;
    }
    for (const image of plan.images) await store.images.put(image);
    progress.report(progress.total);
    return { blobs: writers.length, bytes };
  } catch (err) {
    // Committed blobs are left to garbage collection: no image record names them.
    for (const w of writers.slice(committed)) await w.abort().catch(() => undefined);
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    for (const release of releases) release();
  }
}
