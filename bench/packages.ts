// The packages inventory (issue 17): "a 1 GB image with 500 Debian packages and 2,000 npm
// packages is inventoried in ≤ 3 s after its index is stored". The image is built here from
// this machine's real files: its /var/lib/dpkg/status cut to 500 stanzas, 2,000 package.json
// from this repository's node_modules (its whole tree once, so that the manifests sit among the
// code they describe, then more trees of manifests only), and files from /usr/share as filler,
// in two gzip layers. Each layer is listed as the layers worker lists it (with its random
// access checkpoints), then the inventory is timed with the real catalogers, reading through
// the checkpoints from the compressed files. The reference, in the same run: listing the same
// layers (the native gunzip and the tar parser), and `zcat | wc -c` of them.
//
// It runs in Node, with the decoders and the engine the worker uses (fflate from checkpoints,
// the native gunzip from a layer's start): what it measures is the engine and the decoding,
// not Chromium's scheduling.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openAsBlob } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
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
import { catalogers } from '../src/lib/packages/catalogers.ts';
import { inventory, planLayer, planSize } from '../src/lib/packages/inventory.ts';
import type { Inventory } from '../src/lib/packages/types.ts';
import { run as runCommand } from '../test/harness/process.ts';
import { MiB, type CaseContext, type CaseResult } from './cases.ts';
import { row, stat as statOf, type Row } from './run.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The image's shape: the issue's, or a tenth of it with --small. */
export function packagesShape(small: boolean) {
  return small
    ? { debs: 100, npms: 400, fillerBytes: 100 * MiB }
    : { debs: 500, npms: 2000, fillerBytes: 1000 * MiB };
}

export interface PackagesImage {
  /** The layers' gzip files, base first. */
  layers: string[];
  /** Uncompressed bytes of all layers. */
  bytes: number;
  debs: number;
  npms: number;
}

/** The first `n` stanzas of this machine's dpkg status. */
async function dpkgStatus(n: number): Promise<string> {
  const stanzas = (await readFile('/var/lib/dpkg/status', 'utf8')).split(/\n\n+/).filter(Boolean);
  if (stanzas.length < n)
    throw new Error(`/var/lib/dpkg/status has ${stanzas.length} packages, not ${n}`);
  return stanzas.slice(0, n).join('\n\n') + '\n';
}

/** Directories of node_modules left out of the image (see the apps layer). */
const LEFT_OUT = new Set(['workerd', '@cloudflare', 'esbuild', '@esbuild']);

/** The package.json of every package in this repository's node_modules, relative to it. */
async function npmManifests(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === '.bin' || (dir === join(ROOT, 'node_modules') && LEFT_OUT.has(e.name)))
          continue;
        await walk(p);
      } else if (e.isFile() && e.name === 'package.json' && dir !== join(ROOT, 'node_modules')) {
        // The manifest of a package: node_modules/<name>/package.json or a scoped one.
        const rel = relative(join(ROOT, 'node_modules'), p);
        const parts = rel.split('/');
        const depth = parts[0]!.startsWith('@') ? 3 : 2;
        if (parts.length === depth || parts.at(-depth - 1) === 'node_modules') out.push(rel);
      }
    }
  };
  await walk(join(ROOT, 'node_modules'));
  return out;
}

/** Files of /usr/share (documentation, locales, data: real bytes that no cataloger reads), in
 * the order a walk finds them, adding up to about `bytes`. */
async function filler(bytes: number): Promise<string[]> {
  const picked: string[] = [];
  let total = 0;
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (total >= bytes) return;
      const p = join(dir, e.name);
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
  await walk('/usr/share');
  return picked;
}

async function tarGz(out: string, args: string[]): Promise<void> {
  await runCommand('tar', [
    '--create',
    `--file=${out}`,
    '--sort=name',
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '--mtime=@0',
    '--ignore-failed-read',
    ...args,
  ]);
  await runCommand('gzip', ['-n', '-1', '-f', out]);
}

/** Builds the image's two layers in `work`. */
export async function buildPackagesImage(work: string, small: boolean): Promise<PackagesImage> {
  const shape = packagesShape(small);
  const stage = join(work, 'packages-stage');
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'var/lib/dpkg'), { recursive: true });
  await writeFile(join(stage, 'var/lib/dpkg/status'), await dpkgStatus(shape.debs));
  await mkdir(join(stage, 'etc'), { recursive: true });
  await writeFile(
    join(stage, 'etc/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  );
  const manifests = await npmManifests();
  // The first tree is the repository's whole node_modules; the rest, manifests only, in
  // further apps until there are enough.
  const extra: string[] = [];
  for (let app = 1; manifests.length + extra.length < shape.npms; app++) {
    for (const m of manifests) {
      if (manifests.length + extra.length >= shape.npms) break;
      const to = join(stage, `srv/app${app}/node_modules`, m);
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, await readFile(join(ROOT, 'node_modules', m)));
      extra.push(to);
    }
  }
  const base = join(work, 'packages-base.tar');
  const apps = join(work, 'packages-apps.tar');
  await tarGz(apps, [
    '-C',
    ROOT,
    '--transform=s,^node_modules,srv/app0/node_modules,',
    // This repository's test tools' native binaries (workerd alone is 150 MiB, twice): no
    // application image carries them, and every executable is read whole for its Go build
    // info and cargo auditable section.
    ...[...LEFT_OUT].map((d) => `--exclude=node_modules/${d}`),
    'node_modules',
    '-C',
    stage,
    'srv',
  ]);
  // The base layer's filler makes up the rest of the image's size.
  const appsBytes = await zcatBytes(`${apps}.gz`);
  const fill = await filler(Math.max(0, shape.fillerBytes - appsBytes));
  const list = join(work, 'packages-filler.list');
  await writeFile(list, fill.join('\n') + '\n');
  await tarGz(base, ['-C', '/', `--files-from=${list}`, '-C', stage, 'etc', 'var']);
  await rm(stage, { recursive: true, force: true });
  let bytes = 0;
  for (const l of [base, apps]) bytes += await zcatBytes(`${l}.gz`);
  return {
    layers: [`${base}.gz`, `${apps}.gz`],
    bytes,
    debs: shape.debs,
    npms: Math.max(shape.npms, manifests.length),
  };
}

async function zcatBytes(path: string): Promise<number> {
  const child = spawn('sh', ['-c', 'zcat "$1" | wc -c', 'sh', path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'close');
  return Number(out.trim());
}

/** Lists a layer as the layers worker does once it holds the blob: its index, and its
 * checkpoints recorded by a pass of their own. */
async function listWithCheckpoints(
  path: string,
): Promise<{ index: ColumnIndex; checkpoints: LayerCheckpoints | undefined }> {
  const blob = await openAsBlob(path);
  const recorder = new CheckpointRecorder('gzip', CHECKPOINT_SPACING);
  const listing = await listLayer(
    decompress(() => blob.stream() as ReadableStream<Uint8Array>, 'gzip', {
      checkpoints: recorder,
    }),
  );
  return { index: listing.files, checkpoints: recorder.finish() };
}

/** The reference: listing the layer from its start with the native decoder. */
async function listNative(path: string): Promise<number> {
  const blob = await openAsBlob(path);
  const t = performance.now();
  await listLayer(decompress(() => blob.stream() as ReadableStream<Uint8Array>, 'gzip'));
  return performance.now() - t;
}

async function timeZcat(paths: string[]): Promise<number> {
  const t = performance.now();
  for (const p of paths) await zcatBytes(p);
  return performance.now() - t;
}

/** Times one inventory of the listed image. */
export async function timeInventory(
  paths: string[],
  listed: { index: ColumnIndex; checkpoints: LayerCheckpoints | undefined }[],
): Promise<{ ms: number; inventory: Inventory; decoded: number }> {
  const blobs = await Promise.all(paths.map((p) => openAsBlob(p)));
  let decoded = 0;
  const t = performance.now();
  const inv = await inventory(
    listed.map((l, i) => ({
      index: l.index,
      tarFrom: async (offset, signal) => {
        const from = await tarFrom(blobs[i]!, 'gzip', l.checkpoints, offset, { signal });
        const counted = from.tar.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, c) {
              decoded += chunk.byteLength;
              c.enqueue(chunk);
            },
          }),
        );
        return { tar: counted, start: from.start };
      },
    })),
    { catalogers },
  );
  return { ms: performance.now() - t, inventory: inv, decoded };
}

export async function packagesCase(
  ctx: Pick<CaseContext, 'work' | 'runs' | 'small' | 'log'>,
): Promise<CaseResult> {
  const built = performance.now();
  const image = await buildPackagesImage(ctx.work, ctx.small);
  const compressed = (await Promise.all(image.layers.map((l) => stat(l)))).reduce(
    (n, s) => n + s.size,
    0,
  );
  ctx.log(
    `packages: image built in ${((performance.now() - built) / 1000).toFixed(0)} s: ` +
      `${(image.bytes / MiB).toFixed(0)} MiB (${(compressed / MiB).toFixed(0)} MiB gzip)`,
  );
  const listed = [];
  for (const l of image.layers) listed.push(await listWithCheckpoints(l));
  const plans = listed.map((l) => planLayer(l.index, catalogers));
  const planned = planSize(plans);

  const berth: number[] = [];
  const listing: number[] = [];
  const zcat: number[] = [];
  let last: Awaited<ReturnType<typeof timeInventory>> | undefined;
  for (let r = 0; r < ctx.runs; r++) {
    // The reference and Berth one after the other in each run, so that both see the same load.
    let ms = 0;
    for (const l of image.layers) ms += await listNative(l);
    listing.push(ms);
    zcat.push(await timeZcat(image.layers));
    last = await timeInventory(image.layers, listed);
    berth.push(last.ms);
    ctx.log(
      `packages run ${r + 1}: inventory ${last.ms.toFixed(0)} ms, listing ${ms.toFixed(0)} ms, ` +
        `zcat ${zcat.at(-1)!.toFixed(0)} ms`,
    );
  }
  const inv = last!.inventory;
  const byEco: Record<string, number> = {};
  for (const p of inv.packages) byEco[p.ecosystem] = (byEco[p.ecosystem] ?? 0) + 1;
  const ms = (xs: number[]) => statOf(xs);
  const rows: Row[] = [
    row({
      id: 'packages-inventory',
      metric: `inventory of a ${(image.bytes / MiB).toFixed(0)} MiB image (${image.debs} deb, ${image.npms} npm)`,
      unit: 'ms',
      berth: ms(berth),
      reference: { name: 'listing the same layers (native gunzip + tar)', ...ms(listing) },
      pairwise: true,
      target: { of: 'berth', max: 3000 },
      note:
        `found ${Object.entries(byEco)
          .map(([e, n]) => `${e} ${n}`)
          .join(', ')}; read ${planned.files} files (${(planned.bytes / MiB).toFixed(1)} MiB), ` +
        `decoded ${(last!.decoded / MiB).toFixed(0)} MiB of ${(image.bytes / MiB).toFixed(0)}; ` +
        `in Node (engine and decoders of the worker)`,
    }),
    row({
      id: 'packages-inventory-vs-zcat',
      metric: 'inventory against zcat | wc -c of the layers',
      unit: 'ms',
      berth: ms(berth),
      reference: { name: 'zcat | wc -c', ...ms(zcat) },
      pairwise: true,
    }),
  ];
  return {
    rows,
    fixture: {
      bytes: image.bytes,
      compressed,
      debs: image.debs,
      npms: image.npms,
      files: planned.files,
      found: byEco,
      problems: inv.problems.length,
    },
    raw: { berth, listing, zcat },
  };
}
