// The files of an image as a tar: the merged filesystem, a subtree of it, or one layer's own
// files (its tar as it is, or as the changes it makes). Planned from the layers' indexes, no
// byte read: the merged view is the tree's overlay (treemodel.ts), a layer's changes are
// filesystem.ts's. Then each layer with bytes to read is read ONCE, in offset order
// (readFilesInOrder), and the tar is written as the bytes come: directories and every entry
// without a body first (parents before children), then the files layer by layer, then the hard
// links, whose targets are all written by then.
import { CHECKPOINT_SPACING } from '../layers/checkpoints.ts';
import { entryAt, entryOf, type ColumnIndex } from '../layers/columns.ts';
import type { IndexEntry } from '../layers/entry.ts';
import { Overlay as ChangesOverlay, parseLayer, whiteoutTarget } from '../layers/filesystem.ts';
import { readFilesInOrder, type TarFromFn } from '../layers/ordered.ts';
import { baseName, join, normalisePath, parentOf } from '../layers/paths.ts';
import { DIR, SYNTH } from '../layers/treemodel-nodes.ts';
import { Overlay, Pacer } from '../layers/treemodel.ts';
import { endOfArchive, entryHeader, padding, type TarHeader } from './tar.ts';

/** What to export. Paths are as the tree names them ("etc/ssl", no leading "/"). */
export type FilesExportSpec =
  | { kind: 'merged' }
  /** A directory of the merged filesystem, its entries named from its own name on, as
   * `docker cp` names them: exporting "usr/share" gives "share/…". */
  | { kind: 'subtree'; path: string }
  /** One layer's tar exactly as it is, whiteouts and duplicates included. */
  | { kind: 'layer'; index: number; as: 'raw' }
  /** What one layer changes in the filesystem of the layers below it. */
  | { kind: 'layer'; index: number; as: 'changes' };

/** A file whose bytes are read from a layer, in offset order. */
export interface ReadItem {
  offset: number;
  size: number;
  header(): TarHeader;
}

export interface FilesExportPlan {
  /** Entries written before any body: directories (parents first) and the entries with no
   * bytes to read. Made as they are written: a plan of a million entries holds no header. */
  head(): Iterable<TarHeader>;
  /** The files to read, by layer, each layer's sorted by offset, one file per offset. */
  reads: Map<number, ReadItem[]>;
  /** Hard links, written last. */
  tail: TarHeader[];
  /** Entries the tar will hold. */
  entries: number;
  /** Bytes of file bodies. */
  bytes: number;
  /** Entries left out, and why. */
  problems: string[];
}

/** Layers whose blobs an export reads: those with bodies to read (a raw layer: itself). */
export function layersToRead(spec: FilesExportSpec, plan: FilesExportPlan | undefined): number[] {
  if (spec.kind === 'layer' && spec.as === 'raw') return [spec.index];
  return [...(plan?.reads.keys() ?? [])].sort((a, b) => a - b);
}

/** An export asked for a path the filesystem does not have, or of a layer not indexed. */
export class FilesExportError extends Error {
  override name = 'FilesExportError';
}

const dirHeader = (path: string): TarHeader => ({
  path,
  type: 'dir',
  size: 0,
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtime: 0,
});

function headerOf(path: string, e: IndexEntry, linkname?: string): TarHeader {
  const h: TarHeader = {
    path,
    type: e.type,
    size: e.type === 'file' ? e.size : 0,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
  };
  const link = linkname ?? e.linkname;
  if (link !== undefined && (e.type === 'symlink' || e.type === 'hardlink')) h.linkname = link;
  if (e.devmajor !== undefined) h.devmajor = e.devmajor;
  if (e.devminor !== undefined) h.devminor = e.devminor;
  return h;
}

/** Why an entry cannot be written as it is, or undefined. */
function unwritable(e: IndexEntry): string | undefined {
  if (e.type === 'other') return 'an entry of a type tar has no name for';
  if (e.sparse) return 'a sparse file (its holes are not in the index)';
  return undefined;
}

/**
 * For each of a layer's hard links (by entry number), the entry number of the file it names:
 * tar's rule, the last earlier entry of the layer with that path that is not itself a hard
 * link. Only the links asked for are looked up; -1 where there is none.
 */
function linkTargets(index: ColumnIndex, links: ReadonlySet<number>): Map<number, number> {
  const wanted = new Set<string>();
  for (const i of links) wanted.add(normalisePath(entryAt(index, i).linkname ?? ''));
  const last = new Map<string, number>();
  const out = new Map<number, number>();
  let i = 0;
  for (const b of index.batches) {
    for (let j = 0; j < b.count; j++, i++) {
      const e = entryOf(b, j);
      if (links.has(i)) out.set(i, last.get(normalisePath(e.linkname ?? '')) ?? -1);
      if (e.type === 'hardlink') continue;
      const path = normalisePath(e.path);
      if (wanted.has(path)) last.set(path, i);
    }
  }
  return out;
}

/** Sorts reads by offset; of files at one offset (copies of one hard-linked file), the first
 * is read and the others become hard links to it: in the filesystem they share that inode. */
function byOffset(
  reads: Map<number, (ReadItem & { path: string })[]>,
  tail: TarHeader[],
): Map<number, ReadItem[]> {
  const out = new Map<number, ReadItem[]>();
  for (const [layer, items] of reads) {
    items.sort((a, b) => a.offset - b.offset);
    const kept: ReadItem[] = [];
    for (const item of items) {
      const first = kept.at(-1) as (ReadItem & { path: string }) | undefined;
      if (first && first.offset === item.offset) {
        tail.push({ ...item.header(), type: 'hardlink', size: 0, linkname: first.path });
      } else kept.push(item);
    }
    out.set(layer, kept);
  }
  return out;
}

/**
 * The merged filesystem, or the subtree at `path` ("" for all of it), as the tree's overlay
 * makes it (whiteouts and opaque directories as treemodel.ts applies them, after
 * filesystem.ts). A hard link stays one when the file it names is the one at that path in the
 * merged filesystem and is exported too; otherwise (the file was replaced or deleted by a later
 * layer, or is outside the subtree) it is written as a copy of the file it named, with that
 * file's bytes, mode and owner, as unpacking the layers would leave it.
 */
export async function planMerged(
  layers: readonly (ColumnIndex | undefined)[],
  path = '',
  signal?: AbortSignal,
): Promise<FilesExportPlan> {
  const pacer = new Pacer(signal);
  const overlay = new Overlay(layers);
  for (let l = 0; l < layers.length; l++) await overlay.apply(l, false, pacer);
  const nodes = overlay.nodes;
  const top = normalisePath(path);
  const root = top === '' ? 0 : nodes.find(top);
  if (root < 0) throw new FilesExportError(`/${top} is not in the merged filesystem`);
  if (root > 0 && !(nodes.flags[root]! & DIR)) {
    throw new FilesExportError(`/${top} is not a directory`);
  }
  // Entries are named from the subtree's own name on: strip the path above it.
  const strip = top === '' ? 0 : parentOf(top).length + (parentOf(top) === '' ? 0 : 1);
  const within = (p: string) => top === '' || p === top || p.startsWith(`${top}/`);
  const nameOf = (k: number) => nodes.path(k).slice(strip);
  const entryOfNode = (k: number) => entryAt(layers[nodes.refLayer[k]!]!, nodes.refEntry[k]!);

  const problems: string[] = [];
  const reads = new Map<number, (ReadItem & { path: string })[]>();
  const tail: TarHeader[] = [];
  const extraHead: TarHeader[] = [];
  /** Hard links by layer: entry number → node. */
  const links = new Map<number, Map<number, number>>();
  /** Nodes left out of the head (read, linked, or unwritable): a bit each. */
  const skipped = new Uint8Array(nodes.n);
  const skip = { add: (k: number) => (skipped[k] = 1), has: (k: number) => skipped[k] === 1 };
  let entries = 0;
  let bytes = 0;
  const read = (layer: number, item: ReadItem & { path: string }) => {
    let list = reads.get(layer);
    if (!list) reads.set(layer, (list = []));
    list.push(item);
  };

  // Walk the subtree (parents first), sorting out what each entry needs.
  const stack = [root];
  for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
    const w = pacer.step();
    if (w) await w;
    // Children pushed in reverse come out in order.
    const kids: number[] = [];
    for (let c = nodes.first[k]!; c >= 0; c = nodes.next[c]!) kids.push(c);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
    if (k === 0 || nodes.flags[k]! & SYNTH) continue;
    const e = entryOfNode(k);
    const why = unwritable(e);
    if (why) {
      problems.push(`/${nodes.path(k)}: ${why}; left out`);
      skip.add(k);
      continue;
    }
    if (e.type === 'hardlink') {
      const l = nodes.refLayer[k]!;
      let m = links.get(l);
      if (!m) links.set(l, (m = new Map()));
      m.set(nodes.refEntry[k]!, k);
      skip.add(k);
    } else if (e.type === 'file' && e.size > 0) {
      const name = nameOf(k);
      read(nodes.refLayer[k]!, {
        offset: e.offset,
        size: e.size,
        path: name,
        header: () => headerOf(name, entryOfNode(k)),
      });
      skip.add(k);
      bytes += e.size;
    }
  }

  for (const [l, m] of links) {
    const index = layers[l]!;
    const targets = linkTargets(index, new Set(m.keys()));
    for (const [entry, k] of m) {
      const link = entryAt(index, entry);
      const name = nameOf(k);
      let t = targets.get(entry) ?? -1;
      let tl = l;
      if (t < 0) {
        // A link to a file of a lower layer: containerd and umoci link to whatever is at that
        // path when they apply the entry. That is the file there now if no layer since has
        // replaced it; if one has, the file it named is not known here.
        const at = nodes.find(normalisePath(link.linkname ?? ''));
        const lower =
          at >= 0 &&
          !(nodes.flags[at]! & (SYNTH | DIR)) &&
          nodes.refLayer[at]! < l &&
          entryAt(layers[nodes.refLayer[at]!]!, nodes.refEntry[at]!).type !== 'hardlink';
        if (!lower) {
          problems.push(
            `/${nodes.path(k)}: a hard link to ${link.linkname}, which no layer holds there when it is applied; left out`,
          );
          continue;
        }
        tl = nodes.refLayer[at]!;
        t = nodes.refEntry[at]!;
      }
      const target = entryAt(layers[tl]!, t);
      const targetPath = normalisePath(target.path);
      const at = nodes.find(targetPath);
      const live =
        at >= 0 &&
        nodes.refLayer[at] === tl &&
        nodes.refEntry[at] === t &&
        !(nodes.flags[at]! & SYNTH) &&
        within(targetPath) &&
        !unwritable(target);
      if (live) {
        tail.push(headerOf(name, link, targetPath.slice(strip)));
        continue;
      }
      // A copy of the file the link named, as it was in its layer.
      const why = unwritable(target);
      if (why) {
        problems.push(`/${nodes.path(k)}: a hard link to ${why}; left out`);
        continue;
      }
      if (target.type === 'file' && target.size > 0) {
        read(tl, {
          offset: target.offset,
          size: target.size,
          path: name,
          header: () => headerOf(name, target),
        });
        bytes += target.size;
      } else extraHead.push(headerOf(name, target));
    }
  }
  const sorted = byOffset(reads, tail);
  for (const list of sorted.values()) entries += list.length;

  let heads = 0;
  const head = function* (): Iterable<TarHeader> {
    const stack = [root];
    for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
      const kids: number[] = [];
      for (let c = nodes.first[k]!; c >= 0; c = nodes.next[c]!) kids.push(c);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
      if (k === 0 || skip.has(k)) continue;
      if (nodes.flags[k]! & SYNTH) yield dirHeader(nameOf(k));
      else yield headerOf(nameOf(k), entryOfNode(k));
    }
    yield* extraHead;
  };
  // Count what the head writes, without keeping it.
  for (const _ of head()) {
    heads++;
    const w = pacer.step();
    if (w) await w;
  }
  entries += heads + tail.length;
  return { head, reads: sorted, tail, entries, bytes, problems };
}

/** The marker of a whiteout of `path`. */
const whiteoutPath = (path: string) => join(parentOf(path), `.wh.${baseName(path)}`);

/**
 * What layer `i` changes in the filesystem of the layers below it (filesystem.ts's
 * layerChanges), as a layer tar that makes exactly those changes:
 * - every entry it adds or modifies; a directory it only declares again with the same owner
 *   and mode is no change and is written only as a parent;
 * - the directories above them, as they are after the layer, so that every entry's parent
 *   comes before it;
 * - a whiteout (`.wh.<name>`) for each path it deletes that existed below, once, at the
 *   top-most path deleted; an opaque directory becomes one whiteout per lower child it hid
 *   (what the spec says it means). A whiteout of a path that did not exist below is
 *   redundant and left out, as is one below a path the layer replaced with a file (the file
 *   replaces all of it).
 * - A layer that names one path twice has one entry there: the last one wins, as in tar.
 * A hard link stays one when the file it names is written too; else it is a copy of that file.
 */
export function planChanges(
  layers: readonly (ColumnIndex | undefined)[],
  i: number,
): FilesExportPlan {
  const overlay = new ChangesOverlay();
  for (let l = 0; l < i; l++) {
    const index = layers[l];
    if (index) overlay.apply(l, parseLayer(toEntriesOf(index)), false);
  }
  const index = layers[i];
  if (!index) throw new FilesExportError(`layer ${i + 1} is not indexed`);
  const own = toEntriesOf(index);
  const changes = overlay.apply(i, parseLayer(own), true);

  const problems: string[] = [];
  const dirs = new Map<string, TarHeader>();
  const others: TarHeader[] = [];
  const reads = new Map<number, (ReadItem & { path: string })[]>();
  const tail: TarHeader[] = [];
  const written = new Set<IndexEntry>();
  let bytes = 0;
  const parents = (path: string) => {
    for (let p = parentOf(path); p !== '' && !dirs.has(p); p = parentOf(p)) {
      const node = overlay.find(p);
      dirs.set(p, node ? headerOf(p, node.entry) : dirHeader(p));
    }
  };
  const links: { path: string; entry: IndexEntry }[] = [];
  for (const c of changes) {
    if (c.change === 'deleted') {
      // Only where a directory holds it now: under a path replaced by a file it is gone anyway.
      if (parentOf(c.path) !== '' && !overlay.find(parentOf(c.path))?.children) continue;
      parents(c.path);
      others.push({
        path: whiteoutPath(c.path),
        type: 'file',
        size: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
      });
      continue;
    }
    const e = c.entry!;
    parents(c.path);
    if (c.implicit) {
      dirs.set(c.path, dirHeader(c.path));
      continue;
    }
    const why = unwritable(e);
    if (why) {
      problems.push(`/${c.path}: ${why}; left out`);
      continue;
    }
    written.add(e);
    if (e.type === 'dir') dirs.set(c.path, headerOf(c.path, e));
    else if (e.type === 'hardlink') links.push({ path: c.path, entry: e });
    else if (e.type === 'file' && e.size > 0) {
      const h = headerOf(c.path, e);
      addRead(reads, i, { offset: e.offset, size: e.size, path: c.path, header: () => h });
      bytes += e.size;
    } else others.push(headerOf(c.path, e));
  }

  if (links.length > 0) {
    const numbers = new Map(own.map((e, n) => [e, n]));
    const targets = linkTargets(index, new Set(links.map((l) => numbers.get(l.entry)!)));
    for (const { path, entry } of links) {
      const t = targets.get(numbers.get(entry)!) ?? -1;
      const target = t < 0 ? undefined : own[t]!;
      if (!target) {
        // A link to a file of a lower layer: applied over them, it links to that file.
        const lower = overlay.find(normalisePath(entry.linkname ?? ''));
        if (lower && lower.layer < i && !lower.children && lower.entry.type !== 'hardlink') {
          tail.push(headerOf(path, entry, normalisePath(entry.linkname ?? '')));
        } else {
          problems.push(
            `/${path}: a hard link to ${entry.linkname}, which no layer holds there when it is applied; left out`,
          );
        }
        continue;
      }
      const targetPath = normalisePath(target.path);
      if (written.has(target) && overlay.find(targetPath)?.entry === target) {
        tail.push(headerOf(path, entry, targetPath));
        continue;
      }
      const why = unwritable(target);
      if (why) problems.push(`/${path}: a hard link to ${why}; left out`);
      else if (target.type === 'file' && target.size > 0) {
        addRead(reads, i, {
          offset: target.offset,
          size: target.size,
          path,
          header: () => headerOf(path, target),
        });
        bytes += target.size;
      } else others.push(headerOf(path, target));
    }
  }

  const sorted = byOffset(reads, tail);
  let entries = tail.length + dirs.size + others.length;
  for (const list of sorted.values()) entries += list.length;
  // Parents before children: by depth, then by name for a stable order.
  const dirList = [...dirs.values()].sort(
    (a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  return {
    head: () => [...dirList, ...others],
    reads: sorted,
    tail,
    entries,
    bytes,
    problems,
  };
}

const depth = (p: string) => p.split('/').length;

function addRead(
  reads: Map<number, (ReadItem & { path: string })[]>,
  layer: number,
  item: ReadItem & { path: string },
) {
  let list = reads.get(layer);
  if (!list) reads.set(layer, (list = []));
  list.push(item);
}

function toEntriesOf(index: ColumnIndex): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const b of index.batches) for (let j = 0; j < b.count; j++) out.push(entryOf(b, j));
  return out;
}

/** Whether a tar path is a whiteout or opaque marker (what a changes export writes itself). */
export const isMarker = (path: string) => whiteoutTarget(path) !== undefined;

/** Where the tar goes: bytes in order. */
export interface TarSink {
  /** Takes the bytes now: a view into a chunk read is not kept past the call. */
  write(bytes: Uint8Array): void;
}

export interface WriteExportOptions {
  signal: AbortSignal;
  /** A layer's tar from at or before an offset. */
  tarFrom(layer: number, offset: number, signal: AbortSignal): ReturnType<TarFromFn>;
  /** A gap past which a read asks for a later start (default: the checkpoint spacing). */
  spacing?: number;
  /** A file that could not be read as the plan said. */
  problem?(message: string): void;
}

/** Writes a planned export: the head, each layer's files in one ordered read, the links. */
export async function writeExport(
  plan: FilesExportPlan,
  out: TarSink,
  opts: WriteExportOptions,
): Promise<void> {
  const { signal } = opts;
  const pacer = new Pacer(signal);
  for (const h of plan.head()) {
    out.write(entryHeader(h));
    const w = pacer.step();
    if (w) await w;
  }
  for (const layer of [...plan.reads.keys()].sort((a, b) => a - b)) {
    const files = plan.reads.get(layer)!;
    await readFilesInOrder(
      (offset, s) => opts.tarFrom(layer, offset, s),
      files,
      (f) => {
        out.write(entryHeader(f.header()));
        return {
          push: (piece) => out.write(piece),
          // The read fails before a file comes short, so the body is whole here.
          end: () => out.write(padding(f.size)),
        };
      },
      {
        signal,
        spacing: opts.spacing ?? CHECKPOINT_SPACING,
        problem: (f, message) => opts.problem?.(`${f.header().path}: ${message}`),
      },
    );
  }
  for (const h of plan.tail) out.write(entryHeader(h));
  out.write(endOfArchive());
}

/** Collects a tar into Blobs of at most `partBytes` each: JS holds one part at a time, and the
 * browser keeps the finished parts (on disk when they are big). */
export class BlobParts implements TarSink {
  #parts: Blob[] = [];
  #buf: Uint8Array;
  #used = 0;
  written = 0;
  constructor(readonly partBytes = 8 << 20) {
    this.#buf = new Uint8Array(partBytes);
  }
  write(bytes: Uint8Array): void {
    this.written += bytes.length;
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#buf.length - this.#used);
      this.#buf.set(bytes.subarray(at, at + n), this.#used);
      this.#used += n;
      at += n;
      if (this.#used === this.#buf.length) this.#flush();
    }
  }
  #flush() {
    if (this.#used === 0) return;
    this.#parts.push(new Blob([this.#buf.slice(0, this.#used)]));
    this.#used = 0;
  }
  finish(type = 'application/x-tar'): Blob {
    this.#flush();
    const blob = new Blob(this.#parts, { type });
    this.#parts = [];
    return blob;
  }
}
