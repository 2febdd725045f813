// Import and export in the images worker: an archive in, image records out, and back.
import { buildOciArchive } from '../../lib/export/oci-archive.ts';
import { importArchive as importFile, type ImportResult } from '../../lib/import/archive.ts';
import { formatReference, parseReference } from '../../lib/reference/reference.ts';
import { gcLock, withLock } from '../../lib/store/locks.ts';
import { BlobNotFoundError } from '../../lib/store/store.ts';
import type { CallContext } from '../rpc.ts';
import { store } from '../store.ts';

/** How far an import has read. */
export type ImportEvent = { type: 'import'; done: number; total: number };

/** Stores the images of an archive the user dropped or picked. */
export async function importArchive(
  arg: { file: Blob },
  ctx: CallContext<ImportEvent>,
): Promise<ImportResult> {
  const s = await store();
  // Shared like a pull: collection must not see blobs stored but not yet rooted.
  return withLock(
    gcLock,
    () =>
      importFile(s, arg.file, {
        signal: ctx.signal,
        onProgress: (done, total) =>
          ctx.emit({ type: 'import', done, total } satisfies ImportEvent),
      }),
    { signal: ctx.signal, mode: 'shared' },
  );
}

/** Exports one pulled manifest, or with `all` the whole index of an image pulled with All
 * platforms. */
export async function exportArchive(arg: { name: string; manifestDigest?: string; all?: boolean }) {
  const ref = parseReference(arg.name);
  const s = await store();
  const image = await s.images.get(formatReference(ref));
  if (arg.all) {
    if (!image?.complete) throw new Error(`${arg.name}: pull All platforms first`);
    return buildOciArchive(s.content, { reference: ref, target: image.target });
  }
  const m = image?.manifests.find((x) => x.descriptor.digest === arg.manifestDigest);
  if (!m) throw new Error(`${arg.name} is not stored: pull it first`);
  try {
    return await buildOciArchive(s.content, { reference: ref, target: m.descriptor });
  } catch (err) {
    if (!(err instanceof BlobNotFoundError)) throw err;
    throw new Error(
      `${arg.name} was inspected, not pulled: some of its layers are not downloaded. Pull it to export it.`,
      { cause: err },
    );
  }
}
