// Comparing two images in Chromium: by URL, from the tag list and from the library; the
// summary, config, history and layers at once, the files after a yes; a filter, a file's diff,
// the JSON export; the same comparison reopened offline; two platforms of one index; and the
// four inputs that cannot be compared, each said plainly with nothing stored changed.
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { axeViolations, focusWalk, isSevere } from '../harness/axe.ts';
import { buildCompareFixtures, type CompareFixtures } from '../harness/compare-fixtures.ts';
import { putManifest, uploadBlob } from '../harness/formats.ts';
import { sha256Bytes } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { storeContents, startBerth } from './env.ts';

let registry: Registry;
let fx: CompareFixtures;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
/** An OCI artifact (an empty config, one text blob), not an image. */
let artifactRef: string;

beforeAll(async () => {
  registry = await startRegistry();
  fx = await buildCompareFixtures(registry);
  const empty = Buffer.from('{}');
  const note = Buffer.from('not an image\n');
  await uploadBlob(registry, 'test/notimage', empty, sha256Bytes(empty));
  await uploadBlob(registry, 'test/notimage', note, sha256Bytes(note));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.berth.test.note',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: sha256Bytes(empty),
        size: empty.length,
      },
      layers: [{ mediaType: 'text/plain', digest: sha256Bytes(note), size: note.length }],
    }),
  );
  await putManifest(
    registry,
    'test/notimage',
    'v1',
    manifest,
    'application/vnd.oci.image.manifest.v1+json',
  );
  artifactRef = `${registry.host}/test/notimage:v1`;
  ({ app, browser } = await startBerth(registry));
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
});

const q = (params: Record<string, string>) => `/?${new URLSearchParams(params)}`;
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });
const tree = (page: Page) => page.getByRole('tree', { name: 'Files compared' });
/** A region's text as read, its white space collapsed. */
const text = async (l: Locator) => ((await l.textContent()) ?? '').replace(/\s+/g, ' ');

/** The names of the tree's rows on screen. */
async function rowNames(page: Page): Promise<string[]> {
  return tree(page)
    .getByRole('treeitem')
    .evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
}

/** Opens a comparison by URL and says yes to the layers it needs, when it asks. */
async function openCompared(page: Page, params: Record<string, string>) {
  await page.goto(`${app.url}${q(params)}`);
  await region(page, 'Comparison summary').waitFor({ timeout: 60_000 });
  const ask = page.getByRole('button', { name: /and compare files$/ });
  await Promise.race([ask.waitFor({ timeout: 60_000 }), tree(page).waitFor({ timeout: 60_000 })]);
  if (await ask.isVisible()) await ask.click();
  await tree(page).getByRole('treeitem').first().waitFor({ timeout: 60_000 });
}

describe('two versions of an image', () => {
  let context: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    context = await browser.newContext({ acceptDownloads: true });
    page = await context.newPage();
  });
  afterAll(async () => {
    await context?.close();
  });

  test('by URL: the small part at once, the files after a yes, with their size first', async () => {
    await page.goto(`${app.url}${q({ image: fx.a.ref, compare: fx.b.ref })}`);
    const summary = region(page, 'Comparison summary');
    await summary.waitFor({ timeout: 60_000 });
    // Nothing stored yet: the manifests and configs were read, the layers wait for a yes.
    const ask = region(page, 'Download to compare files');
    await ask.waitFor();
    const missing = new Set([...fx.a.layers!, ...fx.b.layers!].map((l) => l.digest));
    expect(await text(ask)).toContain(`${missing.size} layers this browser does not hold`);
    const stored = await storeContents(page);
    for (const d of missing) expect(stored.blobs, `${d} not downloaded yet`).not.toContain(d);

    expect(await text(summary)).toMatch(/1 shared by digest, 1 more the same content/);
    expect(await text(summary)).toMatch(/2 layers from the bottom/);
    const config = await region(page, 'Config differences').textContent();
    for (const key of ['APP_VERSION', 'OLD_ONLY', 'NEW_ONLY', 'berth.test.added', '9090/tcp'])
      expect(config).toContain(key);
    expect(config).not.toContain('berth.test.fixture');
    const history = region(page, 'History differences');
    const steps = await history.getByRole('listitem').allTextContents();
    expect(steps.findIndex((s) => s.includes('The images diverge here'))).toBe(
      fx.expected.historyDivergesAt,
    );

    await ask.getByRole('button', { name: /and compare files$/ }).click();
    await tree(page).getByRole('treeitem').first().waitFor({ timeout: 60_000 });
    expect(await rowNames(page)).toEqual(['app', 'cache', 'etc', 'opt']);
    // The files' summary joins the summary.
    await expect.poll(() => text(summary)).toMatch(/files? added/);
  });

  test('changed only hides what did not change; a file opens its diff, and the URL says so', async () => {
    const files = region(page, 'Files');
    await files.getByRole('checkbox', { name: 'Changed only' }).check();
    await expect.poll(() => rowNames(page)).toEqual(['app', 'cache', 'etc']);

    await tree(page).getByRole('treeitem', { name: 'app', exact: true }).dblclick();
    await tree(page).getByRole('treeitem', { name: 'config.txt', exact: true }).click();
    await files.getByRole('button', { name: 'Compare file' }).click();
    const diff = region(page, 'File diff');
    await diff.getByRole('region', { name: 'Side by side diff' }).waitFor();
    const text = await diff.textContent();
    expect(text).toContain('version=1');
    expect(text).toContain('version=2');
    expect(new URL(page.url()).searchParams.get('path')).toBe('/app/config.txt');
    await diff.getByRole('button', { name: 'Unified' }).click();
    const unified = diff.getByRole('region', { name: 'Unified diff' });
    expect(await unified.locator('tr.del').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('version=1')]),
    );
    expect(await unified.locator('tr.add').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('version=2')]),
    );

    // A binary changed in one byte: its first difference in hex.
    await tree(page).getByRole('treeitem', { name: 'data.bin', exact: true }).dblclick();
    await diff.getByText('at byte 10,000').waitFor();
    await diff.getByLabel('Hex of the first image').waitFor();

    // Back closes the diff: the URL of the comparison alone.
    await page.goBack();
    await expect.poll(() => new URL(page.url()).searchParams.get('path')).toBe('/app/config.txt');
    await page.goBack();
    await expect.poll(() => diff.count()).toBe(0);
    expect(new URL(page.url()).searchParams.get('path')).toBeNull();
  });

  test('the JSON export parses and names the changes', async () => {
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download JSON' }).click();
    const download = await downloading;
    const doc = JSON.parse(await readFile((await download.path())!, 'utf8')) as {
      schema: string;
      identical: boolean;
      files: { paths: { path: string; difference: string; aspects: string[] }[] };
    };
    expect(doc.schema).toBe('berth.compare.v1');
    expect(doc.identical).toBe(false);
    const byPath = new Map(doc.files.paths.map((p) => [p.path, p]));
    expect(byPath.get('app/added.txt')?.difference).toBe('added');
    expect(byPath.get('etc/motd')?.difference).toBe('removed');
    expect(byPath.get('app/run.sh')?.aspects).toEqual(['mode']);
  });

  test('offline, the same comparison reopens from the store', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await context.setOffline(true);
    try {
      await page.goto(
        `${app.url}${q({ image: fx.a.ref, compare: fx.b.ref, path: '/app/config.txt' })}`,
      );
      await region(page, 'Comparison summary').waitFor({ timeout: 60_000 });
      // Every layer is stored: no question, the files and the diff open.
      const diff = region(page, 'File diff');
      await diff.getByText('version=2').first().waitFor({ timeout: 60_000 });
      expect(await rowNames(page)).toContain('app');
    } finally {
      await context.setOffline(false);
    }
  });

  test('from the tag list on the image view', async () => {
    await page.goto(`${app.url}${q({ image: fx.a.ref })}`);
    const compareWith = region(page, 'Compare with');
    const tag = compareWith.getByRole('combobox', { name: 'A tag' });
    await tag
      .locator('option', { hasText: fx.b.ref })
      .waitFor({ state: 'attached', timeout: 30_000 });
    await tag.selectOption(fx.b.ref);
    await region(page, 'Comparison summary').waitFor({ timeout: 60_000 });
    expect(new URL(page.url()).searchParams.get('compare')).toBe(fx.b.ref);
    await tree(page).getByRole('treeitem').first().waitFor({ timeout: 60_000 });
  });

  test('from the library', async () => {
    await page.goto(`${app.url}/?view=library`);
    const library = region(page, 'Library');
    await library.getByRole('button', { name: `Compare ${fx.b.ref}`, exact: true }).click();
    await library.getByRole('button', { name: `Compare with ${fx.a.ref}`, exact: true }).click();
    await region(page, 'Comparison summary').waitFor({ timeout: 60_000 });
    const url = new URL(page.url());
    expect([url.searchParams.get('image'), url.searchParams.get('compare')]).toEqual([
      fx.b.ref,
      fx.a.ref,
    ]);
    await tree(page).getByRole('treeitem').first().waitFor({ timeout: 60_000 });
    // Compared the other way round, what was added is removed.
    await region(page, 'Files')
      .getByRole('searchbox', { name: 'Filter by path or glob' })
      .fill('app/added.txt');
    await expect
      .poll(async () => (await tree(page).textContent()) ?? '')
      .toMatch(/added\.txt.*removed/);
  });

  test('axe finds nothing serious on a comparison with its diff open', async () => {
    await openCompared(page, { image: fx.a.ref, compare: fx.b.ref, path: '/app/config.txt' });
    await region(page, 'File diff').getByRole('region', { name: 'Side by side diff' }).waitFor();
    const severe = (await axeViolations(page)).filter(isSevere);
    expect(severe.map((v) => `${v.id}: ${v.help}\n  ${v.nodes.join('\n  ')}`)).toEqual([]);
    const { seen, missed } = await focusWalk(page);
    expect(seen.length).toBeGreaterThan(10);
    expect(missed, 'controls Tab never reaches').toEqual([]);
    expect(seen.filter((w) => !w.visible).map((w) => w.name)).toEqual([]);
  });

  test('without a mouse: arrows and Enter open a file, Esc closes its diff', async () => {
    await openCompared(page, { image: fx.a.ref, compare: fx.b.ref });
    await expect.poll(() => rowNames(page)).toEqual(['app', 'cache', 'etc', 'opt']);
    await tree(page).focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('Enter'); // app opens
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const diff = region(page, 'File diff');
    await diff.getByText('only in b').first().waitFor();
    expect(new URL(page.url()).searchParams.get('path')).toBe('/app/added.txt');
    // Focus followed the file into the diff: Esc closes it, and the URL drops the file.
    await page.keyboard.press('Escape');
    await expect.poll(() => diff.count()).toBe(0);
    expect(new URL(page.url()).searchParams.get('path')).toBeNull();
  });
});

test('two platforms of one index', async () => {
  const page = await browser.newPage();
  try {
    await openCompared(page, {
      image: fx.multi.ref,
      platform: 'linux/amd64',
      compare: fx.multi.ref,
      comparePlatform: 'linux/arm64/v8',
    });
    const files = region(page, 'Files');
    await files
      .getByRole('searchbox', { name: 'Filter by path or glob' })
      .fill('usr/lib/amd64-only');
    await expect
      .poll(async () => (await tree(page).textContent()) ?? '')
      .toMatch(/amd64-only.*removed/);
  } finally {
    await page.context().close();
  }
});

describe('what cannot be compared is said, and nothing stored changes', () => {
  let page: Page;
  let before: Awaited<ReturnType<typeof storeContents>>;
  beforeAll(async () => {
    page = await browser.newPage();
    // a is stored in full: the comparisons below have something to change, and must not.
    await openCompared(page, { image: fx.a.ref, compare: fx.b.ref });
    before = await storeContents(page);
  });
  afterAll(async () => {
    await page?.context().close();
  });

  const cases: [string, () => Record<string, string>, RegExp][] = [
    [
      'an image compared with itself',
      () => ({ image: fx.a.ref, compare: fx.a.ref }),
      /are the same image .*nothing to compare/,
    ],
    [
      'an index against a single image',
      () => ({ image: fx.multi.ref, compare: fx.a.ref }),
      /is an index of 2 platforms .* choose which platform/,
    ],
    [
      'an artifact',
      () => ({ image: fx.a.ref, compare: artifactRef }),
      /is not an image: it is an artifact/,
    ],
    [
      'a reference that cannot be resolved',
      () => ({ image: fx.a.ref, compare: `${registry.host}/test/nothing:v9` }),
      /test\/nothing:v9 could not be resolved/,
    ],
  ];
  for (const [name, params, said] of cases) {
    test(name, async () => {
      await page.goto(`${app.url}${q(params())}`);
      const alert = region(page, 'Comparison').getByRole('alert');
      await alert.waitFor({ timeout: 60_000 });
      expect(await alert.textContent()).toMatch(said);
      expect(await region(page, 'Comparison summary').count()).toBe(0);
      const after = await storeContents(page);
      expect(after.images.sort()).toEqual(before.images.sort());
      expect(after.pulls).toEqual(before.pulls);
    });
  }

  test('the platform asked for is chosen on the page, and the comparison goes on', async () => {
    await page.goto(`${app.url}${q({ image: fx.multi.ref, compare: fx.a.ref })}`);
    await page.getByRole('combobox', { name: 'Platform', exact: true }).selectOption('linux/amd64');
    await region(page, 'Comparison summary').waitFor({ timeout: 60_000 });
    expect(new URL(page.url()).searchParams.get('platform')).toBe('linux/amd64');
  });
});
