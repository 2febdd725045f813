// Layers streamed from Node into GNU gzip, for the scale cases. A million tiny files made on
// disk and archived by GNU tar would take minutes of this 2-core machine's time (creating the
// inodes alone is most of it) on every run; the tar stream itself is simple (ustar headers,
// 512-byte blocks), so it is written here, and GNU tar checks it (`tar -tzf` is the reference
// every listing is measured against, and it must list as many entries as Berth).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { MT, type OciLayout } from '../test/harness/oci.ts';
import type { Layer } from './image.ts';

const BLOCK = 512;
/** Output is gathered into pieces this large before it goes to gzip. */
const PIECE = 4 << 20;

export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink';
const FLAG: Record<TarType, string> = { file: '0', hardlink: '1', symlink: '2', dir: '5' };

function octal(buf: Buffer, offset: number, width: number, value: number) {
  buf.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'ascii');
  buf[offset + width - 1] = 0;
}

/** One ustar header block. Names must fit ustar's 100 bytes (the scale cases' names do). */
export function ustarHeader(h: {
  name: string;
  type: TarType;
  size?: number;
  mode?: number;
  mtime?: number;
  linkname?: string;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(h.name) > 100 || Buffer.byteLength(h.linkname ?? '') > 100) {
    throw new Error(`name too long for ustar: ${h.name}`);
  }
  b.write(h.name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode ?? (h.type === 'dir' ? 0o755 : 0o644));
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, h.type === 'file' ? (h.size ?? 0) : 0);
  octal(b, 136, 12, h.mtime ?? 1_704_067_200); // 2024-01-01, as the harness's images
  b.fill(0x20, 148, 156);
  b.write(FLAG[h.type], 156, 1, 'ascii');
  if (h.linkname) b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'ascii');
  b.write('root', 265, 32, 'ascii');
  b.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return b;
}

/** Writes tar blocks into a gzip process, hashing the tar (diffID) and the gzip (digest). */
export class TarGzWriter {
  readonly file: string;
  #gzip;
  #out;
  #digest = createHash('sha256');
  #diffID = createHash('sha256');
  #size = 0;
  #tarSize = 0;
  #piece = Buffer.allocUnsafe(PIECE);
  #used = 0;
  #closed: Promise<unknown>;

  constructor(work: string, level: number, name = Math.random().toString(36).slice(2)) {
    this.file = join(work, `layer-${name}.tar.gz`);
    this.#gzip = spawn('gzip', ['-n', `-${level}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#out = createWriteStream(this.file);
    this.#gzip.stdout.on('data', (c: Buffer) => {
      this.#digest.update(c);
      this.#size += c.length;
    });
    this.#gzip.stdout.pipe(this.#out);
    this.#closed = once(this.#gzip, 'close');
  }

  get tarSize() {
    return this.#tarSize + this.#used;
  }

  async #flush() {
    if (this.#used === 0) return;
    const chunk = Buffer.from(this.#piece.subarray(0, this.#used));
    this.#used = 0;
    this.#diffID.update(chunk);
    this.#tarSize += chunk.length;
    if (!this.#gzip.stdin.write(chunk)) await once(this.#gzip.stdin, 'drain');
  }

  /** Appends bytes; the caller keeps them a multiple of 512 overall. */
  async write(bytes: Uint8Array) {
    if (bytes.length >= PIECE) {
      await this.#flush();
      this.#diffID.update(bytes);
      this.#tarSize += bytes.length;
      if (!this.#gzip.stdin.write(bytes)) await once(this.#gzip.stdin, 'drain');
      return;
    }
    if (this.#used + bytes.length > PIECE) await this.#flush();
    this.#piece.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  /** An entry with its content (padded to the block). */
  async entry(h: Parameters<typeof ustarHeader>[0], content?: Uint8Array) {
    const size = h.type === 'file' ? (content?.length ?? 0) : 0;
    await this.write(ustarHeader({ ...h, size }));
    if (size > 0) {
      await this.write(content!);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) await this.write(new Uint8Array(pad));
    }
  }

  /** A file's header alone: its `size` bytes follow through write(), padded by the caller. */
  async header(h: Parameters<typeof ustarHeader>[0] & { size: number }) {
    await this.write(ustarHeader({ ...h, type: 'file' }));
  }

  /** Writes the end-of-archive blocks and waits for gzip. */
  async finish(): Promise<Omit<Layer, 'path'> & { file: string }> {
    await this.write(new Uint8Array(2 * BLOCK));
    await this.#flush();
    this.#gzip.stdin.end();
    await this.#closed;
    if (!this.#out.writableFinished) await once(this.#out, 'finish');
    return {
      file: this.file,
      size: this.#size,
      tarSize: this.#tarSize,
      digest: `sha256:${this.#digest.digest('hex')}`,
      diffID: `sha256:${this.#diffID.digest('hex')}`,
    };
  }
}

/** Moves a built layer into the layout, checking the digest hashed while it was written. */
export async function addBuiltLayer(
  layout: OciLayout,
  built: Omit<Layer, 'path'> & { file: string },
): Promise<Layer> {
  const desc = await layout.addBlobFile(built.file, MT.ociLayerGzip);
  if (desc.digest !== built.digest || desc.size !== built.size) {
    throw new Error(`layer ${built.file}: hashed ${built.digest} while writing, ${desc.digest}`);
  }
  return {
    digest: desc.digest,
    size: desc.size,
    diffID: built.diffID,
    tarSize: built.tarSize,
    path: layout.blobPath(desc.digest),
  };
}

/** A seeded xorshift32 stream: the same incompressible bytes on every run. */
export class SeededBytes {
  #x: number;
  constructor(seed = 0x9e3779b9) {
    this.#x = seed >>> 0 || 1;
  }
  fill(buf: Uint8Array) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
    let x = this.#x;
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x;
    }
    this.#x = x >>> 0;
  }
}
