// Comparing two images' files (issue 16): two images of 100k entries, and two of a million,
// whose indexes are in the layers worker (as once listed or read back), compared in a worker
// while the page's main thread is watched for long tasks and every thread's heap is sampled.
// The reference, from the same run and the same worker, is the merged tree of one of the two
// images: what opening it in the file browser builds.
//
// The images: a base of three fifths of the entries both share (one layer, one diffID), and a
// layer b rebuilt (its own diffID: every file there of an unchanged size is pending until
// hashed, as in a real rebuild), with one file in 97 grown; b adds a layer of whiteouts, an
// opaque directory and a thousand new files.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import {
  launchRun,
  sampleMemory,
  taskSummary,
  type MemoryPeak,
  type TaskSummary,
} from './browser.ts';
import { MiB, type CaseContext, type CaseResult } from './cases.ts';
import { row, stat, type Row } from './run.ts';

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Berth bench: compare two images' files</title>
    <script type="module" src="/compare-bench.js"></script>
  </head>
  <body><p>Compares two images' files in a worker.</p></body>
</html>
`;

interface Step {
  ms: number;
  from: number;
  to: number;
  [k: string]: unknown;
}

interface CompareRun {
  entries: number;
  prepareMs: number;
  compareMs: number;
  decideMs: number;
  referenceMs: number;
  compareTasks: TaskSummary;
  decideTasks: TaskSummary;
  compareMemory?: MemoryPeak;
  referenceMemory?: MemoryPeak;
  summary: unknown;
}

async function step(page: Page, msg: unknown): Promise<Step> {
  return page.evaluate(
    (m) => (window as unknown as { benchCompare(m: unknown): Promise<Step> }).benchCompare(m),
    msg,
  );
}

async function once(ctx: CaseContext, entries: number, memory: boolean): Promise<CompareRun> {
  const run = await launchRun();
  try {
    const { page } = run;
    await page.goto(`${ctx.server.url}/compare-bench.html`);
    await page.waitForFunction(() => 'benchCompare' in window);
    const prepared = await step(page, { op: 'prepare', entries });
    const sampler = memory ? await sampleMemory(run) : undefined;
    const compared = await step(page, { op: 'compare' });
    const compareMemory = await sampler?.stop();
    const decided = await step(page, { op: 'decide' });
    const refSampler = memory ? await sampleMemory(run) : undefined;
    const reference = await step(page, { op: 'reference' });
    const referenceMemory = await refSampler?.stop();
    return {
      entries: (prepared.a as number) + (prepared.b as number),
      prepareMs: prepared.ms,
      compareMs: compared.ms,
      decideMs: decided.ms,
      referenceMs: reference.ms,
      compareTasks: await taskSummary(page, compared.from, compared.to),
      decideTasks: await taskSummary(page, decided.from, decided.to),
      ...(compareMemory ? { compareMemory } : {}),
      ...(referenceMemory ? { referenceMemory } : {}),
      summary: compared.summary,
    };
  } finally {
    await run.close();
  }
}

export async function compareCase(ctx: CaseContext): Promise<CaseResult> {
  await writeFile(join(ctx.distDir, 'compare-bench.html'), PAGE);
  const common = { bundle: true, format: 'esm', target: 'es2022', logLevel: 'error' } as const;
  await build({
    ...common,
    entryPoints: [join(import.meta.dirname, 'compare-page.ts')],
    outfile: join(ctx.distDir, 'compare-bench.js'),
  });
  await build({
    ...common,
    entryPoints: [join(import.meta.dirname, 'compare-worker.ts')],
    outfile: join(ctx.distDir, 'compare-bench-worker.js'),
  });
  const small = ctx.small ? 10_000 : 100_000;
  const large = ctx.small ? 50_000 : 1_000_000;
  const smallRuns: CompareRun[] = [];
  const largeRuns: CompareRun[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    smallRuns.push(await once(ctx, small, false));
    largeRuns.push(await once(ctx, large, true));
    ctx.log(
      `compare run ${i + 1}: ${small} entries ${smallRuns.at(-1)!.compareMs.toFixed(0)} ms ` +
        `(merged tree ${smallRuns.at(-1)!.referenceMs.toFixed(0)} ms), ${large} entries ` +
        `${largeRuns.at(-1)!.compareMs.toFixed(0)} ms (merged tree ${largeRuns.at(-1)!.referenceMs.toFixed(0)} ms)`,
    );
  }
  const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
  const what = (runs: CompareRun[], n: number) =>
    `two ${label(n)}-entry images (${runs[0]!.entries} entries in all)`;
  const rows: Row[] = [
    row({
      id: 'compare-files-small',
      metric: `${what(smallRuns, small)}: files compared, indexes in the worker to the summary`,
      unit: 'ms',
      berth: stat(smallRuns.map((r) => r.compareMs)),
      reference: { name: 'merged tree of one image', ...stat(smallRuns.map((r) => r.referenceMs)) },
      pairwise: true,
      target: { of: 'berth', max: 1000 },
      note: 'reading the stored indexes from IndexedDB is not counted: the tree reopen rows time it',
    }),
    row({
      id: 'compare-files-large',
      metric: `${what(largeRuns, large)}: files compared, indexes in the worker to the summary`,
      unit: 'ms',
      berth: stat(largeRuns.map((r) => r.compareMs)),
      reference: { name: 'merged tree of one image', ...stat(largeRuns.map((r) => r.referenceMs)) },
      pairwise: true,
    }),
    row({
      id: 'compare-decide-large',
      metric: `${what(largeRuns, large)}: deciding every pending file once hashed (hashing not counted)`,
      unit: 'ms',
      berth: stat(largeRuns.map((r) => r.decideMs)),
      reference: { name: 'files compared', ...stat(largeRuns.map((r) => r.compareMs)) },
      pairwise: true,
      note: `pending files per run: ${largeRuns.map((r) => (r.summary as { pending: number }).pending).join(', ')}`,
    }),
    row({
      id: 'compare-tasks-large',
      metric: `${what(largeRuns, large)}: longest main-thread task while comparing and deciding`,
      unit: 'ms',
      berth: stat(
        largeRuns.map((r) => Math.max(r.compareTasks.longestMs, r.decideTasks.longestMs)),
      ),
      target: { of: 'berth', max: 50 },
      note: `long tasks per run: ${largeRuns.map((r) => r.compareTasks.count + r.decideTasks.count).join(', ')}; the API reports tasks from 50 ms`,
    }),
    row({
      id: 'compare-heap-large',
      metric: `${what(largeRuns, large)}: peak JS heap, page + workers, comparing`,
      unit: 'MiB',
      berth: stat(largeRuns.map((r) => r.compareMemory!.heapBytes / MiB)),
      reference: {
        name: 'merged tree of one image',
        ...stat(largeRuns.map((r) => r.referenceMemory!.heapBytes / MiB)),
      },
      pairwise: true,
      target: { of: 'berth', max: 128 },
      note: `with ArrayBuffers (the typed arrays of indexes and trees): ${largeRuns
        .map((r) => (r.compareMemory!.heapWithBuffersBytes / MiB).toFixed(0))
        .join(', ')} MiB; the merged tree's: ${largeRuns
        .map((r) => (r.referenceMemory!.heapWithBuffersBytes / MiB).toFixed(0))
        .join(', ')} MiB`,
    }),
  ];
  return {
    rows,
    fixture: { small, large, layout: 'base of 3/5 shared, a rebuilt layer, whiteouts, 1000 added' },
    raw: { small: smallRuns, large: largeRuns },
  };
}
