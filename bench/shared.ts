// Two images that share most of their layers, built from the machine's /usr: the second is the
// first plus one layer. Berth pulls the first, then the second (only its own layer should move),
// beside skopeo copying both into one OCI layout (it reuses the blobs the layout holds).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout } from '../test/harness/oci.ts';
import { launchRun } from './browser.ts';
import {
  browseLayer,
  mergedView,
  openApp,
  pull,
  taskRows,
  type CaseContext,
  type CaseResult,
  type Timed,
} from './cases.ts';
import { buildUsrLayer, pushImage, UsrCursor, type Layer, type PushedImage } from './image.ts';
import { row, skopeo, stat, timed } from './run.ts';
import { addBuiltLayer } from './tar.ts';

export interface SharedImages {
  first: PushedImage;
  second: PushedImage;
}

const built = new WeakMap<CaseContext, Promise<SharedImages>>();

/** Built once per bench run: the latency case pulls the first image too. */
export function sharedImages(ctx: CaseContext): Promise<SharedImages> {
  let p = built.get(ctx);
  if (!p) {
    p = buildShared(ctx);
    built.set(ctx, p);
  }
  return p;
}

async function buildShared(ctx: CaseContext): Promise<SharedImages> {
  const layout = await OciLayout.create(join(ctx.work, 'shared-layout'));
  const cursor = new UsrCursor();
  const sizes = ctx.small ? [1e6, 0.5e6] : [60e6, 30e6, 10e6];
  const extra = ctx.small ? 0.2e6 : 5e6;
  const layer = async (target: number): Promise<Layer> =>
    addBuiltLayer(layout, await buildUsrLayer({ cursor, work: ctx.work, target, level: 6 }));
  const base: Layer[] = [];
  for (const target of sizes) base.push(await layer(target));
  const own = await layer(extra);
  const push = (repository: string, layers: Layer[], label: string) =>
    pushImage({ layout, registry: ctx.registry, repository, layers, label });
  const images = {
    first: await push('bench/shared-first', base, 'shared-first'),
    second: await push('bench/shared-second', [...base, own], 'shared-second'),
  };
  ctx.log(
    `shared: ${base.map((l) => `${(l.size / 1e6).toFixed(1)} MB`).join(' + ')} shared, ` +
      `${(own.size / 1e6).toFixed(1)} MB own`,
  );
  return images;
}

interface SharedRun {
  first: Timed;
  second: Timed;
  /** Browse the second image's own layer, then the merged view of all its layers. */
  own: Timed;
  merged: Timed;
}

async function berthShared(ctx: CaseContext, images: SharedImages): Promise<SharedRun> {
  const run = await launchRun();
  try {
    const { page } = run;
    await openApp(page, ctx.server.url);
    const first = await pull(page, images.first.ref);
    const second = await pull(page, images.second.ref);
    const own = await browseLayer(page, images.second.layers.length);
    const merged = await mergedView(page);
    return { first, second, own, merged };
  } finally {
    await run.close();
  }
}

export async function sharedCase(ctx: CaseContext): Promise<CaseResult> {
  const images = await sharedImages(ctx);
  const berth: SharedRun[] = [];
  const skopeoFirst: number[] = [];
  const skopeoSecond: number[] = [];
  const tarAll: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const refs = async () => {
      const oci = join(ctx.work, 'shared-skopeo-oci');
      const copy = (image: PushedImage, tag: string) =>
        skopeo(['copy', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${oci}:${tag}`]);
      skopeoFirst.push((await copy(images.first, 'first')).ms);
      skopeoSecond.push((await copy(images.second, 'second')).ms);
      await rm(oci, { recursive: true, force: true });
      let sum = 0;
      for (const l of images.second.layers) sum += (await timed('tar', ['-tzf', l.path])).ms;
      tarAll.push(sum);
    };
    const steps = [async () => void berth.push(await berthShared(ctx, images)), refs];
    for (const step of i % 2 ? steps.reverse() : steps) await step();
    const b = berth.at(-1)!;
    ctx.log(
      `  shared: second pull ${(b.second.ms / 1000).toFixed(2)} s ` +
        `(skopeo ${(skopeoSecond.at(-1)! / 1000).toFixed(2)} s), first ${(b.first.ms / 1000).toFixed(2)} s`,
    );
  }
  const { first, second } = images;
  const mb = (img: PushedImage) => (img.layers.reduce((n, l) => n + l.size, 0) / 1e6).toFixed(0);
  const rows = [
    row({
      id: 'shared-first',
      metric: `Shared layers: pull the first image (${first.layers.length} layers, ${mb(first)} MB)`,
      unit: 's',
      berth: stat(berth.map((b) => b.first.ms)),
      reference: { name: 'skopeo copy docker:// oci:', ...stat(skopeoFirst) },
      pairwise: true,
    }),
    row({
      id: 'shared-second',
      metric: `Shared layers: then the second (${second.layers.length} layers, ${first.layers.length} of them shared)`,
      unit: 's',
      berth: stat(berth.map((b) => b.second.ms)),
      reference: { name: 'skopeo copy into the same layout', ...stat(skopeoSecond) },
      pairwise: true,
      target: { of: 'ratio', max: 2.2 },
    }),
    row({
      id: 'shared-merged',
      metric: `Shared layers: the second's own layer, then its merged view, to the tree shown`,
      unit: 's',
      berth: stat(berth.map((b) => b.own.ms + b.merged.ms)),
      reference: { name: 'tar -tzf of every layer', ...stat(tarAll) },
      pairwise: true,
      target: { of: 'ratio', max: 1.25 },
    }),
    ...taskRows(
      'shared',
      'Shared layers',
      {
        pull: berth.map((b) => b.second.tasks),
        listing: berth.map((b) => b.own.tasks),
        merge: berth.map((b) => b.merged.tasks),
      },
      stat,
      row,
    ),
  ];
  return {
    rows,
    fixture: {
      first: { digest: first.digest, layers: first.layers.map((l) => l.digest) },
      second: { digest: second.digest, layers: second.layers.map((l) => l.digest) },
    },
    raw: { berth, skopeoFirst, skopeoSecond, tarAll },
  };
}
