// What the person does to stored images, from the image view or the library: verify, delete,
// export, import, and discard an interrupted pull. Each is a task on the shared activity line.
import { messageOf } from '../lib/errors.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { Activity } from './activity.svelte.ts';
import type { Bridge } from './bridge.ts';
import { formatBytes } from './format.ts';

/** What to export: one pulled manifest of an image, or with `all` its whole index. */
export interface ExportTarget {
  name: string;
  manifestDigest?: string;
  all?: boolean;
}

export interface ImageActionsOptions {
  bridge: Bridge<ImagesWorkerApi>;
  activity: Activity;
  /** Hands a finished archive to the person. */
  save: (blob: Blob, fileName: string) => void;
  /** What the store holds may have changed. */
  onStoreChanged?: () => void;
  /** An image left the store. */
  onDeleted?: (name: string) => void;
}

/** What an import stored: the images, the first of which the page opens, and what to say. */
export interface Imported {
  names: string[];
  notice: string;
}

export class ImageActions {
  /** Share of the archive read while importing, 0 to 1; null otherwise. */
  importProgress = $state<number | null>(null);

  readonly #opts: ImageActionsOptions;

  constructor(opts: ImageActionsOptions) {
    this.#opts = opts;
  }

  /** Re-hashes every stored blob of an image and says what does not match. */
  async verify(name: string): Promise<void> {
    const a = this.#opts.activity;
    const abort = a.start('verifying');
    try {
      const r = await this.#opts.bridge.call('verifyImage', { name }, { signal: abort.signal });
      if (r.problems.length === 0) {
        a.notice = `Verified ${name}: ${r.checked} blobs, ${formatBytes(r.bytes)}, all match their digests.`;
      } else {
        a.error =
          `${name} is damaged in this browser's storage: ` +
          r.problems.map((p) => `${p.digest} (${p.mediaType}): ${p.problem}`).join('; ') +
          '. Delete the image and pull it again.';
      }
    } catch (err) {
      if (!abort.signal.aborted) a.error = messageOf(err);
    } finally {
      a.finish(abort);
    }
  }

  /** Deletes an image from this browser; blobs other images share stay. */
  async deleteImage(name: string): Promise<void> {
    const a = this.#opts.activity;
    const abort = a.start('deleting');
    try {
      const freed = await this.#opts.bridge.call('deleteImage', { name });
      this.#opts.onDeleted?.(name);
      a.notice = `Deleted ${name}: ${freed.blobs} blob${freed.blobs === 1 ? '' : 's'} removed, ${formatBytes(freed.bytes)} freed.`;
    } catch (err) {
      a.error = messageOf(err);
    } finally {
      a.finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** Builds an OCI archive of a stored image and hands it to the person. */
  async exportImage(target: ExportTarget): Promise<void> {
    const a = this.#opts.activity;
    const abort = a.start('exporting');
    try {
      const { blob, fileName } = await this.#opts.bridge.call('exportArchive', target);
      this.#opts.save(blob, fileName);
      a.notice = `Saved ${fileName}.`;
    } catch (err) {
      a.error = messageOf(err);
    } finally {
      a.finish(abort);
    }
  }

  /** Imports an OCI layout, oci-archive or docker save tar. Returns what was stored, or
   * undefined when nothing was (the error is shown). */
  async importArchive(file: File): Promise<Imported | undefined> {
    const a = this.#opts.activity;
    const abort = a.start('importing');
    this.importProgress = 0;
    try {
      const r = await this.#opts.bridge.call(
        'importArchive',
        { file },
        {
          signal: abort.signal,
          onEvent: (ev) => (this.importProgress = ev.total > 0 ? ev.done / ev.total : 0),
        },
      );
      const names = r.images.map((i) => i.name);
      return {
        names,
        notice: `Imported ${names.join(', ')} from ${file.name}: ${r.blobs} blob${r.blobs === 1 ? '' : 's'} stored, ${formatBytes(r.bytes)}.`,
      };
    } catch (err) {
      if (!abort.signal.aborted) a.error = `${file.name} was not imported: ${messageOf(err)}`;
      return undefined;
    } finally {
      this.importProgress = null;
      a.finish(abort);
      this.#opts.onStoreChanged?.();
    }
  }

  /** Gives up an interrupted pull and frees what only it held. */
  async discardPull(name: string): Promise<void> {
    const a = this.#opts.activity;
    try {
      const freed = await this.#opts.bridge.call('discardPull', { name });
      a.notice = `Discarded the pull of ${name}: ${formatBytes(freed.bytes)} freed.`;
    } catch (err) {
      a.error = messageOf(err);
    } finally {
      this.#opts.onStoreChanged?.();
    }
  }
}
