// Chromium for the benchmark: one fresh profile per run (on disk, as a user's is: an incognito
// context keeps IndexedDB and its Blobs in memory), a raw DevTools connection that reaches the
// page's dedicated workers, and timing taken inside the page.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocket } from 'undici';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/harness/chromium.ts';

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
    await page.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
    await page.addInitScript(instrument);
    return { context, page, cdp, downloads, browserPid, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Inside the page

interface BenchState {
  longTasks: { start: number; duration: number }[];
  clicks: { name: string; at: number }[];
  waiting?: Promise<number>;
  arm(condition: Condition): void;
}

export type Condition = 'pulled' | 'listed' | 'history';

/** Runs in the page before its own scripts: records long tasks and when buttons are pressed
 * (the event's own timestamp), and can wait for a state of the page with a MutationObserver,
 * resolving with the time the DOM got there. */
function instrument() {
  const state: BenchState = {
    longTasks: [],
    clicks: [],
    arm(condition) {
      const region = (name: string) => document.querySelector(`section[aria-label="${name}"]`);
      const checks: Record<Condition, () => boolean> = {
        pulled: () =>
          [...document.querySelectorAll('.notice')].some((n) =>
            (n.textContent ?? '').trim().startsWith('Pulled '),
          ),
        listed: () => {
          const files = region('Files');
          if (!files) return false;
          if (files.querySelector('.reading')) {
            seenReading = true;
            return false;
          }
          return seenReading && files.querySelector('[role=tree]') !== null;
        },
        history: () => region('Image summary')?.querySelector('table.history') != null,
      };
      let seenReading = false;
      state.waiting = new Promise<number>((resolve, reject) => {
        const check = () => {
          const alert = document.querySelector('[role=alert]');
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
        state.clicks.push({
          name: button.getAttribute('aria-label') ?? button.textContent?.trim() ?? '',
          at: e.timeStamp,
        });
      }
    },
    true,
  );
}

/** Presses a button and times, inside the page, from the click event until the condition
 * holds. Returns milliseconds and the click's timestamp. */
export async function timeUntil(
  page: Page,
  condition: Condition,
  press: () => Promise<void>,
  timeoutMs: number,
): Promise<{ ms: number; clickedAt: number; doneAt: number }> {
  await page.evaluate(
    (c) => (window as unknown as { __bench: BenchState }).__bench.arm(c),
    condition,
  );
  const before = await page.evaluate(
    () => (window as unknown as { __bench: BenchState }).__bench.clicks.length,
  );
  await press();
  const doneAt = await withTimeout(
    page.evaluate(() => (window as unknown as { __bench: BenchState }).__bench.waiting!),
    timeoutMs,
    `waiting for "${condition}"`,
  );
  const click = await page.evaluate(
    (n) => (window as unknown as { __bench: BenchState }).__bench.clicks[n],
    before,
  );
  if (!click) throw new Error('the click was not seen by the page');
  return { ms: doneAt - click.at, clickedAt: click.at, doneAt };
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
