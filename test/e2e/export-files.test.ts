// Exporting an image's files as a tar, in Chromium: an image built here with GNU tar (a
// whiteout, an opaque directory, hard links, one whose target a later layer replaces, a
// 150-character name, a symlink, a setuid file, a file owned by uid 1000, a fifo), pulled into
// the page, exported merged and compared file by file with `umoci unpack` of the same image
// (content, mode, link target, hard-link groups, set of paths; owners from GNU tar's listing,
// since a rootless unpack cannot keep them). GNU tar extracts every export with no warning. A
// subtree and both layer exports are checked too; an export needing layers not stored asks
// first, with their size; and a tab closed mid-export leaves nothing behind.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Download, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatBytes } from '../../src/lib/units.ts';
import { newPage } from '../harness/chromium.ts';
import { push, type FixtureImage } from '../harness/fixtures.ts';
import { buildImage, MT, OciLayout, skopeo } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startBerth } from './env.ts';

const exec = promisify(execFile);
const env = { ...process.env, LC_ALL: 'C.UTF-8' };
const LONG = `long/${'n'.repeat(70)}/${'m'.repeat(74)}`;
/** The interrupted export's file: big enough that the export takes a while. */
const BIG = 160 << 20;

let registry: Registry;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let work: string;
let image: FixtureImage;
let bigImage: FixtureImage;

/** A layer made with GNU tar here: `root`'s files owned by root, then `owned` appended as
 * uid/gid 1000 (an uncompressed tar, so that its digest is its diffID). */
async function rawLayer(root: string, owned: { dir: string; path: string }[]): Promise<Buffer> {
  const file = `${root}.tar`;
  const common = ['--format=posix', '--numeric-owner', '--mtime=@1700000000', '--sort=name'];
  const pax = '--pax-option=delete=atime,delete=ctime';
  const top = (await readdir(root)).sort();
  await exec('tar', [...common, pax, '--owner=0', '--group=0', '-cf', file, ...top], { cwd: root });
  for (const o of owned) {
    await exec('tar', [...common, pax, '--owner=1000', '--group=1000', '-rf', file, o.path], {
      cwd: o.dir,
    });
  }
  return readFile(file);
}

async function put(root: string, path: string, content: string | Buffer) {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), content);
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-export-e2e-'));
  const layout = await OciLayout.create(join(work, 'layout'));

  const r2 = join(work, 'r2');
  await put(r2, 'etc/.wh.keep', '');
  await put(r2, 'opt/.wh..wh..opq', '');
  await put(r2, 'opt/c', 'c\n');
  await put(r2, 'repl/a-target', 'new target\n');
  await put(r2, 'swap/d', 'now a file\n');
  await exec('mkfifo', [join(r2, 'pipe')]);
  const o2 = join(work, 'o2');
  await put(o2, 'owned/f', 'uid 1000\n');
  const layer2 = await rawLayer(r2, [{ dir: o2, path: 'owned/f' }]);

  const built = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/passwd', content: 'root:x:0:0\n' },
          { type: 'file', path: 'etc/keep', content: 'deleted later\n' },
          { type: 'symlink', path: 'etc/link', target: 'passwd' },
          { type: 'file', path: 'opt/a', content: 'a\n' },
          { type: 'file', path: 'opt/sub/b', content: 'b\n' },
          { type: 'file', path: 'bin/tool', content: 'setuid\n', mode: 0o4755 },
          { type: 'file', path: 'hl/a-orig', content: 'shared\n' },
          { type: 'hardlink', path: 'hl/link', target: 'hl/a-orig' },
          { type: 'file', path: 'repl/a-target', content: 'old target\n' },
          { type: 'hardlink', path: 'repl/link', target: 'repl/a-target' },
          { type: 'file', path: 'swap/d/child', content: 'child\n' },
          { type: 'file', path: LONG, content: 'long name\n' },
        ],
      },
      { raw: layer2, mediaType: MT.ociLayerTar },
      { entries: [{ type: 'file', path: 'swap/d/new', content: 'new\n' }] },
    ],
  });
  image = await push(layout, registry, 'test/export', 'v1', built);

  const rb = join(work, 'rb');
  await mkdir(rb, { recursive: true });
  await exec('sh', ['-c', `head -c ${BIG} /dev/urandom > "$0"`, join(rb, 'big')]);
  const big = await buildImage({
    layout,
    layers: [{ raw: await rawLayer(rb, []), mediaType: MT.ociLayerTar }],
  });
  bigImage = await push(layout, registry, 'test/export-big', 'v1', big);

  ({ app, browser } = await startBerth(registry));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const files = (page: Page) => page.getByRole('region', { name: 'Files', exact: true });

async function pulled(ref: string, page?: Page): Promise<Page> {
  page ??= await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  return page;
}

/** Clicks a button and saves the download it starts. */
async function exported(
  page: Page,
  name: string | RegExp,
  as: string,
): Promise<{ file: string; download: Download }> {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    files(page).getByRole('button', { name }).click(),
  ]);
  const file = join(work, as);
  await download.saveAs(file);
  return { file, download };
}

async function untar(file: string, name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  const { stderr } = await exec('tar', ['-xpf', file, '-C', dir], { env });
  expect(stderr).toBe('');
  return dir;
}

interface Node {
  type: string;
  mode: number;
  content?: string;
  target?: string;
  ino: number;
}

/** Every path below `root` with its type, mode, content hash or link target. */
async function walk(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const visit = async (rel: string) => {
    for (const name of await readdir(join(root, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, path));
      const node: Node = {
        type: st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : st.isFile()
                ? 'file'
                : 'other',
        mode: st.mode & 0o7777,
        ino: st.ino,
      };
      if (st.isFile()) {
        node.content = createHash('sha256')
          .update(await readFile(join(root, path)))
          .digest('hex');
      }
      if (st.isSymbolicLink()) node.target = await readlink(join(root, path));
      out.set(path, node);
      if (st.isDirectory()) await visit(path);
    }
  };
  await visit('');
  return out;
}

/** The paths that share an inode, as sorted groups of two or more. */
function linkGroups(tree: Map<string, Node>): string[][] {
  const by = new Map<number, string[]>();
  for (const [path, n] of tree) {
    if (n.type !== 'file') continue;
    by.set(n.ino, [...(by.get(n.ino) ?? []), path]);
  }
  return [...by.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort())
    .sort();
}

let unpacked: Promise<Map<string, Node>> | undefined;
/** The image as `umoci unpack` makes it (rootless), once. */
function umociTree(): Promise<Map<string, Node>> {
  unpacked ??= (async () => {
    const oci = join(work, 'oci');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${oci}:v1`]);
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${oci}:v1`, bundle]);
    return walk(join(bundle, 'rootfs'));
  })();
  return unpacked;
}

test('the merged export is what umoci unpacks from the same image, file by file', async () => {
  const page = await pulled(image.ref);
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await files(page)
    .getByRole('treeitem', { name: 'etc', exact: true })
    .waitFor({ timeout: 30_000 });
  const { file, download } = await exported(page, 'Export merged filesystem (tar)', 'merged.tar');
  expect(download.suggestedFilename()).toMatch(/_v1_merged\.tar$/);
  const ours = await walk(await untar(file, 'merged'));

  const theirs = await umociTree();
  expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
  for (const [path, a] of ours) {
    const b = theirs.get(path)!;
    const { ino: _a, ...mine } = a;
    const { ino: _b, ...umoci } = b;
    // umoci makes a directory it needs but no layer names 0755 as we do.
    expect(mine, path).toEqual(umoci);
  }
  expect(linkGroups(ours)).toEqual(linkGroups(theirs));
  expect(linkGroups(ours)).toEqual([['hl/a-orig', 'hl/link']]);
  expect(ours.has('etc/keep')).toBe(false);
  expect([...ours.keys()].filter((p) => p.startsWith('opt/'))).toEqual(['opt/c']);
  expect(ours.get('bin/tool')!.mode).toBe(0o4755);
  expect(ours.get('pipe')!.type).toBe('fifo');
  expect(ours.get(LONG)!.type).toBe('file');
  expect(await readFile(join(work, 'merged', 'repl/link'), 'utf8')).toBe('old target\n');

  // Owners, from GNU tar's listing: the uid 1000 file, everything else root.
  const { stdout } = await exec('tar', ['-tvf', file, '--numeric-owner'], { env });
  const owners = stdout
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/));
  for (const cols of owners) {
    const path = cols.slice(5).join(' ').split(' -> ')[0]!.split(' link to ')[0]!;
    expect(cols[1], path).toBe(path.startsWith('owned/f') ? '1000/1000' : '0/0');
  }
  await page.context().close();
});

test('a directory and a layer, as it is and as changes', async () => {
  const page = await pulled(image.ref);
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await files(page).getByRole('treeitem', { name: 'etc', exact: true }).click();
  const etc = await exported(page, 'Export /etc as tar', 'etc.tar');
  expect(etc.download.suggestedFilename()).toMatch(/_v1_etc\.tar$/);
  const dir = await walk(await untar(etc.file, 'etc'));
  expect([...dir.keys()].sort()).toEqual(['etc', 'etc/link', 'etc/passwd']);

  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'Layer 2' });
  await files(page).getByRole('treeitem', { name: 'opt', exact: true }).waitFor();
  const raw = await exported(page, 'Export layer 2: as it is', 'layer2.tar');
  expect(raw.download.suggestedFilename()).toMatch(/_v1_layer2\.tar$/);
  const digest = `sha256:${createHash('sha256')
    .update(await readFile(raw.file))
    .digest('hex')}`;
  expect(digest).toBe(image.layers![1]!.diffID);

  const changes = await exported(page, 'Export layer 2: as changes', 'layer2-changes.tar');
  const { stdout } = await exec('tar', ['-tf', changes.file], { env });
  expect(stdout.trim().split('\n').sort()).toEqual(
    [
      'etc/',
      'etc/.wh.keep',
      'opt/',
      'opt/.wh.a',
      'opt/.wh.sub',
      'opt/c',
      'owned/',
      'owned/f',
      'pipe',
      'repl/',
      'repl/a-target',
      'swap/',
      'swap/d',
    ].sort(),
  );
  await untar(changes.file, 'changes');
  await page.context().close();
});

test('an export that needs layers not stored asks first, with their size', async () => {
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(image.ref);
  await page.getByRole('button', { name: 'Inspect' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();
  await page.getByRole('button', { name: 'Browse layer 3' }).click();
  await files(page).getByRole('treeitem', { name: 'swap', exact: true }).waitFor();
  await files(page).getByRole('button', { name: 'Export merged filesystem (tar)' }).click();
  const ask = page.getByRole('alertdialog', { name: 'Download layers to export' });
  await ask.waitFor();
  const bytes = image.layers![0]!.size + image.layers![1]!.size;
  expect(await ask.textContent()).toContain(
    `Export needs 2 layers not stored: ${formatBytes(bytes)} to download. Download and export?`,
  );
  // The question has the focus: Enter answers yes.
  const yes = ask.getByRole('button', { name: 'Download and export' });
  await expect.poll(() => yes.evaluate((el) => el === document.activeElement)).toBe(true);
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.keyboard.press('Enter'),
  ]);
  const file = join(work, 'asked.tar');
  await download.saveAs(file);
  const tree = await walk(await untar(file, 'asked'));
  expect([...tree.keys()].sort()).toEqual([...(await umociTree()).keys()].sort());
  await page.context().close();
});

/** What the page's origin holds: records per IndexedDB object store, and OPFS files. */
async function stored(page: Page): Promise<Record<string, number>> {
  return page.evaluate(async () => {
    const out: Record<string, number> = {};
    for (const info of await indexedDB.databases()) {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open(info.name!);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      for (const name of db.objectStoreNames) {
        out[`${info.name}/${name}`] = await new Promise<number>((resolve) => {
          const r = db.transaction(name).objectStore(name).count();
          r.onsuccess = () => resolve(r.result);
        });
      }
      db.close();
    }
    let opfs = 0;
    const visit = async (dir: FileSystemDirectoryHandle) => {
      for await (const h of dir.values()) {
        if (h.kind === 'file') opfs++;
        else await visit(h);
      }
    };
    await visit(await navigator.storage.getDirectory());
    out.opfs = opfs;
    return out;
  });
}

test('an export interrupted by closing the tab leaves nothing behind', async () => {
  const page = await pulled(bigImage.ref);
  const context = page.context();
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await files(page)
    .getByRole('treeitem', { name: 'big', exact: true })
    .waitFor({ timeout: 60_000 });
  const before = await stored(page);
  let downloads = 0;
  page.on('download', () => downloads++);
  const progress = files(page).getByRole('progressbar', { name: 'Export progress' });
  // Cancel stops it: nothing saved, and the page says so.
  await files(page).getByRole('button', { name: 'Export merged filesystem (tar)' }).click();
  await progress.waitFor({ timeout: 30_000 });
  await files(page).getByRole('button', { name: 'Cancel export' }).click();
  await files(page)
    .getByRole('status')
    .filter({ hasText: 'Export cancelled: nothing was saved.' })
    .waitFor();
  expect(await progress.count()).toBe(0);
  await files(page).getByRole('button', { name: 'Export merged filesystem (tar)' }).click();
  // Closed once the tar is being written, well before its end.
  await expect.poll(() => progress.count(), { interval: 20 }).toBe(1);
  await page.close();
  expect(downloads).toBe(0);
  const again = await context.newPage();
  await again.goto(app.url);
  expect(await stored(again)).toEqual(before);
  await context.close();
});
