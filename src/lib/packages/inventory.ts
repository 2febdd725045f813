// The inventory of an image: which files of which layers declare packages, read in one pass per
// layer through the layer's random access, and what each layer did to each package.
//
// Per layer, one walk of its file index picks the files some cataloger wants (a hard link
// stands for its target's bytes) and the whiteouts. The wanted files are then read in offset
// order from a single stream of the layer's tar, each whole (up to its cataloger's maxBytes)
// or streamed to a cataloger's scan, so that only one file's bytes are held at a time and no
// byte is decoded twice; where the gap to the next file is longer than the checkpoint spacing
// the read starts again at a later checkpoint instead of decoding the gap.
//
// Attribution compares each layer's view of every declaring file with the view below it:
// the layer's whiteouts remove the files they cover, the files it holds replace those at the
// same path, and every package whose version appears, changes or goes gets an event.
import type { TarFrom } from '../layers/checkpoints.ts';
import { CHECKPOINT_SPACING } from '../layers/checkpoints.ts';
import { pathOf, type ColumnIndex } from '../layers/columns.ts';
import { whiteoutTarget } from '../layers/filesystem.ts';
import { normalisePath } from '../layers/paths.ts';
import { readFilesInOrder } from '../layers/ordered.ts';
import { osReleasePaths, parseOsRelease } from './os-release.ts';
import { purlOf } from './purl.ts';
import type {
  CatalogResult,
  Cataloger,
  Ecosystem,
  FileScan,
  Inventory,
  InventoryPackage,
  InventoryProblem,
  OsRelease,
  PackageEvent,
  PackageFacts,
} from './types.ts';
import { compareVersions } from './versions.ts';

/** One layer as the inventory reads it. */
export interface InventoryLayer {
  /** The layer's file index; undefined for a layer that is not a tar (it holds nothing). */
  index: ColumnIndex | undefined;
  /** The layer's uncompressed tar from at or before `offset` (the layers worker's
   * layerTarFrom: from the nearest checkpoint). */
  tarFrom(offset: number, signal: AbortSignal): Promise<TarFrom>;
}

export interface InventoryProgress {
  /** Layers whose files have all been read. */
  layersDone: number;
  layers: number;
  filesRead: number;
  /** Files to read in all (from the plans). */
  files: number;
}

export interface InventoryOptions {
  catalogers: readonly Cataloger[];
  signal?: AbortSignal;
  onProgress?: (p: InventoryProgress) => void;
  /** Uncompressed bytes between the layers' checkpoints: a gap longer than this is skipped by
   * starting again at a checkpoint. */
  spacing?: number;
  /** The least a restart at a checkpoint must skip to be made (default: the spacing): a
   * restart leaves the native decoder for a slower resumable one, and decodes again up to a
   * spacing's worth before the file. */
  minSkip?: number;
  /** Version order; compareVersions unless a caller knows better. */
  compare?: (ecosystem: Ecosystem, a: string, b: string) => number | undefined;
}

/** A file one layer holds that the inventory will read. */
export interface WantedFile {
  path: string;
  /** Where its bytes are in the layer's tar (a hard link's: its target's). */
  offset: number;
  size: number;
  mode: number;
  /** The catalogers that want it, by position in the options' list; -1 for os-release. */
  catalogers: number[];
}

/** What one walk of a layer's index found. */
export interface LayerPlan {
  /** By offset. */
  files: WantedFile[];
  /** Paths the layer's `.wh.` files delete from the layers below, and directories its opaque
   * markers empty ('' for the root). */
  whiteouts: string[];
  opaque: string[];
  /** Bytes of the files to read. */
  bytes: number;
}

const OS_RELEASE = osReleasePaths;
/** os-release files are small; anything bigger is not one. */
const OS_RELEASE_MAX = 64 * 1024;

/**
 * One walk of a layer's index: the files the catalogers want (and os-release), and the
 * whiteouts. Paths are normalised; a hard link is wanted by its own path and read from its
 * target's bytes.
 */
export function planLayer(
  index: ColumnIndex | undefined,
  catalogers: readonly Cataloger[],
): LayerPlan {
  const plan: LayerPlan = { files: [], whiteouts: [], opaque: [], bytes: 0 };
  if (!index) return plan;
  // Hard links are rare: gathered here, resolved against the regular files after the walk.
  const links: { path: string; target: string; mode: number }[] = [];
  for (const b of index.batches) {
    for (let j = 0; j < b.count; j++) {
      const code = b.types[j]! & 0x0f;
      const raw = pathOf(b, j);
      // The name makes a whiteout, whatever the entry's type (filesystem.ts).
      if (raw.includes('.wh.')) {
        const w = whiteoutTarget(raw);
        if (w?.kind === 'whiteout') plan.whiteouts.push(w.target);
        else if (w?.kind === 'opaque') plan.opaque.push(w.dir);
        if (w) continue;
      }
      // 0 is 'file', 1 'hardlink' (ENTRY_TYPES).
      if (code > 1) continue;
      const path = normalisePath(raw);
      if (code === 1) {
        const start = j === 0 ? 0 : b.linkEnds[j - 1]!;
        links.push({
          path,
          target: normalisePath(b.links.slice(start, b.linkEnds[j])),
          mode: b.modes[j]!,
        });
        continue;
      }
      const size = b.sizes[j]!;
      const mode = b.modes[j]!;
      const wanting = wantedBy(catalogers, path, size, mode);
      if (wanting)
        plan.files.push({ path, offset: b.offsets[j]!, size, mode, catalogers: wanting });
    }
  }
  if (links.length > 0) resolveLinks(index, catalogers, links, plan);
  plan.files.sort((x, y) => x.offset - y.offset);
  for (const f of plan.files) plan.bytes += f.size;
  return plan;
}

function wantedBy(
  catalogers: readonly Cataloger[],
  path: string,
  size: number,
  mode: number,
): number[] | undefined {
  let out: number[] | undefined;
  if ((path === OS_RELEASE[0] || path === OS_RELEASE[1]) && size <= OS_RELEASE_MAX) out = [-1];
  for (let c = 0; c < catalogers.length; c++) {
    if (catalogers[c]!.wants(path, size, mode)) (out ??= []).push(c);
  }
  return out;
}

/** The wanted hard links, each read from its target (a regular file earlier in the layer). */
function resolveLinks(
  index: ColumnIndex,
  catalogers: readonly Cataloger[],
  links: { path: string; target: string; mode: number }[],
  plan: LayerPlan,
) {
  const targets = new Map<string, { offset: number; size: number }>();
  for (const l of links) targets.set(l.target, { offset: -1, size: 0 });
  for (const b of index.batches) {
    for (let j = 0; j < b.count; j++) {
      if ((b.types[j]! & 0x0f) !== 0) continue;
      const t = targets.get(normalisePath(pathOf(b, j)));
      if (t) {
        t.offset = b.offsets[j]!;
        t.size = b.sizes[j]!;
      }
    }
  }
  for (const l of links) {
    const t = targets.get(l.target)!;
    if (t.offset < 0) continue;
    const wanting = wantedBy(catalogers, l.path, t.size, l.mode);
    if (wanting)
      plan.files.push({
        path: l.path,
        offset: t.offset,
        size: t.size,
        mode: l.mode,
        catalogers: wanting,
      });
  }
}

/** The number of files and bytes an inventory of these layers reads. */
export function planSize(plans: readonly LayerPlan[]): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const p of plans) {
    files += p.files.length;
    bytes += p.bytes;
  }
  return { files, bytes };
}

/** What one layer's copy of a declaring file says. */
interface FileView {
  cataloger: number;
  layer: number;
  packages: PackageFacts[];
}

/** A package as it is followed across the layers. */
interface Tracked {
  facts: PackageFacts;
  location: string;
  cataloger: string;
  events: PackageEvent[];
  present: boolean;
}

const OS_ECOSYSTEMS = new Set<Ecosystem>(['apk', 'deb', 'rpm']);

/** Where an OS package's database is: the file, or for distroless's one file per package
 * (var/lib/dpkg/status.d/<name>), the directory. */
function dbOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  return dir.endsWith('status.d') ? dir : path;
}

/** The identity a package keeps across layers: OS packages by database, name and arch;
 * language packages by the file declaring them and name. */
function identity(cataloger: string, path: string, p: PackageFacts): string {
  return OS_ECOSYSTEMS.has(p.ecosystem)
    ? `${cataloger}\0${dbOf(path)}\0${p.name}\0${p.arch ?? ''}`
    : `${cataloger}\0${path}\0${p.name}`;
}

/** An OS package's identity without its database, to see it move between databases. */
function movedKey(cataloger: string, p: PackageFacts): string | undefined {
  return OS_ECOSYSTEMS.has(p.ecosystem) ? `${cataloger}\0${p.name}\0${p.arch ?? ''}` : undefined;
}

const byEcosystemName = (a: InventoryPackage, b: InventoryPackage) =>
  a.ecosystem < b.ecosystem
    ? -1
    : a.ecosystem > b.ecosystem
      ? 1
      : a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : a.location < b.location
            ? -1
            : a.location > b.location
              ? 1
              : 0;

/** Results of files not read (too big for their cataloger): no view of their packages. */
const unread = new WeakSet<CatalogResult>();

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Reads the packages of an image of these layers (in order, the base first) and what each
 * layer did to them. `plans` may be given when the caller already walked the indexes (to say
 * how many files the inventory will read); otherwise each layer's index is walked here.
 */
export async function inventory(
  layers: readonly InventoryLayer[],
  opts: InventoryOptions,
  plans: readonly LayerPlan[] = layers.map((l) => planLayer(l.index, opts.catalogers)),
): Promise<Inventory> {
  const signal = opts.signal ?? new AbortController().signal;
  const compare = opts.compare ?? compareVersions;
  const cats = opts.catalogers;
  const problems: InventoryProblem[] = [];
  const sources: Inventory['sources'] = [];
  const total = planSize(plans).files;
  let filesRead = 0;
  /** Declaring files of the filesystem so far, by path. */
  let files = new Map<string, FileView>();
  const tracked = new Map<string, Tracked>();
  const osFiles = new Map<string, OsRelease>();

  for (let li = 0; li < layers.length; li++) {
    signal.throwIfAborted();
    const plan = plans[li]!;
    const next = new Map(files);
    const touched = new Set<string>();
    // Whiteouts apply to the layers below, before the layer's own files.
    if (plan.whiteouts.length > 0 || plan.opaque.length > 0) {
      for (const path of files.keys()) {
        if (covered(path, plan.whiteouts, plan.opaque)) {
          next.delete(path);
          touched.add(path);
        }
      }
      for (const path of osFiles.keys()) {
        if (covered(path, plan.whiteouts, plan.opaque)) osFiles.delete(path);
      }
    }
    const spacing = opts.spacing ?? CHECKPOINT_SPACING;
    await readLayer(layers[li]!, plan, cats, signal, spacing, opts.minSkip ?? spacing, {
      file: (f, results) => {
        for (const [c, r] of results) {
          if (c < 0) continue;
          const id = cats[c]!.id;
          for (const m of r.problems) problems.push({ layer: li, path: f.path, message: m });
          sources.push({ layer: li, path: f.path, cataloger: id, packages: r.packages.length });
        }
        // One view per path: the first cataloger that found packages in it (two catalogers
        // reading one file would count its packages twice). A file too big to read says
        // nothing about its packages: the view below stays.
        const found =
          results.find(([c, r]) => c >= 0 && r.packages.length > 0) ??
          results.find(([c, r]) => c >= 0 && !unread.has(r));
        if (found) {
          next.set(f.path, { cataloger: found[0], layer: li, packages: found[1].packages });
          touched.add(f.path);
        }
        filesRead++;
        opts.onProgress?.({ layersDone: li, layers: layers.length, filesRead, files: total });
      },
      osRelease: (path, bytes) => osFiles.set(path, parseOsRelease(bytes)),
      problem: (path, message) => problems.push({ layer: li, path, message }),
    });
    attribute(li, files, next, touched, cats, tracked, compare);
    files = next;
    opts.onProgress?.({ layersDone: li + 1, layers: layers.length, filesRead, files: total });
  }

  const os = osFiles.get(OS_RELEASE[0]!) ?? osFiles.get(OS_RELEASE[1]!);
  const packages: InventoryPackage[] = [];
  const removed: InventoryPackage[] = [];
  for (const t of tracked.values()) {
    const p: InventoryPackage = {
      ...t.facts,
      purl: purlOf(t.facts, os),
      location: t.location,
      cataloger: t.cataloger,
      events: t.events,
    };
    (t.present ? packages : removed).push(p);
  }
  packages.sort(byEcosystemName);
  removed.sort(byEcosystemName);
  return { packages, removed, ...(os ? { os } : {}), problems, sources };
}

function covered(path: string, whiteouts: readonly string[], opaque: readonly string[]): boolean {
  for (const w of whiteouts) if (path === w || path.startsWith(w + '/')) return true;
  for (const d of opaque) if (d === '' || path.startsWith(d + '/')) return true;
  return false;
}

/** The events of layer `li`: every package of the touched paths, before and after. */
function attribute(
  li: number,
  before: Map<string, FileView>,
  after: Map<string, FileView>,
  touched: Set<string>,
  cats: readonly Cataloger[],
  tracked: Map<string, Tracked>,
  compare: (ecosystem: Ecosystem, a: string, b: string) => number | undefined,
) {
  type Seen = { facts: PackageFacts; path: string; cataloger: string };
  const collect = (views: Map<string, FileView>) => {
    const out = new Map<string, Seen>();
    for (const path of touched) {
      const v = views.get(path);
      if (!v) continue;
      const cataloger = cats[v.cataloger]!.id;
      for (const facts of v.packages)
        out.set(identity(cataloger, path, facts), { facts, path, cataloger });
    }
    return out;
  };
  const old = collect(before);
  const now = collect(after);
  const gone = new Map<string, [string, Seen]>();
  const came: [string, Seen][] = [];
  for (const [key, s] of old)
    if (!now.has(key)) gone.set(movedKey(s.cataloger, s.facts) ?? key, [key, s]);
  for (const [key, s] of now) {
    const was = old.get(key);
    if (!was) {
      came.push([key, s]);
      continue;
    }
    change(tracked.get(key), key, s, was.facts.version, li, compare, tracked);
  }
  for (const [key, s] of came) {
    // An OS package whose database moved keeps its history under its new identity.
    const m = movedKey(s.cataloger, s.facts);
    const moved = m !== undefined ? gone.get(m) : undefined;
    if (moved) {
      gone.delete(m!);
      const t = tracked.get(moved[0]);
      tracked.delete(moved[0]);
      change(t, key, s, moved[1].facts.version, li, compare, tracked);
      continue;
    }
    const t = tracked.get(key);
    const event: PackageEvent = { layer: li, kind: 'added', to: s.facts.version };
    if (t) {
      t.events.push(event);
      Object.assign(t, { facts: s.facts, location: s.path, present: true });
    } else {
      tracked.set(key, {
        facts: s.facts,
        location: s.path,
        cataloger: s.cataloger,
        events: [event],
        present: true,
      });
    }
  }
  for (const [key, s] of gone.values()) {
    const t = tracked.get(key);
    if (!t) continue;
    t.events.push({ layer: li, kind: 'removed', from: s.facts.version });
    t.present = false;
  }
}

/** A package present before and after a layer, perhaps at another version or path. */
function change(
  t: Tracked | undefined,
  key: string,
  s: { facts: PackageFacts; path: string; cataloger: string },
  from: string,
  li: number,
  compare: (ecosystem: Ecosystem, a: string, b: string) => number | undefined,
  tracked: Map<string, Tracked>,
) {
  const to = s.facts.version;
  const entry = t ?? {
    facts: s.facts,
    location: s.path,
    cataloger: s.cataloger,
    events: [],
    present: true,
  };
  if (from !== to) {
    const order = compare(s.facts.ecosystem, from, to);
    const kind =
      order === undefined || order === 0 ? 'changed' : order < 0 ? 'upgraded' : 'downgraded';
    entry.events.push({ layer: li, kind, from, to });
  }
  entry.facts = s.facts;
  entry.location = s.path;
  entry.present = true;
  tracked.set(key, entry);
}

interface LayerSink {
  /** A wanted file read, with what each of its catalogers said (-1: os-release, not said). */
  file(f: WantedFile, results: [number, CatalogResult][]): void;
  osRelease(path: string, bytes: Uint8Array): void;
  problem(path: string, message: string): void;
}

/** A file being read: its whole bytes for `read` catalogers, its scans for `scan` ones. */
interface Reading {
  file: WantedFile;
  bytes: Uint8Array | undefined;
  scans: { c: number; scan: FileScan; open: boolean }[];
}

/** Reads a layer's wanted files in one pass, in offset order. */
async function readLayer(
  layer: InventoryLayer,
  plan: LayerPlan,
  cats: readonly Cataloger[],
  signal: AbortSignal,
  spacing: number,
  minSkip: number,
  sink: LayerSink,
) {
  const files = plan.files;
  const begin = (f: WantedFile): Reading => {
    const r: Reading = { file: f, bytes: undefined, scans: [] };
    const meta = { path: f.path, size: f.size, mode: f.mode };
    let whole = false;
    for (const c of f.catalogers) {
      if (c < 0) {
        whole = true;
        continue;
      }
      const cat = cats[c]!;
      if (cat.scan) {
        try {
          r.scans.push({ c, scan: cat.scan(meta), open: true });
        } catch (e) {
          sink.problem(f.path, `${cat.id}: ${messageOf(e)}`);
        }
      } else if (f.size <= cat.maxBytes) whole = true;
    }
    if (whole) r.bytes = new Uint8Array(f.size);
    return r;
  };

  const finish = async (r: Reading) => {
    const f = r.file;
    const results: [number, CatalogResult][] = [];
    for (const c of f.catalogers) {
      if (c < 0) {
        if (r.bytes) sink.osRelease(f.path, r.bytes);
        continue;
      }
      const cat = cats[c]!;
      try {
        const s = r.scans.find((x) => x.c === c);
        if (s) results.push([c, await s.scan.finish()]);
        else if (cat.scan) continue;
        else if (!r.bytes || f.size > cat.maxBytes) {
          const r: CatalogResult = {
            packages: [],
            problems: [
              `${cat.id}: ${f.size} bytes, more than the ${cat.maxBytes} it reads; not read`,
            ],
          };
          unread.add(r);
          results.push([c, r]);
        } else if (cat.read) {
          results.push([
            c,
            await cat.read({ path: f.path, size: f.size, mode: f.mode, bytes: r.bytes }),
          ]);
        }
      } catch (e) {
        results.push([c, { packages: [], problems: [`${cat.id}: ${messageOf(e)}`] }]);
      }
    }
    sink.file(f, results);
  };

  await readFilesInOrder(
    layer.tarFrom,
    files,
    (f) => {
      const r = begin(f);
      let got = 0;
      return {
        push: (piece) => {
          r.bytes?.set(piece, got);
          got += piece.length;
          for (const s of r.scans) if (s.open) s.open = s.scan.push(piece);
          // A file none of whose readers needs more is done before its end.
          return r.bytes !== undefined || r.scans.some((x) => x.open);
        },
        end: () => finish(r),
      };
    },
    { signal, spacing, minSkip, problem: (f, message) => sink.problem(f.path, message) },
  );
}
