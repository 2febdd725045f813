// A real network's latency: a shaping TCP proxy (test/harness/shaper.ts, default 40 ms RTT and
// 200 Mbit/s per connection) in front of a request-recording shim in front of the registry.
// Berth (through its own proxy, on loopback as `npm start` runs it) and skopeo go through the
// same path. Measured: Enter to the config shown, and the full pull; and from the shim's
// records, the requests, the connections and the serial round trips each needs.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startServer } from '../proxy/server.ts';
import { startShaper, type ShapedConnection, type Shaper } from '../test/harness/shaper.ts';
import { startShim, type Shim, type ShimRequest } from '../test/harness/shim.ts';
import { launchRun, timeUntil, waitFor } from './browser.ts';
import { openApp, type CaseContext, type CaseResult } from './cases.ts';
import { row, skopeo, stat } from './run.ts';
import { NAMES } from './selectors.ts';
import { sharedImages } from './shared.ts';

/** What a client did over the shaped path in one window of time. */
export interface Trips {
  ms: number;
  requests: number;
  connections: number;
  /** The longest chain of requests each sent after the one before it was answered. */
  serial: number;
  /** The longest chain where each arrived after the one before it ended at the registry, its
   * answer's way back not counted (how this case counted serial requests at first). */
  endedBefore: number;
  /** method, path (no query), start and end from the window's start (ms), connection. */
  log: string[];
}

/** The length of the longest chain of requests where each could have waited for the one
 * before: as the shim behind the shaper sees them, it arrived at least a round trip after the
 * other's answer left (the answer's way back, then the request's way there). Two requests
 * sent together are not a chain because one was answered a moment before the other arrived;
 * a request on a new connection arrives a round trip later (the handshake), which counts only
 * when it is that late. */
export function serialDepth(requests: ShimRequest[], rttMs = 0): number {
  const sorted = [...requests].sort((a, b) => a.startedAt - b.startedAt);
  const depth: number[] = [];
  let max = 0;
  sorted.forEach((r, i) => {
    let d = 1;
    for (let j = 0; j < i; j++) {
      const q = sorted[j]!;
      if (q.endedAt !== undefined && q.endedAt + rttMs <= r.startedAt) {
        d = Math.max(d, depth[j]! + 1);
      }
    }
    depth.push(d);
    max = Math.max(max, d);
  });
  return max;
}

function trips(
  shim: Shim,
  shaper: Shaper,
  from: number,
  to: number,
  startIndex: number,
  startConn: number,
  rttMs: number,
): Trips {
  const requests = shim.requests.slice(startIndex).filter((r) => r.startedAt <= to);
  const connections = shaper.connections
    .slice(startConn)
    .filter((c: ShapedConnection) => c.openedAt <= to);
  const short = (p: string) =>
    (p.split('?')[0] ?? '').replace(/sha256:([0-9a-f]{8})[0-9a-f]{56}/, 'sha256:$1…');
  return {
    ms: to - from,
    requests: requests.length,
    connections: connections.length,
    serial: serialDepth(requests, rttMs),
    endedBefore: serialDepth(requests),
    log: requests.map(
      (r) =>
        `${r.method} ${short(r.path)} ${r.status} ${Math.round(r.startedAt - from)}–` +
        `${r.endedAt === undefined ? '…' : Math.round(r.endedAt - from)} ms #${r.connection}`,
    ),
  };
}

interface LatencyRun {
  /** Inspect, on a fresh profile: the first view without a pull. */
  berthInspect: Trips;
  berthView: Trips;
  berthPull: Trips;
  skopeoView: Trips;
  skopeoPull: Trips;
}

async function berthLatency(
  ctx: CaseContext,
  url: string,
  ref: string,
  shim: Shim,
  shaper: Shaper,
): Promise<{ view: Trips; pull: Trips }> {
  const run = await launchRun();
  try {
    const page: Page = run.page;
    await openApp(page, url);
    const box = page.getByRole('textbox', { name: NAMES.reference });
    await box.fill(ref);
    const startIndex = shim.requests.length;
    const startConn = shaper.connections.length;
    // Enter submits the form: the page sees it as a click of Pull, timed from the key.
    const view = await timeUntil(page, 'history', () => box.press('Enter'), 300_000);
    const pulledAt = await waitFor(page, 'pulled', 900_000);
    const origin = await page.evaluate(() => performance.timeOrigin);
    const from = origin + view.clickedAt;
    return {
      view: trips(shim, shaper, from, origin + view.doneAt, startIndex, startConn, ctx.rttMs),
      pull: trips(shim, shaper, from, origin + pulledAt, startIndex, startConn, ctx.rttMs),
    };
  } finally {
    await run.close();
  }
}

/** Inspect (not Pull) until the config's history is shown, on a fresh profile. */
async function berthInspect(
  url: string,
  ref: string,
  shim: Shim,
  shaper: Shaper,
  rttMs: number,
): Promise<Trips> {
  const run = await launchRun();
  try {
    const { page } = run;
    await openApp(page, url);
    await page.getByRole('textbox', { name: NAMES.reference }).fill(ref);
    const startIndex = shim.requests.length;
    const startConn = shaper.connections.length;
    const view = await timeUntil(
      page,
      'history',
      () => page.getByRole('button', { name: NAMES.inspect }).click(),
      300_000,
    );
    const origin = await page.evaluate(() => performance.timeOrigin);
    return trips(
      shim,
      shaper,
      origin + view.clickedAt,
      origin + view.doneAt,
      startIndex,
      startConn,
      rttMs,
    );
  } finally {
    await run.close();
  }
}

async function skopeoTrips(
  shim: Shim,
  shaper: Shaper,
  args: string[],
  rttMs: number,
): Promise<Trips> {
  const startIndex = shim.requests.length;
  const startConn = shaper.connections.length;
  const from = performance.timeOrigin + performance.now();
  await skopeo(args);
  const to = performance.timeOrigin + performance.now();
  return trips(shim, shaper, from, to, startIndex, startConn, rttMs);
}

export async function latencyCase(ctx: CaseContext): Promise<CaseResult> {
  const { first } = await sharedImages(ctx);
  const shim = await startShim(ctx.registry.url);
  const shaper = await startShaper(shim.host, { rttMs: ctx.rttMs, mbit: ctx.mbit });
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: ctx.distDir,
    insecureRegistries: [shaper.host],
    warn: ctx.log,
  });
  try {
    const ref = `${shaper.host}/${first.repository}:v1`;
    const runs: LatencyRun[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const oci = join(ctx.work, 'latency-skopeo-oci');
      let berth: { view: Trips; pull: Trips } | undefined;
      let inspect: Trips | undefined;
      let skopeoView: Trips | undefined;
      let skopeoPull: Trips | undefined;
      const steps = [
        async () => {
          inspect = await berthInspect(server.url, ref, shim, shaper, ctx.rttMs);
          berth = await berthLatency(ctx, server.url, ref, shim, shaper);
        },
        async () => {
          skopeoView = await skopeoTrips(
            shim,
            shaper,
            ['inspect', '--config', '--tls-verify=false', `docker://${ref}`],
            ctx.rttMs,
          );
          skopeoPull = await skopeoTrips(
            shim,
            shaper,
            ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${oci}:v1`],
            ctx.rttMs,
          );
          await rm(oci, { recursive: true, force: true });
        },
      ];
      for (const step of i % 2 ? steps.reverse() : steps) await step();
      runs.push({
        berthInspect: inspect!,
        berthView: berth!.view,
        berthPull: berth!.pull,
        skopeoView: skopeoView!,
        skopeoPull: skopeoPull!,
      });
      const r = runs.at(-1)!;
      ctx.log(
        `  latency: view ${r.berthView.ms.toFixed(0)} ms in ${r.berthView.serial} serial requests ` +
          `(skopeo ${r.skopeoView.ms.toFixed(0)} ms, ${r.skopeoView.serial}); pull ` +
          `${(r.berthPull.ms / 1000).toFixed(2)} s (skopeo ${(r.skopeoPull.ms / 1000).toFixed(2)} s)`,
      );
    }
    const net = `${ctx.rttMs} ms RTT, ${ctx.mbit} Mbit/s`;
    const pick = (f: (r: LatencyRun) => number) => stat(runs.map(f));
    const mb = (first.layers.reduce((n, l) => n + l.size, 0) / 1e6).toFixed(0);
    const rows = [
      row({
        id: 'latency-inspect',
        metric: `${net}: Inspect to the config shown`,
        unit: 'ms',
        berth: pick((r) => r.berthInspect.ms),
        reference: { name: 'skopeo inspect --config', ...pick((r) => r.skopeoView.ms) },
        pairwise: true,
        target: { of: 'ratio', max: 1 },
      }),
      row({
        id: 'latency-inspect-serial',
        metric: `${net}: serial requests until Inspect shows the config`,
        unit: 'n',
        berth: pick((r) => r.berthInspect.serial),
        reference: { name: 'skopeo inspect --config', ...pick((r) => r.skopeoView.serial) },
        pairwise: true,
        target: { of: 'ratio', max: 1 },
        note:
          `requests: Berth ${runs.map((r) => r.berthInspect.requests).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.requests).join(', ')}; ` +
          `connections: Berth ${runs.map((r) => r.berthInspect.connections).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.connections).join(', ')}; ` +
          `chains counting any request that arrived after another ended: Berth ${runs.map((r) => r.berthInspect.endedBefore).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.endedBefore).join(', ')}`,
      }),
      row({
        id: 'latency-view',
        metric: `${net}: Enter to the config shown`,
        unit: 'ms',
        berth: pick((r) => r.berthView.ms),
        reference: { name: 'skopeo inspect --config', ...pick((r) => r.skopeoView.ms) },
        pairwise: true,
        target: { of: 'ratio', max: 1 },
      }),
      row({
        id: 'latency-view-serial',
        metric: `${net}: serial requests until the config is shown`,
        unit: 'n',
        berth: pick((r) => r.berthView.serial),
        reference: { name: 'skopeo inspect --config', ...pick((r) => r.skopeoView.serial) },
        pairwise: true,
        target: { of: 'ratio', max: 1 },
        note:
          `requests: Berth ${runs.map((r) => r.berthView.requests).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.requests).join(', ')}; ` +
          `connections: Berth ${runs.map((r) => r.berthView.connections).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.connections).join(', ')}; ` +
          `chains counting any request that arrived after another ended: Berth ${runs.map((r) => r.berthView.endedBefore).join(', ')}, skopeo ${runs.map((r) => r.skopeoView.endedBefore).join(', ')}`,
      }),
      row({
        id: 'latency-pull',
        metric: `${net}: Enter to pulled (${first.layers.length} layers, ${mb} MB)`,
        unit: 's',
        berth: pick((r) => r.berthPull.ms),
        reference: { name: 'skopeo copy docker:// oci:', ...pick((r) => r.skopeoPull.ms) },
        pairwise: true,
        target: { of: 'ratio', max: 2.2 },
      }),
      row({
        id: 'latency-pull-serial',
        metric: `${net}: serial requests of the pull`,
        unit: 'n',
        berth: pick((r) => r.berthPull.serial),
        reference: { name: 'skopeo copy', ...pick((r) => r.skopeoPull.serial) },
        pairwise: true,
        target: { of: 'ratio', max: 1 },
        note:
          `requests: Berth ${runs.map((r) => r.berthPull.requests).join(', ')}, skopeo ${runs.map((r) => r.skopeoPull.requests).join(', ')}; ` +
          `connections: Berth ${runs.map((r) => r.berthPull.connections).join(', ')}, skopeo ${runs.map((r) => r.skopeoPull.connections).join(', ')}; ` +
          `chains counting any request that arrived after another ended: Berth ${runs.map((r) => r.berthPull.endedBefore).join(', ')}, skopeo ${runs.map((r) => r.skopeoPull.endedBefore).join(', ')}`,
      }),
      row({
        id: 'latency-pull-connections',
        metric: `${net}: connections opened by the pull`,
        unit: 'n',
        berth: pick((r) => r.berthPull.connections),
        reference: { name: 'skopeo copy', ...pick((r) => r.skopeoPull.connections) },
        pairwise: true,
      }),
    ];
    return {
      rows,
      fixture: { image: first.digest, rttMs: ctx.rttMs, mbit: ctx.mbit },
      raw: runs,
    };
  } finally {
    await server.close();
    await shaper.stop();
    await shim.stop();
  }
}
