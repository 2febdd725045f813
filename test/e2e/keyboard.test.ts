// Keyboard only, no mouse: pull an image, open a layer, open a file, close it, and download the
// archive, which skopeo then verifies. Every step moves focus with keys the page documents.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatBytes } from '../../src/lib/units.ts';
import { FIXTURE_TEXT } from '../harness/fixtures.ts';
import { type E2E, startE2E } from './env.ts';

const exec = promisify(execFile);
let env: E2E;

beforeAll(async () => {
  env = await startE2E();
});
afterAll(async () => {
  await env?.stop();
});

/** The focused element as a person hears it: its role-ish tag and accessible name. */
function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return '';
    const label =
      el.getAttribute('aria-label') ??
      (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ??
      el.textContent ??
      '';
    return `${el.getAttribute('role') ?? el.tagName.toLowerCase()}: ${label.trim().replace(/\s+/g, ' ')}`;
  });
}

/** Presses Tab (or Shift+Tab) until the focused element is `want`; fails after `max`. */
async function tabTo(page: Page, want: string, opts: { back?: boolean; max?: number } = {}) {
  const seen: string[] = [];
  for (let i = 0; i < (opts.max ?? 120); i++) {
    await page.keyboard.press(opts.back ? 'Shift+Tab' : 'Tab');
    const now = await focused(page);
    if (now === want) return;
    seen.push(now);
  }
  throw new Error(`Tab never reached "${want}"; it went through:\n${seen.join('\n')}`);
}

test('pull, open a layer, open a file and download the archive without a mouse', async () => {
  const fx = env.fixtures.whiteout;
  const page = await env.page();
  await page.goto(env.app.url);

  // "/" goes to the reference box from anywhere; Enter pulls.
  await page.keyboard.press('/');
  expect(await focused(page)).toBe('input: Image reference');
  await page.keyboard.type(fx.ref);
  await page.keyboard.press('Enter');
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor({ timeout: 60_000 });
  await expect.poll(() => page.locator('p.notice').textContent()).toMatch(/^Pulled /);

  // Layer 2 holds /app/hello.txt.
  await tabTo(page, 'button: Browse layer 2');
  await page.keyboard.press('Enter');
  const tree = page.getByRole('tree', { name: 'Files in layer 2' });
  await tree.waitFor();
  await tabTo(page, 'tree: Files in layer 2');
  // Focus on the tree selects its first row, /app; → opens it, → again enters it.
  await expect
    .poll(() => tree.getByRole('treeitem', { selected: true }).getAttribute('aria-label'))
    .toBe('app');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  // Type-ahead: "h" jumps to hello.txt.
  await page.keyboard.press('h');
  await expect
    .poll(() => tree.getByRole('treeitem', { selected: true }).getAttribute('aria-label'))
    .toBe('hello.txt');
  await page.keyboard.press('Enter');

  // The viewer opens with focus inside it, and the URL names the file.
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent()).toContain(FIXTURE_TEXT.hello.trim());
  expect(await focused(page)).toBe('button: Download this file');
  expect(new URL(page.url()).searchParams.get('path')).toBe('/app/hello.txt');

  // Esc closes it and gives focus back to the tree, still on the file.
  await page.keyboard.press('Escape');
  await viewer.waitFor({ state: 'detached' });
  expect(await focused(page)).toBe('tree: Files in layer 2');
  expect(new URL(page.url()).searchParams.get('path')).toBeNull();

  // Back up the page to the archive button; Enter downloads it.
  await tabTo(page, 'button: Download OCI archive', { back: true });
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.keyboard.press('Enter'),
  ]);
  const file = join(env.tmp, `keyboard-${download.suggestedFilename()}`);
  await download.saveAs(file);
  await exec('skopeo', [
    'copy',
    `oci-archive:${file}`,
    `oci:${join(env.tmp, 'keyboard-layout')}:x`,
  ]);
  await page.context().close();
});

test('Esc closes the file browser too, and focus never gets lost', async () => {
  const fx = env.fixtures.whiteout;
  const page = await env.page();
  await page.goto(`${env.app.url}/?image=${fx.ref}&layer=merged`);
  const files = page.getByRole('region', { name: 'Files', exact: true });
  // The link inspects the image (it is not stored in this fresh context), then asks before it
  // downloads the layers; the answer is a key press too.
  await page.getByRole('region', { name: 'Download to open' }).waitFor({ timeout: 60_000 });
  const bytes = fx.layers!.reduce((n, l) => n + l.size, 0);
  await tabTo(page, `button: Download ${formatBytes(bytes)} and open`);
  await page.keyboard.press('Enter');
  await files.getByRole('tree', { name: 'Merged filesystem' }).waitFor({ timeout: 60_000 });
  await tabTo(page, 'tree: Merged filesystem');
  await page.keyboard.press('Escape');
  await files.waitFor({ state: 'detached' });
  expect(new URL(page.url()).searchParams.get('layer')).toBeNull();
  // The tree went away with focus in it: focus is on the image's heading, not lost.
  expect(await focused(page)).toBe(`h2: ${fx.ref}`);
  // Typing "/" in a field types a slash; outside one, it goes to the reference box.
  await page.keyboard.press('/');
  await page.keyboard.type('x/y');
  expect(await page.getByRole('textbox', { name: 'Image reference' }).inputValue()).toBe('x/y');
  await page.context().close();
});
