// Which files a search reads: by path glob, size and extension before any byte is read, and by
// what the first bytes say (text, binary, an ELF executable) once the read reaches them.
import { globMatcher } from '../layers/glob.ts';
import { baseName } from '../layers/paths.ts';

/** What kind of file to search: text (no NUL in its first 8 KiB, as grep tells), binary,
 * executable (ELF), or any. */
export type FileKind = 'any' | 'text' | 'binary' | 'executable';

export interface SearchFilters {
  /** A path glob or substring, as the file tree's search box reads it (layers/glob.ts); '' for
   * every path. */
  path: string;
  /** Bytes, inclusive; null for no bound. */
  minSize: number | null;
  maxSize: number | null;
  kind: FileKind;
  /** Extensions, separated by commas or spaces ("ts, js", ".md"); '' for any. */
  extensions: string;
  /** Binary files are searched too (without it, only the kinds 'binary' and 'executable'
   * read them). */
  binary: boolean;
}

export const noFilters: SearchFilters = {
  path: '',
  minSize: null,
  maxSize: null,
  kind: 'any',
  extensions: '',
  binary: false,
};

/** How much of a file's start is looked at for a NUL byte (grep's rule, and its buffer). */
export const SNIFF_BYTES = 8192;

/** The test on a file's path and size, made once per search. */
export function pathFilter(f: SearchFilters): (path: string, size: number) => boolean {
  const glob = f.path.trim() === '' ? undefined : globMatcher(f.path.trim());
  const exts = f.extensions
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((e) => `.${e.replace(/^\.+/, '').toLowerCase()}`);
  const min = f.minSize ?? 0;
  const max = f.maxSize ?? Infinity;
  return (path, size) => {
    if (size < min || size > max) return false;
    if (exts.length > 0) {
      const base = baseName(path).toLowerCase();
      if (!exts.some((e) => base.endsWith(e) && base.length > e.length)) return false;
    }
    return !glob || glob(path);
  };
}

/** What a file's first bytes say it is. */
export interface Sniffed {
  /** A NUL in the first SNIFF_BYTES. */
  binary: boolean;
  /** The ELF magic number. */
  elf: boolean;
}

export function sniffBytes(head: Uint8Array): Sniffed {
  const n = Math.min(head.length, SNIFF_BYTES);
  const binary = head.subarray(0, n).indexOf(0) >= 0;
  const elf =
    head.length >= 4 &&
    head[0] === 0x7f &&
    head[1] === 0x45 &&
    head[2] === 0x4c &&
    head[3] === 0x46;
  return { binary, elf };
}

/** Whether a file of this kind is searched. */
export function kindAllowed(f: SearchFilters, s: Sniffed): boolean {
  switch (f.kind) {
    case 'text':
      return !s.binary;
    case 'binary':
      return s.binary;
    case 'executable':
      return s.elf;
    default:
      return !s.binary || f.binary;
  }
}
