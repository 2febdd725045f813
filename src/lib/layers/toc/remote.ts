// Reading a layer that was never downloaded, through its table of contents: the TOC with one
// or two Range requests, then a file by fetching only its chunks. Every chunk is hashed and
// checked against the TOC's digest before any of its bytes is handed out, and the TOC against
// the manifest's annotation when there is one.
import type { Descriptor } from '../../oci/types.ts';
import { layerCompression } from '../../oci/mediatypes.ts';
import { createHasher, digestBytes } from '../../oci/hasher.ts';
import type { Reference } from '../../reference/reference.ts';
import type { RegistryClient } from '../../registry/client.ts';
import { decompress, DecompressError } from '../decompress.ts';
import { TarParser } from '../tar.ts';
import { footerSize, parseFooter, tocHint, type TocLocation } from './formats.ts';
import { maxTocBytes, parseToc, TocError, type Chunk, type Toc } from './toc.ts';

export interface RemoteLayer {
  client: RegistryClient;
  /** The repository the blob is fetched from. */
  ref: Reference;
  desc: Descriptor;
}

/** How many chunk requests of one file run at once. */
const parallelChunks = 4;
/** The most compressed bytes of adjacent chunks fetched with one request. */
const groupBytes = 4 << 20;

/** The registry answered a Range request with something else (the whole blob, or other
 * bytes): the layer cannot be read lazily from it. */
export class RangeRefusedError extends TocError {
  override name = 'RangeRefusedError';
}

/** Starts a Range GET of blob bytes [start, end) and checks the registry answered that range. */
async function rangeResponse(layer: RemoteLayer, start: number, end: number, signal?: AbortSignal) {
  const res = await layer.client.fetchBlob(layer.ref, layer.desc, { start, end: end - 1 }, signal);
  const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('Content-Range') ?? '');
  if (res.status !== 206 || !cr || Number(cr[1]) !== start || Number(cr[2]) !== end - 1) {
    await res.body?.cancel();
    throw new RangeRefusedError(
      `the registry answered a request for bytes ${start}-${end - 1} of ${layer.desc.digest} with ${res.status === 206 ? (res.headers.get('Content-Range') ?? 'no Content-Range') : `status ${res.status}`}; Berth needs Range requests to read a layer without downloading it`,
    );
  }
  return res;
}

/** Exactly the bytes [start, end) of the blob, in memory (a footer, a TOC). */
export async function fetchRange(
  layer: RemoteLayer,
  start: number,
  end: number,
  signal?: AbortSignal,
) {
  const res = await rangeResponse(layer, start, end, signal);
  const bytes = await readAll(exactly(res.body, end - start, layer.desc.digest), signal);
  return bytes;
}

/** A body that must be `length` bytes: more or fewer is an error (a registry that lies). */
export function exactly(body: ReadableStream<Uint8Array> | null, length: number, what: string) {
  let got = 0;
  const source = body ?? new Blob([]).stream();
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        got += chunk.byteLength;
        if (got > length)
          throw new TocError(`${what}: the registry sent more than the ${length} bytes asked for`);
        c.enqueue(chunk);
      },
      flush() {
        if (got < length)
          throw new TocError(`${what}: the registry sent ${got} of the ${length} bytes asked for`);
      },
    }),
  );
}

export async function readAll(
  stream: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
  max = Infinity,
) {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) throw new TocError(`the table of contents decompresses to over ${max} bytes`);
      parts.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function inflate(
  bytes: Uint8Array,
  compression: 'gzip' | 'zstd',
  max: number,
  signal?: AbortSignal,
) {
  const open = () =>
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream() as ReadableStream<Uint8Array>;
  return readAll(decompress(open, compression, { signal, maxSize: max }), signal, max);
}

/**
 * The layer's TOC, or undefined when it has none (an ordinary gzip or zstd layer, found out
 * from its footer). With `probe` false, only a layer whose annotations say it has a TOC is
 * looked at, and an ordinary one costs no request.
 */
export async function readToc(
  layer: RemoteLayer,
  opts: { probe?: boolean; signal?: AbortSignal } = {},
): Promise<Toc | undefined> {
  const { signal } = opts;
  const { desc } = layer;
  const hint = tocHint(desc, opts.probe ?? true);
  if (hint.kind === 'none') return undefined;
  let location: TocLocation | undefined;
  if (hint.kind === 'located') location = hint.location;
  else {
    const n = footerSize(hint.format, desc.size);
    // Too small to hold a footer (the older zstd:chunked one is 48 bytes).
    if (n < 48) return undefined;
    const tail = await fetchRange(layer, desc.size - n, desc.size, signal);
    location = parseFooter(hint.format, tail, desc.size, hint.digest);
    if (!location) {
      if (hint.digest !== undefined) {
        throw new TocError(`${desc.digest} is annotated as eStargz, but has no eStargz footer`);
      }
      return undefined;
    }
  }
  const compressed = await fetchRange(layer, location.start, location.end, signal);
  let json: Uint8Array;
  if (location.format === 'zstd:chunked') {
    // Its checksum covers the compressed bytes.
    await check(compressed, location.digest, 'the zstd:chunked table of contents');
    json = await inflate(compressed, 'zstd', location.uncompressed ?? maxTocBytes, signal);
    if (location.uncompressed !== undefined && json.byteLength !== location.uncompressed) {
      throw new TocError(
        `the zstd:chunked table of contents is ${json.byteLength} bytes, not the ${location.uncompressed} its position says`,
      );
    }
  } else {
    json = estargzTocJson(await inflate(compressed, 'gzip', maxTocBytes + 4096, signal));
    await check(json, location.digest, 'the eStargz table of contents');
  }
  return parseToc(json, {
    format: location.format,
    blobSize: desc.size,
    dataEnd: location.start,
    verified: location.digest !== undefined,
  });
}

async function check(bytes: Uint8Array, want: string | undefined, what: string) {
  if (want === undefined) return;
  const got = await digestBytes(bytes);
  if (got !== want) {
    throw new TocError(
      `${what} does not match the digest the manifest gives: got ${got}, want ${want}`,
    );
  }
}

/** The JSON of the tar entry stargz.index.json that the TOC member holds. */
function estargzTocJson(tar: Uint8Array): Uint8Array {
  let json: Uint8Array | undefined;
  let got = 0;
  let name = '';
  const parser = new TarParser({
    onEntry: (e) => {
      name = e.path;
      if (e.path === 'stargz.index.json' && json === undefined) json = new Uint8Array(e.size);
    },
    onData: (e, bytes) => {
      if (e.path !== 'stargz.index.json' || !json) return;
      json.set(bytes, got);
      got += bytes.byteLength;
    },
  });
  parser.push(tar);
  if (!json) {
    throw new TocError(
      `the eStargz table of contents holds ${name ? JSON.stringify(name) : 'no entry'}, not stargz.index.json`,
    );
  }
  return json;
}

export interface FileRead {
  /** The file's chunks, verified, for [0, limit). */
  parts: Uint8Array[];
  /** The bytes of the file read, at most its size. */
  length: number;
}

/**
 * Reads the first `limit` bytes of a file of the TOC (`file` is its IndexEntry.offset),
 * fetching only the chunks that hold them, and hands each chunk's bytes to `each` in file
 * order once its digest checks out. `path` names the file in errors.
 */
export async function readChunks(
  layer: RemoteLayer,
  toc: Toc,
  file: number,
  path: string,
  limit: number,
  each: (bytes: Uint8Array) => void,
  signal?: AbortSignal,
): Promise<void> {
  const chunks = toc.chunks[file];
  if (!chunks) throw new TocError(`${path} has no chunks in the table of contents`);
  const needed = chunks.filter((c) => c.fileOffset < limit);
  const compression = layerCompression(layer.desc.mediaType) === 'zstd' ? 'zstd' : 'gzip';
  // Chunks that follow each other in the blob are fetched with one request (a round trip
  // each would dominate over a real network), up to groupBytes at a time.
  const groups: Chunk[][] = [];
  for (const c of needed) {
    const g = groups[groups.length - 1];
    const prev = g?.[g.length - 1];
    const joins =
      g &&
      prev &&
      !c.zeros &&
      !prev.zeros &&
      c.start === prev.end &&
      c.end - g[0]!.start <= groupBytes;
    if (joins) g.push(c);
    else groups.push([c]);
  }
  const readGroup = async (g: Chunk[]) => {
    const first = g[0]!;
    const last = g[g.length - 1]!;
    const compressed = first.zeros
      ? new Uint8Array()
      : await fetchRange(layer, first.start, last.end, signal);
    const parts: Uint8Array[] = [];
    for (const c of g) {
      const keep = Math.min(c.size, limit - c.fileOffset);
      const bytes = compressed.subarray(c.start - first.start, c.end - first.start);
      try {
        parts.push(...(await readChunk(c, bytes, compression, keep, signal)));
      } catch (err) {
        if (!(err instanceof ChunkDigestError || err instanceof DecompressError)) throw err;
        const problem =
          err instanceof ChunkDigestError ? err.message : `does not decompress: ${err.message}`;
        throw new TocError(
          `${path}: chunk ${chunks.indexOf(c) + 1} of ${chunks.length} (file bytes ${c.fileOffset}-${c.fileOffset + c.size - 1}, blob bytes ${c.start}-${c.end - 1}) ${problem}; refused`,
        );
      }
    }
    return parts;
  };
  // Groups are fetched a few at a time and handed out strictly in order.
  const results: Promise<Uint8Array[]>[] = [];
  let next = 0;
  const start = () => {
    if (next >= groups.length) return;
    const p = readGroup(groups[next++]!);
    p.catch(() => undefined);
    results.push(p);
  };
  for (let i = 0; i < parallelChunks; i++) start();
  for (let k = 0; k < groups.length; k++) {
    const parts = await results[k]!;
    start();
    for (const p of parts) each(p);
  }
}

class ChunkDigestError extends Error {}

/** One chunk's first `keep` bytes, after the whole chunk (its compressed bytes given) was
 * checked against its digest. */
async function readChunk(
  c: Chunk,
  compressed: Uint8Array,
  compression: 'gzip' | 'zstd',
  keep: number,
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  if (c.zeros) return [new Uint8Array(keep)];
  if (c.digest === undefined) {
    throw new ChunkDigestError('has no digest in the table of contents to check it against');
  }
  // The gzip decoder may read the bytes twice (the native decoder first, fflate if that one
  // refuses), so it opens a fresh stream each time.
  const open = () =>
    new Blob([compressed as Uint8Array<ArrayBuffer>]).stream() as ReadableStream<Uint8Array>;
  const reader = decompress(open, compression, { signal }).getReader();
  const hasher = await createHasher('sha256');
  const parts: Uint8Array[] = [];
  const want = c.innerOffset + c.size;
  let at = 0;
  let kept = 0;
  try {
    while (at < want) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      const from = Math.max(0, c.innerOffset - at);
      const to = Math.min(value.byteLength, want - at);
      at += value.byteLength;
      if (to <= from) continue;
      const piece = value.subarray(from, to);
      hasher.update(piece);
      if (kept < keep) {
        const take = piece.subarray(0, keep - kept);
        parts.push(take.slice());
        kept += take.byteLength;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const got = Math.min(at, want) - c.innerOffset;
  if (got < c.size) {
    throw new ChunkDigestError(`decompresses to ${Math.max(0, got)} bytes, not ${c.size}`);
  }
  const digest = hasher.digest();
  if (digest !== c.digest) {
    throw new ChunkDigestError(
      `does not match its digest in the table of contents: got ${digest}, want ${c.digest}`,
    );
  }
  return parts;
}
