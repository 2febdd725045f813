// Duplicated content: the same bytes at several paths or in several layers. Candidates are found
// from the layers' indexes alone (files of equal size, two or more of them, of at least a byte);
// only those are hashed, each layer read once in offset order (ordered.ts), so an image whose
// sizes are all different reads nothing.
import { createSHA256 } from 'hash-wasm';
import { BATCH_BITS, type ColumnIndex } from '../layers/columns.ts';
import { whiteoutTarget } from '../layers/filesystem.ts';
import { readFilesInOrder, type TarFromFn } from '../layers/ordered.ts';
import { Pacer, pathStart } from '../layers/treemodel.ts';

const TYPE_FILE = 0; // ENTRY_TYPES.indexOf('file')

/** A file that may have a twin: where it is. */
export interface Candidate {
  layer: number;
  /** Entry number in the layer's index. */
  entry: number;
  path: string;
  size: number;
  offset: number;
}

export interface CandidatePlan {
  /** Candidates, by layer, in offset order. */
  byLayer: Map<number, Candidate[]>;
  /** Groups of equal size (at least two files). */
  groups: number;
  files: number;
  /** Bytes the hashing would read. */
  bytes: number;
}

/** The files that share their size with another file of any layer (regular files of a byte or
 * more; whiteout markers and links hold no bytes of their own). */
export async function duplicateCandidates(
  layers: readonly (ColumnIndex | undefined)[],
  signal?: AbortSignal,
): Promise<CandidatePlan> {
  const pacer = new Pacer(signal);
  // First pass: how many files have each size. Second: keep those whose size is shared.
  const counts = new Map<number, number>();
  const each = async (fn: (l: number, bi: number, j: number, size: number) => void) => {
    for (let l = 0; l < layers.length; l++) {
      const index = layers[l];
      if (!index) continue;
      for (let bi = 0; bi < index.batches.length; bi++) {
        const b = index.batches[bi]!;
        await pacer.step(b.count);
        for (let j = 0; j < b.count; j++) {
          if ((b.types[j]! & 0x0f) !== TYPE_FILE) continue;
          const size = b.sizes[j]!;
          if (!(size > 0) || !Number.isSafeInteger(size) || !(b.offsets[j]! >= 0)) continue;
          fn(l, bi, j, size);
        }
      }
    }
  };
  await each((_l, _b, _j, size) => counts.set(size, (counts.get(size) ?? 0) + 1));
  const byLayer = new Map<number, Candidate[]>();
  const sizes = new Set<number>();
  let files = 0;
  let bytes = 0;
  await each((l, bi, j, size) => {
    if (counts.get(size)! < 2) return;
    const b = layers[l]!.batches[bi]!;
    const raw = b.paths.slice(pathStart(b, j), b.pathEnds[j]);
    if (whiteoutTarget(raw)) return;
    // As the file browser names it: no leading "./" or "/".
    const path = raw.replace(/^(\.?\/)+/, '');
    let list = byLayer.get(l);
    if (!list) byLayer.set(l, (list = []));
    list.push({ layer: l, entry: (bi << BATCH_BITS) | j, path, size, offset: b.offsets[j]! });
    sizes.add(size);
    files++;
    bytes += size;
  });
  for (const list of byLayer.values()) list.sort((a, b) => a.offset - b.offset);
  return { byLayer, groups: sizes.size, files, bytes };
}

/** A group of files with the same bytes. */
export interface DuplicateGroup {
  digest: string;
  size: number;
  files: { path: string; layer: number }[];
  /** Bytes that one copy would save: size × (count − 1). */
  saved: number;
}

export interface HashOptions {
  signal: AbortSignal;
  /** Opens a layer's tar at or before an offset (random access where it has checkpoints). */
  tarFrom(layer: number, offset: number, signal: AbortSignal): ReturnType<TarFromFn>;
  /** The layer's checkpoint spacing (a longer gap jumps to a later start). */
  spacing?: number;
  /** Called as files are hashed. */
  progress?(filesHashed: number, bytesHashed: number): void;
  /** A file the read could not reach (a hostile index). */
  problem?(c: Candidate, message: string): void;
}

/** Hashes the candidates of the given layers (each read once), and groups equal digests:
 * groups of two or more, most bytes saved first. */
export async function hashDuplicates(
  plan: CandidatePlan,
  layersToRead: readonly number[],
  opts: HashOptions,
): Promise<DuplicateGroup[]> {
  const h = await createSHA256();
  const byDigest = new Map<string, DuplicateGroup>();
  let hashed = 0;
  let hashedBytes = 0;
  for (const l of layersToRead) {
    const list = plan.byLayer.get(l);
    if (!list || list.length === 0) continue;
    // Files at one offset (a path named twice) are hashed once, and each is a member.
    type Place = { offset: number; size: number; at: Candidate[] };
    const places: Place[] = [];
    for (const c of list) {
      const last = places.at(-1);
      if (last && last.offset === c.offset && last.size === c.size) last.at.push(c);
      else places.push({ offset: c.offset, size: c.size, at: [c] });
    }
    await readFilesInOrder<Place>(
      (offset, signal) => opts.tarFrom(l, offset, signal),
      places,
      (place) => {
        h.init();
        return {
          push: (piece) => void h.update(piece),
          end: () => {
            const digest = 'sha256:' + h.digest('hex');
            let g = byDigest.get(digest);
            if (!g) byDigest.set(digest, (g = { digest, size: place.size, files: [], saved: 0 }));
            for (const c of place.at) g.files.push({ path: c.path, layer: c.layer });
            hashed += place.at.length;
            hashedBytes += place.size;
            opts.progress?.(hashed, hashedBytes);
          },
        };
      },
      {
        signal: opts.signal,
        ...(opts.spacing !== undefined ? { spacing: opts.spacing } : {}),
        ...(opts.problem
          ? { problem: (p: Place, m: string) => p.at.forEach((c) => opts.problem!(c, m)) }
          : {}),
      },
    );
  }
  const groups = [...byDigest.values()].filter((g) => g.files.length > 1);
  for (const g of groups) g.saved = g.size * (g.files.length - 1);
  groups.sort((a, b) => b.saved - a.saved || b.size - a.size || (a.digest < b.digest ? -1 : 1));
  return groups;
}
