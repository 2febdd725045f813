// A hostile image opened in every view of real Chromium (issue 13): markup, bidi and newline
// names, prototype keys, invalid UTF-8, a 4096-character name, an mtime of 1e13 s, symlink
// loops, a device node, spoofing characters and 1 MiB values in the config, the 18-byte zstd
// frame that stalls a decoder, a gzip bomb, and a config nested 2,000 deep. Each check is its own
// test, in order, on one page: nothing runs, nothing freezes, and every failure is named.
// Waits are for content; the generous timeouts only turn a hang into a failure.
import type { Browser, Download, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { newPage } from '../harness/chromium.ts';
import {
  buildHostileFixtures,
  LAYER,
  MARKUP,
  ODD,
  type HostileFixtures,
} from '../harness/hostile.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startBerth } from './env.ts';

/** The layer job limit the page runs with (Settings), in seconds. */
const jobSeconds = 30;
/** Long enough for any step on a loaded machine; a step past it is a hang. */
const patience = 150_000;

let registry: Registry;
let fx: HostileFixtures;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
/** One check of the tour: a test with room for the slow steps (a hang still fails it). */
const step = (name: string, fn: () => Promise<void> | void) => test(name, fn, 600_000);
const consoleErrors: string[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  fx = await buildHostileFixtures(registry);
  ({ app, browser } = await startBerth(registry));
  page = await newPage(browser);
  await page.addInitScript((seconds) => {
    localStorage.setItem('berth.settings', JSON.stringify({ layerJobSeconds: seconds }));
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  }, jobSeconds);
  page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
});

const summary = () => page.getByRole('region', { name: 'Image summary' });
const files = () => page.getByRole('region', { name: 'Files', exact: true });
const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);
const layerDigest = (i: number) => fx.hostile.layers![i]!.digest;

/** The page answers a script while work runs: a hang fails here, never a slow answer. */
async function answers(): Promise<boolean> {
  const hung = new Promise<false>((resolve) => setTimeout(() => resolve(false), 30_000));
  return Promise.race([page.evaluate(() => true), hung]);
}

/** What ran or was injected from the image's data. */
function injected() {
  return page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: unknown }).__pwned ?? null,
    imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
    scripts: [...document.scripts].filter((s) => s.textContent?.includes('__pwned')).length,
    csp: (window as unknown as { __csp: string[] }).__csp,
  }));
}
const clean = { pwned: null, imgs: 0, scripts: 0, csp: [] };

async function waitRead() {
  await expect.poll(() => files().locator('.reading').count(), { timeout: patience }).toBe(0);
}

async function chooseView(label: string) {
  await files().getByRole('combobox', { name: 'View' }).selectOption({ label });
}

/** Types a search and waits for its answer (the worker matches, after a debounce). */
async function search(q: string) {
  await files().getByRole('searchbox', { name: 'Search files' }).fill(q);
  await expect.poll(() => files().locator('.searching').count(), { timeout: patience }).toBe(0);
}

/** The tree's rows' accessible names after a search. */
async function rowsFor(q: string): Promise<string[]> {
  await search(q);
  return files()
    .getByRole('treeitem')
    .evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
}

async function details(rowName: RegExp | string): Promise<string> {
  await files().getByRole('treeitem', { name: rowName }).first().click();
  const aside = files().getByRole('complementary', { name: 'Entry details' });
  await aside.waitFor();
  return (await aside.textContent()) ?? '';
}

step('the hostile image pulls and its summary shows', async () => {
  await page.goto(`${app.url}/?${new URLSearchParams({ image: fx.hostile.ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await summary().waitFor({ timeout: patience });
  expect(await summary().getByRole('heading', { level: 2 }).textContent()).toContain(
    'hostile/everything',
  );
});

step('config: Env, Labels, User and Cmd show U+202E and newlines visibly, not raw', async () => {
  const codes = await summary()
    .locator('dl.config code')
    .evaluateAll((els) => els.map((e) => e.textContent ?? ''));
  expect(codes.length).toBeGreaterThan(0);
  const raw = codes.filter((c) => c.includes('\u202e') || c.includes('\n'));
  expect(
    raw.map((c) => c.slice(0, 60)),
    'values shown with a raw U+202E or newline',
  ).toEqual([]);
});

step('config: the 1 MiB Env and Label values are shown without freezing the page', async () => {
  expect(await answers()).toBe(true);
  expect(await summary().locator('dl.config').textContent()).toContain('HUGE=');
});

step('history: created_by shows U+202E and newlines visibly, not raw', async () => {
  const history = await summary()
    .locator('table.history, [aria-labelledby="history-heading"]')
    .first()
    .textContent();
  expect(history).toContain('layer 1');
  expect(history?.includes('\u202e'), 'raw U+202E in history').toBe(false);
});

step('layer 1 opens and lists its odd names', async () => {
  await summary().getByRole('button', { name: 'Browse layer 1' }).click();
  await waitRead();
  expect(await files().getByRole('alert').count(), 'no error reading layer 1').toBe(0);
  const rows = await rowsFor('**');
  expect(rows.length, 'rows of layer 1').toBeGreaterThan(15);
  expect(rows.some((r) => r.includes('os-release'))).toBe(true);
});

step('layer 1: markup names are text, and nothing ran', async () => {
  const rows = await rowsFor('*onerror*');
  expect(rows.length).toBe(1);
  expect(rows[0]).toBe(MARKUP.img);
  expect(await injected()).toEqual(clean);
});

step('layer 1: the two invalid UTF-8 names stay two distinct rows', async () => {
  const rows = await rowsFor('bad-*');
  expect(rows.length, `rows: ${JSON.stringify(rows)}`).toBe(2);
  expect(new Set(rows).size, `rows: ${JSON.stringify(rows)}`).toBe(2);
});

step('layer 1: the bidi name shows its U+202E visibly', async () => {
  const rows = await rowsFor('invoice-*');
  expect(rows.length).toBe(1);
  // What is on screen (the accessible name keeps the name as stored).
  const shown = (await files().getByRole('treeitem').first().innerText()).trim();
  expect(shown.includes('\u202e'), `row ${JSON.stringify(shown)}`).toBe(false);
  expect(shown).toContain('invoice-');
});

step('layer 1: the 4096-character name is listed', async () => {
  const rows = await rowsFor('aaaa*');
  expect(rows.length).toBeGreaterThanOrEqual(1);
  expect(rows.some((r) => r.length >= 4096)).toBe(true);
});

step('entry details: an mtime of 1e13 s renders', async () => {
  await rowsFor(ODD.future);
  const text = await details(ODD.future);
  expect(text).toContain('Modified');
  expect(pageErrors.filter((e) => e.includes('Invalid time value'))).toEqual([]);
});

step('entry details: the symlink loop, the link to /etc/passwd and the device node', async () => {
  await rowsFor('loop/**');
  expect(await details('a')).toContain('symlink');
  await rowsFor(ODD.passwd);
  expect(await details(ODD.passwd)).toContain('/etc/passwd');
  await rowsFor('dev/**');
  expect(await details(/null-ish/)).toContain('char');
});

step('entry details: the prototype-key directories are ordinary entries', async () => {
  const rows = await rowsFor('__proto__/**');
  expect(rows).toContain('polluted');
  expect(
    await page.evaluate(() => Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')),
  ).toBe(false);
});

step('viewer: markup content is shown as text, and nothing ran', async () => {
  await rowsFor('page.html');
  await files().getByRole('treeitem', { name: 'page.html' }).click();
  await files().getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: patience }).toContain('<script>');
  expect(await injected()).toEqual(clean);
  await viewer.getByRole('button', { name: 'Close' }).click();
});

step('viewer: "Download this file" of the bidi name suggests a name without U+202E', async () => {
  await rowsFor('invoice-*');
  await files().getByRole('treeitem').first().click();
  await files().getByRole('button', { name: 'View file' }).click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await expect.poll(() => viewer.textContent(), { timeout: patience }).toContain('not a pdf');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: patience }) as Promise<Download>,
    viewer.getByRole('button', { name: 'Download this file' }).click(),
  ]);
  const name = download.suggestedFilename();
  expect(name.includes('\u202e'), `suggested ${JSON.stringify(name)}`).toBe(false);
  await viewer.getByRole('button', { name: 'Close' }).click();
});

step(
  "search: *a*a*b over paths of 4096 to 12290 a's answers, and the page does not freeze",
  async () => {
    // Typed from a task of the page's own: Playwright's fill waits for the input handler, and a
    // frozen page would hold the step there instead of at the check below.
    await files()
      .getByRole('searchbox', { name: 'Search files' })
      .evaluate((el: HTMLInputElement) =>
        setTimeout(() => {
          el.value = '*a*a*b';
          el.dispatchEvent(new Event('input', { bubbles: true }));
        }, 0),
      );
    // Soft: when the page froze, wait for it to come back so that the next steps still run.
    expect.soft(await answers(), 'the page answered while the search ran').toBe(true);
    await expect
      .poll(() => files().textContent(), { timeout: 400_000 })
      .toContain('Nothing matches *a*a*b');
    await search('');
  },
);

step('layer 2: whiteouts named after prototype keys list, and pollute nothing', async () => {
  await chooseView('Layer 2');
  await waitRead();
  expect(await files().getByRole('alert').count(), 'no error reading layer 2').toBe(0);
  expect((await rowsFor('**')).length).toBeGreaterThan(0);
  expect(
    await page.evaluate(() => {
      const o: Record<string, unknown> = {};
      return [o.polluted, o.constructor === Object, Object.keys(Object.prototype)];
    }),
  ).toEqual([undefined, true, []]);
});

step(
  'the gzip bomb: Cancel is offered, another layer opens while it runs, Cancel ends it with a named error',
  async () => {
    await search('');
    await chooseView(`Layer ${LAYER.bomb + 1}`);
    const cancel = files().getByRole('button', { name: `Cancel reading layer ${LAYER.bomb + 1}` });
    await cancel.waitFor({ timeout: patience });
    expect(await answers(), 'the page answers while the bomb is read').toBe(true);

    // Another layer's file is read by the layers worker while the bomb still runs.
    await chooseView('Layer 1');
    await rowsFor('os-release');
    await files().getByRole('treeitem', { name: 'os-release' }).click();
    await files().getByRole('button', { name: 'View file' }).click();
    const viewer = page.getByRole('region', { name: 'File viewer' });
    await expect.poll(() => viewer.textContent(), { timeout: patience }).toContain('hostile');
    await viewer.getByRole('button', { name: 'Close' }).click();
    await search('');

    await chooseView(`Layer ${LAYER.bomb + 1}`);
    await cancel.click();
    await expect
      .poll(() => files().getByRole('alert').allTextContents(), { timeout: patience })
      .toContain(
        `Layer ${LAYER.bomb + 1} (${short(layerDigest(LAYER.bomb))}) was not read: cancelled.`,
      );
  },
);

step('the zstd layer: stops with an error naming the layer', async () => {
  await chooseView(`Layer ${LAYER.zstd + 1}`);
  const name = `Layer ${LAYER.zstd + 1} (${short(layerDigest(LAYER.zstd))})`;
  // Its lower layers include the bomb, read again: cancel that once offered.
  const bombCancel = files().getByRole('button', {
    name: `Cancel reading layer ${LAYER.bomb + 1}`,
  });
  await expect
    .poll(
      async () => {
        if (await bombCancel.isVisible()) await bombCancel.click().catch(() => undefined);
        return (await files().getByRole('alert').allTextContents()).some((t) => t.startsWith(name));
      },
      { timeout: patience, interval: 1000 },
    )
    .toBe(true);
  expect(await answers()).toBe(true);
});

step("the zstd layer: its error is the decoder's, not the watchdog's", async () => {
  const name = `Layer ${LAYER.zstd + 1} (${short(layerDigest(LAYER.zstd))})`;
  const alerts = await files().getByRole('alert').allTextContents();
  const mine = alerts.filter((t) => t.startsWith(name));
  expect(mine.length).toBe(1);
  expect(mine[0]).toContain('zstd layer:');
});

step('merged view: opens, and every failure in it names its layer', async () => {
  await chooseView('Merged filesystem');
  const bombCancel = files().getByRole('button', {
    name: `Cancel reading layer ${LAYER.bomb + 1}`,
  });
  await expect
    .poll(
      async () => {
        if (await bombCancel.isVisible()) await bombCancel.click().catch(() => undefined);
        return files().locator('.reading').allTextContents();
      },
      { timeout: patience, interval: 1000 },
    )
    .toEqual([]);
  const alerts = await files().getByRole('alert').allTextContents();
  for (const a of alerts) expect(a).toMatch(/^Layer \d+ \([0-9a-f]{12}\) /);
  expect(await answers()).toBe(true);
});

step('library: lists the hostile image', async () => {
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: 'Library' })
    .click();
  const library = page.getByRole('region', { name: 'Library' });
  await expect
    .poll(() => library.textContent(), { timeout: patience })
    .toContain('hostile/everything');
  expect(await injected()).toEqual(clean);
  await page.goBack();
  await summary().waitFor({ timeout: patience });
});

step('export: the OCI archive downloads', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: patience }) as Promise<Download>,
    summary().getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.tar$/);
  expect(await download.failure()).toBeNull();
});

step(
  'a config nested 2,000 deep: refused with an error naming the depth and the bound',
  async () => {
    await page.goto(`${app.url}/?${new URLSearchParams({ image: fx.deep.ref })}`);
    await page.getByRole('button', { name: 'Pull', exact: true }).click();
    const alert = page.getByRole('region', { name: 'Pull an image' }).getByRole('alert');
    await expect
      .poll(async () => (await summary().isVisible()) || (await alert.isVisible()), {
        timeout: patience,
      })
      .toBe(true);
    const said = (await alert.isVisible()) ? await alert.textContent() : '';
    expect(said).not.toMatch(/Maximum call stack|could not be cloned|DataCloneError|RangeError/);
    // Berth bounds the depth of the JSON it reads: the refusal names the depth and the bound.
    expect(said).toMatch(/config nests 2001 levels deep; Berth reads at most \d+/);
  },
);

step('nothing ran: no __pwned, no injected element, no CSP violation', async () => {
  expect(await injected()).toEqual(clean);
  expect(dialogs).toEqual([]);
});

step('no uncaught errors in the page', () => {
  expect(pageErrors).toEqual([]);
  expect(consoleErrors.filter((e) => e.includes('Uncaught'))).toEqual([]);
});
