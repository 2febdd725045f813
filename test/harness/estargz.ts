/**
 * An eStargz layer builder, written to the published format (containerd/stargz-snapshotter
 * docs/estargz.md) because no Debian package ships a tool that makes eStargz.
 *
 * Real parts where they exist: the files are real files, GNU tar writes the tar stream and the
 * TOC's tar entry, and gzip -n compresses every member. Only the cutting of the tar stream into
 * members (one before each regular file's payload and each chunk of it, as the spec requires),
 * the TOC JSON and the 51-byte footer (gzip cannot write an extra field) are written here.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TarParser, type TarEntry } from '../../src/lib/layers/tar.ts';
import { run } from './process.ts';

export type EstargzEntry =
  | { type: 'file'; path: string; content: string | Buffer }
  | { type: 'symlink'; path: string; target: string };

export interface EstargzOptions {
  entries: EstargzEntry[];
  /** Files longer than this are cut into chunks of this many bytes (default 64 KiB). */
  chunkSize?: number;
  /** Writes a wrong chunkDigest for this file's first chunk (a TOC that lies). */
  lieAbout?: string;
}

export interface EstargzLayer {
  blob: Buffer;
  /** sha256 of the TOC JSON: the containerd.io/snapshot/stargz/toc.digest annotation. */
  tocDigest: string;
  /** sha256 of the uncompressed tar. */
  diffID: string;
  /** Where the TOC's gzip member starts. */
  tocOffset: number;
  toc: { version: 1; entries: Record<string, unknown>[] };
}

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function gzip(dir: string, bytes: Uint8Array): Promise<Buffer> {
  const path = join(dir, 'member');
  await writeFile(path, bytes);
  await run('gzip', ['-n', '-f', path]);
  const out = await readFile(path + '.gz');
  await rm(path + '.gz');
  return out;
}

async function gnuTar(root: string, out: string) {
  await run('tar', [
    '--create',
    `--file=${out}`,
    `--directory=${root}`,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '.',
  ]);
}

/** The 51-byte footer: an empty gzip member whose extra field says where the TOC is. */
function footer(tocOffset: number): Buffer {
  const extra = Buffer.from(`${tocOffset.toString(16).padStart(16, '0')}STARGZ`, 'ascii');
  return Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff]), // header, FLG = FEXTRA
    Buffer.from([26, 0, 0x53, 0x47, 22, 0]), // XLEN, "SG", LEN
    extra,
    Buffer.from([1, 0, 0, 0xff, 0xff]), // final stored block of length 0
    Buffer.alloc(8), // CRC-32 and size of nothing
  ]);
}

export async function buildEstargz(opts: EstargzOptions): Promise<EstargzLayer> {
  const chunkSize = opts.chunkSize ?? 64 << 10;
  const work = await mkdtemp(join(tmpdir(), 'berth-estargz-'));
  try {
    const root = join(work, 'root');
    await mkdir(root);
    for (const e of opts.entries) {
      await mkdir(dirname(join(root, e.path)), { recursive: true });
      if (e.type === 'file') await writeFile(join(root, e.path), e.content);
      else await symlink(e.target, join(root, e.path));
    }
    await gnuTar(root, join(work, 'layer.tar'));
    const tar = await readFile(join(work, 'layer.tar'));

    // Where each entry's data lies in the tar, and where the last one ends (the end-of-archive
    // blocks are dropped: the TOC's entry comes after the files, then the tar ends).
    const found: TarEntry[] = [];
    const parser = new TarParser({ onEntry: (e) => void found.push(e) });
    parser.push(tar);
    parser.end();
    const last = found[found.length - 1]!;
    const dataEnd = Math.ceil((last.offset + last.stored) / 512) * 512;

    // A gzip member starts before each regular file's payload and each of its chunks.
    interface Cut {
      at: number;
      entry?: TarEntry;
      chunkOffset?: number;
      chunkSize?: number;
    }
    const cuts: Cut[] = [{ at: 0 }];
    for (const e of found) {
      if (e.type !== 'file' || e.size === 0) continue;
      for (let off = 0; off < e.size; off += chunkSize) {
        cuts.push({
          at: e.offset + off,
          entry: e,
          chunkOffset: off,
          chunkSize: Math.min(chunkSize, e.size - off),
        });
      }
    }
    const members: Buffer[] = [];
    const offsets: number[] = [];
    let compressedAt = 0;
    for (let k = 0; k < cuts.length; k++) {
      const from = cuts[k]!.at;
      const to = k + 1 < cuts.length ? cuts[k + 1]!.at : dataEnd;
      const member = await gzip(work, tar.subarray(from, to));
      offsets.push(compressedAt);
      members.push(member);
      compressedAt += member.byteLength;
    }
    const tocOffset = compressedAt;

    const entries: Record<string, unknown>[] = [];
    const kinds: Record<string, string> = {
      file: 'reg',
      dir: 'dir',
      symlink: 'symlink',
      hardlink: 'hardlink',
    };
    for (const e of found) {
      if (e.path === '') continue;
      const base = {
        name: e.type === 'dir' ? `${e.path}/` : e.path,
        type: kinds[e.type] ?? e.type,
        modtime: new Date(e.mtime * 1000).toISOString().replace('.000Z', 'Z'),
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        ...(e.linkname !== undefined ? { linkName: e.linkname } : {}),
      };
      if (e.type !== 'file' || e.size === 0) {
        entries.push({ ...base, ...(e.type === 'file' ? { size: 0 } : {}) });
        continue;
      }
      const content = tar.subarray(e.offset, e.offset + e.size);
      cuts.forEach((c, k) => {
        if (c.entry !== e) return;
        const bytes = content.subarray(c.chunkOffset!, c.chunkOffset! + c.chunkSize!);
        const lastChunk = c.chunkOffset! + c.chunkSize! >= e.size;
        const lie = opts.lieAbout === e.path && c.chunkOffset === 0;
        const chunk = {
          offset: offsets[k],
          chunkOffset: c.chunkOffset,
          // The spec: the last chunk, or an unchunked file, says 0.
          chunkSize: lastChunk ? 0 : c.chunkSize,
          chunkDigest: lie ? sha256('not this chunk') : sha256(bytes),
        };
        if (c.chunkOffset === 0) {
          const { chunkOffset: _skip, ...first } = chunk;
          entries.push({ ...base, size: e.size, digest: sha256(content), ...first });
        } else {
          entries.push({ name: e.path, type: 'chunk', ...chunk });
        }
      });
    }
    const toc = { version: 1 as const, entries };
    const tocJson = Buffer.from(JSON.stringify(toc, null, '\t'));
    const tocDir = join(work, 'toc');
    await mkdir(tocDir);
    await writeFile(join(tocDir, 'stargz.index.json'), tocJson);
    await run('tar', [
      '--create',
      `--file=${join(work, 'toc.tar')}`,
      `--directory=${tocDir}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '--format=ustar',
      'stargz.index.json',
    ]);
    const tocTar = await readFile(join(work, 'toc.tar'));
    const tocMember = await gzip(work, tocTar);
    const blob = Buffer.concat([...members, tocMember, footer(tocOffset)]);
    const diffID = sha256(Buffer.concat([tar.subarray(0, dataEnd), tocTar]));
    return { blob, tocDigest: sha256(tocJson), diffID, tocOffset, toc };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
