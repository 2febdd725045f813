// The secret scan of an image: every regular file of every layer, the files later layers delete
// or replace included, read in ONE pass per layer in offset order (readFilesInOrder), then the
// image config. A file is text unless its first 8 KiB hold a NUL byte; a binary file is left
// after those 8 KiB (the rest of it is a gap the read skips). Text is scanned in windows of
// whole lines with an overlap between them, so that a file of any size costs one window of
// memory, a key across a window's edge is still found, and the worker answers between windows.
import { CHECKPOINT_SPACING } from '../layers/checkpoints.ts';
import { pathOf, type ColumnIndex } from '../layers/columns.ts';
import { normalisePath } from '../layers/paths.ts';
import { readFilesInOrder, type TarFromFn } from '../layers/ordered.ts';
import {
  isConfigFile,
  isEnvFile,
  scanEntropy,
  scanEnvFile,
  secretAssignment,
  stepAssignments,
} from './detectors.ts';
import { mask } from './mask.ts';
import type { RuleRunner } from './preset.ts';
import type { ConfigPlace, Hit, SecretFinding, SkippedFile } from './types.ts';
import { visibilityOf } from './visibility.ts';

/** A finding with its value: the worker keeps these, the page gets SecretFinding. */
export interface FoundSecret extends SecretFinding {
  value: string;
}

export interface ScanLayer {
  /** The layer's file index; undefined for a layer that is not a tar. */
  index: ColumnIndex | undefined;
  /** Its uncompressed tar from at or before an offset (from a checkpoint when it has some). */
  tarFrom: TarFromFn;
}

/** What the image config says, as the scan reads it. */
export interface ScanConfig {
  /** `NAME=value`, as config.Env holds them. */
  env?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  /** Every history step's command, and the layer the step made (none for an empty layer). */
  history?: readonly { createdBy: string; layer?: number }[];
}

export interface ScanProgress {
  layersDone: number;
  layers: number;
  filesRead: number;
  files: number;
  /** Bytes of the files read (a binary file counts whole: the rest of it is passed over). */
  bytesRead: number;
  bytes: number;
  findings: number;
}

export interface ScanOptions {
  runner: RuleRunner;
  signal: AbortSignal;
  /** Files bigger than this are listed as skipped, unread. */
  maxFileBytes?: number;
  /** Characters of text scanned at once. */
  windowChars?: number;
  /** Findings kept; more are counted, not kept. */
  maxFindings?: number;
  /** The layers' checkpoint spacing (readFilesInOrder). */
  spacing?: number;
  minSkip?: number;
  onProgress?: (p: ScanProgress) => void;
}

export interface ScanResult {
  findings: FoundSecret[];
  /** Findings past maxFindings, not kept. */
  dropped: number;
  skipped: SkippedFile[];
  /** Files left as binary. */
  binary: number;
  /** Files read as text. */
  text: number;
  files: number;
  bytes: number;
  /** The rules run, by id. */
  rules: readonly string[];
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_WINDOW_CHARS = 1024 * 1024;
export const DEFAULT_MAX_FINDINGS = 10_000;
/** What is looked at for a NUL byte (as git and grep decide that a file is binary). */
export const SNIFF_BYTES = 8192;
/** Text scanned again at the start of the next window: a PEM key of 4096 bits is about 3,300
 * characters. */
const OVERLAP_CHARS = 16 * 1024;
/** Skipped files listed; more are counted in `skipped`'s length only up to this. */
const MAX_SKIPPED_LISTED = 1000;

/** A file a layer holds that the scan reads. */
export interface ScanFile {
  path: string;
  offset: number;
  size: number;
}

/** The regular files of a layer that the scan reads, by offset, and those it skips. Hard links
 * are not read again: their bytes are their target's, read under its own path. Whiteout
 * markers are markers. */
export function planScan(
  index: ColumnIndex | undefined,
  maxFileBytes = DEFAULT_MAX_FILE_BYTES,
): { files: ScanFile[]; tooBig: ScanFile[]; bytes: number } {
  const files: ScanFile[] = [];
  const tooBig: ScanFile[] = [];
  let bytes = 0;
  if (!index) return { files, tooBig, bytes };
  for (const b of index.batches) {
    for (let j = 0; j < b.count; j++) {
      // 0 is 'file' (ENTRY_TYPES).
      if ((b.types[j]! & 0x0f) !== 0) continue;
      const size = b.sizes[j]!;
      if (size === 0) continue;
      const raw = pathOf(b, j);
      const base = raw.slice(raw.lastIndexOf('/') + 1);
      if (base.startsWith('.wh.')) continue;
      const file = { path: normalisePath(raw), offset: b.offsets[j]!, size };
      if (size > maxFileBytes) tooBig.push(file);
      else {
        files.push(file);
        bytes += size;
      }
    }
  }
  files.sort((x, y) => x.offset - y.offset);
  return { files, tooBig, bytes };
}

/** Hits of one text by every detector that applies to its path. */
function detect(runner: RuleRunner, text: string, path: string, env: boolean, config: boolean) {
  const hits = runner.scan(text, path);
  if (env) hits.push(...scanEnvFile(text));
  if (config) hits.push(...scanEntropy(text));
  return hits;
}

/** Counts "\n" in text[from, to). */
function newlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i >= 0 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * One file's text, scanned window by window as its bytes come: calls `hit` once for each
 * secret (and line) found, however many windows see it.
 */
export class TextScan {
  #path: string;
  #runner: RuleRunner;
  #windowChars: number;
  #env: boolean;
  #config: boolean;
  #hit: (h: Hit) => void;
  #decoder = new TextDecoder('utf-8');
  #sniffed = 0;
  #text = '';
  /** The line the text held starts on. */
  #line = 1;
  /** Secrets found (line and value) on the lines the next window scans again, by line. */
  #seen = new Map<string, number>();
  #overlap: number;
  binary = false;

  constructor(path: string, runner: RuleRunner, hit: (h: Hit) => void, windowChars: number) {
    this.#path = path;
    this.#runner = runner;
    this.#hit = hit;
    this.#windowChars = windowChars;
    this.#overlap = Math.min(OVERLAP_CHARS, Math.floor(windowChars / 4));
    this.#env = isEnvFile(path);
    this.#config = isConfigFile(path);
  }

  /** The next bytes; false once no more are wanted (the file is binary). */
  push(piece: Uint8Array): boolean {
    if (this.binary) return false;
    if (this.#sniffed < SNIFF_BYTES) {
      const head = piece.subarray(0, SNIFF_BYTES - this.#sniffed);
      this.#sniffed += head.length;
      if (head.includes(0)) {
        this.binary = true;
        return false;
      }
    }
    this.#text += this.#decoder.decode(piece, { stream: true });
    while (this.#text.length >= this.#windowChars) this.#window(false);
    return true;
  }

  /** The file ended: the rest of its text is scanned. */
  end(): void {
    if (this.binary) return;
    this.#text += this.#decoder.decode();
    if (this.#text.length > 0) this.#window(true);
  }

  #window(last: boolean) {
    const text = this.#text;
    // Up to the last whole line of the window, unless one line fills most of it.
    let cut = text.length;
    if (!last) {
      const nl = text.lastIndexOf('\n', this.#windowChars - 1);
      cut = nl >= this.#windowChars / 2 ? nl + 1 : this.#windowChars;
    }
    const scanned = cut === text.length ? text : text.slice(0, cut);
    for (const h of detect(this.#runner, scanned, this.#path, this.#env, this.#config)) {
      const line = this.#line + h.line - 1;
      const key = `${line}\0${h.value}`;
      // The overlap is scanned twice, and two detectors may find one value.
      if (this.#seen.has(key)) continue;
      this.#seen.set(key, line);
      this.#hit({ ...h, line });
    }
    if (last) {
      this.#text = '';
      return;
    }
    // The next window starts with the last lines of this one (from a line's start when there is
    // one in the overlap).
    let from = Math.max(0, cut - this.#overlap);
    const nl = scanned.indexOf('\n', from);
    if (nl >= 0 && nl + 1 < cut) from = nl + 1;
    this.#line += newlines(scanned, 0, from);
    this.#text = text.slice(from);
    // Only the overlap is scanned again: what was found above it cannot be found twice.
    for (const [key, line] of this.#seen) if (line < this.#line) this.#seen.delete(key);
  }
}

/** Where a config hit is, and its rule-free identity (one value at one place is one finding). */
function configFindings(
  config: ScanConfig,
  runner: RuleRunner,
): { hit: Hit; place: ConfigPlace }[] {
  const out: { hit: Hit; place: ConfigPlace }[] = [];
  const seen = new Set<string>();
  const add = (hit: Hit, place: ConfigPlace) => {
    const key = `${place.kind}\0${place.key ?? ''}\0${place.step ?? ''}\0${hit.value}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ hit, place });
  };
  const assignment = (text: string): [string, string] | undefined => {
    const eq = text.indexOf('=');
    return eq > 0 ? [text.slice(0, eq), text.slice(eq + 1)] : undefined;
  };
  for (const entry of config.env ?? []) {
    const kv = assignment(entry);
    const key = kv?.[0];
    const place: ConfigPlace = { kind: 'env', ...(key ? { key } : {}) };
    for (const h of runner.scan(entry, 'config/Env')) add(h, place);
    const h = kv && secretAssignment(kv[0], kv[1]);
    if (h) add(h, place);
  }
  for (const [key, value] of Object.entries(config.labels ?? {})) {
    const place: ConfigPlace = { kind: 'label', key };
    for (const h of runner.scan(`${key}=${value}`, 'config/Labels')) add(h, place);
    const h = secretAssignment(key, value);
    if (h) add(h, place);
  }
  (config.history ?? []).forEach((step, i) => {
    const at = {
      kind: 'history' as const,
      step: i,
      ...(step.layer !== undefined ? { layer: step.layer } : {}),
    };
    const assignments = stepAssignments(step.createdBy);
    // A rule's find inside an assignment is named by the assignment's variable.
    const keyOf = (value: string) => assignments.find((a) => a.value.includes(value))?.name;
    for (const h of runner.scan(step.createdBy, 'config/history')) {
      const key = keyOf(h.value);
      add(h, { ...at, ...(key ? { key } : {}) });
    }
    for (const a of assignments) {
      const h = secretAssignment(a.name, a.value);
      if (h) {
        const description =
          a.kind === 'build-arg'
            ? 'Secret-named build argument'
            : a.kind === 'ARG'
              ? 'Secret-named build argument (ARG)'
              : 'Secret-named variable (ENV)';
        add({ ...h, description }, { ...at, key: a.name });
      }
    }
  });
  return out;
}

/**
 * Scans an image: its layers (base first) and its config. Fails with the signal's reason when
 * cancelled. The findings keep their values: whoever holds the result decides who sees them.
 */
export async function scanImage(
  layers: readonly ScanLayer[],
  config: ScanConfig,
  opts: ScanOptions,
): Promise<ScanResult> {
  const { runner, signal } = opts;
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const windowChars = opts.windowChars ?? DEFAULT_WINDOW_CHARS;
  const maxFindings = opts.maxFindings ?? DEFAULT_MAX_FINDINGS;
  const spacing = opts.spacing ?? CHECKPOINT_SPACING;
  const stepOf = new Map<number, number>();
  (config.history ?? []).forEach((h, i) => {
    if (h.layer !== undefined) stepOf.set(h.layer, i);
  });

  const plans = layers.map((l) => planScan(l.index, maxFileBytes));
  const result: ScanResult = {
    findings: [],
    dropped: 0,
    skipped: [],
    binary: 0,
    text: 0,
    files: plans.reduce((n, p) => n + p.files.length, 0),
    bytes: plans.reduce((n, p) => n + p.bytes, 0),
    rules: runner.rules,
  };
  const progress: ScanProgress = {
    layersDone: 0,
    layers: layers.length,
    filesRead: 0,
    files: result.files,
    bytesRead: 0,
    bytes: result.bytes,
    findings: 0,
  };
  const skip = (s: SkippedFile) => {
    if (result.skipped.length < MAX_SKIPPED_LISTED) result.skipped.push(s);
  };
  const keep = (f: Omit<FoundSecret, 'id' | 'masked' | 'length'>) => {
    progress.findings++;
    if (result.findings.length >= maxFindings) {
      result.dropped++;
      return;
    }
    result.findings.push({
      ...f,
      id: result.findings.length,
      masked: mask(f.value),
      length: Array.from(f.value).length,
    });
  };

  for (let li = 0; li < layers.length; li++) {
    signal.throwIfAborted();
    const plan = plans[li]!;
    for (const f of plan.tooBig) {
      skip({ layer: li, path: f.path, size: f.size, reason: `larger than ${maxFileBytes} bytes` });
    }
    const step = stepOf.get(li);
    await readFilesInOrder(
      layers[li]!.tarFrom,
      plan.files,
      (f) => {
        const scan = new TextScan(
          f.path,
          runner,
          (h) =>
            keep({
              rule: h.rule,
              origin: h.origin,
              description: h.description,
              value: h.value,
              place: {
                kind: 'file',
                layer: li,
                path: f.path,
                line: h.line,
                ...(step !== undefined ? { step } : {}),
                visibility: { kind: 'merged' },
              },
            }),
          windowChars,
        );
        return {
          push: (piece) => scan.push(piece),
          end: () => {
            scan.end();
            if (scan.binary) result.binary++;
            else result.text++;
            progress.filesRead++;
            progress.bytesRead += f.size;
            opts.onProgress?.({ ...progress });
          },
        };
      },
      {
        signal,
        spacing,
        minSkip: opts.minSkip ?? spacing,
        problem: (f, message) => skip({ layer: li, path: f.path, size: f.size, reason: message }),
      },
    );
    progress.layersDone = li + 1;
    opts.onProgress?.({ ...progress });
  }

  // Which later layer hides each file found in.
  const inFiles = result.findings.filter((f) => f.place.kind === 'file');
  const seen = visibilityOf(
    inFiles.map((f) => f.place as { layer: number; path: string }),
    layers.map((l) => l.index),
  );
  inFiles.forEach((f, i) => {
    if (f.place.kind === 'file') f.place = { ...f.place, visibility: seen[i]! };
  });

  for (const { hit, place } of configFindings(config, runner)) {
    keep({
      rule: hit.rule,
      origin: hit.origin,
      description: hit.description,
      value: hit.value,
      place,
    });
  }
  opts.onProgress?.({ ...progress });
  return result;
}
