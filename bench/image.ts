// The benchmark's images, built from the machine's own /usr with GNU tar and gzip and pushed
// with skopeo: real files, real compression ratios, nothing cached between invocations.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, constants, lstat, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { FIXED_CREATED, MT, OciLayout, pushLayout, type Descriptor } from '../test/harness/oci.ts';
import type { Registry } from '../test/harness/registry.ts';

export interface Layer {
  digest: string;
  size: number;
  diffID: string;
  /** The blob on disk, in the build layout. */
  path: string;
  /** Bytes of tar (uncompressed). */
  tarSize: number;
}

export interface PushedImage {
  ref: string;
  repository: string;
  digest: string;
  layers: Layer[];
}

interface Entry {
  /** Relative to /, e.g. 'usr/bin/tar'. */
  path: string;
  /** Bytes a regular file adds to the tar; 0 for directories and links. */
  size: number;
}

/** Walks a tree in name order, depth first, yielding what tar can archive: directories,
 * regular files and symlinks that this user can read. */
async function* walk(root: string, rel: string, isRoot: boolean): AsyncGenerator<Entry> {
  let names: string[];
  try {
    names = (await readdir(join(root, rel))).sort();
  } catch {
    return; // unreadable directory: leave it out
  }
  for (const name of names) {
    const path = rel ? `${rel}/${name}` : name;
    let st;
    try {
      st = await lstat(join(root, path));
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      yield { path, size: 0 };
      yield* walk(root, path, isRoot);
    } else if (st.isSymbolicLink()) {
      yield { path, size: 0 };
    } else if (st.isFile()) {
      if (!isRoot) {
        try {
          await access(join(root, path), constants.R_OK);
        } catch {
          continue;
        }
      }
      yield { path, size: st.size };
    }
  }
}

/** An endless reader of the files under /usr: when the tree is used up it starts over, and
 * the next pass is archived under another top directory (copy2/usr/…), so names stay unique. */
export class UsrCursor {
  #walker: AsyncGenerator<Entry> | undefined;
  #pass = 1;
  readonly #isRoot = process.getuid?.() === 0;

  constructor(readonly top = 'usr') {}

  /** Files too big for the layer that met them, offered again to later ones. */
  #deferred: Entry[] = [];

  /** Entries adding up to about `bytes` of file content. A file larger than `maxEntry` is
   * set aside for a later call, so a layer can end close to its target. */
  async take(bytes: number, maxEntry = Infinity): Promise<{ pass: number; entries: Entry[] }> {
    const entries: Entry[] = [];
    let sum = 0;
    const add = (e: Entry) => {
      entries.push(e);
      sum += e.size + 512;
    };
    this.#deferred = this.#deferred.filter((e) => {
      if (sum >= bytes || e.size > maxEntry) return true;
      add(e);
      return false;
    });
    this.#walker ??= walk('/', this.top, this.#isRoot);
    while (sum < bytes) {
      const next = await this.#walker.next();
      if (next.done) {
        if (entries.length > 0) break; // finish this pass's piece first
        if (this.#pass > 50) throw new Error(`/${this.top} has no readable files`);
        this.#pass++;
        this.#deferred = []; // they are in the new pass too
        this.#walker = walk('/', this.top, this.#isRoot);
        continue;
      }
      if (next.value.size > maxEntry) this.#deferred.push(next.value);
      else add(next.value);
    }
    return { pass: this.#pass, entries };
  }
}

/** Runs a command whose stdout is consumed by `onData`; rejects on a failing exit status. */
async function pipeFrom(
  cmd: string,
  args: string[],
  onData: (chunk: Buffer) => Promise<void> | void,
  okCodes = [0],
) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  proc.stderr.on('data', (c: Buffer) => err.push(c));
  const closed = once(proc, 'close') as Promise<[number | null, string | null]>;
  for await (const chunk of proc.stdout) await onData(chunk as Buffer);
  const [code, signal] = await closed;
  if (code === null || !okCodes.includes(code)) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${Buffer.concat(err).toString()}`,
    );
  }
}

/**
 * Builds one gzip layer of about `target` compressed bytes from the files under /usr. tar runs
 * on pieces of the file list (each tar's end-of-archive blocks are dropped, one pair is written
 * at the very end), and files are added until gzip's output reaches the target.
 */
export async function buildUsrLayer(opts: {
  cursor: UsrCursor;
  work: string;
  target: number;
  level: number;
}): Promise<Omit<Layer, 'path'> & { file: string }> {
  const { work, target } = opts;
  const file = join(work, `layer-${Math.random().toString(36).slice(2)}.tar.gz`);
  const list = `${file}.list`;
  const gzip = spawn('gzip', ['-n', `-${opts.level}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = createWriteStream(file);
  const digest = createHash('sha256');
  let size = 0;
  gzip.stdout.on('data', (c: Buffer) => {
    digest.update(c);
    size += c.length;
  });
  gzip.stdout.pipe(out);
  const gzipDone = once(gzip, 'close');
  const diffID = createHash('sha256');
  let tarSize = 0;
  const feed = async (bytes: Buffer) => {
    diffID.update(bytes);
    tarSize += bytes.length;
    if (!gzip.stdin.write(bytes)) await once(gzip.stdin, 'drain');
  };
  try {
    while (size < target) {
      // What is left, in bytes of tar: gzip shrinks /usr by 2 or more, so this stays under
      // the target, and the pieces shrink as it nears.
      const left = Math.max(64 << 10, (target - size) * 2);
      const { pass, entries } = await opts.cursor.take(Math.min(32 << 20, left), left);
      await writeFile(list, entries.map((e) => e.path).join('\0') + '\0');
      const args = [
        '--create',
        '--file=-',
        '--blocking-factor=1',
        '--directory=/',
        '--no-recursion',
        '--null',
        `--files-from=${list}`,
        '--format=posix',
        '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--ignore-failed-read',
        '--warning=no-file-changed',
        '--warning=no-failed-read',
      ];
      // Member and hard-link names move under the pass's directory; symlink targets do not.
      if (pass > 1) args.push(`--transform=s,^,copy${pass}/,rSh`);
      // Every tar ends with two zero blocks (with --blocking-factor=1, no more): hold back the
      // last 1024 bytes of each and drop them, so the pieces concatenate into one archive.
      let held: Buffer = Buffer.alloc(0);
      await pipeFrom(
        'tar',
        args,
        async (chunk) => {
          const all = held.length ? Buffer.concat([held, chunk]) : chunk;
          held = all.subarray(Math.max(0, all.length - 1024));
          if (all.length > 1024) await feed(all.subarray(0, all.length - 1024));
        },
        [0, 1], // 1: a file changed while it was read; what was read is what is hashed
      );
      if (held.length !== 1024 || held.some((b) => b !== 0)) {
        throw new Error('tar did not end with exactly two zero blocks');
      }
      // Let gzip's output catch up before judging the size.
      await new Promise((r) => setImmediate(r));
    }
    await feed(Buffer.alloc(1024));
    gzip.stdin.end();
    await gzipDone;
    if (!out.writableFinished) await once(out, 'finish');
  } catch (err) {
    gzip.kill();
    throw err;
  } finally {
    await rm(list, { force: true });
  }
  return {
    file,
    size,
    tarSize,
    digest: `sha256:${digest.digest('hex')}`,
    diffID: `sha256:${diffID.digest('hex')}`,
  };
}

async function addLayer(
  layout: OciLayout,
  built: Awaited<ReturnType<typeof buildUsrLayer>>,
): Promise<Layer> {
  const desc = await layout.addBlobFile(built.file, MT.ociLayerGzip);
  if (desc.digest !== built.digest || desc.size !== built.size) {
    throw new Error(
      `layer ${built.file}: hashed ${built.digest} while writing, ${desc.digest} on disk`,
    );
  }
  return {
    digest: desc.digest,
    size: desc.size,
    diffID: built.diffID,
    tarSize: built.tarSize,
    path: layout.blobPath(desc.digest),
  };
}

/** Writes config and manifest for layers already in the layout, pushes it and checks the
 * registry serves the same manifest digest. */
export async function pushImage(opts: {
  layout: OciLayout;
  registry: Registry;
  repository: string;
  layers: Layer[];
  label: string;
}): Promise<PushedImage> {
  const { layout, layers } = opts;
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: FIXED_CREATED,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'berth.bench': opts.label },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((l, i) => ({
      created: FIXED_CREATED,
      created_by: `COPY /usr part ${i + 1} of ${layers.length} (${(l.tarSize / 1e6).toFixed(0)} MB) # berth bench`,
    })),
  };
  const configDesc = await layout.addJson(config, MT.ociConfig);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: configDesc,
    layers: layers.map((l): Descriptor => ({
      mediaType: MT.ociLayerGzip,
      digest: l.digest,
      size: l.size,
    })),
  };
  const descriptor = await layout.addJson(manifest, MT.ociManifest);
  const layoutTag = opts.repository.replace(/\//g, '-');
  await layout.tag(descriptor, layoutTag);
  await pushLayout({
    layout,
    layoutTag,
    registry: opts.registry,
    repository: opts.repository,
    tag: 'v1',
    expect: descriptor,
  });
  return {
    ref: `${opts.registry.host}/${opts.repository}:v1`,
    repository: opts.repository,
    digest: descriptor.digest,
    layers,
  };
}

export interface BenchImages {
  /** 3 or 4 layers, 300–400 MB of gzip, the first at least 150 MB. */
  big: PushedImage;
  /** big's layers under another config: nothing of it is stored when it is inspected. */
  view: PushedImage;
  /** big's largest layer alone. */
  mid: PushedImage;
  /** One 1 GiB layer; undefined with skipMemory. */
  huge?: PushedImage;
}

export interface ImageSizes {
  /** Compressed size of each layer of big (the first is the largest). */
  big: number[];
  /** Compressed size of huge's one layer. */
  huge: number;
}

export const FULL_SIZES: ImageSizes = {
  big: [185e6, 95e6, 50e6, 30e6],
  huge: 1 << 30,
};

export const SMALL_SIZES: ImageSizes = {
  big: [3e6, 1.5e6, 0.5e6],
  huge: 12 << 20,
};

/** Builds and pushes every image. The big image and the 1 GiB layer are built side by side
 * (gzip is single-threaded; the machine has at least two cores). */
export async function buildImages(opts: {
  registry: Registry;
  work: string;
  sizes: ImageSizes;
  skipMemory: boolean;
  log: (line: string) => void;
}): Promise<BenchImages> {
  const layout = await OciLayout.create(join(opts.work, 'layout'));
  const bigLayers = (async () => {
    const cursor = new UsrCursor();
    const layers: Layer[] = [];
    // gzip -6, the level Go's compress/gzip and GNU gzip use by default: what real images have.
    for (const target of opts.sizes.big) {
      layers.push(
        await addLayer(layout, await buildUsrLayer({ cursor, work: opts.work, target, level: 6 })),
      );
    }
    return layers;
  })();
  // gzip -1 for the 1 GiB layer: a pull never decompresses, and it halves the build time.
  const hugeLayer = opts.skipMemory
    ? undefined
    : (async () =>
        addLayer(
          layout,
          await buildUsrLayer({
            cursor: new UsrCursor(),
            work: opts.work,
            target: opts.sizes.huge,
            level: 1,
          }),
        ))();
  const [big, huge] = await Promise.all([bigLayers, hugeLayer]);
  opts.log(
    `layers: ${big.map((l) => `${(l.size / 1e6).toFixed(1)} MB`).join(' + ')} gzip` +
      (huge ? `; 1 GiB case: ${(huge.size / 1e6).toFixed(1)} MB` : ''),
  );
  const push = (repository: string, layers: Layer[], label: string) =>
    pushImage({ layout, registry: opts.registry, repository, layers, label });
  const largest = big.reduce((a, b) => (b.size > a.size ? b : a));
  return {
    big: await push('bench/big', big, 'big'),
    view: await push('bench/view', big, 'view'),
    mid: await push('bench/mid', [largest], 'mid'),
    ...(huge ? { huge: await push('bench/huge', [huge], 'huge') } : {}),
  };
}
