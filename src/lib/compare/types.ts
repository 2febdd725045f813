// What a comparison of two images says, as every part of Berth shares it: the lib computes it,
// the workers hold the big part (the files), the page shows it, and the JSON export writes it.
// "a" is the image compared from (the older, the left), "b" the one compared with.
//
// The files part is as large as the images' indexes (a million entries each), so it never
// travels whole: the layers worker keeps it and hands out a summary and windows of rows, as the
// file tree does (lib/layers/model.ts). The rest (config, history, layers) is small.
import type { EntryType } from '../layers/entry.ts';
import type { Platform } from '../oci/types.ts';

/** Which image of the two. */
export type Side = 'a' | 'b';

/** How a path, a config value, a history step or a layer differs between the two images. */
export type Difference = 'added' | 'removed' | 'changed' | 'unchanged';

/** What about a path changed, when it is in both images. `content` is judged by the bytes: by
 * the sizes when they differ, by the layer's identity (diffID and offset) when both come from
 * the same layer, and otherwise by hashing both files (see `FileCompare.pending`). */
export type Aspect = 'type' | 'content' | 'mode' | 'owner' | 'link';

/** One image's side of a path: the merged filesystem's entry, and the layer it comes from. */
export interface PathSide {
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  mtime: number;
  /** Index of the layer the entry comes from, in that image's layer order. */
  layer: number;
  /** Where the entry's header starts in that layer's tar (IndexEntry.offset): the diff pane
   * reads the file's bytes with it (the layers worker's readFile). */
  offset: number;
  /** The content's sha256 (`sha256:…`) once hashed; set only for regular files that had to be
   * hashed (same size, different layers). */
  digest?: string;
}

/** One path of the comparison: its difference, and each image's entry. */
export interface PathDiff {
  path: string;
  difference: Difference;
  /** For `changed`: what changed. Empty for the other differences. */
  aspects: Aspect[];
  /** The content is not decided yet: same type and size, entries from different layers, not
   * hashed. Shown as "maybe changed" until hashed; never counted as unchanged. */
  pending?: true;
  a?: PathSide;
  b?: PathSide;
  /** b's size minus a's (a missing side counts 0); for a directory, of everything below it. */
  delta: number;
}

/** Counts and bytes of the files part. Directories are not counted as files. */
export interface FilesSummary {
  added: { count: number; bytes: number };
  removed: { count: number; bytes: number };
  changed: { count: number; bytesBefore: number; bytesAfter: number };
  unchanged: number;
  /** Paths whose content is not decided yet (see PathDiff.pending). */
  pending: number;
  /** Total bytes of the merged filesystems' files, before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

/** Which rows the files view shows. */
export interface FilesFilter {
  /** Differences shown; all four when empty. */
  differences: Difference[];
  /** For `changed` rows: only these aspects (any of them); all when empty. */
  aspects: Aspect[];
  /** A path or glob, with lib/layers/glob.ts's rules; '' for every path. */
  query: string;
}

export type FilesSort = 'name' | 'delta';

/** One row of the files view: the merged tree of both images, flattened as the file tree
 * flattens (lib/layers/model.ts TreeRow), with each path's difference. A directory's
 * difference is `changed` when anything below it is not unchanged. */
export interface CompareRow extends PathDiff {
  name: string;
  depth: number;
  dir: boolean;
  expanded: boolean;
  setSize: number;
  posInSet: number;
}

/** A config field compared. Env and Labels are compared key by key (`key` set); ExposedPorts
 * and Volumes as sets (`key` is the port or volume); the rest as whole values. */
export type ConfigField =
  | 'Env'
  | 'Entrypoint'
  | 'Cmd'
  | 'WorkingDir'
  | 'User'
  | 'ExposedPorts'
  | 'Labels'
  | 'Volumes'
  | 'StopSignal'
  | 'Healthcheck'
  | 'Shell'
  | 'OnBuild'
  | 'architecture'
  | 'os'
  | 'variant'
  | 'author'
  | 'created';

export interface ConfigDiff {
  field: ConfigField;
  key?: string;
  difference: Exclude<Difference, 'unchanged'>;
  /** The value in a (absent for added), as the config has it. */
  before?: unknown;
  after?: unknown;
}

/** History aligned step by step (an LCS of the two histories by created_by and empty_layer). */
export interface HistoryStep {
  difference: Difference;
  /** Index into a's and b's history; one is absent for added and removed steps. */
  a?: number;
  b?: number;
  createdBy: string;
}

export interface HistoryComparison {
  steps: HistoryStep[];
  /** Index in `steps` of the first step that is not unchanged; -1 when none. */
  divergesAt: number;
}

/** A layer of either image matched with the other's: by digest (the same blob), by diffID (the
 * same content compressed differently), or not at all. */
export interface LayerMatch {
  a?: number;
  b?: number;
  by: 'digest' | 'diffID' | 'none';
}

/** The layers the two share from the bottom up (matched by diffID, in order). */
export interface SharedBase {
  /** Layers in common from the bottom; 0 when the first layers differ. */
  layers: number;
  /** a's layers are all in b's base: b is built on a (or they are the same). */
  aIsBaseOfB: boolean;
  bIsBaseOfA: boolean;
}

/** One image as the comparison names it. */
export interface ComparedImage {
  /** The reference as the user gave it (the library's name). */
  name: string;
  /** The manifest compared (a platform's, for an index). */
  manifestDigest: string;
  platform?: Platform;
  /** Compressed bytes of config and layers. */
  size: number;
  layers: number;
}

/** Everything but the files: small, computed from the two manifests and configs. */
export interface ImageComparison {
  a: ComparedImage;
  b: ComparedImage;
  /** The same manifest digest: nothing else needs to be read. */
  identical: boolean;
  config: ConfigDiff[];
  history: HistoryComparison;
  layers: LayerMatch[];
  base: SharedBase;
}

/** The JSON export's schema name; README documents the format, and schema.json checks it. */
export const compareSchema = 'berth.compare.v1';

/** The JSON export: its schema's name, the small part as compareImages computes it, and the
 * files part (its summary and the paths compared). */
export interface CompareExport extends ImageComparison {
  schema: typeof compareSchema;
  files: { summary: FilesSummary; paths: PathDiff[] };
}

/** A layer of one image as the files comparison needs it: its digest names its stored index
 * (and its bytes, for hashing, which its media type says how to decompress: the manifest's
 * layer descriptor has all three); null for a layer that is not a tar (it adds nothing). */
export type CompareLayer = { digest: string; mediaType: string; size: number } | null;

/** Rows start … end-1 of the files view. */
export type RowRange = [start: number, end: number];

export interface CompareWindow {
  count: number;
  start: number;
  rows: CompareRow[];
}

export interface OpenCompareRequest {
  /** Every layer of each image, bottom first. */
  a: CompareLayer[];
  b: CompareLayer[];
  filter: FilesFilter;
  sort: FilesSort;
  /** Directories open. */
  expanded: string[];
  window: RowRange;
}

export interface OpenedCompare extends CompareWindow {
  compareId: number;
  summary: FilesSummary;
  /** Layers whose index is not stored (not listed yet): the comparison waits for them. */
  missing: { a: number[]; b: number[] };
}

/** The files comparison as the layers worker offers it to the page (every method by id; the
 * worker keeps the comparison, the page only windows of rows). Long methods yield at least
 * every 50 ms and stop with the call's signal. */
export interface CompareFilesApi {
  openCompare(req: OpenCompareRequest): Promise<OpenedCompare>;
  compareRows(compareId: number, window: RowRange): Promise<CompareWindow>;
  /** Opens (`open` true) or closes a directory. The page says which, rather than asking for a
   * flip, so that its list of open directories and the worker's cannot drift apart. */
  compareToggle(
    compareId: number,
    path: string,
    open: boolean,
    window: RowRange,
  ): Promise<CompareWindow>;
  compareFilter(compareId: number, filter: FilesFilter, window: RowRange): Promise<CompareWindow>;
  compareSort(compareId: number, sort: FilesSort, window: RowRange): Promise<CompareWindow>;
  /** A path's row in the whole view, or -1 when it shows none (a closed directory, a filter). */
  compareIndexOf(compareId: number, path: string): Promise<number>;
  /** Type-ahead: the first row from `from` on (wrapping) whose name starts with `prefix`
   * (lower case), or -1. */
  compareFind(compareId: number, prefix: string, from: number): Promise<number>;
  /** One path's difference, for the diff pane. */
  comparePath(compareId: number, path: string): Promise<PathDiff | undefined>;
  /** Hashes the pending files (all, or those under `paths`), reading each file's bytes once
   * from the stored layers, caching digests by layer and offset; answers the new summary. */
  compareDecide(compareId: number, paths?: string[]): Promise<FilesSummary>;
  /** The whole comparison as the JSON export (compareSchema), built in the worker in pieces:
   * `meta` is the small part the page computed. */
  compareExport(compareId: number, meta: ImageComparison): Promise<Blob>;
  closeCompare(compareId: number): Promise<void>;
}
