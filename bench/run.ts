// `npm run bench`: Berth against the tools a user would otherwise reach for (skopeo, GNU tar)
// and against the best a browser tab can do on this machine (bench/ceiling.ts), on a real
// registry with an image built from this machine's /usr. Prints a table and writes JSON.
//
//   tsx bench/run.ts [--runs N] [--small] [--skip-memory] [--out FILE]
//     [--cases base,scale,huge,shared,latency,compare,packages,search] [--huge-gib N] [--rtt MS] [--mbit N]
//
// base is the /usr image against skopeo, tar and the ceiling probe; scale a million-entry
// layer (bench/scale.ts), huge a multi-GiB one (bench/huge.ts), shared two images sharing
// layers (bench/shared.ts), latency a shaped network path (bench/latency.ts), compare two
// images' files compared (bench/compare.ts), packages an image's packages inventoried
// (bench/packages.ts), search a 1 GB image searched inside its files (bench/search.ts).
//
// Nothing here asserts a timing: targets are reported, never enforced.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rm, stat as fileStat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { format, resolveConfig } from 'prettier';
import { startServer, type RunningServer } from '../proxy/server.ts';
import { defaultParallelBlobs } from '../src/lib/pull/defaults.ts';
import { run as runCommand } from '../test/harness/process.ts';
import { startRegistry, type Registry } from '../test/harness/registry.ts';
import {
  launchRun,
  longTasks,
  sampleMemory,
  timeUntil,
  withTimeout,
  type MemoryPeak,
  type Run,
} from './browser.ts';
import type { CeilingParams, CeilingShape } from './ceiling.ts';
import type { CaseContext, CaseResult } from './cases.ts';
import { hugeCase } from './huge.ts';
import { compareCase } from './compare.ts';
import { packagesCase } from './packages.ts';
import { searchCase } from './search.ts';
import { latencyCase } from './latency.ts';
import { scaleCase } from './scale.ts';
import { sharedCase } from './shared.ts';
import {
  buildImages,
  FULL_SIZES,
  SMALL_SIZES,
  type BenchImages,
  type PushedImage,
} from './image.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
/** The shapes the ceiling probe tries, each on every core: layers at once (3, or every layer)
 * x piece size x prefetch. The best is the ceiling. */
const CEILING: CeilingShape[] = [3, 8].flatMap((parallel) =>
  [16, 64].flatMap((pieceMiB) =>
    [false, true].map((prefetch) => ({ parallel, pieceMiB, prefetch })),
  ),
);
/** The shape that won each ceiling run, for the record. */
const ceilingWinners: string[] = [];

export const CASES = [
  'base',
  'scale',
  'huge',
  'shared',
  'latency',
  'compare',
  'packages',
  'search',
] as const;
export type CaseName = (typeof CASES)[number];
const RUN_CASE: Record<Exclude<CaseName, 'base'>, (ctx: CaseContext) => Promise<CaseResult>> = {
  scale: scaleCase,
  huge: hugeCase,
  shared: sharedCase,
  latency: latencyCase,
  compare: compareCase,
  packages: packagesCase,
  search: searchCase,
};

export interface Options {
  runs: number;
  small: boolean;
  skipMemory: boolean;
  out: string;
  cases: CaseName[];
  /** The huge case's layer, in GiB of tar. */
  hugeGiB: number;
  /** The latency case's path. */
  rttMs: number;
  mbit: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      small: { type: 'boolean', default: false },
      'skip-memory': { type: 'boolean', default: false },
      out: { type: 'string' },
      cases: { type: 'string', default: CASES.join(',') },
      'huge-gib': { type: 'string', default: '2' },
      rtt: { type: 'string', default: '40' },
      mbit: { type: 'string', default: '200' },
    },
  });
  const cases = (values.cases ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  for (const c of cases) {
    if (!(CASES as readonly string[]).includes(c)) {
      throw new Error(`--cases: unknown case ${c} (known: ${CASES.join(', ')})`);
    }
  }
  const positive = (name: string, v: string | undefined, zero = false) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (!zero && n === 0)) {
      throw new Error(`--${name} wants a positive number`);
    }
    return n;
  };
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer`);
  const date = new Date().toISOString().slice(0, 10);
  return {
    runs,
    small: values.small ?? false,
    skipMemory: values['skip-memory'] ?? false,
    out: resolve(values.out ?? join(ROOT, 'bench', 'results', `${date}.json`)),
    cases: cases as CaseName[],
    hugeGiB: positive('huge-gib', values['huge-gib']),
    rttMs: positive('rtt', values.rtt, true),
    mbit: positive('mbit', values.mbit, true),
  };
}

const log = (line: string) => console.error(`bench: ${line}`);

/** Stands in for the base case's images when it is not run: nothing reads it then. */
const NO_IMAGE: PushedImage = {
  ref: '',
  repository: '',
  digest: '',
  layers: [{ digest: '', size: 0, diffID: '', path: '', tarSize: 0 }],
};
const NO_IMAGES: BenchImages = { big: NO_IMAGE, view: NO_IMAGE, mid: NO_IMAGE };

// ---------------------------------------------------------------------------------------
// Statistics

export interface Stat {
  median: number;
  runs: number[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const stat = (runs: number[]): Stat => ({ median: median(runs), runs });

export interface Row {
  id: string;
  metric: string;
  /** B: bytes; n: a count. */
  unit: 's' | 'ms' | 'MiB' | 'B' | 'n';
  berth: Stat;
  reference?: Stat & { name: string };
  /** Berth's value over the reference's, run by run (the median of those ratios). */
  ratio?: Stat;
  /** What the target bounds, and its limit; undefined for a figure that is only reported. */
  target?: { of: 'ratio' | 'berth'; max: number; label?: string };
  met?: boolean;
  note?: string;
}

export function row(r: Omit<Row, 'met' | 'ratio'> & { pairwise?: boolean }): Row {
  const { pairwise, ...rest } = r;
  const ratio =
    pairwise && r.reference
      ? stat(r.berth.runs.map((b, i) => b / r.reference!.runs[i]!))
      : undefined;
  const bounded = r.target?.of === 'ratio' ? ratio?.median : r.berth.median;
  return {
    ...rest,
    ...(ratio ? { ratio } : {}),
    ...(r.target && bounded !== undefined ? { met: bounded <= r.target.max } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// References: skopeo and GNU tar

/** Wall time of a command, stdout counted in lines and discarded. */
export async function timed(cmd: string, args: string[]): Promise<{ ms: number; lines: number }> {
  const started = performance.now();
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  let lines = 0;
  proc.stdout.on('data', (c: Buffer) => {
    for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lines++;
  });
  proc.stderr.on('data', (c: Buffer) => err.push(c));
  const [code] = (await once(proc, 'close')) as [number | null];
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${Buffer.concat(err)}`);
  return { ms, lines };
}

export const skopeo = (args: string[]) => timed('skopeo', ['--insecure-policy', ...args]);

// ---------------------------------------------------------------------------------------
// Berth in Chromium

export interface Env {
  server: RunningServer;
  registry: Registry;
  images: BenchImages;
  work: string;
}

async function openApp(run: Run, env: Env): Promise<Page> {
  const { page } = run;
  await page.goto(env.server.url);
  await page.getByRole('textbox', { name: 'Image reference' }).waitFor();
  // A person types for longer than the service worker takes to install: let it finish.
  await withTimeout(
    page.evaluate(() => navigator.serviceWorker?.ready.then(() => undefined)),
    15_000,
    'for the service worker',
  ).catch(() => undefined);
  return page;
}

async function setReference(page: Page, ref: string) {
  await page.getByRole('textbox', { name: 'Image reference' }).fill(ref);
}

interface BerthRun {
  firstViewMs: number;
  pullMs: number;
  longestTaskMs: number;
  longTasks: number;
  indexMs: number;
  /** Longest main-thread task while the layer was being listed. */
  longestIndexTaskMs: number;
  indexEntries: number;
  exportMs: number;
  exportBytes: number;
}

/** One fresh profile: first view (Inspect), pull, index of the largest layer, export. */
export async function berthRun(env: Env): Promise<BerthRun> {
  const run = await launchRun();
  try {
    const page = await openApp(run, env);
    const { big, view } = env.images;

    await setReference(page, view.ref);
    const firstView = await timeUntil(
      page,
      'history',
      () => page.getByRole('button', { name: 'Inspect' }).click(),
      60_000,
    );

    await setReference(page, big.ref);
    const pull = await timeUntil(
      page,
      'pulled',
      () => page.getByRole('button', { name: 'Pull', exact: true }).click(),
      600_000,
    );
    const tasks = await longTasks(page, pull.clickedAt, pull.doneAt);

    const largest = big.layers.reduce((a, b, i) => (b.size > big.layers[a]!.size ? i : a), 0);
    const index = await timeUntil(
      page,
      'listed',
      () => page.getByRole('button', { name: `Browse layer ${largest + 1}` }).click(),
      600_000,
    );
    const indexTasks = await longTasks(page, index.clickedAt, index.doneAt);
    const stored = await storedIndex(page, big.layers[largest]!.digest);
    if (!stored || stored.diffID !== big.layers[largest]!.diffID) {
      throw new Error(`the index of layer ${largest + 1} is not stored: ${JSON.stringify(stored)}`);
    }

    const started = performance.now();
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 600_000 }),
      page.getByRole('button', { name: 'Download OCI archive' }).click(),
    ]);
    const file = await download.path();
    const exportMs = performance.now() - started;
    const exportBytes = (await fileStat(file)).size;
    const blobs = big.layers.reduce((n, l) => n + l.size, 0);
    if (exportBytes < blobs) {
      throw new Error(`the archive has ${exportBytes} bytes, its layers alone ${blobs}`);
    }
    await rm(file, { force: true });

    return {
      firstViewMs: firstView.ms,
      pullMs: pull.ms,
      longestTaskMs: Math.max(0, ...tasks.map((t) => t.duration)),
      longTasks: tasks.length,
      indexMs: index.ms,
      longestIndexTaskMs: Math.max(0, ...indexTasks.map((t) => t.duration)),
      indexEntries: stored.entries,
      exportMs,
      exportBytes,
    };
  } finally {
    await run.close();
  }
}

/** The layer index Berth stored for a digest, read from its IndexedDB. */
export function storedIndex(page: Page, digest: string) {
  return page.evaluate(
    (d) =>
      new Promise<{ diffID: string; entries: number } | undefined>((resolve, reject) => {
        const req = indexedDB.open('berth');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const get = db.transaction('layerIndexes').objectStore('layerIndexes').get(d);
          get.onsuccess = () => {
            db.close();
            const r = get.result as { diffID: string; entries: number } | undefined;
            resolve(r && { diffID: r.diffID, entries: r.entries });
          };
          get.onerror = () => reject(get.error);
        };
      }),
    digest,
  );
}

/** A pull of one image in a fresh profile with memory sampled throughout. */
async function memoryRun(env: Env, image: PushedImage): Promise<MemoryPeak & { pullMs: number }> {
  const run = await launchRun();
  try {
    const page = await openApp(run, env);
    await setReference(page, image.ref);
    const sampler = await sampleMemory(run);
    const pull = await timeUntil(
      page,
      'pulled',
      () => page.getByRole('button', { name: 'Pull', exact: true }).click(),
      900_000,
    ).catch(async (err: unknown) => {
      await sampler.stop();
      throw err;
    });
    const peak = await sampler.stop();
    return { ...peak, pullMs: pull.ms };
  } finally {
    await run.close();
  }
}

/** The ceiling probe, each shape in a fresh profile: same proxy, same layers, no Berth code.
 * Returns the best time of the shapes. */
export async function ceilingRun(env: Env, shapes: CeilingShape[]): Promise<number> {
  let best: { ms: number; shape: CeilingShape } | undefined;
  for (const shape of shapes) {
    const ms = await ceilingShapeRun(env, shape);
    if (!best || ms < best.ms) best = { ms, shape };
  }
  const { parallel, pieceMiB, prefetch } = best!.shape;
  ceilingWinners.push(`parallel ${parallel}, ${pieceMiB} MiB pieces, prefetch ${prefetch}`);
  return best!.ms;
}

async function ceilingShapeRun(env: Env, shape: CeilingShape): Promise<number> {
  const run = await launchRun();
  try {
    const { page } = run;
    await page.goto(`${env.server.url}/ceiling.html`);
    await page.waitForFunction(() => 'runCeiling' in window);
    const params: CeilingParams = {
      proxy: `/proxy/${env.registry.host}`,
      repository: env.images.big.repository,
      layers: env.images.big.layers.map((l) => ({ digest: l.digest, size: l.size })),
      ...shape,
    };
    return await withTimeout(
      page.evaluate(
        (p) =>
          (window as unknown as { runCeiling(p: CeilingParams): Promise<number> }).runCeiling(p),
        params,
      ),
      600_000,
      'for the ceiling probe',
    );
  } finally {
    await run.close();
  }
}

// ---------------------------------------------------------------------------------------
// The machine

async function versionOf(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await runCommand(cmd, args, { timeoutMs: 10_000 });
    return (stdout || stderr).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

async function describeMachine() {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return {
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type(),
    kernel: os.release(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    chromium: await versionOf('/usr/bin/chromium', ['--version']),
    skopeo: await versionOf('skopeo', ['--version']),
    registry: await versionOf('docker-registry', ['--version']),
    tar: await versionOf('tar', ['--version']),
    gzip: await versionOf('gzip', ['--version']),
  };
}

// ---------------------------------------------------------------------------------------
// Output

function show(v: number, unit: Row['unit']): string {
  if (unit === 's') return `${(v / 1000).toFixed(2)} s`;
  if (unit === 'ms') return `${Math.round(v)} ms`;
  if (unit === 'B') return `${v.toFixed(1)} B`;
  if (unit === 'n') return `${Math.round(v)}`;
  return `${v.toFixed(1)} MiB`;
}

export function table(rows: Row[]): string {
  const lines = [
    '| metric | Berth | reference | ratio | target |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const ref = r.reference ? `${show(r.reference.median, r.unit)} (${r.reference.name})` : '–';
    const ratio = r.ratio ? r.ratio.median.toFixed(2) : '–';
    const target = r.target?.label
      ? `${r.target.label} ${r.met ? '✓' : '✗'}`
      : r.target
        ? `${r.target.of === 'ratio' ? 'ratio' : 'Berth'} ≤ ${r.target.max}${r.target.of === 'berth' ? ` ${r.unit}` : ''} ${r.met ? '✓' : '✗'}`
        : 'reported';
    const berth =
      (r.id.startsWith('longest-task') || r.id.includes('-tasks-')) && r.berth.median === 0
        ? 'none ≥ 50 ms'
        : show(r.berth.median, r.unit);
    lines.push(`| ${r.metric} | ${berth} | ${ref} | ${ratio} | ${target} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------

export async function bench(opts: Options) {
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  const onSignal = () => {
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const began = performance.now();
  try {
    await fileStat(join(ROOT, 'dist', 'index.html')).catch(() => {
      throw new Error('dist/index.html not found: run `vite build` first (npm run bench does)');
    });
    const work = await mkdtemp(join(os.tmpdir(), 'berth-bench-'));
    stops.push(() => rm(work, { recursive: true, force: true }));
    const registry = await startRegistry();
    stops.push(() => registry.stop());

    const base = opts.cases.includes('base');
    if (base) log(`building images from /usr (${opts.small ? 'small' : 'full size'})…`);
    const sizes = opts.small ? SMALL_SIZES : FULL_SIZES;
    const images = base
      ? await buildImages({ registry, work, sizes, skipMemory: opts.skipMemory, log })
      : NO_IMAGES;
    if (base)
      log(`images built and pushed in ${((performance.now() - began) / 1000).toFixed(0)} s`);

    // The app as built, plus the probe page, served by the server `npm start` runs: the probe
    // is same-origin with the proxy, as the app is.
    const dist = join(work, 'dist');
    await cp(join(ROOT, 'dist'), dist, { recursive: true });
    await cp(join(ROOT, 'bench', 'ceiling.html'), join(dist, 'ceiling.html'));
    await build({
      entryPoints: [join(ROOT, 'bench', 'ceiling.ts')],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      outfile: join(dist, 'ceiling.js'),
      logLevel: 'error',
    });
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: dist,
      insecureRegistries: [registry.host],
      warn: log,
    });
    stops.push(() => server.close());
    const env: Env = { server, registry, images, work };

    const berth: BerthRun[] = [];
    const skopeoPull: number[] = [];
    const skopeoExport: number[] = [];
    const tarList: number[] = [];
    let tarEntries = 0;
    const ceiling: number[] = [];
    const mid: (MemoryPeak & { pullMs: number })[] = [];
    const huge: (MemoryPeak & { pullMs: number })[] = [];
    const big = images.big;
    const largest = big.layers.reduce((a, b) => (b.size > a.size ? b : a));

    const references = async () => {
      const oci = join(work, 'skopeo-oci');
      const archive = join(work, 'skopeo.tar');
      skopeoPull.push(
        (await skopeo(['copy', '--src-tls-verify=false', `docker://${big.ref}`, `oci:${oci}:v1`]))
          .ms,
      );
      skopeoExport.push((await skopeo(['copy', `oci:${oci}:v1`, `oci-archive:${archive}`])).ms);
      const list = await timed('tar', ['-tzf', largest.path]);
      tarList.push(list.ms);
      tarEntries = list.lines;
      await rm(oci, { recursive: true, force: true });
      await rm(archive, { force: true });
    };

    for (let i = 0; i < (base ? opts.runs : 0); i++) {
      log(`run ${i + 1} of ${opts.runs}`);
      // Alternate the order, so neither side always runs on a warmer machine.
      const steps = [
        async () => void berth.push(await berthRun(env)),
        references,
        // --small (the smoke test) tries one shape: the shapes are for a real measurement.
        async () =>
          void ceiling.push(await ceilingRun(env, opts.small ? CEILING.slice(-1) : CEILING)),
      ];
      for (const step of i % 2 ? steps.reverse() : steps) await step();
      const b = berth.at(-1)!;
      log(
        `  Berth: pull ${(b.pullMs / 1000).toFixed(2)} s, index ${(b.indexMs / 1000).toFixed(2)} s, ` +
          `export ${(b.exportMs / 1000).toFixed(2)} s, first view ${b.firstViewMs.toFixed(0)} ms; ` +
          `skopeo ${(skopeoPull.at(-1)! / 1000).toFixed(2)} s, ceiling ${(ceiling.at(-1)! / 1000).toFixed(2)} s`,
      );
      if (!opts.skipMemory) {
        mid.push(await memoryRun(env, images.mid));
        huge.push(await memoryRun(env, images.huge!));
        log(
          `  heap: ${(mid.at(-1)!.heapBytes / MiB).toFixed(1)} MiB (one ${(largest.size / 1e6).toFixed(0)} MB layer), ` +
            `${(huge.at(-1)!.heapBytes / MiB).toFixed(1)} MiB (${(images.huge!.layers[0]!.size / 1e6).toFixed(0)} MB)`,
        );
      }
    }

    const totalMB = big.layers.reduce((n, l) => n + l.size, 0) / 1e6;
    const shape = `${big.layers.length} layers, ${totalMB.toFixed(0)} MB`;
    const rows: Row[] = [
      row({
        id: 'pull-skopeo',
        metric: `Pull (${shape})`,
        unit: 's',
        berth: stat(berth.map((b) => b.pullMs)),
        reference: { name: 'skopeo copy docker:// oci:', ...stat(skopeoPull) },
        pairwise: true,
        target: { of: 'ratio', max: 2.5 },
      }),
      row({
        id: 'pull-ceiling',
        metric: `Pull (${shape})`,
        unit: 's',
        berth: stat(berth.map((b) => b.pullMs)),
        reference: { name: 'ceiling probe', ...stat(ceiling) },
        pairwise: true,
        target: { of: 'ratio', max: 1.15 },
      }),
      row({
        id: 'index',
        metric: `Index largest layer (${(largest.size / 1e6).toFixed(0)} MB gzip, ${(largest.tarSize / 1e6).toFixed(0)} MB tar, ${tarEntries} entries)`,
        unit: 's',
        berth: stat(berth.map((b) => b.indexMs)),
        reference: { name: 'tar -tzf', ...stat(tarList) },
        pairwise: true,
        target: { of: 'ratio', max: 1.5 },
        ...(berth.some((b) => b.indexEntries !== tarEntries)
          ? {
              note: `Berth indexed ${berth.map((b) => b.indexEntries).join(', ')} entries, tar lists ${tarEntries}`,
            }
          : {}),
      }),
      row({
        id: 'export',
        metric: `Export OCI archive (${((berth[0]?.exportBytes ?? 0) / 1e6).toFixed(0)} MB)`,
        unit: 's',
        berth: stat(berth.map((b) => b.exportMs)),
        reference: { name: 'skopeo copy oci: oci-archive:', ...stat(skopeoExport) },
        pairwise: true,
        target: { of: 'ratio', max: 0.75 },
      }),
    ];
    if (base && !opts.skipMemory) {
      const hugeMB = (images.huge!.layers[0]!.size / 1e6).toFixed(0);
      const midMB = (largest.size / 1e6).toFixed(0);
      rows.push(
        row({
          id: 'heap',
          metric: `Peak JS heap, page + workers, pulling one ${hugeMB} MB layer`,
          unit: 'MiB',
          berth: stat(huge.map((m) => m.heapBytes / MiB)),
          reference: { name: `one ${midMB} MB layer`, ...stat(mid.map((m) => m.heapBytes / MiB)) },
          pairwise: true,
          target: { of: 'berth', max: 64 },
          note: 'ratio: heap for the 1 GiB layer over heap for the smaller one (flat ≈ 1)',
        }),
        row({
          id: 'heap-buffers',
          metric: `Peak JS heap + ArrayBuffers, pulling one ${hugeMB} MB layer`,
          unit: 'MiB',
          berth: stat(huge.map((m) => m.heapWithBuffersBytes / MiB)),
          reference: {
            name: `one ${midMB} MB layer`,
            ...stat(mid.map((m) => m.heapWithBuffersBytes / MiB)),
          },
          pairwise: true,
        }),
        row({
          id: 'rss',
          metric: `Peak browser RSS (all processes), pulling one ${hugeMB} MB layer`,
          unit: 'MiB',
          berth: stat(huge.map((m) => m.rssBytes / MiB)),
          reference: { name: `one ${midMB} MB layer`, ...stat(mid.map((m) => m.rssBytes / MiB)) },
          pairwise: true,
        }),
        row({
          id: 'pss',
          metric: `Peak browser PSS (all processes), pulling one ${hugeMB} MB layer`,
          unit: 'MiB',
          berth: stat(huge.map((m) => m.pssBytes / MiB)),
          reference: { name: `one ${midMB} MB layer`, ...stat(mid.map((m) => m.pssBytes / MiB)) },
          pairwise: true,
          note: 'RSS counts pages shared between processes once per process; PSS divides them',
        }),
        row({
          id: 'pull-huge',
          metric: `Pull one ${hugeMB} MB layer`,
          unit: 's',
          berth: stat(huge.map((m) => m.pullMs)),
        }),
      );
    }
    rows.push(
      row({
        id: 'longest-task',
        metric: `Longest main-thread task during the pull`,
        unit: 'ms',
        berth: stat(berth.map((b) => b.longestTaskMs)),
        target: { of: 'berth', max: 50 },
        note: 'longtask entries are reported from 50 ms: 0 means none',
      }),
      row({
        id: 'longest-task-index',
        metric: 'Longest main-thread task while the largest layer is listed',
        unit: 'ms',
        berth: stat(berth.map((b) => b.longestIndexTaskMs)),
        note: 'longtask entries are reported from 50 ms: 0 means none',
      }),
      row({
        id: 'first-view',
        metric: 'First view: Inspect to config and history shown',
        unit: 'ms',
        berth: stat(berth.map((b) => b.firstViewMs)),
        target: { of: 'berth', max: 300 },
      }),
    );
    // Without the base case, its rows hold nothing measured.
    if (!base) rows.length = 0;

    // The other cases, each built at run time in the work directory, one after the other.
    const caseResults: Record<string, Omit<CaseResult, 'rows'>> = {};
    const ctx: CaseContext = {
      registry,
      server,
      distDir: dist,
      work,
      runs: opts.runs,
      small: opts.small,
      hugeGiB: opts.hugeGiB,
      rttMs: opts.rttMs,
      mbit: opts.mbit,
      log,
    };
    for (const name of opts.cases) {
      if (name === 'base') continue;
      const at = performance.now();
      log(`case ${name}…`);
      const { rows: caseRows, ...rest } = await RUN_CASE[name](ctx);
      rows.push(...caseRows);
      caseResults[name] = rest;
      log(`case ${name} done in ${((performance.now() - at) / 1000).toFixed(0)} s`);
    }

    const result = {
      date: new Date().toISOString(),
      machine: await describeMachine(),
      options: {
        runs: opts.runs,
        small: opts.small,
        skipMemory: opts.skipMemory,
        cases: opts.cases,
        hugeGiB: opts.hugeGiB,
        rttMs: opts.rttMs,
        mbit: opts.mbit,
      },
      settings:
        `Berth defaults (parallel ${defaultParallelBlobs}, pieceMiB 64); ` +
        `the ceiling probe's best of ${CEILING.length} shapes on every core (${ceilingWinners.join('; ')})`,
      images: Object.fromEntries(
        Object.entries(base ? images : {}).map(([k, v]: [string, PushedImage]) => [
          k,
          { digest: v.digest, layers: v.layers.map(({ path: _p, ...l }) => l) },
        ]),
      ),
      rows,
      raw: { berth, skopeoPull, skopeoExport, tarList, tarEntries, ceiling, mid, huge },
      cases: caseResults,
      seconds: Math.round((performance.now() - began) / 1000),
    };
    await mkdir(dirname(opts.out), { recursive: true });
    const json = JSON.stringify(result, null, 2);
    const config = (await resolveConfig(opts.out)) ?? {};
    await writeFile(opts.out, await format(json, { ...config, filepath: opts.out }));
    console.log(table(rows));
    log(`wrote ${opts.out} (${result.seconds} s)`);
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

const entry = process.argv[1];
if (entry && resolve(entry) === fileURLToPath(import.meta.url)) {
  bench(parseOptions(process.argv.slice(2))).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
