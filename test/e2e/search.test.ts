// Search inside files in Chromium: an image made at test time (text files in several layers,
// one deleted by a later layer, one overwritten, a binary with the word inside), searched for
// text and for an expression; results stream in, marked deleted or overwritten with the layer
// that did it; filters narrow them; a result opens the viewer at its line. A pathological
// expression, ^(a+)+$ over a line of 40 "a"s and a "b", cannot be interrupted in the worker:
// the page keeps answering, the watchdog stops the search with a message naming the file, the
// results so far stay, and a normal search works afterwards; Cancel stops one at once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { newPage } from '../harness/chromium.ts';
import { push } from '../harness/fixtures.ts';
import { buildImage, FIXED_CREATED, OciLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startBerth } from './env.ts';

let registry: Registry;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let work: string;
let ref: string;

/** The guide: 60 lines, the word on line 40. */
const guide = Array.from({ length: 60 }, (_, i) =>
  i === 39 ? 'line 40 holds the needle' : `line ${i + 1} of the guide`,
).join('\n');

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-search-e2e-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const binary = Buffer.concat([
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]),
    Buffer.from('a needle in a binary\n'),
    Buffer.alloc(64),
  ]);
  const built = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'a/first.txt', content: 'aaaa\nneedle-one here\n' },
          { type: 'file', path: 'docs/guide.txt', content: guide },
          { type: 'file', path: 'etc/app.conf', content: 'name=app\nmode=needle-one\n' },
          { type: 'file', path: 'tmp/secret.txt', content: 'a needle to be deleted\n' },
          { type: 'file', path: 'usr/bin/tool', content: binary, mode: 0o755 },
          { type: 'file', path: 'z/patho.txt', content: 'a'.repeat(40) + 'b\n' },
        ],
      },
      {
        entries: [
          { type: 'file', path: 'etc/app.conf', content: 'name=app\nmode=needle-two\n' },
          { type: 'whiteout', path: 'tmp/secret.txt' },
        ],
      },
    ],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: {},
      history: [
        { created: FIXED_CREATED, created_by: 'ADD rootfs.tar /' },
        { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c configure --two' },
      ],
    },
  });
  ref = (await push(layout, registry, 'test/search', 'v1', built)).ref;
  ({ app, browser } = await startBerth(registry));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function pulled(): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  return page;
}

const card = (page: Page) => page.getByRole('region', { name: 'Search inside files' });
const results = (page: Page) => card(page).getByRole('region', { name: 'Search results' });
const status = (page: Page) => card(page).getByRole('status');
/** The results drawn: "path:line, layer N, status" from each result's parts. */
const names = (page: Page) =>
  results(page)
    .getByRole('button')
    .evaluateAll((els) =>
      els.map((e) =>
        ['.path', '.layer', '.status']
          .map((c) => e.querySelector(c)?.textContent?.trim() ?? '')
          .join(', '),
      ),
    );

async function searchFor(page: Page, text: string, { regex = false } = {}) {
  const box = card(page).getByRole('checkbox', { name: 'Regular expression' });
  if ((await box.isChecked()) !== regex) await box.click();
  await card(page).getByRole('searchbox', { name: 'Search for' }).fill(text);
  await card(page).getByRole('button', { name: 'Search', exact: true }).click();
}

const done = (page: Page) =>
  expect.poll(() => status(page).textContent(), { timeout: 30_000 }).toMatch(/files searched/);

test('text and expressions; deleted and overwritten marked; filters; a result opens at its line', async () => {
  const page = await pulled();
  await searchFor(page, 'needle');
  await done(page);
  expect((await names(page)).sort()).toEqual([
    '/a/first.txt:2, Layer 1, in the merged view',
    '/docs/guide.txt:40, Layer 1, in the merged view',
    '/etc/app.conf:2, Layer 1, overwritten in layer 2',
    '/etc/app.conf:2, Layer 2, in the merged view',
    '/tmp/secret.txt:1, Layer 1, deleted in layer 2',
  ]);
  // The binary was skipped; the layer's history step is on each result.
  await expect.poll(() => status(page).textContent()).toContain('1 binary or other-kind file');
  const first = results(page).getByRole('button', { name: /^\/etc\/app\.conf:2 Layer 2/ });
  expect(await first.textContent()).toContain('Layer 2: RUN configure --two');
  const severe = (await axeViolations(page)).filter(isSevere);
  expect(severe.map((v) => `${v.id}: ${v.help} ${v.nodes.join(' ')}`)).toEqual([]);

  // An expression, case-insensitive by default.
  await searchFor(page, 'NEEDLE-(one|two)$', { regex: true });
  await done(page);
  expect((await names(page)).sort()).toEqual([
    '/etc/app.conf:2, Layer 1, overwritten in layer 2',
    '/etc/app.conf:2, Layer 2, in the merged view',
  ]);
  // Match case: none.
  await card(page).getByRole('checkbox', { name: 'Match case' }).check();
  await card(page).getByRole('button', { name: 'Search', exact: true }).click();
  await expect.poll(() => status(page).textContent()).toMatch(/^\s*0 results/);
  await card(page).getByRole('checkbox', { name: 'Match case' }).uncheck();
  // An invalid expression is said, and not run.
  await card(page).getByRole('searchbox', { name: 'Search for' }).fill('needle(');
  await expect
    .poll(() => card(page).getByRole('alert').textContent())
    .toContain('The regular expression is not valid');

  // Filters: the merged view; a path glob; binaries asked for.
  await card(page).getByRole('combobox', { name: 'Scope' }).selectOption('merged');
  await searchFor(page, 'needle');
  await done(page);
  expect((await names(page)).sort()).toEqual([
    '/a/first.txt:2, Layer 1, in the merged view',
    '/docs/guide.txt:40, Layer 1, in the merged view',
    '/etc/app.conf:2, Layer 2, in the merged view',
  ]);
  await card(page).getByRole('combobox', { name: 'Scope' }).selectOption('all');
  await card(page).getByText('Filters').click();
  await card(page).getByRole('textbox', { name: 'Path' }).fill('docs/**');
  await card(page).getByRole('button', { name: 'Search', exact: true }).click();
  await done(page);
  expect(await names(page)).toEqual(['/docs/guide.txt:40, Layer 1, in the merged view']);
  await card(page).getByRole('textbox', { name: 'Path' }).fill('');
  await card(page).getByRole('checkbox', { name: 'Search binary files too' }).check();
  await card(page).getByRole('button', { name: 'Search', exact: true }).click();
  await done(page);
  expect(await names(page)).toContain('/usr/bin/tool:1, Layer 1, in the merged view');
  await card(page).getByRole('checkbox', { name: 'Search binary files too' }).uncheck();

  // A result opens the viewer at its line, marked.
  await results(page)
    .getByRole('button', { name: /^\/docs\/guide\.txt:40 / })
    .click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await viewer.waitFor({ timeout: 30_000 });
  const marked = viewer.locator('[aria-current="true"]');
  await expect
    .poll(() => marked.textContent(), { timeout: 30_000 })
    .toBe('40line 40 holds the needle');
  await page.close();
});

test('a pathological expression: the page answers, the watchdog stops it, results stay; cancel', async () => {
  const page = await pulled();
  await searchFor(page, '^(a+)+$', { regex: true });
  await expect.poll(() => status(page).textContent()).toContain('Searching');
  // The page answers while the worker backtracks.
  const probes: number[] = [];
  for (let k = 0; k < 5; k++) {
    probes.push(await page.evaluate(() => 20 + 22));
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(probes).toEqual([42, 42, 42, 42, 42]);
  const alert = card(page).getByRole('alert');
  await expect
    .poll(() => alert.textContent(), { timeout: 30_000 })
    .toBe(
      'The search was stopped: the expression ran for more than 3 s on /z/patho.txt without finishing (catastrophic backtracking). Results so far are kept.',
    );
  // The line of "a"s before it is kept.
  expect(await names(page)).toEqual(['/a/first.txt:1, Layer 1, in the merged view']);

  // A normal search works afterwards (in a fresh worker).
  await searchFor(page, 'needle');
  await done(page);
  expect((await names(page)).length).toBe(5);

  // Cancel, at once, while the expression backtracks.
  await searchFor(page, '^(a+)+$', { regex: true });
  await expect.poll(() => status(page).textContent()).toContain('Searching');
  await card(page).getByRole('button', { name: 'Cancel' }).click();
  await expect.poll(() => status(page).textContent()).toContain('Search cancelled');
  expect(await card(page).getByRole('alert').count()).toBe(0);
  await searchFor(page, 'needle');
  await done(page);
  expect((await names(page)).length).toBe(5);
  await page.close();
});

test('an inspected image: the layers not stored are named with their size, downloaded on request, then searched', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Inspect', exact: true }).click();
  await card(page).waitFor({ timeout: 60_000 });
  await expect
    .poll(() => card(page).textContent(), { timeout: 30_000 })
    .toMatch(/Layers 1 and 2 \([\d.]+ [kKM]?B\)\s+are not stored in this browser/);
  await card(page).getByRole('searchbox', { name: 'Search for' }).fill('needle');
  await card(page).getByRole('button', { name: 'Download and search' }).click();
  await done(page);
  expect((await names(page)).length).toBe(5);
  expect(await card(page).textContent()).not.toContain('not stored in this browser');
  await page.close();
});
