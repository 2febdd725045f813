// Rust: the dependency list `cargo auditable` embeds in a binary's `.dep-v0` section:
// zlib-compressed JSON, {"packages":[{"name","version","source","kind","dependencies","root"}]}
// (the format is cargo-auditable's auditable-serde). Only ELF is read.
//
// The section's place is known only from the section header table, which the linker writes at
// the end of the file, after the section's data; a stream cannot go back, so the scan keeps the
// binary's bytes (up to MAX) and reads the table when the file ends. Anything that is not ELF
// is dropped at its first chunk, so only ELF executables cost a copy.
import { ZipError, inflateBounded } from './zip.ts';
import { wantsExecutable } from './go.ts';
import type { CatalogResult, Cataloger, FileScan, PackageFacts } from './types.ts';

/** The largest binary read; larger ones are passed over without a word (most are Go or C). */
const MAX = 128 << 20;
/** The JSON of a thousand crates is about 100 KiB; a section inflating past this is not one. */
const JSON_CAP = 8 << 20;

/** The bytes of the named ELF section, undefined when there is none, or a problem. */
export function elfSection(b: Uint8Array, wanted: string): Uint8Array | undefined | string {
  if (b.length < 64 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46)
    return 'not ELF';
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (o: number) => view.getUint16(o, le);
  const u32 = (o: number) => view.getUint32(o, le);
  const word = (o: number) => (is64 ? Number(view.getBigUint64(o, le)) : u32(o));
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0) return undefined; // stripped of its section table
  if (shentsize < (is64 ? 64 : 40) || shoff + shnum * shentsize > b.length || shstrndx >= shnum)
    return 'the section header table lies outside the file';
  const header = (i: number) => {
    const h = shoff + i * shentsize;
    return {
      name: u32(h),
      type: u32(h + 4),
      offset: word(is64 ? h + 0x18 : h + 0x10),
      size: word(is64 ? h + 0x20 : h + 0x14),
    };
  };
  const strtab = header(shstrndx);
  if (strtab.offset + strtab.size > b.length) return 'the section name table lies outside the file';
  const names = b.subarray(strtab.offset, strtab.offset + strtab.size);
  const want = new TextEncoder().encode(wanted);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    if (h.name + want.length >= names.length || names[h.name + want.length] !== 0) continue;
    if (!want.every((c, k) => names[h.name + k] === c)) continue;
    if (h.type === 8 /* SHT_NOBITS */) return `section ${wanted} has no data`;
    if (h.offset + h.size > b.length) return `section ${wanted} lies outside the file`;
    return b.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

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
  #chunks: Uint8Array[] = [];
  #size = 0;
  #head = 0;
  #ok = true;

  constructor(path: string) {
    this.#path = path;
  }

  push(chunk: Uint8Array): boolean {
    // \x7fELF, checked across chunks as small as one byte.
    const magic = [0x7f, 0x45, 0x4c, 0x46];
    for (let i = 0; this.#head < 4 && i < chunk.length; i++, this.#head++) {
      if (chunk[i] !== magic[this.#head]) return ((this.#ok = false), (this.#chunks = []), false);
    }
    if (this.#size + chunk.length > MAX) return ((this.#ok = false), (this.#chunks = []), false);
    this.#chunks.push(chunk.slice());
    this.#size += chunk.length;
    return true;
  }

  finish(): CatalogResult {
    const chunks = this.#chunks;
    this.#chunks = [];
    if (!this.#ok || this.#head < 4) return { packages: [], problems: [] };
    let bytes: Uint8Array;
    if (chunks.length === 1) bytes = chunks[0]!;
    else {
      bytes = new Uint8Array(this.#size);
      let at = 0;
      for (const c of chunks) (bytes.set(c, at), (at += c.length));
    }
    const section = elfSection(bytes, '.dep-v0');
    if (section === undefined) return { packages: [], problems: [] };
    if (typeof section === 'string') {
      // Only a binary that claims the section is worth a word; a damaged table in some other
      // ELF says nothing about Rust.
      return {
        packages: [],
        problems: section.includes('.dep-v0') ? [`${this.#path}: ${section}`] : [],
      };
    }
    return readDepV0(section, this.#path);
  }
}

export const cargoCataloger: Cataloger = {
  id: 'cargo',
  wants: (path, size, mode) => wantsExecutable(path, size, mode) && size <= MAX,
  maxBytes: MAX,
  scan: (file) => new CargoScan(file.path),
};
