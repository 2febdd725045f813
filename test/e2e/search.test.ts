// The file search in real Chromium: globs are matched by the layers worker, after typing
// pauses, so a hostile name cannot freeze the page (issue 13: a name of 4,096 "a"s and the
// pattern "*a*a*b" froze it for 23 s on one keystroke).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { push, type FixtureImage } from '../harness/fixtures.ts';
import { buildImage, OciLayout } from '../harness/oci.ts';
import { type E2E, startE2E } from './env.ts';

/** No file system takes a name this long: GNU tar's --transform gives it to the tar only. */
const LONG_A = 'a'.repeat(4096);
const LONG_AB = `${'a'.repeat(4096)}b`;
/** Twice as long: a backtracking matcher takes about eight times as long on it. */
const LONGER_A = 'a'.repeat(8192);

let env: E2E;
let image: FixtureImage;

beforeAll(async () => {
  env = await startE2E();
  const work = await mkdtemp(join(tmpdir(), 'berth-search-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const built = await buildImage({
      layout,
      layers: [
        {
          entries: [
            { type: 'file', path: 'long-a.txt', content: 'no b at the end\n' },
            { type: 'file', path: 'dir/long-ab.txt', content: 'b at the end\n' },
            { type: 'file', path: 'more/longer-a.txt', content: 'no b either\n' },
            { type: 'file', path: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
          ],
          transform: [
            `s,^long-a\\.txt$,${LONG_A},`,
            `s,^dir/long-ab\\.txt$,dir/${LONG_AB},`,
            `s,^more/longer-a\\.txt$,more/${LONGER_A},`,
          ],
        },
      ],
    });
    image = await push(layout, env.registry, 'search/long-names', 'v1', built);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
afterAll(async () => {
  await env?.stop();
});

const files = (page: Page) => page.getByRole('region', { name: 'Files' });

test('"*a*a*b" over a name of 4,096 "a"s: the page keeps answering and the match appears', async () => {
  const page = await env.page();
  await page.goto(`${env.app.url}/?${new URLSearchParams({ image: image.ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('button', { name: 'Browse layer 1' }).click();
  await expect.poll(() => files(page).locator('.reading').count(), { timeout: 60_000 }).toBe(0);
  await files(page).getByRole('treeitem', { name: LONG_A, exact: true }).waitFor();

  // Records whether the page ever says a search runs (it may say so only briefly).
  await page.evaluate(() => {
    const w = window as unknown as { sawSearching: string[] };
    w.sawSearching = [];
    new MutationObserver(() => {
      const s = document.querySelector('.searching');
      if (s) w.sawSearching.push(s.textContent ?? '');
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  // Typed key by key, as a person would: each keystroke is a new query.
  const box = files(page).getByRole('searchbox', { name: 'Search files' });
  await box.pressSequentially('*a*a*b');
  // The page answers while the search runs, and says that it runs.
  expect(await page.evaluate(() => 1)).toBe(1);
  await files(page).getByRole('treeitem', { name: LONG_AB, exact: true }).waitFor();
  await expect.poll(() => files(page).locator('.searching').count()).toBe(0);
  const saw = await page.evaluate(
    () => (window as unknown as { sawSearching: string[] }).sawSearching,
  );
  expect(saw).toContain('Searching…');
  const rows = await files(page)
    .getByRole('treeitem')
    .evaluateAll((items) => items.map((i) => i.getAttribute('aria-label')));
  expect(rows).toEqual(['dir', LONG_AB]);

  // A substring search, and back to everything.
  await box.fill('PASSWD');
  await files(page).getByRole('treeitem', { name: 'passwd', exact: true }).waitFor();
  await box.fill('');
  await files(page).getByRole('treeitem', { name: LONG_A, exact: true }).waitFor();
  await page.context().close();
});
