// The members of a tar archive held in a Blob (the user's File): one pass over its stream
// reads the headers, and each member is then taken as a slice of the Blob, which copies
// nothing. Only small documents are ever read into memory, under a size cap.
import { parseDigest } from '../oci/digest.ts';
import { maxDocumentBytes } from '../oci/limits.ts';
import { type EntryType, TarError, TarParser } from '../layers/tar.ts';
import { formatBytes } from '../units.ts';
import { ImportError } from './errors.ts';

/** The largest index.json, manifest.json, manifest, index or config read into memory. */
export const maxDocumentSize = maxDocumentBytes;

/** One member of the archive. */
export interface Member {
  path: string;
  type: EntryType;
  /** Where its data starts in the archive. */
  offset: number;
  size: number;
  linkname?: string;
  sparse?: boolean;
}

/** How far links are followed before a member is taken as missing. */
const maxLinks = 8;

export class ArchiveMembers {
  constructor(
    readonly file: Blob,
    /** By path as the parser cleaned it; a later member of the same name replaced an earlier
     * one, as extracting the tar would. */
    readonly byPath: ReadonlyMap<string, Member>,
    /** Whether the archive ended with tar's end-of-archive blocks. Without them it was
     * probably cut at a member boundary, which the tar itself cannot tell. */
    readonly ended = true,
  ) {}

  /** The regular file at `path`, following symlinks and hardlinks inside the archive, or
   * undefined. A sparse member is refused: its bytes in the archive are not the file's. */
  get(path: string): Member | undefined {
    let at = normalize(path);
    for (let hops = 0; at !== undefined && hops <= maxLinks; hops++) {
      const m = this.byPath.get(at);
      if (!m) return undefined;
      if (m.type === 'file') {
        if (m.sparse) {
          throw new ImportError(`${m.path} is stored as a sparse file, which Berth cannot read`);
        }
        return m;
      }
      if (m.type === 'hardlink' && m.linkname !== undefined) at = normalize(m.linkname);
      else if (m.type === 'symlink' && m.linkname !== undefined)
        at = m.linkname.startsWith('/')
          ? normalize(m.linkname)
          : normalize(`${dirname(at)}/${m.linkname}`);
      else return undefined;
    }
    return undefined;
  }

  /** The member holding a blob of an OCI layout, blobs/<alg>/<hex>. */
  blob(digest: string): Member | undefined {
    const { algorithm, hex } = parseDigest(digest);
    return this.get(`blobs/${algorithm}/${hex}`);
  }

  /** The member's bytes as a Blob: nothing is read. */
  slice(m: Member, from = 0, to = m.size): Blob {
    return this.file.slice(m.offset + from, m.offset + to);
  }

  /** Reads a small member into memory; `what` names it in the error when it is too big. */
  async read(m: Member, what: string): Promise<Uint8Array> {
    if (m.size > maxDocumentSize) {
      throw new ImportError(
        `${what} is ${formatBytes(m.size)}, over the ${formatBytes(maxDocumentSize)} Berth reads ` +
          'for a manifest, an index or a config: this is not an image archive Berth can import',
      );
    }
    return new Uint8Array(await this.slice(m).arrayBuffer());
  }
}

/** Resolves "." and ".." in an archive path; undefined if it climbs out of the archive. */
function normalize(path: string): string | undefined {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out.join('/');
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Magic numbers of compressed files people may pick instead of the tar inside. */
const compressions: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

function notATar(head: Uint8Array, size: number): ImportError {
  if (size === 0) return new ImportError('this is not a tar archive: the file is empty');
  for (const [name, magic] of compressions) {
    if (magic.every((b, i) => head[i] === b)) {
      return new ImportError(
        `this is a ${name}-compressed file, not a tar archive: decompress it first ` +
          '(Berth imports the .tar that docker save, skopeo or Berth itself write)',
      );
    }
  }
  return new ImportError('this is not a tar archive');
}

export interface ScanOptions {
  signal?: AbortSignal;
  /** Bytes of the archive read so far. */
  onProgress?: (done: number) => void;
}

/** Reads every header of the archive. Throws ImportError for what is not a tar, a damaged
 * tar, or a truncated one. */
export async function scanArchive(file: Blob, opts: ScanOptions = {}): Promise<ArchiveMembers> {
  const byPath = new Map<string, Member>();
  let last: Member | undefined;
  const parser = new TarParser({
    onEntry(e) {
      last = { path: e.path, type: e.type, offset: e.offset, size: e.stored };
      if (e.linkname !== undefined) last.linkname = e.linkname;
      if (e.sparse) last.sparse = true;
      if (e.path === '' || e.type === 'dir') return;
      byPath.delete(e.path); // a replaced member moves to the end, as in the archive
      byPath.set(e.path, last);
    },
  });
  const head = new Uint8Array(8);
  let headFill = 0;
  const reader = file.stream().getReader();
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      if (headFill < head.length) {
        const take = value.subarray(0, head.length - headFill);
        head.set(take, headFill);
        headFill += take.length;
      }
      parser.push(value);
      opts.onProgress?.(parser.position);
      if (parser.done) break;
    }
    parser.end();
  } catch (err) {
    if (!(err instanceof TarError)) throw err;
    if (!last) throw notATar(head, file.size);
    if (err.message.startsWith('truncated')) {
      const cut = last.offset + last.size > file.size;
      throw new ImportError(
        (cut
          ? `the archive ends in the middle of ${last.path} (${formatBytes(file.size - last.offset)} ` +
            `of its ${formatBytes(last.size)} are there)`
          : `the archive ends in the middle of a header, after ${last.path}`) +
          ': the file is truncated; download or copy it again',
      );
    }
    throw new ImportError(`the archive is damaged: ${err.message}`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (file.size === 0) throw notATar(head, 0);
  return new ArchiveMembers(file, byPath, parser.done);
}
