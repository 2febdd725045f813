// The multi-GiB case: one gzip layer of `--huge-gib` GiB of tar (default 2), mostly
// incompressible bytes from a seeded PRNG, with real files at the end (the machine's license
// texts) and, last of all, a small text file. Pull vs skopeo copy, listing vs tar -tzf, opening
// the last file right after the listing (while the checkpoint pass runs), the time from the
// listing shown to its checkpoints stored, opening the last file again once they are, memory,
// long tasks, export vs tar -cf of skopeo's layout.
import { readdir, readFile, rm, stat as fileStat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout } from '../test/harness/oci.ts';
import type { Page } from 'playwright-core';
import { launchRun, timeUntil, taskSummary, type MemoryPeak } from './browser.ts';
import {
  files,
  maxPeak,
  MiB,
  openApp,
  pull,
  search,
  taskRows,
  withMemory,
  type CaseContext,
  type CaseResult,
  type Timed,
} from './cases.ts';
import { CHECKPOINT_MIN_LAYER } from '../src/lib/layers/checkpoints.ts';
import { pushImage, type PushedImage } from './image.ts';
import { NAMES } from './selectors.ts';
import { row, skopeo, stat, timed } from './run.ts';
import { addBuiltLayer, SeededBytes, TarGzWriter } from './tar.ts';

export const LAST_FILE = 'zz-last.txt';
export const LAST_TEXT = 'The last file of the huge layer: found without reading the rest again.';
const PART = 64 * MiB;
const BLOCK = MiB;

export async function buildHuge(ctx: CaseContext, layout: OciLayout): Promise<PushedImage> {
  // --small stays above the checkpoint minimum, so that the smoke test sees the pass store them.
  const total = ctx.small ? 12 * MiB : Math.round(ctx.hugeGiB * 1024) * MiB;
  const started = performance.now();
  // gzip -1, as the base case's 1 GiB layer: the pull never decompresses, and it halves the
  // build; the listing's cost is inflate, which does not depend on the level.
  const tar = new TarGzWriter(ctx.work, 1, 'huge');
  const prng = new SeededBytes(0x5eed);
  const block = new Uint8Array(BLOCK);
  // An eighth of every block is text: mostly incompressible, as real binaries are not quite.
  const text = Buffer.from('All work and no play makes a layer a dull layer.\n'.repeat(4000));
  await tar.entry({ name: 'huge/', type: 'dir' });
  for (let i = 0, left = total; left > 0; i++) {
    const size = Math.min(PART, left);
    left -= size;
    // The content follows in whole blocks: size is a multiple of 512, so nothing pads it.
    await tar.header({ name: `huge/part-${String(i).padStart(3, '0')}.bin`, type: 'file', size });
    for (let done = 0; done < size; done += BLOCK) {
      prng.fill(block);
      block.set(text.subarray(0, BLOCK >> 3), BLOCK - (BLOCK >> 3));
      await tar.write(block.subarray(0, Math.min(BLOCK, size - done)));
    }
  }
  await tar.entry({ name: 'licenses/', type: 'dir' });
  const licenses = '/usr/share/common-licenses';
  for (const name of (await readdir(licenses).catch(() => [])).sort()) {
    const st = await fileStat(join(licenses, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    await tar.entry(
      { name: `licenses/${name}`, type: 'file' },
      await readFile(join(licenses, name)),
    );
  }
  await tar.entry({ name: LAST_FILE, type: 'file' }, Buffer.from(`${LAST_TEXT}\n`));
  const layer = await addBuiltLayer(layout, await tar.finish());
  ctx.log(
    `huge: ${(layer.tarSize / MiB).toFixed(0)} MiB of tar, ${(layer.size / MiB).toFixed(0)} MiB gzip ` +
      `in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return pushImage({
    layout,
    registry: ctx.registry,
    repository: 'bench/huge-layer',
    layers: [layer],
    label: 'huge-layer',
  });
}

interface HugeRun {
  pull: Timed;
  list: Timed;
  /** Opening the last file as soon as the tree is shown: the checkpoints are being recorded. */
  openEarly: Timed;
  /** From the tree shown to the layer's checkpoints in the store. */
  checkpointsMs: number;
  /** Opening the last file once the checkpoints are stored. */
  open: Timed;
  export: Timed & { bytes: number };
  memory: MemoryPeak;
  exportMemory: MemoryPeak;
}

/** Waits until the store holds the layer's checkpoints; the page's time it first saw them
 * (polled every 100 ms, from the page, as the app's own IndexedDB would be read). */
async function checkpointsStored(page: Page, digest: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = await page.evaluate(async (key) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('berth');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      try {
        const n = await new Promise<number>((resolve, reject) => {
          const req = db.transaction('layerCheckpoints').objectStore('layerCheckpoints').count(key);
          req.onsuccess = () => resolve(req.result);
          req.onerror = () => reject(req.error);
        });
        return n > 0 ? performance.now() : undefined;
      } finally {
        db.close();
      }
    }, digest);
    if (at !== undefined) return at;
    if (Date.now() > deadline) throw new Error('the layer\u2019s checkpoints were never stored');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function berthHuge(ctx: CaseContext, image: PushedImage): Promise<HugeRun> {
  const run = await launchRun();
  try {
    const { page } = run;
    await openApp(page, ctx.server.url, { listAfterPull: true });
    const pulled = await withMemory(run, () => pull(page, image.ref));
    const browsing = await withMemory(run, async () => {
      const listed = await timeUntil(
        page,
        'listed',
        () => page.getByRole('button', { name: NAMES.browseLayer(1) }).click(),
        900_000,
      );
      const list = {
        ms: listed.ms,
        tasks: await taskSummary(page, listed.clickedAt, listed.doneAt),
      };
      await search(page, LAST_FILE, LAST_FILE);
      await files(page).getByRole('treeitem', { name: LAST_FILE, exact: true }).click();
      const openLast = async () => {
        const t = await timeUntil(
          page,
          'viewer',
          () => files(page).getByRole('button', { name: NAMES.viewFile }).click(),
          600_000,
          { text: LAST_TEXT },
        );
        const timedOpen = { ms: t.ms, tasks: await taskSummary(page, t.clickedAt, t.doneAt) };
        await page
          .getByRole('region', { name: NAMES.viewer })
          .getByRole('button', {
            name: NAMES.closeViewer,
            exact: true,
          })
          .click();
        return timedOpen;
      };
      const openEarly = await openLast();
      // A layer too small for checkpoints (--small) has none to wait for.
      const layer = image.layers[0]!;
      const storedAt =
        layer.size < CHECKPOINT_MIN_LAYER
          ? listed.doneAt
          : await checkpointsStored(page, layer.digest, 900_000);
      const open = await openLast();
      return { list, openEarly, checkpointsMs: storedAt - listed.doneAt, open };
    });
    const exported = await withMemory(run, async () => {
      const button = page.getByRole('button', { name: NAMES.download });
      const clicksBefore = await page.evaluate(
        () => (window as unknown as { __bench: { clicks: unknown[] } }).__bench.clicks.length,
      );
      const started = performance.now();
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 900_000 }),
        button.click(),
      ]);
      const file = await download.path();
      const ms = performance.now() - started;
      const bytes = (await fileStat(file)).size;
      await rm(file, { force: true });
      const clickedAt = await page.evaluate(
        (n) =>
          (window as unknown as { __bench: { clicks: { at: number }[] } }).__bench.clicks[n]!.at,
        clicksBefore,
      );
      const now = await page.evaluate(() => performance.now());
      return { ms, bytes, tasks: await taskSummary(page, clickedAt, now) };
    });
    if (exported.value.bytes < image.layers[0]!.size) {
      throw new Error(`the archive has ${exported.value.bytes} bytes, its layer alone more`);
    }
    return {
      pull: pulled.value,
      list: browsing.value.list,
      openEarly: browsing.value.openEarly,
      checkpointsMs: browsing.value.checkpointsMs,
      open: browsing.value.open,
      export: exported.value,
      memory: maxPeak(pulled.memory, browsing.memory),
      exportMemory: exported.memory,
    };
  } finally {
    await run.close();
  }
}

export async function hugeCase(ctx: CaseContext): Promise<CaseResult> {
  const layout = await OciLayout.create(join(ctx.work, 'huge-layout'));
  const image = await buildHuge(ctx, layout);
  const layer = image.layers[0]!;
  const berth: HugeRun[] = [];
  const skopeoPull: number[] = [];
  const tarList: number[] = [];
  const tarExport: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const refs = async () => {
      const oci = join(ctx.work, 'huge-skopeo-oci');
      const archive = join(ctx.work, 'huge-skopeo.tar');
      skopeoPull.push(
        (await skopeo(['copy', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${oci}:v1`]))
          .ms,
      );
      tarList.push((await timed('tar', ['-tzf', layer.path])).ms);
      tarExport.push((await timed('tar', ['-cf', archive, '-C', oci, '.'])).ms);
      await rm(oci, { recursive: true, force: true });
      await rm(archive, { force: true });
    };
    const steps = [async () => void berth.push(await berthHuge(ctx, image)), refs];
    for (const step of i % 2 ? steps.reverse() : steps) await step();
    const b = berth.at(-1)!;
    ctx.log(
      `  huge: pull ${(b.pull.ms / 1000).toFixed(2)} s (skopeo ${(skopeoPull.at(-1)! / 1000).toFixed(2)} s), ` +
        `list ${(b.list.ms / 1000).toFixed(2)} s (tar ${(tarList.at(-1)! / 1000).toFixed(2)} s), ` +
        `open last ${b.openEarly.ms.toFixed(0)} ms, checkpoints ${(b.checkpointsMs / 1000).toFixed(2)} s ` +
        `later, then open last ${b.open.ms.toFixed(0)} ms, export ${(b.export.ms / 1000).toFixed(2)} s`,
    );
  }
  const what = `${(layer.tarSize / 2 ** 30).toFixed(2)} GiB layer (${(layer.size / 2 ** 30).toFixed(2)} GiB gzip)`;
  const mib = (f: (b: HugeRun) => number) => stat(berth.map((b) => f(b) / MiB));
  const rows = [
    row({
      id: 'huge-pull',
      metric: `${what}: pull`,
      unit: 's',
      berth: stat(berth.map((b) => b.pull.ms)),
      reference: { name: 'skopeo copy docker:// oci:', ...stat(skopeoPull) },
      pairwise: true,
      target: { of: 'ratio', max: 2.2 },
    }),
    row({
      id: 'huge-list',
      metric: `${what}: listing to the tree shown`,
      unit: 's',
      berth: stat(berth.map((b) => b.list.ms)),
      reference: { name: 'tar -tzf', ...stat(tarList) },
      pairwise: true,
      target: { of: 'ratio', max: 1.25 },
    }),
    row({
      id: 'huge-open-last-early',
      metric: `${what}: open its last file as soon as the tree is shown (checkpoints being recorded), to the content shown`,
      unit: 'ms',
      berth: stat(berth.map((b) => b.openEarly.ms)),
    }),
    row({
      id: 'huge-checkpoints',
      metric: `${what}: from the tree shown to the layer\u2019s checkpoints stored (the open above included)`,
      unit: 's',
      berth: stat(berth.map((b) => b.checkpointsMs)),
      reference: { name: 'listing', ...stat(berth.map((b) => b.list.ms)) },
      pairwise: true,
    }),
    row({
      id: 'huge-open-last',
      metric: `${what}: open its last file once the checkpoints are stored, to the content shown`,
      unit: 'ms',
      berth: stat(berth.map((b) => b.open.ms)),
      target: { of: 'berth', max: 300 },
    }),
    row({
      id: 'huge-heap',
      metric: `${what}: peak JS heap + ArrayBuffers, page + workers, pull, listing, open`,
      unit: 'MiB',
      berth: mib((b) => b.memory.heapWithBuffersBytes),
      reference: { name: 'JS heap alone', ...mib((b) => b.memory.heapBytes) },
      target: { of: 'berth', max: 64 },
    }),
    row({
      id: 'huge-rss',
      metric: `${what}: peak browser RSS (all processes), pull, listing, open`,
      unit: 'MiB',
      berth: mib((b) => b.memory.rssBytes),
      reference: { name: 'PSS', ...mib((b) => b.memory.pssBytes) },
    }),
    row({
      id: 'huge-export',
      metric: `${what}: export OCI archive`,
      unit: 's',
      berth: stat(berth.map((b) => b.export.ms)),
      reference: { name: 'tar -cf of skopeo\u2019s layout', ...stat(tarExport) },
      pairwise: true,
    }),
    row({
      id: 'huge-heap-export',
      metric: `${what}: peak JS heap + ArrayBuffers, export`,
      unit: 'MiB',
      berth: mib((b) => b.exportMemory.heapWithBuffersBytes),
      target: { of: 'berth', max: 64 },
    }),
    ...taskRows(
      'huge',
      what,
      {
        pull: berth.map((b) => b.pull.tasks),
        listing: berth.map((b) => b.list.tasks),
        'open-early': berth.map((b) => b.openEarly.tasks),
        open: berth.map((b) => b.open.tasks),
        export: berth.map((b) => b.export.tasks),
      },
      stat,
      row,
    ),
  ];
  return {
    rows,
    fixture: { layer: (({ path: _p, ...l }) => l)(layer) },
    raw: { berth, skopeoPull, tarList, tarExport },
  };
}
