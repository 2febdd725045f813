// Search inside files (issue 18): "it searches a 1 GB image in ≤ 2× the time `zcat | grep`
// takes on the same layers". The image is built here from this machine's files, in three gzip
// layers: text (/usr/share: documentation, data, locales), source (this repository's
// node_modules) and binaries (/usr/bin, /usr/lib). Each layer is listed as the layers worker
// lists it, with its checkpoints; then Berth's search (the scan worker's service, with its
// matcher and readFilesInOrder, reading the gzip blobs as the worker reads stored layers) is
// timed against `zcat layer.tar.gz | grep -c PATTERN` over the same layers, for a literal and
// for a regular expression, in the same run. Berth reads every file of every layer (the cap
// on results is lifted, so that it never stops early) and skips binary files as it does by
// default; grep reads the whole tar stream.
//
// It runs in Node, with the decoders and the engine the worker uses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openAsBlob } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHECKPOINT_SPACING,
  CheckpointRecorder,
  tarFrom,
  type LayerCheckpoints,
} from '../src/lib/layers/checkpoints.ts';
import type { ColumnIndex } from '../src/lib/layers/columns.ts';
import { decompress } from '../src/lib/layers/decompress.ts';
import { listLayer } from '../src/lib/layers/read.ts';
import { noFilters } from '../src/lib/search/filters.ts';
import type { SearchQuery } from '../src/lib/search/query.ts';
import {
  SearchService,
  type SearchEvent,
  type SearchSummary,
} from '../src/workers/search-service.ts';
import { run as runCommand } from '../test/harness/process.ts';
import { MiB, type CaseContext, type CaseResult } from './cases.ts';
import { row, stat as statOf, type Row } from './run.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The searches timed: grep's pattern (basic syntax, -F for text, -E for the expression) and
 * Berth's query for the same lines. */
const SEARCHES: { id: string; label: string; grep: string[]; query: SearchQuery }[] = [
  {
    id: 'literal',
    label: 'text "Free Software Foundation"',
    grep: ['-F', 'Free Software Foundation'],
    query: { text: 'Free Software Foundation', regex: false, caseSensitive: true },
  },
  {
    id: 'regex',
    label: 'expression /fun[a-z]*tion\\s*\\(/',
    grep: ['-E', 'fun[a-z]*tion[[:space:]]*\\('],
    query: { text: 'fun[a-z]*tion\\s*\\(', regex: true, caseSensitive: true },
  },
];

/** Regular files under `dirs`, in the order a walk finds them, adding up to about `bytes`;
 * paths relative to the root. */
async function pick(dirs: string[], bytes: number, skip: (p: string) => boolean = () => false) {
  const picked: string[] = [];
  let total = 0;
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (total >= bytes) return;
      const p = join(dir, e.name);
      if (skip(p)) continue;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        try {
          const s = await stat(p);
          picked.push(p.slice(1));
          total += s.size;
        } catch {
          // Unreadable: skipped.
        }
      }
    }
  };
  for (const d of dirs) await walk(d);
  return picked;
}

async function tarGz(work: string, name: string, files: string[]): Promise<string> {
  const list = join(work, `${name}.list`);
  await writeFile(list, files.join('\n') + '\n');
  const out = join(work, `${name}.tar`);
  await runCommand(
    'tar',
    [
      '--create',
      `--file=${out}`,
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '--mtime=@0',
      '--ignore-failed-read',
      '-C',
      '/',
      `--files-from=${list}`,
    ],
    { timeoutMs: 600_000 },
  );
  await runCommand('gzip', ['-n', '-1', '-f', out], { timeoutMs: 600_000 });
  await rm(list, { force: true });
  return `${out}.gz`;
}

/** Runs `sh -c script` with the arguments; its stdout. */
async function shell(script: string, args: string[]): Promise<string> {
  const child = spawn('sh', ['-c', script, 'sh', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'close');
  return out.trim();
}

export interface SearchImage {
  layers: string[];
  bytes: number;
}

/** Builds the three layers in `work`: about 1 GiB uncompressed (a tenth with --small). */
export async function buildSearchImage(work: string, small: boolean): Promise<SearchImage> {
  const scale = small ? 0.1 : 1;
  const nm = join(ROOT, 'node_modules');
  const text = await pick(['/usr/share'], 420 * MiB * scale);
  const source = await pick([nm], 330 * MiB * scale, (p) => p.endsWith('/.bin'));
  const binaries = await pick(['/usr/bin', '/usr/lib'], 280 * MiB * scale);
  const layers = [
    await tarGz(work, 'search-text', text),
    await tarGz(work, 'search-source', source),
    await tarGz(work, 'search-binaries', binaries),
  ];
  let bytes = 0;
  for (const l of layers) bytes += Number(await shell('zcat "$1" | wc -c', [l]));
  return { layers, bytes };
}

/** Lists a layer as the layers worker does: its index and its checkpoints. */
export async function listed(
  path: string,
): Promise<{ index: ColumnIndex; checkpoints?: LayerCheckpoints }> {
  const blob = await openAsBlob(path);
  const recorder = new CheckpointRecorder('gzip', CHECKPOINT_SPACING);
  const listing = await listLayer(
    decompress(() => blob.stream() as ReadableStream<Uint8Array>, 'gzip', {
      checkpoints: recorder,
    }),
  );
  return { index: listing.files, checkpoints: recorder.finish() };
}

/** One search of the image by Berth's service; its time and summary. */
export async function timeSearch(
  paths: string[],
  layers: { index: ColumnIndex; checkpoints?: LayerCheckpoints }[],
  query: SearchQuery,
): Promise<{ ms: number; cpuMs: number; summary: SearchSummary }> {
  const blobs = await Promise.all(paths.map((p) => openAsBlob(p)));
  const byDigest = new Map(paths.map((p, i) => [p, i]));
  const service = new SearchService({
    index: async (digest) => layers[byDigest.get(digest)!]!.index,
    stored: async () => true,
    tarFrom: (layer, offset, signal) => {
      const i = byDigest.get(layer.digest)!;
      return tarFrom(blobs[i]!, 'gzip', layers[i]!.checkpoints, offset, { signal });
    },
    limits: { maxResults: Infinity },
  });
  const t = performance.now();
  const cpu = process.cpuUsage();
  const summary = await service.api.searchStart(
    {
      layers: paths.map((p) => ({
        digest: p,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        size: 0,
      })),
      query,
      filters: noFilters,
      scope: 'all',
    },
    { signal: new AbortController().signal, emit: (e: SearchEvent) => void e },
  );
  const used = process.cpuUsage(cpu);
  // The process's CPU: the engine, and the zlib threads that decode.
  return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, summary };
}

/** `zcat | grep -c` of each layer, one after the other: the time, the CPU both took (the
 * shell's `times` for its children), and the matching lines. */
async function timeGrep(
  paths: string[],
  grep: string[],
): Promise<{ ms: number; cpuMs: number; lines: number }> {
  const t = performance.now();
  let lines = 0;
  let cpuMs = 0;
  for (const p of paths) {
    // grep -c counts matching lines (binary files included, as one stream).
    const out = await shell('f=$1; shift; zcat "$f" | LC_ALL=C grep -c "$@"; times', [p, ...grep]);
    const [count, , children] = out.split('\n');
    lines += Number(count);
    for (const m of (children ?? '').matchAll(/(\d+)m([\d.]+)s/g)) {
      cpuMs += (Number(m[1]) * 60 + Number(m[2])) * 1000;
    }
  }
  return { ms: performance.now() - t, cpuMs, lines };
}

export async function searchCase(
  ctx: Pick<CaseContext, 'work' | 'runs' | 'small' | 'log'>,
): Promise<CaseResult> {
  const built = performance.now();
  const image = await buildSearchImage(ctx.work, ctx.small);
  const compressed = (await Promise.all(image.layers.map((l) => stat(l)))).reduce(
    (n, s) => n + s.size,
    0,
  );
  ctx.log(
    `search: image built in ${((performance.now() - built) / 1000).toFixed(0)} s: ` +
      `${(image.bytes / MiB).toFixed(0)} MiB (${(compressed / MiB).toFixed(0)} MiB gzip)`,
  );
  const indexes = [];
  for (const l of image.layers) indexes.push(await listed(l));
  const files = indexes.reduce((n, l) => n + l.index.count, 0);

  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  for (const s of SEARCHES) {
    const berth: number[] = [];
    const grep: number[] = [];
    const berthCpu: number[] = [];
    const grepCpu: number[] = [];
    let summary: SearchSummary | undefined;
    let grepLines = 0;
    for (let r = 0; r < ctx.runs; r++) {
      // The reference and Berth one after the other in each run: both see the same load.
      const g = await timeGrep(image.layers, s.grep);
      grep.push(g.ms);
      grepCpu.push(g.cpuMs);
      grepLines = g.lines;
      const b = await timeSearch(image.layers, indexes, s.query);
      berth.push(b.ms);
      berthCpu.push(b.cpuMs);
      summary = b.summary;
      ctx.log(
        `search ${s.id} run ${r + 1}: Berth ${b.ms.toFixed(0)} ms, CPU ${b.cpuMs.toFixed(0)} ms ` +
          `(${b.summary.results} lines); zcat | grep -c ${g.ms.toFixed(0)} ms, CPU ` +
          `${g.cpuMs.toFixed(0)} ms (${g.lines} lines)`,
      );
    }
    rows.push(
      row({
        id: `search-${s.id}`,
        metric: `search for ${s.label} in a ${(image.bytes / MiB).toFixed(0)} MiB image`,
        unit: 'ms',
        berth: statOf(berth),
        reference: { name: 'zcat | grep -c, layer by layer', ...statOf(grep) },
        pairwise: true,
        target: { of: 'ratio', max: 2 },
        note:
          `Berth found ${summary!.results} lines in ${summary!.matchedFiles} files ` +
          `(searched ${summary!.searched} of ${summary!.files} files, ${summary!.skipped} binary ` +
          `skipped, ${summary!.moreInFiles} over 100 lines); grep -c counted ${grepLines} lines ` +
          `in the tar streams (binaries included); in Node (engine and decoders of the worker)`,
      }),
    );
    rows.push(
      row({
        id: `search-${s.id}-cpu`,
        metric: `CPU of the search for ${s.label} (steadier than time on a shared machine)`,
        unit: 'ms',
        berth: statOf(berthCpu),
        reference: { name: 'zcat | grep -c (both processes)', ...statOf(grepCpu) },
        pairwise: true,
      }),
    );
    raw[s.id] = { berth, grep, berthCpu, grepCpu, grepLines, summary };
  }
  return {
    rows,
    fixture: { bytes: image.bytes, compressed, files, layers: image.layers.length },
    raw,
  };
}
