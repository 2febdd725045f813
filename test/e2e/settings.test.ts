// Settings, each proven by what it changes: the proxy URL (another proxy, or a bad one), direct
// mode (with a registry that sends CORS headers, and one that does not), parallel downloads,
// the default platform, and sign-ins kept in memory or remembered, and forgotten.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { buildFixtures, type Fixtures } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startShim, type Shim } from '../harness/shim.ts';
import { type E2E, startE2E } from './env.ts';
import { maxParallelBlobs } from '../../src/lib/pull/defaults.ts';

let env: E2E;
/** A second, proxy-only Berth server on another origin that lets the app's origin in. */
let other: { url: string; close(): Promise<void> };
/** The registry without its CORS headers, as most registries are. */
let noCors: Shim;
/** Holds every layer GET after one byte while armed: what is in flight stays in flight. */
let holdAll: Shim;
let holding = false;
let locked: Registry;
/** The app, its server insecure-listing the shims and the locked registry too. */
let app: { url: string; close(): Promise<void> };
let lockedFixtures: Fixtures;
const password = 'pw-settings-3f9a-never-log';

beforeAll(async () => {
  env = await startE2E();
  const layers = new Set(
    [env.fixtures.whiteout, env.fixtures.dockerTypes].flatMap((f) =>
      f.layers!.map((l) => l.digest),
    ),
  );
  holdAll = await startShim(env.registry.url, {
    stallAfter: (r) =>
      holding && r.method === 'GET' && layers.has(r.path.split('/blobs/')[1] ?? '') ? 1 : undefined,
  });
  noCors = await startShim(env.registry.url, {
    rewriteHeaders: (_r, h) =>
      Object.fromEntries(Object.entries(h).filter(([k]) => !/^access-control-/i.test(k))),
  });
  locked = await startRegistry({ auth: 'htpasswd', users: { alice: password } });
  lockedFixtures = await buildFixtures(locked);
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [env.registry.host, holdAll.host, locked.host],
  });
  other = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    proxyOnly: true,
    insecureRegistries: [env.registry.host],
    allowedOrigins: [app.url],
  });
}, 180_000);
afterAll(async () => {
  await other?.close();
  await app?.close();
  await locked?.stop();
  await noCors?.stop();
  await holdAll?.stop();
  await env?.stop();
});

const settings = (p: Page) => p.getByRole('region', { name: 'Settings' });
const summary = (p: Page) => p.getByRole('region', { name: 'Image summary' });

async function openSettings(p: Page) {
  await p.goto(`${app.url}/?view=settings`);
  await settings(p).waitFor();
}

async function pull(p: Page, ref: string) {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await p.getByRole('button', { name: 'Pull', exact: true }).click();
}

/** Every URL the page (and its workers) asked for. */
function recordRequests(p: Page): string[] {
  const urls: string[] = [];
  p.context().on('request', (r) => urls.push(r.url()));
  return urls;
}

describe('connection', () => {
  test('a bad proxy URL is refused with why; another proxy is used once saved', async () => {
    const p = await env.page();
    const urls = recordRequests(p);
    await openSettings(p);
    const box = settings(p).getByRole('textbox', { name: 'Proxy URL' });
    await box.fill('proxy.example.com');
    await settings(p).getByRole('button', { name: 'Save proxy URL' }).click();
    expect(await settings(p).getByRole('alert').textContent()).toMatch(/is not a URL/);
    expect(await p.evaluate(() => localStorage.getItem('berth.settings'))).toBeNull();

    await box.fill(`${other.url}/proxy/`);
    await settings(p).getByRole('button', { name: 'Save proxy URL' }).click();
    await expect
      .poll(() =>
        settings(p).getByRole('region', { name: 'What leaves this browser' }).textContent(),
      )
      .toContain(`${other.url}/proxy`);
    await pull(p, env.fixtures.whiteout.ref);
    await summary(p).waitFor({ timeout: 60_000 });
    const proxied = urls.filter((u) => u.includes('/proxy/'));
    expect(proxied.length).toBeGreaterThan(4);
    expect(
      proxied.every((u) => u.startsWith(`${other.url}/proxy/`)),
      proxied.join('\n'),
    ).toBe(true);
    await p.context().close();
  });

  test('a proxy that is not there: the error says to check it, and links to Settings', async () => {
    const p = await env.page();
    await p.addInitScript(
      (proxy) => localStorage.setItem('berth.settings', JSON.stringify({ proxy })),
      `http://${env.closedHost}/proxy`,
    );
    await p.goto(app.url);
    await pull(p, env.fixtures.whiteout.ref);
    const alert = p.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toContain(
      `Check that the Berth proxy at http://${env.closedHost}/proxy is running`,
    );
    await p.getByRole('link', { name: 'Check the connection in Settings' }).click();
    await settings(p).getByRole('button', { name: 'Reset settings to defaults' }).click();
    await pull(p, env.fixtures.whiteout.ref);
    await summary(p).waitFor({ timeout: 60_000 });
    await p.context().close();
  });

  test('direct mode talks to a registry that sends CORS headers, and says why one without fails', async () => {
    const p = await env.page();
    const urls = recordRequests(p);
    await openSettings(p);
    await settings(p)
      .getByRole('radio', { name: /^Directly/ })
      .check();
    expect(await settings(p).getByRole('textbox', { name: 'Proxy URL' }).isDisabled()).toBe(true);
    const leaves = settings(p).getByRole('region', { name: 'What leaves this browser' });
    await expect
      .poll(async () => (await leaves.textContent())?.replace(/\s+/g, ' '))
      .toContain('go straight to each registry');

    await pull(p, env.fixtures.dockerTypes.ref);
    await summary(p).waitFor({ timeout: 60_000 });
    expect(urls.filter((u) => u.includes('/proxy/'))).toEqual([]);
    expect(urls.some((u) => u.startsWith(`${env.registry.url}/v2/test/dockertypes/blobs/`))).toBe(
      true,
    );

    await pull(p, env.fixtures.whiteout.ref.replace(env.registry.host, noCors.host));
    const alert = p.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(
      /directly \(Settings\), which works only if it is up and sends CORS headers/,
    );
    await p.context().close();
  });
});

describe('downloads', () => {
  async function inFlight(parallel: number): Promise<number> {
    const p = await env.page();
    await p.addInitScript(
      (n) => localStorage.setItem('berth.settings', JSON.stringify({ parallel: n })),
      parallel,
    );
    await p.goto(app.url);
    const since = holdAll.requests.length;
    holding = true;
    await pull(p, env.fixtures.whiteout.ref.replace(env.registry.host, holdAll.host));
    const layerGets = () =>
      holdAll.requests.slice(since).filter((r) => r.method === 'GET' && r.stalled).length;
    await expect.poll(layerGets).toBeGreaterThan(0);
    // Long enough for a page ignoring the limit to have started the rest.
    await p.waitForTimeout(1500);
    const n = layerGets();
    await p.getByRole('button', { name: 'Cancel' }).click();
    holding = false;
    await p.context().close();
    return n;
  }

  test('parallel downloads bounds the layers in flight', async () => {
    // The image has 3 layers: a page ignoring the setting would have all 3 in flight.
    expect(await inFlight(1)).toBe(1);
    expect(await inFlight(2)).toBe(2);
  });

  test('the settings form keeps what it is given, within bounds', async () => {
    const p = await env.page();
    await openSettings(p);
    const parallel = settings(p).getByRole('spinbutton', { name: 'Parallel downloads' });
    await parallel.fill('50');
    await parallel.blur();
    await expect.poll(() => parallel.inputValue()).toBe(String(maxParallelBlobs));
    await p.reload();
    expect(
      await settings(p).getByRole('spinbutton', { name: 'Parallel downloads' }).inputValue(),
    ).toBe(String(maxParallelBlobs));
    await p.context().close();
  });

  test('the default platform is the one an index opens on', async () => {
    const fx = env.fixtures.multiArch;
    const p = await env.page();
    await openSettings(p);
    await settings(p)
      .getByRole('combobox', { name: 'Default platform' })
      .selectOption('linux/arm64');
    await p.goto(`${app.url}/?image=${fx.ref}`);
    const combo = p.getByRole('combobox', { name: 'Platform', exact: true });
    await expect.poll(() => combo.inputValue()).toBe('linux/arm64/v8');
    await p.getByRole('button', { name: 'Pull', exact: true }).click();
    await summary(p).waitFor({ timeout: 60_000 });
    expect(await summary(p).locator('dl.facts').textContent()).toContain('linux/arm64/v8');
    // A pull straight from the box, with no platform known yet, takes it too.
    const q = await env.page();
    await q.addInitScript(() =>
      localStorage.setItem('berth.settings', JSON.stringify({ platform: 'linux/arm64' })),
    );
    await q.goto(app.url);
    await pull(q, fx.ref);
    await summary(q).waitFor({ timeout: 60_000 });
    expect(new URL(q.url()).searchParams.get('platform')).toBe('linux/arm64/v8');
    await q.context().close();
    await p.context().close();
  });
});

describe('sign-ins', () => {
  /** Everything the page could have persisted, as text. */
  async function persisted(p: Page): Promise<string> {
    return p.evaluate(async () => {
      const out: string[] = [JSON.stringify({ ...localStorage })];
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('berth');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const values = await new Promise<unknown[]>((resolve) => {
        const r = db.transaction('credentials').objectStore('credentials').getAll();
        r.onsuccess = () => resolve(r.result);
      });
      db.close();
      return out.concat(JSON.stringify(values)).join('\n');
    });
  }

  async function addSignIn(p: Page, registry: string, remember: boolean) {
    const form = settings(p).getByRole('form', { name: 'Add a sign-in' });
    await form.getByRole('textbox', { name: 'Registry' }).fill(registry);
    await form.getByRole('textbox', { name: 'Username' }).fill('alice');
    await form.getByLabel('Password or token').fill(password);
    await form.getByRole('checkbox', { name: 'Remember in this browser' }).setChecked(remember);
    await form.getByRole('button', { name: 'Save sign-in' }).click();
  }

  test('added in Settings, used by a pull, kept only when asked, forgotten one by one or all', async () => {
    const ref = lockedFixtures.whiteout.ref;
    const p = await env.page();
    await openSettings(p);
    const table = settings(p).getByRole('table');

    await addSignIn(p, 'not a host', false);
    expect(await settings(p).getByRole('alert').textContent()).toMatch(/is not a registry host/);

    // In memory only.
    await addSignIn(p, locked.host, false);
    await expect
      .poll(() => table.getByRole('row').filter({ hasText: locked.host }).textContent())
      .toMatch(/alice.*in this tab only/);
    expect(await persisted(p)).not.toContain(password);
    await pull(p, ref);
    await summary(p).waitFor({ timeout: 60_000 });
    expect(await p.getByRole('form', { name: `Sign in to ${locked.host}` }).count()).toBe(0);

    // Forgotten: the next pull asks. (A reload would forget it too: it lives in this tab.)
    await p
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Settings' })
      .click();
    await settings(p)
      .getByRole('button', { name: `Forget the sign-in for ${locked.host}` })
      .click();
    await expect.poll(() => table.count()).toBe(0);
    await p.getByRole('textbox', { name: 'Image reference' }).fill(lockedFixtures.dockerTypes.ref);
    await p.getByRole('button', { name: 'Pull', exact: true }).click();
    await p.getByRole('form', { name: `Sign in to ${locked.host}` }).waitFor({ timeout: 60_000 });

    // Remembered: kept across a reload, until "Forget all sign-ins".
    await openSettings(p);
    await addSignIn(p, locked.host, true);
    await expect.poll(() => table.textContent()).toContain('in this browser');
    expect(await persisted(p)).toContain(password);
    await p.reload();
    await expect
      .poll(() => settings(p).getByRole('table').textContent())
      .toMatch(/alice.*in this browser/);
    await settings(p).getByRole('button', { name: 'Forget all sign-ins' }).click();
    await expect.poll(() => settings(p).getByRole('table').count()).toBe(0);
    expect(await persisted(p)).not.toContain(password);
    await p.context().close();
  });
});
