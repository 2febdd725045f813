// What the scale, huge, shared and latency cases share: their context, the user's steps in
// Berth (pull, browse, pick a view, search, scroll), memory per phase, long tasks, storage.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Page } from 'playwright-core';
import type { RunningServer } from '../proxy/server.ts';
import type { Registry } from '../test/harness/registry.ts';
import {
  sampleMemory,
  taskSummary,
  timeUntil,
  type MemoryPeak,
  type Run,
  type TaskSummary,
} from './browser.ts';
import type { Row } from './run.ts';
import { NAMES, SELECTORS } from './selectors.ts';
import { settingsKey } from '../src/state/settings.ts';

export interface CaseContext {
  registry: Registry;
  /** Berth's server and proxy, serving the built app. */
  server: RunningServer;
  /** The app as built, for a case that starts its own server. */
  distDir: string;
  /** Removed after the run. */
  work: string;
  runs: number;
  small: boolean;
  hugeGiB: number;
  rttMs: number;
  mbit: number;
  log: (line: string) => void;
}

export interface CaseResult {
  rows: Row[];
  /** What was built, for the JSON. */
  fixture: Record<string, unknown>;
  raw: unknown;
}

export const MiB = 1 << 20;

/**
 * Opens the app. `listAfterPull` turns off the setting that lists each layer while the pull
 * stores it, for cases that time the listing on its own (and the index's growth while it runs).
 */
export async function openApp(page: Page, url: string, { listAfterPull = false } = {}) {
  await page.goto(url);
  await page.getByRole('textbox', { name: NAMES.reference }).waitFor();
  if (listAfterPull) {
    await page.evaluate((key) => {
      const saved = JSON.parse(localStorage.getItem(key) ?? '{}') as Record<string, unknown>;
      localStorage.setItem(key, JSON.stringify({ ...saved, indexWhilePulling: false }));
    }, settingsKey);
    await page.reload();
    await page.getByRole('textbox', { name: NAMES.reference }).waitFor();
  }
  await page
    .evaluate(() =>
      Promise.race([
        navigator.serviceWorker?.ready.then(() => undefined),
        new Promise((r) => setTimeout(r, 15_000)),
      ]),
    )
    .catch(() => undefined);
}

/** Runs one phase with memory sampled throughout. */
export async function withMemory<T>(
  run: Run,
  fn: () => Promise<T>,
): Promise<{ value: T; memory: MemoryPeak }> {
  const sampler = await sampleMemory(run);
  let value: T;
  try {
    value = await fn();
  } catch (err) {
    await sampler.stop().catch(() => undefined);
    throw err;
  }
  return { value, memory: await sampler.stop() };
}

/** The larger of two peaks, field by field. */
export function maxPeak(...peaks: MemoryPeak[]): MemoryPeak {
  const keys = ['heapBytes', 'heapWithBuffersBytes', 'rssBytes', 'pssBytes'] as const;
  const out = { ...peaks[0]! };
  for (const p of peaks) for (const k of keys) out[k] = Math.max(out[k], p[k]);
  out.samples = peaks.reduce((n, p) => n + p.samples, 0);
  out.workers = Math.max(...peaks.map((p) => p.workers));
  return out;
}

export interface Timed {
  ms: number;
  tasks: TaskSummary;
}

/** Time with the long tasks of the same window. */
async function timedStep(
  page: Page,
  step: Promise<{ ms: number; clickedAt: number; doneAt: number }>,
): Promise<Timed> {
  const t = await step;
  return { ms: t.ms, tasks: await taskSummary(page, t.clickedAt, t.doneAt) };
}

export async function pull(page: Page, ref: string, timeoutMs = 900_000): Promise<Timed> {
  await page.getByRole('textbox', { name: NAMES.reference }).fill(ref);
  return timedStep(
    page,
    timeUntil(
      page,
      'pulled',
      () => page.getByRole('button', { name: NAMES.pull, exact: true }).click(),
      timeoutMs,
      // The notice of an earlier pull may still be shown: wait for this image's.
      { name: ref.slice(ref.indexOf('/') + 1).replace(/:[^:/]*$/, '') },
    ),
  );
}

/** Browse layer n (1-based) until its listing is read and the tree is shown. */
export async function browseLayer(page: Page, n: number, timeoutMs = 900_000): Promise<Timed> {
  return timedStep(
    page,
    timeUntil(
      page,
      'listed',
      () => page.getByRole('button', { name: NAMES.browseLayer(n) }).click(),
      timeoutMs,
    ),
  );
}

/** Picks the merged view until its tree is shown with no layer being read. */
export async function mergedView(page: Page, timeoutMs = 900_000): Promise<Timed> {
  return timedStep(
    page,
    timeUntil(
      page,
      'tree',
      async () => {
        await files(page).getByRole('combobox', { name: NAMES.view }).selectOption(NAMES.merged);
      },
      timeoutMs,
      { label: 'Merged filesystem' },
    ),
  );
}

export const files = (page: Page) => page.locator(SELECTORS.filesRegion);

/** Types a query key by key, as a person does, until the search finished and a row named
 * `expect` is shown. Returns the time from the first key, and how long the typing took. */
export async function search(
  page: Page,
  query: string,
  expect: string,
  timeoutMs = 600_000,
): Promise<Timed & { typingMs: number }> {
  const box = files(page).getByRole('searchbox', { name: NAMES.search });
  await box.fill('');
  await box.focus();
  const t = await timeUntil(page, 'searched', () => box.pressSequentially(query), timeoutMs, {
    name: expect,
  });
  const keys = await page.evaluate(
    (from) =>
      (
        window as unknown as { __bench: { actions: { kind: string; at: number }[] } }
      ).__bench.actions.filter((a) => a.kind === 'key' && a.at >= from),
    t.clickedAt,
  );
  return {
    ms: t.ms,
    typingMs: keys.length ? keys.at(-1)!.at - keys[0]!.at : 0,
    tasks: await taskSummary(page, t.clickedAt, t.doneAt),
  };
}

/** From the tree's first row: PageDown `pages` times, then End, until the last row is drawn. */
export async function scroll(page: Page, pages: number, timeoutMs = 120_000): Promise<Timed> {
  const tree = files(page).locator(SELECTORS.tree);
  await tree.focus();
  await page.keyboard.press('Home');
  return timedStep(
    page,
    timeUntil(
      page,
      'keys',
      async () => {
        for (let i = 0; i < pages; i++) await page.keyboard.press('PageDown');
        await page.keyboard.press('End');
      },
      timeoutMs,
      { count: pages + 1 },
    ),
  );
}

/** Bytes the origin uses, as the page's storage estimate says. */
export function storageUsage(page: Page): Promise<number> {
  return page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
}

/** Bytes under a directory on disk (du -sb). */
export async function diskBytes(dir: string): Promise<number> {
  const du = spawn('du', ['-sb', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  du.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(du, 'close');
  return Number(out.split('\t')[0]) || 0;
}

/** Rows for the long tasks of each phase: the longest, with count and total in the note. */
export function taskRows(
  prefix: string,
  what: string,
  phases: Record<string, TaskSummary[]>,
  stat: (xs: number[]) => { median: number; runs: number[] },
  row: (r: Omit<Row, 'met' | 'ratio'>) => Row,
): Row[] {
  return Object.entries(phases).map(([phase, runs]) =>
    row({
      id: `${prefix}-tasks-${phase}`,
      metric: `${what}: longest main-thread task, ${phase}`,
      unit: 'ms',
      berth: stat(runs.map((t) => t.longestMs)),
      target: { of: 'berth', max: 50 },
      note:
        `long tasks per run: ${runs.map((t) => `${t.count} (${Math.round(t.totalMs)} ms)`).join(', ')}; ` +
        'the API reports tasks from 50 ms, so the issue\u2019s 16 ms bound is judged at 50',
    }),
  );
}
