// The page as a product: every view has a URL that can be shared, back and forward walk them,
// the tab's title follows a pull, copy buttons copy, times and sizes say their exact value,
// themes follow the OS or the switch, the layout holds from 360 px to 4K, recent images, and
// errors that say what to do next.
import type { BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { FIXTURE_TEXT } from '../harness/fixtures.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { type E2E, startE2E } from './env.ts';

let env: E2E;
/** Holds the whiteout image's big layer once, after its first 256 KiB, while armed. */
let holding: Shim;
let held = false;
let app: { url: string; close(): Promise<void> };

beforeAll(async () => {
  env = await startE2E();
  const big = env.fixtures.whiteout.layers![1]!.digest;
  holding = await startShim(env.registry.url, {
    stallAfter: (r) => {
      if (!held || r.method !== 'GET' || !r.path.endsWith(big)) return undefined;
      held = false;
      return 256 << 10;
    },
  });
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [env.registry.host, env.counter.host, holding.host, env.closedHost],
  });
});
afterAll(async () => {
  await app?.close();
  await holding?.stop();
  await env?.stop();
});

async function page(opts: BrowserContextOptions = {}): Promise<Page> {
  const context = await env.browser.newContext({ acceptDownloads: true, ...opts });
  return context.newPage();
}

const summary = (p: Page) => p.getByRole('region', { name: 'Image summary' });
const viewer = (p: Page) => p.getByRole('region', { name: 'File viewer' });
const files = (p: Page) => p.getByRole('region', { name: 'Files', exact: true });
const query = (p: Page) => Object.fromEntries(new URL(p.url()).searchParams);
const nav = (p: Page, name: string | RegExp) =>
  p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });

async function pull(p: Page, ref: string) {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await p.getByRole('button', { name: 'Pull', exact: true }).click();
  await summary(p).waitFor({ timeout: 60_000 });
}

describe('shareable URLs, back and forward', () => {
  test('a link to a file in a layer opens it on a fresh browser, fetching only what it needs', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    const since = env.counter.requests.length;
    const ref = fx.ref.replace(env.registry.host, env.counter.host);
    await p.goto(`${app.url}/?image=${ref}&layer=2&path=/app/hello.txt`);
    const blobGets = () =>
      env.counter.requests
        .slice(since)
        .filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))
        .map((r) => r.path.split('/blobs/')[1]);
    // The link inspects the image, then asks before it downloads the layer, saying how much.
    const ask = p.getByRole('region', { name: 'Download to open' });
    await ask.waitFor({ timeout: 60_000 });
    const layer2 = fx.layers![1]!;
    expect(await ask.locator('strong').getAttribute('title')).toBe(`${layer2.size} bytes`);
    expect(query(p)).toEqual({ image: ref, layer: '2', path: '/app/hello.txt' });
    expect(blobGets()).not.toContain(layer2.digest);
    await ask.getByRole('button', { name: /^Download .* and open$/ }).click();
    await expect
      .poll(() => viewer(p).textContent(), { timeout: 60_000 })
      .toContain(FIXTURE_TEXT.hello.trim());
    const tree = files(p).getByRole('tree', { name: 'Files in layer 2' });
    expect(await tree.getByRole('treeitem', { selected: true }).getAttribute('aria-label')).toBe(
      'hello.txt',
    );
    expect(query(p)).toEqual({ image: ref, layer: '2', path: '/app/hello.txt' });
    // Inspected, not pulled: layer 2 was fetched, layers 1 and 3 were not.
    const blobs = blobGets();
    expect(blobs).toContain(fx.layers![1]!.digest);
    expect(blobs).not.toContain(fx.layers![0]!.digest);
    expect(blobs).not.toContain(fx.layers![2]!.digest);
    expect(await p.title()).toBe(`hello.txt · ${ref} — Berth`);
    await p.context().close();
  });

  test('each view is a step in history: back and forward go through them', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    await p.goto(app.url);
    await p.getByRole('heading', { name: 'Try an image' }).waitFor();
    await pull(p, fx.ref);
    expect(query(p)).toEqual({ image: fx.ref });
    await summary(p).getByRole('button', { name: 'Browse layer 1' }).click();
    const tree = files(p).getByRole('tree', { name: 'Files in layer 1' });
    await tree.getByRole('treeitem', { name: 'etc' }).dblclick();
    await tree.getByRole('treeitem', { name: 'passwd' }).dblclick();
    await expect.poll(() => viewer(p).textContent()).toContain('root:x:0:0');
    expect(query(p)).toEqual({ image: fx.ref, layer: '1', path: '/etc/passwd' });
    await nav(p, 'Settings').click();
    await p.getByRole('heading', { name: 'Settings' }).waitFor();
    expect(await nav(p, 'Settings').getAttribute('aria-current')).toBe('page');
    expect(await p.title()).toBe('Settings — Berth');

    await p.goBack();
    await expect.poll(() => viewer(p).textContent()).toContain('root:x:0:0');
    await p.goBack();
    await viewer(p).waitFor({ state: 'detached' });
    expect(await tree.isVisible()).toBe(true);
    await p.goBack();
    await files(p).waitFor({ state: 'detached' });
    expect(await summary(p).isVisible()).toBe(true);
    await p.goBack();
    await p.getByRole('heading', { name: 'Try an image' }).waitFor();
    expect(await p.title()).toBe('Berth');

    await p.goForward();
    await summary(p).waitFor();
    await p.goForward();
    await p.goForward();
    await expect.poll(() => viewer(p).textContent()).toContain('root:x:0:0');
    await p.goForward();
    await p.getByRole('heading', { name: 'Settings' }).waitFor();
    await p.context().close();
  });

  test('closing the file browser with a file open is one step, and back reopens both', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    await p.goto(`${app.url}/?image=${fx.ref}&layer=merged&path=/etc/passwd`);
    await p.getByRole('button', { name: /^Download .* and open$/ }).click();
    await expect.poll(() => viewer(p).textContent(), { timeout: 60_000 }).toContain('root:x');
    await files(p).getByRole('button', { name: 'Close the file browser' }).click();
    await files(p).waitFor({ state: 'detached' });
    expect(query(p)).toEqual({ image: fx.ref });
    await p.goBack();
    await expect.poll(() => viewer(p).textContent()).toContain('root:x');
    expect(query(p)).toEqual({ image: fx.ref, layer: 'merged', path: '/etc/passwd' });
    await p.context().close();
  });

  test('a platform in the URL is the one shown; choosing another is a new step', async () => {
    const fx = env.fixtures.multiArch;
    const p = await page();
    await p.goto(`${app.url}/?image=${fx.ref}&platform=linux/arm64`);
    const combo = p.getByRole('combobox', { name: 'Platform', exact: true });
    await expect.poll(() => combo.inputValue()).toBe('linux/arm64/v8');
    expect(query(p).platform).toBe('linux/arm64/v8');
    await combo.selectOption('linux/amd64');
    expect(query(p).platform).toBe('linux/amd64');
    await p.goBack();
    await expect.poll(() => combo.inputValue()).toBe('linux/arm64/v8');
    await p.context().close();
  });
});

describe('polish', () => {
  test('a long pull shows its progress in the tab title, and its end is announced', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    // A held connection is given up after 2 s of silence and resumed.
    await p.addInitScript(() =>
      localStorage.setItem('berth.settings', JSON.stringify({ stallSeconds: 2 })),
    );
    await p.goto(app.url);
    held = true;
    const ref = fx.ref.replace(env.registry.host, holding.host);
    await p.getByRole('textbox', { name: 'Image reference' }).fill(ref);
    await p.getByRole('button', { name: 'Pull', exact: true }).click();
    await expect.poll(() => p.title()).toMatch(new RegExp(`^\\d+% · Pulling ${ref} — Berth$`));
    // The task line of the "Pull an image" card (other cards have live regions of their own).
    const live = p
      .getByRole('region', { name: 'Pull an image', exact: true })
      .locator('[aria-live="polite"]');
    expect(await live.textContent()).toContain('Pulling…');
    await summary(p).waitFor({ timeout: 60_000 });
    await expect.poll(() => p.title()).toBe(`✓ Pulled ${ref} — Berth`);
    await expect
      .poll(() => live.textContent())
      .toMatch(/Pulled .*: \d+ blobs? downloaded and verified/);
    await p.context().close();
  });

  test('copy buttons copy the exact reference and digest, and say so', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page({ permissions: ['clipboard-read', 'clipboard-write'] });
    await p.goto(app.url);
    await pull(p, fx.ref);
    const clipboard = () => p.evaluate(() => navigator.clipboard.readText());
    await summary(p).getByRole('button', { name: 'Copy digest', exact: true }).click();
    expect(await clipboard()).toBe(fx.digest);
    expect(await summary(p).getByRole('status').filter({ hasText: 'Copied' }).count()).toBe(1);
    await summary(p).getByRole('button', { name: 'Copy reference by digest' }).click();
    expect(await clipboard()).toBe(`${fx.ref.replace(/:v1$/, '')}@${fx.digest}`);
    await summary(p).getByRole('button', { name: 'Copy reference', exact: true }).click();
    expect(await clipboard()).toBe(fx.ref);
    await summary(p).getByRole('button', { name: 'Copy digest of layer 2' }).click();
    expect(await clipboard()).toBe(fx.layers![1]!.digest);
    await p.context().close();
  });

  test('sizes and times read easily and give their exact value on hover', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    await p.goto(app.url);
    await pull(p, fx.ref);
    const created = summary(p).locator('dl.facts time');
    const config = (fx.built as { config: { created: string } }).config;
    expect(await created.getAttribute('datetime')).toBe(new Date(config.created).toISOString());
    expect(await created.getAttribute('title')).toContain(new Date(config.created).toISOString());
    expect(await created.textContent()).toMatch(/ago$/);
    await nav(p, /^Library/).click();
    const row = p
      .getByRole('region', { name: 'Library' })
      .getByRole('row')
      .filter({ hasText: fx.ref });
    expect(await row.locator('time').textContent()).toBe('just now');
    expect(await row.locator('time').getAttribute('title')).toMatch(/\d{4}-\d\d-\d\dT/);
    expect(await row.locator('td.num').first().getAttribute('title')).toMatch(/^\d+ bytes$/);
    await p.context().close();
  });

  test('the theme follows the OS until the switch says otherwise, and is remembered', async () => {
    const p = await page({ colorScheme: 'dark' });
    await p.goto(app.url);
    const bg = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await expect.poll(bg).toBe('rgb(13, 17, 23)');
    const theme = p.getByRole('combobox', { name: 'Theme' });
    await theme.selectOption('light');
    await expect.poll(bg).toBe('rgb(246, 247, 249)');
    await p.reload();
    await expect.poll(bg).toBe('rgb(246, 247, 249)');
    expect(await theme.inputValue()).toBe('light');
    await theme.selectOption('system');
    await expect.poll(bg).toBe('rgb(13, 17, 23)');
    await p.emulateMedia({ colorScheme: 'light' });
    await expect.poll(bg).toBe('rgb(246, 247, 249)');
    await p.context().close();
  });

  for (const viewport of [
    { width: 360, height: 740 },
    { width: 3840, height: 2160 },
  ]) {
    test(`${viewport.width} px wide: no view scrolls sideways`, async () => {
      const fx = env.fixtures.whiteout;
      const p = await page({ viewport });
      const overflow = () =>
        p.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
      await p.goto(app.url);
      expect(await overflow(), 'home').toBeLessThanOrEqual(0);
      await p.goto(`${app.url}/?image=${fx.ref}&layer=merged&path=/etc/passwd`);
      await p.getByRole('button', { name: /^Download .* and open$/ }).click();
      await expect.poll(() => viewer(p).textContent(), { timeout: 60_000 }).toContain('root:x');
      expect(await overflow(), 'image, files and viewer').toBeLessThanOrEqual(0);
      // The image above is in the library now. Measure once its row is drawn, not as soon as
      // the heading appears: the store answers later, and the table is what can overflow.
      await p.goto(`${app.url}/?view=library`);
      await p
        .getByRole('region', { name: 'Library' })
        .getByRole('button', { name: `Open ${fx.ref}`, exact: true })
        .waitFor({ timeout: 60_000 });
      expect(await overflow(), 'library').toBeLessThanOrEqual(0);
      await p.goto(`${app.url}/?view=settings`);
      await p.getByRole('heading', { name: 'Settings' }).waitFor();
      expect(await overflow(), 'settings').toBeLessThanOrEqual(0);
      await p.context().close();
    });
  }

  test('home lists the images opened recently, marks the stored ones, and can forget them', async () => {
    const fx = env.fixtures.whiteout;
    const p = await page();
    await p.goto(app.url);
    const recent = p.getByRole('region', { name: 'Opened recently' });
    expect(await recent.textContent()).toContain('Images you open appear here');
    await pull(p, fx.ref);
    await nav(p, 'Home').click();
    const item = recent.getByRole('listitem').filter({ hasText: fx.ref });
    expect(await item.textContent()).toMatch(/stored.*opened just now/);
    await item.getByRole('link', { name: fx.ref }).click();
    await summary(p).waitFor();
    await nav(p, 'Home').click();
    await recent.getByRole('button', { name: 'Clear the list' }).click();
    expect(await recent.textContent()).toContain('Images you open appear here');
    await p.reload();
    expect(await recent.textContent()).toContain('Images you open appear here');
    await p.context().close();
  });
});

describe('errors say what happened and what to try', () => {
  test('a registry that cannot be reached: try again, or check the connection', async () => {
    const p = await page();
    await p.goto(app.url);
    await p
      .getByRole('textbox', { name: 'Image reference' })
      .fill(`${env.closedHost}/nobody/here:1`);
    await p.getByRole('button', { name: 'Pull', exact: true }).click();
    const alert = p.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(
      /Check the registry host name and that the registry is up/,
    );
    expect(await p.title()).toBe(`✗ Pull failed: ${env.closedHost}/nobody/here:1 — Berth`);
    // Try again really tries: the error goes while it runs, and comes back.
    await p.getByRole('button', { name: 'Try again' }).click();
    await alert.waitFor({ state: 'detached' });
    await alert.waitFor({ timeout: 60_000 });
    await p.getByRole('link', { name: 'Check the connection in Settings' }).click();
    await p.getByRole('heading', { name: 'Settings' }).waitFor();
    await p.context().close();
  });

  test('a link to an image that does not exist keeps its URL, and says what to check', async () => {
    const p = await page();
    const ref = `${env.registry.host}/nobody/here:1`;
    await p.goto(`${app.url}/?image=${ref}&layer=merged`);
    const alert = p.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(/Check the repository name and the tag or digest/);
    expect(query(p)).toEqual({ image: ref, layer: 'merged' });
    expect(await p.title()).toBe(`${ref} — Berth`);
    await p.context().close();
  });

  test('an image not stored yet says so and what Pull and Inspect do', async () => {
    const fx = env.fixtures.multiArch;
    const p = await page();
    await p.goto(`${app.url}/?image=${fx.ref}`);
    const empty = p.getByRole('region', { name: 'Not stored yet' });
    await empty.waitFor();
    expect((await empty.textContent())?.replace(/\s+/g, ' ')).toMatch(
      /on the registry for 2 platforms, and not stored in this browser for linux\/amd64\. Pull downloads/,
    );
    await p.context().close();
  });
});
