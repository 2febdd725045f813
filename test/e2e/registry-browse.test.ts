// Browsing a registry in Chromium through `npm start`'s server: the catalog of a real registry,
// a repository's tags with counts and build dates, sorted by name and by date, the referrers
// fallback tags hidden behind a toggle, the image view's link back to its repository, a
// registry that does not list (answering as Docker Hub does, with its pull limit in the
// headers), the error and empty states, and axe and the keyboard on each view.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { axeViolations, focusWalk, isSevere } from '../harness/axe.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { type HubFront, startHubFront } from '../harness/hub-front.ts';
import { OciLayout, buildImage, pushLayout } from '../harness/oci.ts';
import { freePort } from '../harness/process.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

const REPO = 'browse/app';
const OLD = '2023-03-01T00:00:00Z';
const NEW = '2025-06-01T00:00:00Z';

let registry: Registry;
let empty: Registry;
let front: HubFront;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let closedHost: string;
let referrerTag: string;

beforeAll(async () => {
  registry = await startRegistry();
  empty = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), 'berth-browse-e2e-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const build = async (created: string, text: string) => {
      const built = await buildImage({
        layout,
        layers: [{ entries: [{ type: 'file', path: 'etc/hello', content: text }] }],
        config: { created },
      });
      await layout.tag(built.descriptor, created);
      return built;
    };
    const old = await build(OLD, 'old\n');
    await build(NEW, 'new\n');
    const push = (layoutTag: string, repository: string, tag: string) =>
      pushLayout({ layout, layoutTag, registry, repository, tag });
    await push(OLD, REPO, '1.9');
    await push(NEW, REPO, '1.10');
    await push(NEW, REPO, 'latest');
    // A referrers tag-schema fallback tag, as tools push for a signature of the old image.
    referrerTag = `sha256-${old.descriptor.digest.slice(7)}`;
    await push(OLD, REPO, referrerTag);
    await push(OLD, 'browse/other', 'latest');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  front = await startHubFront(registry.url);
  closedHost = `127.0.0.1:${await freePort()}`;
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [registry.host, empty.host, front.host, closedHost],
  });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await front?.close();
  await empty?.stop();
  await registry?.stop();
});

async function accessible(page: Page, where: string) {
  const severe = (await axeViolations(page)).filter(isSevere);
  expect(
    severe,
    `axe on ${where}: ${severe.map((v) => `${v.id}: ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n')}`,
  ).toEqual([]);
  const { seen, missed } = await focusWalk(page);
  expect(seen.length, `Tab reaches controls on ${where}`).toBeGreaterThan(3);
  expect(missed, `controls Tab never reaches on ${where}`).toEqual([]);
  expect(
    seen.filter((w) => !w.visible).map((w) => w.name),
    `focus not visible on ${where}`,
  ).toEqual([]);
}

/** The tag table's rows as [tag, built] once every row's date has arrived. */
async function datedRows(page: Page) {
  const table = page.getByRole('table');
  await expect
    .poll(
      async () => {
        // Rows first: an empty table (tags not listed yet) would pass `every` vacuously.
        const built = await table.locator('tbody td[data-label="Built"]').allTextContents();
        return built.length > 0 && built.every((t) => /ago|yesterday|no date/.test(t));
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  return table
    .locator('tbody tr')
    .evaluateAll((trs) =>
      trs.map((tr) => [
        tr.querySelector('th')?.textContent?.trim() ?? '',
        tr.querySelector('time')?.getAttribute('datetime') ?? '',
      ]),
    );
}

describe('a registry that lists', () => {
  let page: Page;
  beforeAll(async () => {
    page = await newPage(browser);
  });
  afterAll(async () => {
    await page?.context().close();
  });

  test('home: a registry host opens its catalog, each repository a link', async () => {
    await page.goto(app.url);
    await page.getByRole('textbox', { name: 'Registry or repository' }).fill(registry.host);
    await page.getByRole('button', { name: 'Browse' }).click();
    const list = page.getByRole('region', { name: `Repositories on ${registry.host}` });
    await list.getByRole('link', { name: 'browse/other' }).waitFor({ timeout: 30_000 });
    expect(await list.getByRole('listitem').allTextContents()).toEqual([REPO, 'browse/other']);
    await expect.poll(() => list.getByRole('status').textContent()).toMatch(/^2 repositories\.$/);
    expect(new URL(page.url()).searchParams.get('registry')).toBe(registry.host);
    await accessible(page, 'the registry view');
  });

  test('a repository: counts, dates, by name then by date, referrer tags behind a toggle', async () => {
    await page.getByRole('link', { name: REPO }).click();
    const view = page.getByRole('region', { name: `${registry.host}/${REPO}` });
    await view.getByRole('table').waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).searchParams.get('repository')).toBe(`${registry.host}/${REPO}`);
    await expect
      .poll(() => view.locator('.tag-counts').textContent())
      .toBe('3 tags; 1 signature and attestation tag (sha256-…) hidden.');
    const iso = (t: string) => new Date(t).toISOString();
    expect(await datedRows(page)).toEqual([
      ['1.9', iso(OLD)],
      ['1.10', iso(NEW)],
      ['latest', iso(NEW)],
    ]);
    await view.getByRole('button', { name: 'Date', exact: true }).click();
    expect(new URL(page.url()).searchParams.get('sort')).toBe('date');
    expect(await datedRows(page)).toEqual([
      ['1.10', iso(NEW)],
      ['latest', iso(NEW)],
      ['1.9', iso(OLD)],
    ]);
    await view.getByRole('button', { name: 'Show signature and attestation tags' }).click();
    await expect
      .poll(() => view.locator('.tag-counts').textContent())
      .toBe('4 tags, 1 of them signature or attestation tags.');
    expect((await datedRows(page)).map(([t]) => t)).toEqual(['1.10', 'latest', '1.9', referrerTag]);
    await accessible(page, 'the repository view');
    // Back: the order by name, as the URL said before.
    await page.goBack();
    await expect.poll(() => new URL(page.url()).searchParams.get('sort')).toBeNull();
    await expect
      .poll(async () => (await datedRows(page)).map(([t]) => t))
      .toEqual(['1.9', '1.10', 'latest', referrerTag]);
  });

  test('a tag opens the image view, which links back to the repository', async () => {
    await page.getByRole('link', { name: '1.9', exact: true }).click();
    await expect
      .poll(() => new URL(page.url()).searchParams.get('image'))
      .toBe(`${registry.host}/${REPO}:1.9`);
    const link = page.getByRole('link', { name: `${registry.host}/${REPO}` });
    await link.waitFor({ timeout: 30_000 });
    await link.click();
    await page
      .getByRole('region', { name: `${registry.host}/${REPO}` })
      .getByRole('table')
      .waitFor();
    expect(new URL(page.url()).searchParams.get('repository')).toBe(`${registry.host}/${REPO}`);
  });
});

test('dark theme: the registry and repository views pass axe and the focus walk too', async () => {
  const page = await newPage(browser, { colorScheme: 'dark' });
  await page.goto(`${app.url}/?registry=${registry.host}`);
  await page.getByRole('link', { name: REPO }).waitFor({ timeout: 30_000 });
  await accessible(page, 'the registry view, dark');
  await page.goto(`${app.url}/?repository=${registry.host}/${REPO}`);
  await datedRows(page);
  await accessible(page, 'the repository view, dark');
  await page.goto(`${app.url}/?repository=${front.host}/${REPO}`);
  await datedRows(page);
  await page.getByLabel('Pull rate limit').waitFor();
  await page.context().close();
});

test('a registry that does not list, as Docker Hub: said plainly, a repository typed instead, pulls left shown', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?registry=${front.host}`);
  const view = page.getByRole('region', { name: `Repositories on ${front.host}` });
  await expect
    .poll(() => view.getByRole('status').textContent(), { timeout: 30_000 })
    .toMatch(/does not list its repositories; type a repository name\./);
  await accessible(page, 'a registry that does not list');
  const before = front.remaining;
  await view.getByRole('textbox', { name: `Repository name on ${front.host}` }).fill(REPO);
  await view.getByRole('button', { name: 'Show tags' }).click();
  const repo = page.getByRole('region', { name: `${front.host}/${REPO}` });
  await repo.getByRole('table').waitFor({ timeout: 30_000 });
  await datedRows(page);
  // The dates' HEADs (free) and manifest GETs (one pull per image dated) told the limit.
  const note = repo.getByLabel('Pull rate limit');
  await expect
    .poll(() => note.textContent(), { timeout: 30_000 })
    .toMatch(new RegExp(`^${front.host}: ${front.remaining} of 100 pulls left per 6 hours`));
  expect(front.remaining).toBeLessThan(before);
  expect((await note.textContent())?.replace(/\s+/g, ' ')).toContain(
    `${front.host} does not say when the window resets.`,
  );
  await page.context().close();
});

test('dates are cached by digest: coming back costs one HEAD per tag and no pull', async () => {
  const page = await newPage(browser);
  const repo = `${front.host}/${REPO}`;
  await page.goto(`${app.url}/?repository=${repo}`);
  await datedRows(page);
  // Away to another repository within the page (one worker, one visit), and back: the tags are
  // listed and dated again.
  await page.getByRole('link', { name: `Other repositories on ${front.host}` }).click();
  await page
    .getByRole('textbox', { name: `Repository name on ${front.host}` })
    .fill('browse/other');
  await page.getByRole('button', { name: 'Show tags' }).click();
  await page.getByRole('region', { name: `${front.host}/browse/other` }).waitFor();
  await datedRows(page);
  const mark = front.requests.length;
  const pulls = front.remaining;
  await page.goBack();
  await page.goBack();
  await page.getByRole('region', { name: repo }).getByRole('table').waitFor();
  expect((await datedRows(page)).map(([t]) => t)).toEqual(['1.9', '1.10', 'latest']);
  const again = front.requests.slice(mark).filter((r) => r.includes('/manifests/'));
  // Listing the tags HEADs the first one shown (1.9) for the rate limit, and that answer serves
  // its date: still one HEAD per tag, not two for 1.9.
  expect(again.sort()).toEqual(
    ['1.10', '1.9', 'latest'].map((t) => `HEAD /v2/${REPO}/manifests/${t}`).sort(),
  );
  expect(front.remaining, 'no pull spent').toBe(pulls);
  await page.context().close();
});

test('dates survive garbage collection: the next visit costs one HEAD per tag and no GET', async () => {
  const page = await newPage(browser);
  const repo = `${front.host}/${REPO}`;
  await page.goto(`${app.url}/?repository=${repo}`);
  await datedRows(page);
  // The manifests and configs read for the dates are in the store, held by no image.
  const blobs = () =>
    page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const r = indexedDB.open('berth');
          r.onerror = () => reject(r.error);
          r.onsuccess = () => {
            const count = r.result.transaction('blobs').objectStore('blobs').count();
            count.onsuccess = () => {
              resolve(count.result);
              r.result.close();
            };
          };
        }),
    );
  expect(await blobs()).toBeGreaterThan(0);
  // A new visit (a new worker) collects them before anything else asks the registry.
  await page.goto(app.url);
  await expect.poll(blobs, { timeout: 30_000 }).toBe(0);
  const mark = front.requests.length;
  await page.goto(`${app.url}/?repository=${repo}`);
  expect((await datedRows(page)).map(([t]) => t)).toEqual(['1.9', '1.10', 'latest']);
  const manifests = front.requests.slice(mark).filter((r) => !r.includes('/tags/list'));
  expect(manifests.sort()).toEqual(
    ['1.10', '1.9', 'latest'].map((t) => `HEAD /v2/${REPO}/manifests/${t}`).sort(),
  );
  await page.context().close();
});

test('the image view shows the pulls left, from the answers its resolve got anyway', async () => {
  const page = await newPage(browser);
  const before = front.remaining;
  await page.goto(`${app.url}/?image=${front.host}/browse/other:latest`);
  const note = page.getByLabel('Pull rate limit');
  await expect
    .poll(() => note.textContent(), { timeout: 30_000 })
    .toMatch(new RegExp(`^${front.host}: \\d+ of 100 pulls left`));
  expect((await note.textContent())?.replace(/\s+/g, ' ')).toMatch(
    /Each image pulled or dated counts once/,
  );
  expect(front.remaining).toBeLessThanOrEqual(before);
  await page.context().close();
});

test('an empty registry, and one that is down, each say so', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?registry=${empty.host}`);
  await page.getByText(`${empty.host} lists no repositories.`).waitFor({ timeout: 30_000 });
  await page.goto(`${app.url}/?registry=${closedHost}`);
  const alert = page.getByRole('alert');
  await expect.poll(() => alert.textContent(), { timeout: 60_000 }).toMatch(closedHost);
  await page.getByRole('button', { name: 'Try again' }).waitFor();
  await accessible(page, 'a registry that is down');
  await page.goto(`${app.url}/?repository=${registry.host}/browse/missing`);
  await expect
    .poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 })
    .toMatch(/not known|not found/i);
  await page.context().close();
});

test('keyboard only: home to a registry, a repository, sorted by date', async () => {
  const page = await newPage(browser);
  await page.goto(app.url);
  const box = page.getByRole('textbox', { name: 'Registry or repository' });
  await box.waitFor();
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await box.evaluate((el) => el === document.activeElement)) break;
  }
  await page.keyboard.type(registry.host);
  await page.keyboard.press('Enter');
  const link = page.getByRole('link', { name: REPO });
  await link.waitFor({ timeout: 30_000 });
  // The view's heading has focus after the move; Tab goes on into the list.
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    if (await link.evaluate((el) => el === document.activeElement)) break;
  }
  await page.keyboard.press('Enter');
  const date = page.getByRole('button', { name: 'Date', exact: true });
  await date.waitFor({ timeout: 30_000 });
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    if (await date.evaluate((el) => el === document.activeElement)) break;
  }
  await page.keyboard.press('Enter');
  expect((await datedRows(page)).map(([t]) => t)).toEqual(['1.10', 'latest', '1.9']);
  expect(await date.getAttribute('aria-pressed')).toBe('true');
  await page.context().close();
});
