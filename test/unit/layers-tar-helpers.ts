// Helpers for the layer tar parser's tests: running GNU tar, reading its listings, and parsing
// one archive in many chunkings.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { TarError, TarParser, decodeName, type TarEntry } from '../../src/lib/layers/tar.ts';

const exec = promisify(execFile);
// The C locale makes tar escape every non-ASCII byte, so listings decode the same everywhere.
const env = { ...process.env, LC_ALL: 'C' };

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Runs a command in `cwd`; rejects with its stderr if it fails. */
export async function run(cmd: string, args: string[], cwd: string): Promise<Buffer> {
  const { stdout } = await exec(cmd, args, { cwd, env, encoding: 'buffer', maxBuffer: 1 << 26 });
  return stdout;
}

/** The member names `tar --list` prints, cleaned as TarEntry.path is. */
export async function listNames(file: string, cwd: string): Promise<string[]> {
  const out = await run('tar', ['--list', '--quoting-style=escape', '-f', file], cwd);
  const lines = out.toString('latin1').split('\n');
  lines.pop();
  return lines.map((line) => clean(decodeName(unescape(line))));
}

/** Undoes tar's "escape" quoting style: C escapes and \ooo octal bytes. */
function unescape(line: string): Uint8Array {
  const named: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
  const out: number[] = [];
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== '\\') {
      out.push(line.charCodeAt(i));
    } else if (/[0-7]{3}/.test(line.slice(i + 1, i + 4))) {
      out.push(parseInt(line.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      const c = named[line[i + 1]!];
      if (c === undefined) throw new Error(`unknown escape in ${JSON.stringify(line)}`);
      out.push(c);
      i++;
    }
  }
  return Uint8Array.from(out);
}

function clean(name: string): string {
  const s = name.replace(/^(\.\/+)+/, '');
  return s === '.' ? '' : s.replace(/(.)\/+$/, '$1');
}

export interface Parsed {
  entries: TarEntry[];
  /** sha256 of the bytes onData gave for each entry, in order. */
  digests: string[];
  position: number;
  done: boolean;
}

/** Parses `bytes` in chunks of the sizes `size(i)` returns. */
export function parse(
  bytes: Uint8Array,
  size: (i: number) => number = () => bytes.length,
  maxMetadata?: number,
): Parsed {
  const entries: TarEntry[] = [];
  const hashes: ReturnType<typeof createHash>[] = [];
  const p = new TarParser({
    onEntry(e) {
      entries.push(e);
      hashes.push(createHash('sha256'));
    },
    onData(e, piece) {
      expect(e, 'onData is for the entry just reported').toBe(entries.at(-1));
      // Pieces are views of the pushed chunks (here all views of `bytes`), never copies.
      expect(piece.buffer).toBe(bytes.buffer);
      hashes.at(-1)!.update(piece);
    },
    ...(maxMetadata ? { maxMetadata } : {}),
  });
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, size(i));
    p.push(bytes.subarray(at, at + n));
    at += n;
  }
  p.end();
  return {
    entries,
    digests: hashes.map((h) => h.digest('hex')),
    position: p.position,
    done: p.done,
  };
}

/** A reproducible stream of chunk sizes from 1 to 3000. */
function randomSizes(seed: number) {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 1 + (s % 3000);
  };
}

const chunkings: [string, (bytes: Uint8Array) => (i: number) => number][] = [
  ['1-byte', () => () => 1],
  ['511-byte', () => () => 511],
  ['513-byte', () => () => 513],
  ['alternating 1/1023', () => (i) => (i % 2 ? 1023 : 1)],
  ['random', () => randomSizes(42)],
];

/** Parses `bytes` whole and in every chunking; all must agree. Returns the whole parse. */
export function parseAll(bytes: Uint8Array, maxMetadata?: number): Parsed {
  const whole = parse(bytes, undefined, maxMetadata);
  for (const [name, sizes] of chunkings) {
    expect(parse(bytes, sizes(bytes), maxMetadata), `${name} chunks`).toEqual(whole);
  }
  return whole;
}

/** The TarError that parsing `bytes` throws, the same in every chunking. */
export function parseError(bytes: Uint8Array, maxMetadata?: number): TarError {
  const errorOf = (size?: (i: number) => number) => {
    try {
      parse(bytes, size, maxMetadata);
    } catch (e) {
      if (e instanceof TarError) return e;
      throw e;
    }
    throw new Error('parse succeeded, want a TarError');
  };
  const whole = errorOf();
  for (const [name, sizes] of chunkings) {
    const e = errorOf(sizes(bytes));
    expect([e.message, e.offset], `${name} chunks`).toEqual([whole.message, whole.offset]);
  }
  return whole;
}

/** Streams `tar args` into a parser until the first entry, then kills tar. Returns the entry
 * and the bytes read until then. */
export function firstEntry(
  args: string[],
  cwd: string,
): Promise<{ entry: TarEntry; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { cwd, env, stdio: ['ignore', 'pipe', 'ignore'] });
    const pieces: Buffer[] = [];
    let entry: TarEntry | undefined;
    const parser = new TarParser({ onEntry: (e) => (entry ??= e) });
    child.stdout.on('data', (chunk: Buffer) => {
      if (entry) return;
      pieces.push(chunk);
      try {
        parser.push(chunk);
      } catch (e) {
        child.kill();
        reject(e);
      }
      if (entry) child.kill();
    });
    child.on('error', reject);
    child.on('close', () => {
      if (entry) resolve({ entry, head: Buffer.concat(pieces) });
      else reject(new Error(`tar ${args.join(' ')} ended before any entry`));
    });
  });
}

/** A copy of a tar with the header at `at` changed by `edit` and its checksum made right again,
 * as a crafted archive would be. */
export function editHeader(bytes: Uint8Array, at: number, edit: (h: Uint8Array) => void) {
  const out = bytes.slice();
  const h = out.subarray(at, at + 512);
  edit(h);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  h.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return out;
}
