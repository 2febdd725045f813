// Looking inside layers in real Chromium: the merged filesystem with whiteouts applied, layer
// changes, layer formats (multi-member gzip, zstd, PAX long names), a hostile tar, a gzip bomb,
// a config whose diffIDs lie, and lazy layers fetched when opened.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import {
  BOMB_SIZE,
  buildBrowseFixtures,
  HOSTILE,
  LAZY_SIZE,
  LONG_PATH,
  type BrowseFixtures,
} from '../harness/browse.ts';
import { FIXTURE_TEXT } from '../harness/fixtures.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { type E2E, startE2E } from './env.ts';

let env: E2E;
let fx: BrowseFixtures;
let lazyShim: Shim;
/** The big layer's GET that stalls (counted from 1), 0 for none. */
let stallOn = 0;
let bigGets = 0;
let app: { url: string; close(): Promise<void> };

beforeAll(async () => {
  env = await startE2E();
  fx = await buildBrowseFixtures(env.registry);
  const big = fx.lazy.layers![1]!;
  // Counts what an inspect transfers, and can stall one GET of the big layer half way.
  lazyShim = await startShim(env.registry.url, {
    stallAfter: (req) => {
      if (req.method !== 'GET' || !req.path.endsWith(big.digest)) return undefined;
      return ++bigGets === stallOn ? 512 << 10 : undefined;
    },
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [env.registry.host, lazyShim.host],
  });
});
afterAll(async () => {
  await app?.close();
  await lazyShim?.stop();
  await env?.stop();
});

async function pulled(ref: string, settings?: Record<string, number>): Promise<Page> {
  const page = await env.page();
  if (settings) {
    await page.addInitScript(
      (s) => localStorage.setItem('berth.settings', JSON.stringify(s)),
      settings,
    );
  }
  page.on('dialog', (d) => {
    throw new Error(`unexpected dialog: ${d.message()}`);
  });
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  return page;
}

const files = (page: Page) => page.getByRole('region', { name: 'Files', exact: true });

/** Types a search and waits for its answer: the layers worker matches, after a pause. */
async function search(page: Page, query: string) {
  await files(page).getByRole('searchbox', { name: 'Search files' }).fill(query);
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
}

/** Every row of the tree as "path [change]", after a search for everything (which opens
 * every directory). */
async function treePaths(page: Page): Promise<string[]> {
  await search(page, '**');
  const tree = files(page).getByRole('tree');
  await tree.waitFor();
  // The rows come from the layers worker: wait for the search's answer and for every row on
  // screen to arrive (a row not fetched yet is a placeholder without a name).
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
  await expect
    .poll(() => tree.locator('[role=treeitem]:not([aria-label])').count(), { timeout: 30_000 })
    .toBe(0);
  return tree.evaluate((el) => {
    const stack: string[] = [];
    return [...el.querySelectorAll('[role=treeitem]')].map((item) => {
      const level = Number(item.getAttribute('aria-level'));
      stack.length = level - 1;
      stack.push(item.getAttribute('aria-label') ?? '');
      // The change is in the row's accessible description ("file, 82 B, added").
      const described = document.getElementById(item.getAttribute('aria-describedby') ?? '');
      const change = ['added', 'modified', 'deleted'].find((c) =>
        described?.textContent?.split(', ').includes(c),
      );
      return stack.join('/') + (change ? ` [${change}]` : '');
    });
  });
}

async function waitRead(page: Page) {
  await expect.poll(() => files(page).locator('.reading').count(), { timeout: 60_000 }).toBe(0);
}

async function viewFile(page: Page, query: string, name: string) {
  await search(page, query);
  await files(page).getByRole('treeitem', { name, exact: true }).click();
  await files(page).getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await viewer.waitFor();
  return viewer;
}

test('the merged filesystem applies whiteouts and opaque directories; each layer shows its changes', async () => {
  const page = await pulled(env.fixtures.whiteout.ref);
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await waitRead(page);
  expect(await treePaths(page)).toEqual([
    'app',
    'app/new.txt',
    'bin',
    'bin/busybox',
    'bin/ls',
    'bin/sh',
    'etc',
    'etc/passwd',
    'tmp',
  ]);
  const viewer = await viewFile(page, 'new.txt', 'new.txt');
  await expect.poll(() => viewer.textContent()).toContain(FIXTURE_TEXT.newTxt.trim());

  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'Layer 3' });
  await waitRead(page);
  expect(await treePaths(page)).toEqual([
    'app',
    'app/data.bin [deleted]',
    'app/hello.txt [deleted]',
    'app/new.txt [added]',
    'etc',
    'etc/motd [deleted]',
  ]);
  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'Layer 2' });
  expect(await treePaths(page)).toEqual([
    'app [added]',
    'app/data.bin [added]',
    'app/hello.txt [added]',
    'etc',
    'etc/motd [modified]',
  ]);

  // A search across every layer finds each copy, and the whiteout that deleted it.
  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'All layers' });
  await search(page, '*motd');
  const rows = await files(page)
    .getByRole('treeitem')
    .evaluateAll((items) => items.map((i) => i.getAttribute('aria-label')));
  expect(rows).toEqual([
    'Layer 1',
    'etc',
    'motd',
    'Layer 2',
    'etc',
    'motd',
    'Layer 3',
    'etc',
    '.wh.motd',
  ]);

  // Details of an entry, and the wasted space of the image.
  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'Layer 2' });
  await search(page, 'motd');
  await files(page).getByRole('treeitem', { name: 'motd', exact: true }).click();
  const details = page.getByRole('complementary', { name: 'Entry details' });
  expect(await details.textContent()).toMatch(/Mode\s*-rw-r--r--.*Owner\s*0:0.*Layer\s*2/s);
  const wasted = page.getByRole('region', { name: 'Wasted space' });
  expect(await wasted.textContent()).toMatch(/Efficiency \d+\.\d %/);
  expect(await wasted.textContent()).toContain('app/data.bin');
  await page.context().close();
});

test('multi-member gzip, zstd and PAX long names are read; file contents shown', async () => {
  const page = await pulled(fx.formats.ref);
  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await waitRead(page);
  const long = LONG_PATH.split('/').pop()!;
  const viewer = await viewFile(page, long, long);
  await expect.poll(() => viewer.textContent()).toContain('found at the end of a long path');
  expect(await viewer.getByRole('heading').textContent()).toContain(LONG_PATH);
  expect(await files(page).getByRole('alert').count()).toBe(0); // the diffID matched

  await files(page).getByRole('combobox', { name: 'View' }).selectOption({ label: 'Layer 2' });
  await waitRead(page);
  const zstd = await viewFile(page, 'zstd.txt', 'zstd.txt');
  await expect.poll(() => zstd.textContent()).toContain('this layer is zstd');
  // The chart knows both sizes of the layers read.
  expect(await page.getByRole('figure', { name: 'Layer sizes' }).textContent()).toMatch(/unpacked/);
  await page.context().close();
});

test('a hostile tar is shown literally, stays inert, and downloads get safe names', async () => {
  const page = await pulled(fx.hostile.ref);
  // Config text shows its bidi override and newline as escapes, like file names.
  const env = page.getByRole('list', { name: 'Env' }).getByRole('listitem');
  expect(await env.allTextContents()).toEqual([HOSTILE.envShown]);
  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await waitRead(page);
  const paths = await treePaths(page);
  for (const p of [
    '../../escape.txt',
    'abs/file.txt',
    HOSTILE.control,
    HOSTILE.html,
    HOSTILE.loopA,
    HOSTILE.loopB,
    HOSTILE.dangling,
  ]) {
    expect(paths.map((x) => x.replace(/ \[\w+\]$/, ''))).toContain(p);
  }

  const viewer = await viewFile(page, '*.html', HOSTILE.html);
  await expect.poll(() => viewer.textContent()).toContain(HOSTILE.htmlContent.trim());
  // The name reaches the tab's title as text, and nowhere as markup.
  expect(await page.title()).toBe(`${HOSTILE.html.split('/').pop()} · ${fx.hostile.ref} — Berth`);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator('script:not([src])').count()).toBe(0);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    viewer.getByRole('button', { name: 'Download this file' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('_img src=x onerror=alert(1)_.html');

  await search(page, 'dangling');
  await files(page).getByRole('treeitem', { name: HOSTILE.dangling, exact: true }).click();
  await files(page).getByRole('button', { name: 'View file' }).click();
  await expect
    .poll(() => page.getByRole('region', { name: 'File viewer' }).textContent())
    .toContain(`hard link to ${HOSTILE.missing}`);

  // The page is still usable: another image pulls and shows.
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.formats.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await expect
    .poll(() => page.getByRole('region', { name: 'Image summary' }).textContent())
    .toContain(fx.formats.digest);
  await page.context().close();
});

test('a gzip bomb: the view is capped and the page stays responsive', async () => {
  const page = await pulled(fx.bomb.ref);
  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  // While 200 MB are being read, the page answers and the search box takes input.
  const box = files(page).getByRole('searchbox', { name: 'Search files' });
  await box.fill('zeros');
  expect(await box.inputValue()).toBe('zeros');
  await waitRead(page);
  const viewer = await viewFile(page, 'zeros', 'zeros.bin');
  await expect.poll(() => viewer.textContent()).toMatch(/Showing the first 1\.05 MB of 200 MB/);
  expect(await viewer.textContent()).toContain('00000000');
  expect(BOMB_SIZE).toBe(200_000_000);
  await page.context().close();
});

test('a layer whose content does not match the config diffID is named', async () => {
  const page = await pulled(fx.badDiffID.ref);
  await page.getByRole('button', { name: 'Browse layer 2' }).click();
  const alert = files(page).getByRole('alert');
  await alert.waitFor({ timeout: 30_000 });
  expect(await alert.textContent()).toMatch(
    /Layer 2 does not match the image config: its content hashes to sha256:[0-9a-f]{64}, but rootfs.diff_ids lists/,
  );
  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await waitRead(page);
  expect(await files(page).getByRole('alert').count()).toBe(0);
  await page.context().close();
});

test('Inspect fetches the manifest and config only; a layer downloads when opened, its files listed as it arrives', async () => {
  const ref = `${lazyShim.host}/${fx.lazy.repository}:${fx.lazy.tag}`;
  const page = await env.page();
  await page.addInitScript(() =>
    localStorage.setItem('berth.settings', JSON.stringify({ pieceMiB: 1, stallSeconds: 2 })),
  );
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  const since = lazyShim.requests.length;
  await page.getByRole('button', { name: 'Inspect' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor();
  expect(await summary.textContent()).toContain('not downloaded');
  const served = () => lazyShim.requests.slice(since).reduce((n, r) => n + r.bytes, 0);
  expect(served()).toBeLessThan(1 << 20);

  // The second piece stalls half way: the file is listed from the first.
  bigGets = 0;
  stallOn = 2;
  await page.getByRole('button', { name: 'Browse layer 2' }).click();
  await files(page).getByRole('treeitem', { name: 'data', exact: true }).waitFor();
  expect(served()).toBeLessThan(LAZY_SIZE);
  await waitRead(page);
  expect(served()).toBeGreaterThan(LAZY_SIZE);
  expect(await files(page).getByRole('alert').count()).toBe(0);
  // Layer 2 is stored now; layer 1, never opened, still is not.
  const row = (n: number) =>
    summary.getByRole('listitem').filter({ hasText: fx.lazy.layers![n]!.digest.slice(7, 19) });
  await expect.poll(() => row(1).textContent()).not.toContain('not downloaded');
  expect(await row(0).textContent()).toContain('not downloaded');
  await page.context().close();
});
