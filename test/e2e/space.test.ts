// Where the space goes, in Chromium: an image built at test time whose second layer replaces a
// big file of the first and copies another's bytes to a new path, and whose third deletes a
// cache. The card, on request: the treemap zoomed by directory and a file opened from it in the
// viewer, the largest files, the duplicated content found by hashing, and the wasted space named
// by the history step that caused it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { newPage } from '../harness/chromium.ts';
import { push } from '../harness/fixtures.ts';
import { noise } from '../harness/images.ts';
import { buildImage, FIXED_CREATED, OciLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startBerth } from './env.ts';

let registry: Registry;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let work: string;
let ref: string;

const README = 'where the space goes\n';

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-space-e2e-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const shared = Buffer.from(noise(50_000));
  const built = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'usr/lib/big.bin', content: Buffer.from(noise(300_000)) },
          { type: 'file', path: 'usr/share/doc/readme.txt', content: README },
          { type: 'file', path: 'opt/data/blob.bin', content: shared },
          { type: 'file', path: 'var/cache/apt/pkg.bin', content: Buffer.from(noise(100_000)) },
        ],
      },
      {
        entries: [
          { type: 'file', path: 'usr/lib/big.bin', content: Buffer.from(noise(320_000)) },
          { type: 'file', path: 'srv/copy.bin', content: shared },
        ],
      },
      { entries: [{ type: 'whiteout', path: 'var/cache/apt/pkg.bin' }] },
    ],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: {},
      history: [
        { created: FIXED_CREATED, created_by: 'ADD base.tar /' },
        { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c apt-get install -y big' },
        { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c rm -rf /var/cache/apt/pkg.bin' },
      ],
    },
  });
  ref = (await push(layout, registry, 'test/space', 'v1', built)).ref;
  ({ app, browser } = await startBerth(registry));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const card = (page: Page) => page.getByRole('region', { name: 'Space', exact: true });
const contents = (page: Page, path: string) =>
  card(page).getByRole('list', { name: `Contents of /${path}`, exact: true });
/** Rectangles the treemap drew. */
const drawn = (page: Page) =>
  card(page)
    .locator('canvas')
    .evaluate((c) => Number(c.getAttribute('data-rects')));

test('the treemap zooms and opens a file; largest files, duplicates and wasted steps', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  await card(page).getByRole('button', { name: 'Show where the space goes' }).click();

  // The root: its children largest first, and rectangles drawn.
  const root = contents(page, '');
  await root.waitFor({ timeout: 60_000 });
  await expect.poll(() => drawn(page)).toBeGreaterThan(4);
  const names = await root
    .getByRole('button')
    .evaluateAll((bs) => bs.map((b) => b.querySelector('.name')?.textContent?.trim()));
  // var/ is left with its empty directories once the cache is deleted.
  expect(names).toEqual(['usr/', 'opt/', 'srv/', 'var/']);

  // Zoom in by the list, then by the breadcrumb and Up.
  await root.getByRole('button', { name: /^usr\// }).click();
  await contents(page, 'usr')
    .getByRole('button', { name: /^share\// })
    .click();
  await contents(page, 'usr/share')
    .getByRole('button', { name: /^doc\// })
    .click();
  const doc = contents(page, 'usr/share/doc');
  await doc.waitFor();
  await card(page).getByRole('button', { name: 'Up', exact: true }).click();
  await contents(page, 'usr/share').waitFor();
  await contents(page, 'usr/share')
    .getByRole('button', { name: /^doc\// })
    .click();
  // A file opens in the viewer, in the file browser at its path.
  await doc.getByRole('button', { name: /^readme\.txt/ }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: 30_000 }).toContain(README.trim());
  expect(new URL(page.url()).searchParams.get('path')).toBe('/usr/share/doc/readme.txt');

  // Back to the root by the breadcrumb.
  await card(page).getByRole('button', { name: '/', exact: true }).click();
  await root.waitFor();

  // The map itself: big.bin is most of the image, so the middle of the map is its rectangle.
  // Hovering names it in a tooltip; a click opens it.
  const canvas = card(page).locator('canvas');
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const tip = card(page).getByRole('tooltip');
  await expect.poll(() => tip.textContent()).toMatch(/^\s*\/usr\/lib\/big\.bin\s*320 kB\s*$/);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await expect.poll(() => new URL(page.url()).searchParams.get('path')).toBe('/usr/lib/big.bin');

  // The largest files: the replacement first, with its layer.
  const table = card(page).getByRole('region', { name: 'Largest files table' });
  await table.waitFor();
  const rows = await table
    .locator('tbody tr:not(.spacer)')
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    );
  expect(rows).toEqual([
    ['320 kB', '/usr/lib/big.bin', '2'],
    ['50.0 kB', '/opt/data/blob.bin', '1'],
    ['50.0 kB', '/srv/copy.bin', '2'],
    ['21 B', '/usr/share/doc/readme.txt', '1'],
  ]);

  // Duplicates: the two copies of the shared bytes, in two layers.
  const dups = card(page).getByRole('region', { name: 'Duplicated content' });
  await expect.poll(() => dups.textContent()).toContain('hashing them reads');
  await dups.getByRole('button', { name: 'Find duplicates', exact: true }).click();
  const groups = dups.getByRole('list', { name: 'Duplicate groups' });
  await groups.waitFor({ timeout: 30_000 });
  const group = (await groups.textContent())?.replace(/\s+/g, ' ') ?? '';
  expect(group).toContain('50.0 kB × 2');
  expect(group).toContain('/opt/data/blob.bin in layer 1');
  expect(group).toContain('/srv/copy.bin in layer 2');

  // Wasted space, by the step that caused it.
  const steps = card(page).getByRole('list', { name: 'Wasted space by history step' });
  await steps.waitFor();
  const text = (await steps.locator('li').allTextContents()).map((t) =>
    t.replace(/\s+/g, ' ').trim(),
  );
  expect(text).toEqual([
    'Layer 2: RUN apt-get install -y big wasted 300 kB by replacing files of layer 1 (1 path)',
    'Layer 3: RUN rm -rf /var/cache/apt/pkg.bin wasted 100 kB by deleting files of layer 1 (1 path)',
  ]);

  const severe = (await axeViolations(page)).filter(isSevere);
  expect(severe).toEqual([]);
}, 120_000);

test('an inspected image: the card says what it would download, then shows one layer', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Inspect' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  // Nothing is downloaded before the person asks, and the card says how much it may be.
  await expect
    .poll(async () => (await card(page).textContent())?.replace(/\s+/g, ' '))
    .toMatch(/Layers 1, 2, 3 are not stored in this browser: listing them may download up to/);
  await card(page)
    .getByRole('button', { name: /^Download up to .+ and show where the space goes$/ })
    .click();
  await contents(page, '').waitFor({ timeout: 60_000 });

  // One layer's own files: layer 2 holds the new big.bin and the copy.
  await card(page)
    .getByRole('combobox', { name: 'Show' })
    .selectOption({ label: 'Layer 2: RUN apt-get install -y big' });
  await expect
    .poll(() =>
      contents(page, '')
        .getByRole('button')
        .evaluateAll((bs) => bs.map((b) => b.querySelector('.name')?.textContent?.trim())),
    )
    .toEqual(['usr/', 'srv/']);
  const table = card(page).getByRole('region', { name: 'Largest files table' });
  await expect
    .poll(() => table.locator('tbody tr:not(.spacer) td:nth-child(2)').allTextContents())
    .toEqual(['/usr/lib/big.bin', '/srv/copy.bin']);
}, 120_000);
