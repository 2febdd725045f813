// A tiny run of the benchmark (small image, one run of each metric), so `npm run bench` does
// not rot. It checks the JSON has every metric with sane numbers; no timing is asserted. The
// scale, huge, shared and latency cases run too, at tiny sizes (2,002 entries, an 8 MiB layer).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import type { Row } from '../../bench/run.ts';
import { run } from '../harness/process.ts';

const work = await mkdtemp(join(tmpdir(), 'berth-bench-smoke-'));
afterAll(() => rm(work, { recursive: true, force: true }));

const METRICS = [
  'pull-skopeo',
  'pull-ceiling',
  'index',
  'export',
  'heap',
  'heap-buffers',
  'rss',
  'pss',
  'pull-huge',
  'longest-task',
  'longest-task-index',
  'first-view',
];

test('bench --small runs every metric once and writes the JSON', { timeout: 60_000 }, async () => {
  const out = join(work, 'result.json');
  const { stdout } = await run(
    'npx',
    ['tsx', 'bench/run.ts', '--small', '--runs', '1', '--cases', 'base', '--out', out],
    { timeoutMs: 55_000 },
  );
  const result = JSON.parse(await readFile(out, 'utf8')) as {
    machine: { cores: number; chromium: string };
    rows: Row[];
  };
  expect(result.machine.cores).toBeGreaterThan(0);
  expect(result.machine.chromium).toMatch(/Chromium \d+/);
  expect(result.rows.map((r) => r.id)).toEqual(METRICS);
  for (const r of result.rows) {
    const values = [...r.berth.runs, ...(r.reference?.runs ?? []), ...(r.ratio?.runs ?? [])];
    expect(r.berth.runs, `${r.id}: one run`).toHaveLength(1);
    for (const v of values) {
      expect(Number.isFinite(v), `${r.id}: ${v} is a number`).toBe(true);
      // A long task is reported from 50 ms, so none is 0; everything else took time or memory.
      if (r.id.startsWith('longest-task')) expect(v, r.id).toBeGreaterThanOrEqual(0);
      else expect(v, r.id).toBeGreaterThan(0);
    }
    if (r.target) expect(typeof r.met, `${r.id}: target judged`).toBe('boolean');
    expect(stdout).toContain(`| ${r.metric} |`);
  }
  // Not nonsense: a pull takes less than a minute and the heap is neither empty nor gigabytes.
  const byId = new Map(result.rows.map((r) => [r.id, r]));
  expect(byId.get('pull-skopeo')!.berth.median).toBeLessThan(60_000);
  expect(byId.get('heap')!.berth.median).toBeGreaterThan(0.5);
  expect(byId.get('heap')!.berth.median).toBeLessThan(1024);
});

const TASKS = (prefix: string, phases: string[]) => phases.map((p) => `${prefix}-tasks-${p}`);
const CASE_METRICS = [
  'scale-list',
  'scale-merged',
  'scale-reopen',
  'scale-search',
  'scale-scroll',
  'scale-heap-browse',
  'scale-heap-pull',
  'scale-heap-reopen',
  'scale-rss',
  'scale-pss',
  'scale-idb',
  ...TASKS('scale', ['pull', 'listing', 'merge', 'search', 'scroll', 'reopen']),
  'huge-pull',
  'huge-list',
  'huge-open-last-early',
  'huge-checkpoints',
  'huge-open-last',
  'huge-heap',
  'huge-rss',
  'huge-export',
  'huge-heap-export',
  ...TASKS('huge', ['pull', 'listing', 'open-early', 'open', 'export']),
  'shared-first',
  'shared-second',
  'shared-merged',
  ...TASKS('shared', ['pull', 'listing', 'merge']),
  'latency-inspect',
  'latency-inspect-serial',
  'latency-view',
  'latency-view-serial',
  'latency-pull',
  'latency-pull-serial',
  'latency-pull-connections',
];

test(
  'bench --small --cases scale,huge,shared,latency runs each case once at tiny sizes',
  { timeout: 300_000 },
  async () => {
    const out = join(work, 'cases.json');
    const { stdout } = await run(
      'npx',
      [
        'tsx',
        'bench/run.ts',
        '--small',
        '--runs',
        '1',
        '--cases',
        'scale,huge,shared,latency',
        '--rtt',
        '10',
        '--out',
        out,
      ],
      { timeoutMs: 290_000 },
    );
    const result = JSON.parse(await readFile(out, 'utf8')) as {
      rows: Row[];
      cases: Record<string, { fixture: Record<string, unknown> }>;
    };
    expect(result.rows.map((r) => r.id)).toEqual(CASE_METRICS);
    expect(Object.keys(result.cases)).toEqual(['scale', 'huge', 'shared', 'latency']);
    for (const r of result.rows) {
      expect(r.berth.runs, `${r.id}: one run`).toHaveLength(1);
      for (const v of [...r.berth.runs, ...(r.reference?.runs ?? [])]) {
        expect(Number.isFinite(v), `${r.id}: ${v} is a number`).toBe(true);
        // No long task is 0; a scroll may end within one frame; everything else took time,
        // memory or requests.
        if (r.id.includes('-tasks-')) expect(v, r.id).toBeGreaterThanOrEqual(0);
        else expect(v, r.id).toBeGreaterThan(0);
      }
      if (r.target) expect(typeof r.met, `${r.id}: target judged`).toBe('boolean');
      expect(stdout).toContain(`| ${r.metric} |`);
    }
    const byId = new Map(result.rows.map((r) => [r.id, r]));
    // tar lists what Berth stored: 2 directories of 1,000 entries.
    expect(result.cases.scale!.fixture.tarEntries).toBe(2002);
    expect(byId.get('scale-list')!.note).toBeUndefined();
    // The second image's pull is timed to its own notice, not the first's.
    expect(byId.get('shared-second')!.berth.median).toBeGreaterThan(0);
    // Over the shaped path, the config needs at least the manifest and the config blob.
    expect(byId.get('latency-view-serial')!.berth.median).toBeGreaterThanOrEqual(2);
    expect(byId.get('latency-view-serial')!.reference!.median).toBeGreaterThanOrEqual(2);
    expect(byId.get('latency-inspect-serial')!.berth.median).toBeGreaterThanOrEqual(2);
  },
);
