// Go: the build info the Go linker writes into every binary since Go 1.18 (what `go version -m`
// prints): the main module, each dependency and its replacement, the Go version and the build
// settings. It sits in the data section behind a 16-byte aligned "\xff Go buildinf:" header.
// The binary is read as a stream: nothing is kept until the header is found, then only a
// bounded window after it.
import type { CatalogResult, Cataloger, FileScan, PackageFacts } from './types.ts';

const MAGIC = [0xff, 0x20, 0x47, 0x6f, 0x20, 0x62, 0x75, 0x69, 0x6c, 0x64, 0x69, 0x6e, 0x66, 0x3a]; // "\xff Go buildinf:"
const HEADER = 32;
/** The build info of a binary with a thousand dependencies is about 150 KiB. */
const WINDOW = 1 << 20;

/** ELF, Mach-O (32/64-bit, either byte order, and universal) or PE. */
export function isExecutableMagic(b: Uint8Array): boolean {
  if (b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a) return true; // MZ
  if (b.length < 4) return false;
  const m = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return (
    m === 0x7f454c46 || // \x7fELF
    m === 0xfeedface ||
    m === 0xfeedfacf ||
    m === 0xcefaedfe ||
    m === 0xcffaedfe ||
    m === 0xcafebabe
  );
}

/** Executables of a size a program can have: a few KiB to 1 GiB. */
export function wantsExecutable(_path: string, size: number, mode: number): boolean {
  return (mode & 0o111) !== 0 && size >= 1024 && size <= 1 << 30;
}

function uvarint(b: Uint8Array, at: number): [value: number, next: number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < b.length && i < at + 9; i++) {
    value += (b[i]! & 0x7f) * scale;
    if (b[i]! < 0x80) return [value, i + 1];
    scale *= 128;
  }
  return undefined;
}

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
  /** What a `=>` line replaced it with. */
  replace?: GoModule;
}

export interface GoBuildInfo {
  goVersion: string;
  /** The main package's import path. */
  path?: string;
  main?: GoModule;
  deps: GoModule[];
  settings: [string, string][];
}

/** The module text `go version -m` prints, parsed (runtime/debug.ParseBuildInfo's format). */
export function parseModInfo(goVersion: string, text: string): GoBuildInfo {
  const info: GoBuildInfo = { goVersion, deps: [], settings: [] };
  let last: GoModule | undefined;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    const mod = (): GoModule => ({
      path: f[1] ?? '',
      version: f[2] ?? '',
      ...(f[3] ? { sum: f[3] } : {}),
    });
    switch (f[0]) {
      case 'path':
        info.path = f[1];
        break;
      case 'mod':
        info.main = mod();
        last = info.main;
        break;
      case 'dep':
        info.deps.push(mod());
        last = info.deps[info.deps.length - 1];
        break;
      case '=>':
        if (last) last.replace = mod();
        break;
      case 'build': {
        const kv = f.slice(1).join('\t');
        const eq = kv.indexOf('=');
        if (eq > 0) info.settings.push([kv.slice(0, eq), kv.slice(eq + 1)]);
        break;
      }
    }
  }
  return info;
}

/** The packages a binary's build info declares: its main module (when built from one), each
 * dependency under its replacement's path and version when it was replaced by another module,
 * and the Go standard library it was built with (`stdlib`, as other SBOM tools name it). */
export function goPackages(info: GoBuildInfo): PackageFacts[] {
  const common: Record<string, string> = { goVersion: info.goVersion };
  for (const [k, v] of info.settings) if (k === 'GOOS' || k === 'GOARCH') common[k] = v;
  const packages: PackageFacts[] = [];
  if (info.main && info.main.path) {
    const extra: Record<string, string> = { ...common, main: 'true' };
    if (info.path) extra.mainPackage = info.path;
    for (const [k, v] of info.settings) if (k === 'vcs.revision' || k === 'vcs.time') extra[k] = v;
    packages.push({ ecosystem: 'golang', name: info.main.path, version: info.main.version, extra });
  }
  for (const dep of info.deps) {
    const extra: Record<string, string> = { ...common };
    if (dep.sum) extra.sum = dep.sum;
    const r = dep.replace;
    if (r && r.version) {
      // Replaced by another module (or another version): that is the code in the binary.
      extra.replaces = `${dep.path}@${dep.version}`;
      if (r.sum) extra.sum = r.sum;
      else delete extra.sum;
      packages.push({ ecosystem: 'golang', name: r.path, version: r.version, extra });
    } else {
      // Replaced by a local directory: no version but the one it stands in for.
      if (r) extra.replacedBy = r.path;
      packages.push({ ecosystem: 'golang', name: dep.path, version: dep.version, extra });
    }
  }
  // "go1.23.1 X:nocoverageredesign": the experiments are not part of the library's version.
  const stdlib = info.goVersion.split(' ')[0];
  if (stdlib) packages.push({ ecosystem: 'golang', name: 'stdlib', version: stdlib, extra: common });
  return packages;
}

/** Reads the 1.18+ inline build info at `b` (which starts at the header). */
export function parseBuildInfo(b: Uint8Array): GoBuildInfo | string {
  const flags = b[15]!;
  if ((flags & 2) === 0)
    return 'Go build info in the pre-1.18 format (pointers into the binary) is not read';
  const decoder = new TextDecoder();
  const v = uvarint(b, HEADER);
  if (!v || v[1] + v[0] > b.length) return 'Go build info is cut short';
  const goVersion = decoder.decode(b.subarray(v[1], v[1] + v[0]));
  const m = uvarint(b, v[1] + v[0]);
  if (!m || m[1] + m[0] > b.length) return 'Go build info is cut short';
  let mod = b.subarray(m[1], m[1] + m[0]);
  // The module text is wrapped in 16-byte sentinels, which end in a newline.
  if (mod.length >= 33 && mod[mod.length - 17] === 0x0a) mod = mod.subarray(16, mod.length - 16);
  return parseModInfo(goVersion, decoder.decode(mod));
}

class GoScan implements FileScan {
  #path: string;
  #offset = 0;
  #head = new Uint8Array(0);
  #tail = new Uint8Array(0);
  #window: Uint8Array | undefined;
  #filled = 0;
  #state: 'start' | 'search' | 'window' | 'done' = 'start';

  constructor(path: string) {
    this.#path = path;
  }

  push(chunk: Uint8Array): boolean {
    if (this.#state === 'start') {
      const head = new Uint8Array(this.#head.length + Math.min(chunk.length, 4));
      head.set(this.#head);
      head.set(chunk.subarray(0, 4 - this.#head.length), this.#head.length);
      this.#head = head;
      if (head.length < 4) {
        this.#offset += chunk.length;
        this.#tail = head.slice();
        return true;
      }
      if (!isExecutableMagic(head)) return ((this.#state = 'done'), false);
      this.#state = 'search';
    }
    if (this.#state === 'search') return this.#search(chunk);
    if (this.#state === 'window') return this.#fill(chunk);
    return false;
  }

  #search(chunk: Uint8Array): boolean {
    // Look in the last bytes of the previous chunk joined to this one, so that a header that
    // straddles two chunks is found.
    const keep = this.#tail;
    const joined = keep.length ? new Uint8Array(keep.length + chunk.length) : chunk;
    if (keep.length) (joined.set(keep), joined.set(chunk, keep.length));
    const base = this.#offset - keep.length;
    const first = MAGIC[0]!;
    for (
      let i = joined.indexOf(first, (16 - (base % 16)) % 16);
      i >= 0 && i + MAGIC.length <= joined.length;
    ) {
      if ((base + i) % 16 === 0 && MAGIC.every((c, k) => joined[i + k] === c)) {
        this.#state = 'window';
        this.#window = new Uint8Array(WINDOW);
        this.#offset += chunk.length;
        return this.#fill(joined.subarray(i), true);
      }
      i = joined.indexOf(first, i + 1);
    }
    this.#offset += chunk.length;
    this.#tail = joined.slice(Math.max(0, joined.length - (MAGIC.length - 1)));
    return true;
  }

  #fill(chunk: Uint8Array, counted = false): boolean {
    if (!counted) this.#offset += chunk.length;
    const w = this.#window!;
    const n = Math.min(chunk.length, w.length - this.#filled);
    w.set(chunk.subarray(0, n), this.#filled);
    this.#filled += n;
    if (this.#filled === w.length) return ((this.#state = 'done'), false);
    // Stop as soon as both strings are in.
    const b = w.subarray(0, this.#filled);
    if (b.length > HEADER) {
      if ((b[15]! & 2) === 0) return ((this.#state = 'done'), false);
      const v = uvarint(b, HEADER);
      const m = v && uvarint(b, v[1] + v[0]);
      if (m && m[1] + m[0] <= b.length) return ((this.#state = 'done'), false);
    }
    return true;
  }

  finish(): CatalogResult {
    if (!this.#window) return { packages: [], problems: [] };
    const parsed = parseBuildInfo(this.#window.subarray(0, this.#filled));
    this.#window = undefined;
    if (typeof parsed === 'string') return { packages: [], problems: [`${this.#path}: ${parsed}`] };
    return { packages: goPackages(parsed), problems: [] };
  }
}

export const goCataloger: Cataloger = {
  id: 'go',
  wants: wantsExecutable,
  maxBytes: 1 << 30,
  scan: (file) => new GoScan(file.path),
};
