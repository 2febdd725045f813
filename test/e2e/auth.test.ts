// A registry that needs credentials: the page asks for them, pulls with them, and keeps them
// nowhere but in memory.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { newPage } from '../harness/chromium.ts';
import { buildFixtures, type Fixtures } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startBerth } from './env.ts';

const password = 'pw-4be7c1-never-store-me';
let registry: Registry;
let fixtures: Fixtures;
let app: { url: string; close(): Promise<void> };
let browser: Browser;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'htpasswd', users: { alice: password } });
  fixtures = await buildFixtures(registry);
  ({ app, browser } = await startBerth(registry));
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
});

/** Everything the page could have persisted, as text. */
async function persisted(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const out: string[] = [
      JSON.stringify({ ...localStorage }),
      JSON.stringify({ ...sessionStorage }),
    ];
    for (const info of await indexedDB.databases()) {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open(info.name!);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      for (const name of db.objectStoreNames) {
        const values = await new Promise<unknown[]>((resolve) => {
          const r = db.transaction(name).objectStore(name).getAll();
          r.onsuccess = () => resolve(r.result);
        });
        out.push(JSON.stringify(values, (_k, v) => (v instanceof Blob ? `blob:${v.size}` : v)));
      }
      db.close();
    }
    return out.join('\n');
  });
}

test('a registry that needs credentials: sign in, pull, nothing persisted', async () => {
  const fx = fixtures.whiteout;
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('alert').waitFor();
  expect(await page.getByRole('alert').textContent()).toMatch(/needs credentials/);

  const form = page.getByRole('form', { name: `Sign in to ${registry.host}` });
  await form.getByRole('textbox', { name: 'Username' }).fill('alice');
  await form.getByLabel('Password or token').fill('wrong');
  await form.getByRole('button', { name: 'Sign in and pull' }).click();
  await expect
    .poll(async () => (await page.getByRole('alert').textContent()) ?? '')
    .toMatch(/refused the credentials/);

  await form.getByLabel('Password or token').fill(password);
  await form.getByRole('button', { name: 'Sign in and pull' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor();
  expect(await summary.textContent()).toContain(fx.digest);
  expect(await persisted(page)).not.toContain(password);
  expect(await persisted(page)).not.toContain('alice');
  await page.context().close();
});

test('"remember" keeps the credentials for the next visit; without it, nothing is kept', async () => {
  const fx = fixtures.whiteout;
  const context = await browser.newContext();
  const signIn = async (remember: boolean) => {
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
    await page.getByRole('button', { name: 'Pull' }).click();
    const form = page.getByRole('form', { name: `Sign in to ${registry.host}` });
    await form.waitFor();
    await form.getByRole('textbox', { name: 'Username' }).fill('alice');
    await form.getByLabel('Password or token').fill(password);
    await form.getByRole('checkbox', { name: 'Remember in this browser' }).setChecked(remember);
    await form.getByRole('button', { name: 'Sign in and pull' }).click();
    await page.getByRole('region', { name: 'Image summary' }).waitFor();
    return page;
  };

  // Not remembered: a new page (a new worker) has to ask again.
  await (await signIn(false)).close();
  const asked = await signIn(true);
  expect(await persisted(asked)).toContain(password);
  await asked.close();

  // Remembered: a new page pulls at once, with no sign-in form.
  const page = await context.newPage();
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor();
  expect(await page.getByRole('form', { name: `Sign in to ${registry.host}` }).count()).toBe(0);

  // Forgetting (in Settings): nothing is left in storage, and the next visit asks again.
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: 'Settings' })
    .click();
  const settings = page.getByRole('region', { name: 'Settings' });
  await expect.poll(() => settings.getByRole('table').textContent()).toContain('in this browser');
  await settings.getByRole('button', { name: 'Forget all sign-ins' }).click();
  await expect
    .poll(() => settings.getByRole('status').textContent())
    .toContain('All sign-ins forgotten');
  expect(await settings.getByRole('table').count()).toBe(0);
  expect(await persisted(page)).not.toContain(password);
  await page.close();
  const later = await context.newPage();
  await later.goto(app.url);
  await later.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await later.getByRole('button', { name: 'Pull' }).click();
  await later.getByRole('form', { name: `Sign in to ${registry.host}` }).waitFor();
  await context.close();
});
