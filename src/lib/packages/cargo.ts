// Rust: the dependency list `cargo auditable` embeds in a binary's `.dep-v0` section:
// zlib-compressed JSON, {"packages":[{"name","version","source","kind","dependencies","root"}]}
// (the format is cargo-auditable's auditable-serde). Only ELF is read.
//
// cargo auditable marks the section with no flags (not SHF_ALLOC), so the linker puts it after
// every loaded segment, with the symbol table and the section header table: in the file's tail.
// The section's place is known only from that table, which comes after the section's data, and a
// stream cannot go back; so the scan reads the program headers from the first bytes, keeps only
// the bytes past the last loaded segment (a few KiB to a few MiB of a stripped binary, up to
// MAX), and reads the section table when the file ends. A file that is not ELF is dropped at its
// first bytes.
import { ZipError, inflateBounded } from './zip.ts';
import { wantsExecutable } from './go.ts';
import type { CatalogResult, Cataloger, FileScan, PackageFacts } from './types.ts';

/** The most of a binary's tail kept; a binary with more (a huge unstripped one) is passed over
 * without a word. */
const MAX = 128 << 20;
/** The JSON of a thousand crates is about 100 KiB; a section inflating past this is not one. */
const JSON_CAP = 8 << 20;

/** Part of an ELF file: its first bytes (at least the 64-byte header) and a kept range. */
export interface ElfBytes {
  head: Uint8Array;
  /** Bytes of the file from `tailStart` on, up to the end of the file. */
  tail: Uint8Array;
  tailStart: number;
}

interface ElfHeader {
  is64: boolean;
  view: DataView;
  le: boolean;
}

function elfHeader(head: Uint8Array): ElfHeader | undefined {
  if (
    head.length < 64 ||
    head[0] !== 0x7f ||
    head[1] !== 0x45 ||
    head[2] !== 0x4c ||
    head[3] !== 0x46
  )
    return undefined;
  return {
    is64: head[4] === 2,
    le: head[5] === 1,
    view: new DataView(head.buffer, head.byteOffset, head.byteLength),
  };
}

/** Where the loaded segments end in the file (past the last PT_LOAD's file bytes), from the
 * program headers in `head`; undefined when `head` does not hold them all yet, or 0 when the
 * table is unusable (then everything is kept). */
export function loadedEnd(head: Uint8Array): number | undefined {
  const h = elfHeader(head);
  if (!h) return head.length < 64 ? undefined : 0;
  const { is64, view, le } = h;
  const phoff = is64 ? Number(view.getBigUint64(0x20, le)) : view.getUint32(0x1c, le);
  const phentsize = view.getUint16(is64 ? 0x36 : 0x2a, le);
  const phnum = view.getUint16(is64 ? 0x38 : 0x2c, le);
  if (phnum === 0 || phentsize < (is64 ? 56 : 32) || phoff < 64) return 0;
  const end = phoff + phnum * phentsize;
  if (end > HEAD_MAX) return 0;
  if (end > head.length) return undefined;
  let last = 0;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (view.getUint32(p, le) !== 1 /* PT_LOAD */) continue;
    const offset = is64 ? Number(view.getBigUint64(p + 8, le)) : view.getUint32(p + 4, le);
    const filesz = is64 ? Number(view.getBigUint64(p + 32, le)) : view.getUint32(p + 16, le);
    last = Math.max(last, offset + filesz);
  }
  return last;
}

/** The bytes of the named ELF section, undefined when there is none (or it lies before the
 * kept bytes), or a problem when the tables point past the end of the file. */
export function elfSection(elf: ElfBytes, wanted: string): Uint8Array | undefined | string {
  const h = elfHeader(elf.head);
  if (!h) return 'not an ELF file, or its header is cut short';
  const { is64, view, le } = h;
  const fileEnd = elf.tailStart + elf.tail.length;
  /** `len` bytes at file offset `at`: 'before' the kept bytes, or 'after' the end. */
  const bytes = (at: number, len: number): Uint8Array | 'before' | 'after' => {
    if (at + len > fileEnd) return 'after';
    if (at < elf.tailStart) return 'before';
    return elf.tail.subarray(at - elf.tailStart, at - elf.tailStart + len);
  };
  const shoff = is64 ? Number(view.getBigUint64(0x28, le)) : view.getUint32(0x20, le);
  const shentsize = view.getUint16(is64 ? 0x3a : 0x2e, le);
  const shnum = view.getUint16(is64 ? 0x3c : 0x30, le);
  const shstrndx = view.getUint16(is64 ? 0x3e : 0x32, le);
  if (shoff === 0 || shnum === 0) return undefined; // stripped of its section table
  const table =
    shentsize < (is64 ? 64 : 40) || shstrndx >= shnum ? 'after' : bytes(shoff, shnum * shentsize);
  if (table === 'after') return 'the section header table lies outside the file';
  if (table === 'before') return undefined;
  const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const header = (i: number) => {
    const o = i * shentsize;
    return {
      name: t.getUint32(o, le),
      type: t.getUint32(o + 4, le),
      offset: is64 ? Number(t.getBigUint64(o + 0x18, le)) : t.getUint32(o + 0x10, le),
      size: is64 ? Number(t.getBigUint64(o + 0x20, le)) : t.getUint32(o + 0x14, le),
    };
  };
  const strtab = header(shstrndx);
  const names = bytes(strtab.offset, strtab.size);
  if (names === 'after') return 'the section name table lies outside the file';
  if (names === 'before') return undefined;
  const want = new TextEncoder().encode(wanted);
  for (let i = 0; i < shnum; i++) {
    const s = header(i);
    if (s.name + want.length >= names.length || names[s.name + want.length] !== 0) continue;
    if (!want.every((c, k) => names[s.name + k] === c)) continue;
    if (s.type === 8 /* SHT_NOBITS */) return `section ${wanted} has no data`;
    const data = bytes(s.offset, s.size);
    if (data === 'after') return `section ${wanted} lies outside the file`;
    return data === 'before' ? undefined : data;
  }
  return undefined;
}

/** The program headers are read from at most this many first bytes (they follow the 64-byte
 * ELF header in every linker's output). */
const HEAD_MAX = 64 << 10;

interface AuditPackage {
  name?: unknown;
  version?: unknown;
  source?: unknown;
  kind?: unknown;
  root?: unknown;
}

/** The packages of a `.dep-v0` section's contents (zlib-compressed JSON). */
export function readDepV0(section: Uint8Array, where: string): CatalogResult {
  // zlib: a 2-byte header (deflate, no preset dictionary), the deflate data, an Adler-32.
  if (
    section.length < 6 ||
    (section[0]! & 0x0f) !== 8 ||
    ((section[0]! << 8) | section[1]!) % 31 !== 0 ||
    section[1]! & 0x20
  )
    return { packages: [], problems: [`${where}: .dep-v0 is not zlib data`] };
  let json: unknown;
  try {
    json = JSON.parse(
      new TextDecoder().decode(inflateBounded(section.subarray(2), JSON_CAP, `${where}: .dep-v0`)),
    );
  } catch (e) {
    const why = e instanceof ZipError ? e.message : `${where}: .dep-v0 is not JSON`;
    return { packages: [], problems: [why] };
  }
  const list = (json as { packages?: unknown } | null)?.packages;
  if (!Array.isArray(list))
    return { packages: [], problems: [`${where}: .dep-v0 has no packages list`] };
  const packages: PackageFacts[] = [];
  const problems: string[] = [];
  for (const p of list as AuditPackage[]) {
    if (
      !p ||
      typeof p.name !== 'string' ||
      typeof p.version !== 'string' ||
      !p.name ||
      !p.version
    ) {
      problems.push(`${where}: a .dep-v0 package has no name or version`);
      continue;
    }
    const extra: Record<string, string> = {};
    // source: "crates.io", "git", "local", "registry"; kind: "runtime" (the default), "build".
    if (typeof p.source === 'string') extra.source = p.source;
    if (typeof p.kind === 'string') extra.kind = p.kind;
    if (p.root === true) extra.root = 'true';
    packages.push({
      ecosystem: 'cargo',
      name: p.name,
      version: p.version,
      ...(Object.keys(extra).length ? { extra } : {}),
    });
  }
  return { packages, problems };
}

class CargoScan implements FileScan {
  #path: string;
  #declared: number;
  /** The first bytes, until the program headers are in. */
  #head = new Uint8Array(0);
  /** The bytes from #keepFrom to the end of the file. */
  #tail: Uint8Array | undefined;
  #keepFrom = -1;
  #offset = 0;
  #ok = true;

  constructor(path: string, size: number) {
    this.#path = path;
    this.#declared = size;
  }

  #drop(): false {
    this.#ok = false;
    this.#tail = undefined;
    return false;
  }

  push(chunk: Uint8Array): boolean {
    const at = this.#offset;
    this.#offset += chunk.length;
    // A file longer than its index said is not the file the index describes: stop there.
    if (this.#offset > this.#declared) return this.#drop();
    if (this.#keepFrom < 0) {
      const take = Math.min(chunk.length, HEAD_MAX - this.#head.length);
      const head = new Uint8Array(this.#head.length + take);
      head.set(this.#head);
      head.set(chunk.subarray(0, take), this.#head.length);
      this.#head = head;
      // \x7fELF, checked as soon as those bytes are in, before anything else is kept.
      if (ELF.some((c, i) => i < head.length && head[i] !== c)) return this.#drop();
      const end = loadedEnd(head);
      if (end === undefined) return head.length < HEAD_MAX || this.#drop();
      const keepFrom = Math.min(end, this.#declared);
      if (this.#declared - keepFrom > MAX) return this.#drop();
      this.#keepFrom = keepFrom;
      this.#tail = new Uint8Array(this.#declared - keepFrom);
      // What the head already holds of the kept range.
      if (head.length > keepFrom) this.#tail.set(head.subarray(keepFrom));
      if (take === chunk.length) return true;
      return this.#keep(chunk.subarray(take), at + take);
    }
    return this.#keep(chunk, at);
  }

  #keep(chunk: Uint8Array, at: number): boolean {
    const from = Math.max(0, this.#keepFrom - at);
    if (from < chunk.length) this.#tail!.set(chunk.subarray(from), at + from - this.#keepFrom);
    return true;
  }

  finish(): CatalogResult {
    const tail = this.#tail;
    this.#tail = undefined;
    if (!this.#ok || !tail) return { packages: [], problems: [] };
    const got = this.#offset - this.#keepFrom;
    const section = elfSection(
      { head: this.#head, tail: tail.subarray(0, Math.max(0, got)), tailStart: this.#keepFrom },
      '.dep-v0',
    );
    if (section === undefined) return { packages: [], problems: [] };
    // A section table that points outside the file is damage worth a word in any ELF.
    if (typeof section === 'string')
      return { packages: [], problems: [`${this.#path}: ${section}`] };
    return readDepV0(section, this.#path);
  }
}

const ELF = [0x7f, 0x45, 0x4c, 0x46];

export const cargoCataloger: Cataloger = {
  id: 'cargo',
  wants: wantsExecutable,
  maxBytes: MAX,
  scan: (file) => new CargoScan(file.path, file.size),
};
