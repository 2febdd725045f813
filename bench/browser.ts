// Chromium for the benchmark: one fresh profile per run (on disk, as a user's is: an incognito
// context keeps IndexedDB and its Blobs in memory), a raw DevTools connection that reaches the
// page's dedicated workers, and timing taken inside the page.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocket } from 'undici';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/harness/chromium.ts';
import { PULLED_PREFIX, SELECTORS } from './selectors.ts';

type Json = Record<string, unknown>;

/** A DevTools protocol client over the browser's WebSocket, in flat session mode: Playwright's
 * CDPSession cannot address the sessions of a page's workers. */
export class Cdp {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  #listeners = new Set<(method: string, params: Json, sessionId?: string) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data)) as {
        id?: number;
        method?: string;
        params?: Json;
        result?: Json;
        error?: { message: string };
        sessionId?: string;
      };
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error) p?.reject(new Error(m.error.message));
        else p?.resolve(m.result ?? {});
      } else if (m.method) {
        for (const l of this.#listeners) l(m.method, m.params ?? {}, m.sessionId);
      }
    });
    ws.addEventListener('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('DevTools connection closed'));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
    });
    return new Cdp(ws);
  }

  send<T = Json>(method: string, params: Json = {}, sessionId?: string): Promise<T> {
    const id = ++this.#id;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: Json) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(listener: (method: string, params: Json, sessionId?: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close() {
    this.#ws.close();
  }
}

export interface Run {
  context: BrowserContext;
  page: Page;
  cdp: Cdp;
  /** Where the browser puts downloads. */
  downloads: string;
  browserPid: number;
  /** The profile directory (its IndexedDB is under it). */
  profile: string;
  close(): Promise<void>;
}

/** Launches Chromium on a new, empty profile. */
export async function launchRun(): Promise<Run> {
  const profile = await mkdtemp(join(tmpdir(), 'berth-bench-profile-'));
  const downloads = await mkdtemp(join(tmpdir(), 'berth-bench-downloads-'));
  let context: BrowserContext | undefined;
  let cdp: Cdp | undefined;
  const close = async () => {
    cdp?.close();
    await context?.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
    await rm(downloads, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, '--remote-debugging-port=0'],
      acceptDownloads: true,
      downloadsPath: downloads,
      timeout: 60_000,
    });
    const [port, path] = (await readFile(join(profile, 'DevToolsActivePort'), 'utf8')).split('\n');
    cdp = await Cdp.connect(`ws://127.0.0.1:${port}${path}`);
    const { processInfo } = await cdp.send<{ processInfo: { type: string; id: number }[] }>(
      'SystemInfo.getProcessInfo',
    );
    const browserPid = processInfo.find((p) => p.type === 'browser')?.id;
    if (browserPid === undefined) throw new Error('no browser process in SystemInfo');
    const page = context.pages()[0] ?? (await context.newPage());
    // tsx compiles with keepNames: functions sent to the page may call esbuild's __name.
    await instrumentPage(page);
    return { context, page, cdp, downloads, browserPid, profile, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Inside the page

interface BenchState {
  longTasks: { start: number; duration: number }[];
  /** What the user did: button clicks (an Enter in a form clicks its submit button), keys,
   * changes of a select or input, each with the event's own timestamp. */
  actions: { kind: string; name: string; at: number }[];
  clicks: { name: string; at: number }[];
  waiting?: Promise<number>;
  /** Checks the armed condition again (after a key that may change nothing in the DOM). */
  recheck?: () => void;
  arm(condition: Condition, arg?: ConditionArg): void;
}

/** What the page must show before a wait ends:
 * - pulled: the "Pulled …" notice (arg.name: one that names this image);
 * - app: the app is ready for a reference (the home view);
 * - listed: a layer was read (its "Reading" notice seen, then gone) and the tree is shown;
 * - history: the config's history table;
 * - tree: a tree with at least one row, no layer being read (arg.label: the tree's name);
 * - searched: no search running and a row named arg.name shown;
 * - viewer: the file viewer shows arg.text;
 * - keys: arg.count keys were pressed since the wait began and the selected row is drawn. */
export type Condition =
  'pulled' | 'listed' | 'history' | 'tree' | 'searched' | 'viewer' | 'keys' | 'app';
export interface ConditionArg {
  label?: string;
  name?: string;
  text?: string;
  count?: number;
}

/** Runs in the page before its own scripts: records long tasks and what the user does (the
 * event's own timestamp), and can wait for a state of the page with a MutationObserver,
 * resolving with the time the DOM got there. */
function instrument(sel: Selectors) {
  const state: BenchState = {
    longTasks: [],
    actions: [],
    clicks: [],
    arm(condition, arg = {}) {
      const files = () => document.querySelector(sel.filesRegion);
      const keysBefore = state.actions.filter((a) => a.kind === 'key').length;
      const noReading = () => !files()?.querySelector(sel.reading);
      const checks: Record<Condition, () => boolean> = {
        pulled: () =>
          [...document.querySelectorAll(sel.notice)].some((n) => {
            const text = (n.textContent ?? '').trim();
            return text.startsWith(sel.pulledPrefix) && text.includes(arg.name ?? '');
          }),
        app: () => document.querySelector(sel.appReady) !== null,
        listed: () => {
          const f = files();
          if (!f) return false;
          if (f.querySelector(sel.reading)) {
            seenReading = true;
            return false;
          }
          return seenReading && f.querySelector(sel.tree) !== null;
        },
        history: () => document.querySelector(sel.anySummary)?.querySelector(sel.history) != null,
        tree: () => {
          const tree = files()?.querySelector(sel.tree);
          if (!tree || !noReading()) return false;
          if (arg.label !== undefined && tree.getAttribute('aria-label') !== arg.label)
            return false;
          return tree.querySelector(sel.treeItem) !== null;
        },
        searched: () => {
          const f = files();
          if (!f || f.querySelector(sel.searching)) return false;
          return [...f.querySelectorAll(sel.treeItem)].some(
            (i) => i.getAttribute('aria-label') === arg.name,
          );
        },
        viewer: () =>
          [...document.querySelectorAll(sel.viewer)].some((v) =>
            (v.textContent ?? '').includes(arg.text ?? ''),
          ),
        keys: () => {
          const keys = state.actions.filter((a) => a.kind === 'key').length - keysBefore;
          if (keys < (arg.count ?? 1)) return false;
          const id = files()?.querySelector(sel.tree)?.getAttribute('aria-activedescendant');
          return id ? document.getElementById(id) !== null : false;
        },
      };
      let seenReading = false;
      state.waiting = new Promise<number>((resolve, reject) => {
        const check = () => {
          const alert = document.querySelector(sel.alert);
          if (alert) {
            observer.disconnect();
            reject(new Error(`the page shows an error: ${alert.textContent?.trim()}`));
          } else if (checks[condition]()) {
            const at = performance.now();
            observer.disconnect();
            resolve(at);
          }
        };
        const observer = new MutationObserver(check);
        state.recheck = check;
        observer.observe(document, {
          subtree: true,
          childList: true,
          characterData: true,
          attributes: true,
        });
        check();
      });
    },
  };
  (window as unknown as { __bench: BenchState }).__bench = state;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      state.longTasks.push({ start: e.startTime, duration: e.duration });
    }
  }).observe({ type: 'longtask', buffered: true });
  document.addEventListener(
    'click',
    (e) => {
      const button = (e.target as Element | null)?.closest?.('button');
      if (button) {
        const name = button.getAttribute('aria-label') ?? button.textContent?.trim() ?? '';
        state.clicks.push({ name, at: e.timeStamp });
        state.actions.push({ kind: 'click', name, at: e.timeStamp });
      }
    },
    true,
  );
  document.addEventListener(
    'keydown',
    (e) => {
      state.actions.push({ kind: 'key', name: e.key, at: e.timeStamp });
      // A key that moves nothing (End on the last row) changes no DOM: look again after it.
      setTimeout(() => state.recheck?.(), 0);
    },
    true,
  );
  document.addEventListener(
    'change',
    (e) =>
      state.actions.push({
        kind: 'change',
        name: (e.target as HTMLSelectElement | null)?.value ?? '',
        at: e.timeStamp,
      }),
    true,
  );
}

const INSTRUMENT_ARG = { ...SELECTORS, pulledPrefix: PULLED_PREFIX };
type Selectors = typeof INSTRUMENT_ARG;

/** Instruments a page opened after launchRun (a second page of the same profile). With
 * armAtStart, the wait is armed before the page's own scripts run: timeUntilArmed then times
 * from the navigation's start. */
export async function instrumentPage(page: Page, armAtStart?: [Condition, ConditionArg?]) {
  await page.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
  await page.addInitScript(instrument, INSTRUMENT_ARG);
  if (armAtStart) {
    await page.addInitScript(
      ([c, a]) => (window as unknown as { __bench: BenchState }).__bench.arm(c, a),
      armAtStart,
    );
  }
}

/** Waits for the condition armed at the page's start; milliseconds from navigation start. */
export async function timeArmed(page: Page, timeoutMs: number, what: string): Promise<number> {
  return await withTimeout(
    page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.waiting!),
    timeoutMs,
    `waiting for ${what}`,
  );
}

/** Presses a button (or types, or picks) and times, inside the page, from the first user
 * action that follows until the condition holds. Returns milliseconds and the action's
 * timestamp. */
export async function timeUntil(
  page: Page,
  condition: Condition,
  press: () => Promise<void>,
  timeoutMs: number,
  arg?: ConditionArg,
): Promise<{ ms: number; clickedAt: number; doneAt: number }> {
  const before = await page.evaluate(
    ([c, a]) => {
      const b = (window as unknown as { __bench: BenchState }).__bench;
      b.arm(c, a);
      return b.actions.length;
    },
    [condition, arg] as const,
  );
  await press();
  const doneAt = await withTimeout(
    page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.waiting!),
    timeoutMs,
    `waiting for "${condition}"`,
  );
  const action = await page.evaluate(
    (n) => (window as unknown as { __bench: BenchState }).__bench.actions[n],
    before,
  );
  if (!action) throw new Error('the action was not seen by the page');
  return { ms: doneAt - action.at, clickedAt: action.at, doneAt };
}

/** Arms a condition now and waits for it; the page's time it held (at once if it already did). */
export async function waitFor(
  page: Page,
  condition: Condition,
  timeoutMs: number,
  arg?: ConditionArg,
): Promise<number> {
  await page.evaluate(
    ([c, a]) => (window as unknown as { __bench: BenchState }).__bench.arm(c, a),
    [condition, arg] as const,
  );
  return withTimeout(
    page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.waiting!),
    timeoutMs,
    `waiting for "${condition}"`,
  );
}

/** The page's time of its actions from index `from` on (to time typing itself). */
export async function actionsSince(page: Page, from: number) {
  return (
    await page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.actions)
  ).slice(from);
}

export async function actionCount(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.actions.length);
}

export interface TaskSummary {
  count: number;
  totalMs: number;
  longestMs: number;
}

/** Count, sum and longest of the long tasks overlapping [from, to]. */
export async function taskSummary(page: Page, from: number, to: number): Promise<TaskSummary> {
  const tasks = await longTasks(page, from, to);
  return {
    count: tasks.length,
    totalMs: tasks.reduce((n, t) => n + t.duration, 0),
    longestMs: Math.max(0, ...tasks.map((t) => t.duration)),
  };
}

/** Long tasks of the main thread that overlap [from, to] (page time). */
export async function longTasks(page: Page, from: number, to: number) {
  const all = await page.evaluate(
    () => (window as unknown as { __bench: BenchState }).__bench.longTasks,
  );
  return all.filter((t) => t.start + t.duration >= from && t.start <= to);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// Memory

export interface MemoryPeak {
  /** Largest sum, at one instant, of the used JS heap of the page and its dedicated workers. */
  heapBytes: number;
  /** The same with ArrayBuffer backing stores, which live outside the V8 heap. */
  heapWithBuffersBytes: number;
  /** Largest sum of VmRSS over the browser's process tree (shared pages counted per process). */
  rssBytes: number;
  /** Largest sum of Pss over the same tree (shared pages divided among their processes). */
  pssBytes: number;
  /** How many workers were seen, and how many samples were taken. */
  workers: number;
  samples: number;
}

/** Samples memory every ~100 ms until stop() is called. */
export async function sampleMemory(run: Run): Promise<{ stop(): Promise<MemoryPeak> }> {
  const { cdp } = run;
  const { targetInfos } = await cdp.send<{ targetInfos: { targetId: string; type: string }[] }>(
    'Target.getTargets',
  );
  const target = targetInfos.find((t) => t.type === 'page');
  if (!target) throw new Error('no page target');
  const { sessionId: pageSession } = await cdp.send<{ sessionId: string }>(
    'Target.attachToTarget',
    { targetId: target.targetId, flatten: true },
  );
  const workers = new Set<string>();
  let seen = 0;
  const off = cdp.on((method, params, sessionId) => {
    if (method === 'Target.attachedToTarget' && sessionId === pageSession) {
      const info = params.targetInfo as { type: string };
      if (info.type === 'worker') {
        workers.add(params.sessionId as string);
        seen++;
      }
    } else if (method === 'Target.detachedFromTarget') {
      workers.delete(params.sessionId as string);
    }
  });
  await cdp.send(
    'Target.setAutoAttach',
    { autoAttach: true, waitForDebuggerOnStart: false, flatten: true },
    pageSession,
  );
  const peak: MemoryPeak = {
    heapBytes: 0,
    heapWithBuffersBytes: 0,
    rssBytes: 0,
    pssBytes: 0,
    workers: 0,
    samples: 0,
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      const next = new Promise((r) => setTimeout(r, 100));
      const usages = await Promise.all(
        [pageSession, ...workers].map(
          (s) =>
            cdp
              .send<{ usedSize: number; backingStorageSize?: number }>(
                'Runtime.getHeapUsage',
                {},
                s,
              )
              .catch(() => undefined), // a worker that just ended
        ),
      );
      const used = usages.reduce((n, u) => n + (u?.usedSize ?? 0), 0);
      const buffers = usages.reduce((n, u) => n + (u?.backingStorageSize ?? 0), 0);
      peak.heapBytes = Math.max(peak.heapBytes, used);
      peak.heapWithBuffersBytes = Math.max(peak.heapWithBuffersBytes, used + buffers);
      // Pss costs the kernel a walk of every mapping: every fourth sample.
      const mem = await treeMemory(run.browserPid, peak.samples % 4 === 0);
      peak.rssBytes = Math.max(peak.rssBytes, mem.rss);
      peak.pssBytes = Math.max(peak.pssBytes, mem.pss);
      peak.samples++;
      await next;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      off();
      await cdp.send('Target.detachFromTarget', { sessionId: pageSession }).catch(() => undefined);
      return { ...peak, workers: seen };
    },
  };
}

/** Sums of VmRSS (and, with pss, of Pss) of a process and all its descendants, from /proc. */
export async function treeMemory(
  root: number,
  pss: boolean,
): Promise<{ rss: number; pss: number }> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: ppid is the 2nd field after ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // gone
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  const kB = (text: string, field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  const sum = { rss: 0, pss: 0 };
  for (const pid of tree) {
    try {
      sum.rss += kB(await readFile(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
      if (pss) sum.pss += kB(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch {
      // gone
    }
  }
  return sum;
}
