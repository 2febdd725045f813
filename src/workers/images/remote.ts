// Layers of an inspected image read without downloading them, through their table of contents
// (eStargz, zstd:chunked): the images worker holds the registry client, so it fetches the TOC
// and the chunks. TOCs are kept per layer digest while the worker lives, so browsing a layer
// fetches its TOC once.
import type { FileBytes } from '../../lib/layers/read.ts';
import { readChunks, readToc, type RemoteLayer } from '../../lib/layers/toc/remote.ts';
import type { Toc, TocFormat } from '../../lib/layers/toc/toc.ts';
import { layerCompression } from '../../lib/oci/mediatypes.ts';
import type { Descriptor } from '../../lib/oci/types.ts';
import { parseReference, repositoryOf } from '../../lib/reference/reference.ts';
import type { Connection } from '../../lib/registry/transport.ts';
import { transfer, type CallContext } from '../rpc.ts';
import { toColumns, transferables, type ColumnIndex } from '../../lib/layers/columns.ts';
import { client, loadRemembered } from './credentials.ts';
import { store } from '../store.ts';

export interface RemoteLayerArg {
  /** The image's name, and the manifest the layer belongs to (its recorded sources say which
   * repository to fetch from). */
  name: string;
  manifestDigest: string;
  layer: Descriptor;
  connection: Connection;
}

export interface RemoteIndex {
  format: TocFormat;
  /** The layer's entries, in columns (the layers worker's tree takes them as they are). */
  files: ColumnIndex;
  /** The sum of the regular files' sizes: the tar's own size is not known without it. */
  uncompressed: number;
  /** The TOC matched a digest the manifest gives (else it came from the blob's footer). */
  verified: boolean;
}

export interface RemoteFileArg extends RemoteLayerArg {
  /** The file's IndexEntry.offset in the remote index. */
  file: number;
  path: string;
  size: number;
}

/** How many layers' TOCs are kept. */
const keptTocs = 8;
const tocs = new Map<string, Promise<Toc | undefined>>();

async function remoteLayer(arg: RemoteLayerArg): Promise<RemoteLayer> {
  await loadRemembered();
  const s = await store();
  const ref = parseReference(arg.name);
  const sources = (await s.content.info(arg.manifestDigest))?.sources ?? [];
  const own = repositoryOf(ref);
  const from = parseReference(sources.includes(own) ? own : (sources[0] ?? own));
  return { client: client(arg.connection), ref: from, desc: arg.layer };
}

function tocOf(layer: RemoteLayer, signal: AbortSignal): Promise<Toc | undefined> {
  const key = layer.desc.digest;
  let p = tocs.get(key);
  if (p) {
    tocs.delete(key);
    tocs.set(key, p);
    return p;
  }
  // Shared by later callers, so it is not tied to this caller's signal; a failure is forgotten.
  // A gzip layer is read lazily only when annotated as eStargz (every eStargz writer adds the
  // TOC digest): probing the footer of every plain gzip layer would cost each download a round
  // trip. zstd layers are rare and zstd:chunked's footer is cheap to probe.
  p = readToc(layer, { probe: layerCompression(layer.desc.mediaType) === 'zstd' });
  tocs.set(key, p);
  p.catch(() => {
    if (tocs.get(key) === p) tocs.delete(key);
  });
  while (tocs.size > keptTocs) tocs.delete(tocs.keys().next().value!);
  return untilAborted(p, signal);
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function requireToc(arg: RemoteLayerArg, ctx: CallContext) {
  const layer = await remoteLayer(arg);
  const toc = await tocOf(layer, ctx.signal);
  if (!toc) throw new Error(`${arg.layer.digest} has no table of contents`);
  return { layer, toc };
}

/** The file index of a layer from its TOC alone, or null when it has none (then the layer is
 * downloaded and listed as usual). */
export async function remoteIndex(
  arg: RemoteLayerArg,
  ctx: CallContext,
): Promise<RemoteIndex | null> {
  const toc = await tocOf(await remoteLayer(arg), ctx.signal);
  if (!toc) return null;
  let uncompressed = 0;
  for (const f of toc.entries) if (f.type === 'file') uncompressed += f.size;
  const files = toColumns(toc.entries);
  return transfer({ format: toc.format, files, uncompressed, verified: toc.verified }, [
    ...new Set(transferables(files.batches)),
  ]);
}

/** Up to `limit` bytes of one file, fetching only the chunks that hold them. */
export async function readRemoteFile(
  arg: RemoteFileArg & { limit: number },
  ctx: CallContext,
): Promise<FileBytes> {
  const { layer, toc } = await requireToc(arg, ctx);
  const want = Math.min(arg.size, arg.limit);
  const out = new Uint8Array(want);
  let got = 0;
  await readChunks(
    layer,
    toc,
    arg.file,
    arg.path,
    want,
    (bytes) => {
      out.set(bytes.subarray(0, want - got), got);
      got += Math.min(bytes.byteLength, want - got);
    },
    ctx.signal,
  );
  if (got < want) throw new Error(`${arg.path}: its chunks hold ${got} of ${want} bytes`);
  return { bytes: out, truncated: want < arg.size };
}

/** One whole file, for "Download this file": each chunk, once checked, becomes a Blob part. */
export async function remoteFileBlob(arg: RemoteFileArg, ctx: CallContext): Promise<Blob> {
  const { layer, toc } = await requireToc(arg, ctx);
  const parts: Blob[] = [];
  await readChunks(
    layer,
    toc,
    arg.file,
    arg.path,
    arg.size,
    (bytes) => void parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>])),
    ctx.signal,
  );
  return new Blob(parts);
}
