// Layers of an inspected image read without downloading them, through their table of contents
// (eStargz, zstd:chunked) or, for a plain gzip layer, a SOCI zTOC attached to the image as a
// referrer: the images worker holds the registry client, so it fetches the TOC and the chunks.
// TOCs are kept per layer digest while the worker lives, so browsing a layer fetches its TOC
// once.
import type { FileBytes } from '../../lib/layers/read.ts';
import { readChunks, readToc, type RemoteLayer } from '../../lib/layers/toc/remote.ts';
import { sociIndexAnnotation, type SociIndex } from '../../lib/layers/toc/soci.ts';
import { readSoci, readSociFile, sociZtocs } from '../../lib/layers/toc/soci-remote.ts';
import type { Toc, TocFormat } from '../../lib/layers/toc/toc.ts';
import { layerCompression } from '../../lib/oci/mediatypes.ts';
import { isDigest } from '../../lib/oci/digest.ts';
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
  format: TocFormat | 'soci';
  /** The layer's entries, in columns (the layers worker's tree takes them as they are). */
  files: ColumnIndex;
  /** The sum of the regular files' sizes: the tar's own size is not known without it. */
  uncompressed: number;
  /** The TOC matched a digest the manifest gives (else it came from the blob's footer). */
  verified: boolean;
}

export interface RemoteFileArg extends RemoteLayerArg {
  /** The file's IndexEntry.offset in the remote index (for SOCI, its data's tar offset). */
  file: number;
  path: string;
  size: number;
}

/** How many layers' TOCs are kept. */
const keptTocs = 8;
const tocs = new Map<string, Promise<Toc | SociIndex | undefined>>();
/** The zTOCs of the SOCI indexes attached to an image manifest, by manifest digest. */
const keptSoci = 8;
const socis = new Map<string, Promise<Map<string, Descriptor>>>();

async function remoteLayer(arg: RemoteLayerArg): Promise<RemoteLayer> {
  await loadRemembered();
  const s = await store();
  const ref = parseReference(arg.name);
  const sources = (await s.content.info(arg.manifestDigest))?.sources ?? [];
  const own = repositoryOf(ref);
  const from = parseReference(sources.includes(own) ? own : (sources[0] ?? own));
  return { client: client(arg.connection), ref: from, desc: arg.layer };
}

/** The zTOCs attached to the image (cached, as one listing asks for each of its layers). A
 * registry that cannot list referrers has none: its layers are downloaded as before. */
function ztocsOf(layer: RemoteLayer, manifestDigest: string) {
  let p = socis.get(manifestDigest);
  if (!p) {
    p = sociIndexOf(manifestDigest)
      .then((sociIndex) => sociZtocs(layer.client, layer.ref, manifestDigest, { sociIndex }))
      .catch(() => {
        // Asked again next time: a registry that failed once may answer later.
        if (socis.get(manifestDigest) === p) socis.delete(manifestDigest);
        return new Map<string, Descriptor>();
      });
    socis.set(manifestDigest, p);
    while (socis.size > keptSoci) socis.delete(socis.keys().next().value!);
  }
  return p;
}

/** The SOCI index a SOCI-enabled image's manifest names (SOCI index manifest v2), if any. */
async function sociIndexOf(manifestDigest: string): Promise<string | undefined> {
  try {
    const bytes = await (await store()).content.readBytes(manifestDigest);
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as {
      annotations?: Record<string, unknown>;
    } | null;
    const d = doc?.annotations?.[sociIndexAnnotation];
    return typeof d === 'string' && isDigest(d) ? d : undefined;
  } catch {
    return undefined;
  }
}

/** The layer's own TOC, else (a plain gzip layer) its SOCI zTOC, else undefined. */
async function lazyIndex(layer: RemoteLayer, manifestDigest: string) {
  const compression = layerCompression(layer.desc.mediaType);
  const toc = await readToc(layer, { probe: compression === 'zstd' });
  if (toc || compression !== 'gzip') return toc;
  const ztoc = (await ztocsOf(layer, manifestDigest)).get(layer.desc.digest);
  return ztoc ? readSoci(layer, ztoc) : undefined;
}

function tocOf(
  layer: RemoteLayer,
  manifestDigest: string,
  signal: AbortSignal,
): Promise<Toc | SociIndex | undefined> {
  const key = layer.desc.digest;
  let p = tocs.get(key);
  if (p) {
    tocs.delete(key);
    tocs.set(key, p);
    return p;
  }
  // Shared by later callers, so it is not tied to this caller's signal; a failure is forgotten.
  // A gzip layer is read through its own TOC only when annotated as eStargz (every eStargz
  // writer adds the TOC digest): probing the footer of every plain gzip layer would cost each
  // download a round trip. A plain one is looked up among the image's SOCI zTOCs instead, one
  // referrers request per image. zstd layers are rare and zstd:chunked's footer is cheap to
  // probe.
  p = lazyIndex(layer, manifestDigest);
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
  const toc = await tocOf(layer, arg.manifestDigest, ctx.signal);
  if (!toc) throw new Error(`${arg.layer.digest} has no table of contents`);
  return { layer, toc };
}

/** The file index of a layer from its TOC alone, or null when it has none (then the layer is
 * downloaded and listed as usual). */
export async function remoteIndex(
  arg: RemoteLayerArg,
  ctx: CallContext,
): Promise<RemoteIndex | null> {
  const toc = await tocOf(await remoteLayer(arg), arg.manifestDigest, ctx.signal);
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
  const each = (bytes: Uint8Array) => {
    out.set(bytes.subarray(0, want - got), got);
    got += Math.min(bytes.byteLength, want - got);
  };
  if (toc.format === 'soci') {
    await readSociFile(layer, toc, arg.file, want, arg.path, each, ctx.signal);
  } else await readChunks(layer, toc, arg.file, arg.path, want, each, ctx.signal);
  if (got < want) throw new Error(`${arg.path}: its chunks hold ${got} of ${want} bytes`);
  return { bytes: out, truncated: want < arg.size };
}

/** One whole file, for "Download this file": each chunk, once checked, becomes a Blob part. */
export async function remoteFileBlob(arg: RemoteFileArg, ctx: CallContext): Promise<Blob> {
  const { layer, toc } = await requireToc(arg, ctx);
  const parts: Blob[] = [];
  const each = (bytes: Uint8Array) => void parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  if (toc.format === 'soci') {
    await readSociFile(layer, toc, arg.file, arg.size, arg.path, each, ctx.signal);
  } else await readChunks(layer, toc, arg.file, arg.path, arg.size, each, ctx.signal);
  return new Blob(parts);
}
