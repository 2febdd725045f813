// The packages of an image in Chromium: an image made at test time from this machine's real
// dpkg status and this repository's node_modules manifests, its packages listed on request, the
// table searched and sorted, the layer (and history step) that added each package, a package a
// later layer removed; and an image whose dpkg status is cut short, whose problem is said
// plainly while the page keeps answering.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { newPage } from '../harness/chromium.ts';
import { push } from '../harness/fixtures.ts';
import { buildImage, FIXED_CREATED, OciLayout, type LayerEntry } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { cycloneDxValidator, spdxValidator } from '../unit/sbom-helpers.ts';
import { startBerth } from './env.ts';

let registry: Registry;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let work: string;
let goodRef: string;
let corruptRef: string;
/** The good image's manifest digest and its layers' digests, for the SBOMs' subject. */
let goodDigest: string;
let goodLayers: string[];

/** What the image holds, read here from the same files (the oracle). */
const expected = {
  debs: [] as string[],
  /** The deb the last layer's status leaves out. */
  removedDeb: '',
  /** Debs the last layer adds. */
  lateDebs: [] as string[],
  npm: [] as { name: string; version: string; path: string }[],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';

/** Installed stanzas of this machine's dpkg status (dpkg-query -W lists the same). */
async function installedStanzas(): Promise<{ name: string; text: string }[]> {
  const all = (await readFile('/var/lib/dpkg/status', 'utf8')).split(/\n\n+/).filter(Boolean);
  return all.flatMap((text) => {
    const name = /^Package: (.+)$/m.exec(text)?.[1];
    const ok = /^Status: \S+ ok installed$/m.test(text) && /^Version: /m.test(text);
    return name && ok ? [{ name, text }] : [];
  });
}

/** Up to `n` package.json of this repository's node_modules, top level only. */
async function manifests(n: number): Promise<{ name: string; version: string; file: string }[]> {
  const out: { name: string; version: string; file: string }[] = [];
  for (const dir of (await readdir('node_modules')).sort()) {
    if (out.length >= n) break;
    if (dir.startsWith('.') || dir.startsWith('@')) continue;
    const file = join('node_modules', dir, 'package.json');
    try {
      const json = JSON.parse(await readFile(file, 'utf8')) as { name?: string; version?: string };
      if (json.name === dir && json.version) out.push({ name: dir, version: json.version, file });
    } catch {
      // Not a package.
    }
  }
  return out;
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-packages-e2e-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const stanzas = await installedStanzas();
  const base = stanzas.slice(0, 20);
  const late = stanzas.slice(20, 22);
  expected.removedDeb = base[5]!.name;
  expected.lateDebs = late.map((s) => s.name);
  expected.debs = [...base.filter((s) => s.name !== expected.removedDeb), ...late].map(
    (s) => s.name,
  );
  const npm = await manifests(30);
  expected.npm = npm.map((m) => ({ ...m, path: `srv/app/${m.file}` }));
  const status = (list: typeof stanzas) => list.map((s) => s.text).join('\n\n') + '\n';
  const history = [
    { created: FIXED_CREATED, created_by: 'ADD rootfs.tar.xz / # debian base' },
    { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c npm ci --omit=dev' },
    { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c apt-get install -y two-more' },
  ];
  const good = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/os-release', content: OS_RELEASE },
          { type: 'file', path: 'var/lib/dpkg/status', content: status(base) },
          { type: 'copy', path: 'usr/share/filler.bin', from: '/bin/sh', size: 2 << 20 },
        ],
      },
      {
        entries: npm.map((m): LayerEntry => ({
          type: 'copy',
          path: `srv/app/${m.file}`,
          from: m.file,
        })),
      },
      {
        entries: [
          {
            type: 'file',
            path: 'var/lib/dpkg/status',
            content: status([...base.filter((s) => s.name !== expected.removedDeb), ...late]),
          },
        ],
      },
    ],
    config: { architecture: 'amd64', os: 'linux', config: {}, history },
  });
  goodRef = (await push(layout, registry, 'test/packages', 'v1', good)).ref;
  goodDigest = good.descriptor.digest;
  goodLayers = good.layers.map((l) => l.digest);

  // The status cut short inside a stanza, after its Status line: that stanza has no Version.
  const lines = stanzas[10]!.text.split('\n');
  const cut = lines.slice(0, lines.findIndex((l) => l.startsWith('Status:')) + 1).join('\n');
  const corrupt = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/os-release', content: OS_RELEASE },
          {
            type: 'file',
            path: 'var/lib/dpkg/status',
            content: status(stanzas.slice(0, 10)) + '\n' + cut + '\n',
          },
        ],
      },
    ],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: {},
      history: [{ created: FIXED_CREATED, created_by: 'ADD broken.tar /' }],
    },
  });
  corruptRef = (await push(layout, registry, 'test/packages-corrupt', 'v1', corrupt)).ref;

  ({ app, browser } = await startBerth(registry));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function pulled(ref: string): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  return page;
}

const card = (page: Page) => page.getByRole('region', { name: 'Packages', exact: true });
const table = (page: Page) => card(page).getByRole('region', { name: 'Packages table' });
/** The table's rows drawn now (the header excluded), as their cells' text. */
const rowsOf = (page: Page) =>
  table(page)
    .locator('tbody tr:not(.spacer)')
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    );
const countOf = async (page: Page) =>
  Number(/^(\d+)/.exec((await card(page).locator('.count').textContent())?.trim() ?? '')?.[1]);

test('lists the packages on request: the table, search, sort, and the layer that added each', async () => {
  const page = await pulled(goodRef);
  const button = card(page).getByRole('button', { name: 'List packages' });
  await button.waitFor();
  // Before the layers are listed it says it lists them first; once the file browser has
  // listed them, what it will read: two statuses, os-release and the manifests.
  await expect.poll(() => card(page).textContent()).toContain('It lists 3 layers first');
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await expect
    .poll(() => card(page).textContent(), { timeout: 30_000 })
    .toContain(`It reads ${expected.npm.length + 3} files`);
  await button.click();
  await table(page).waitFor({ timeout: 60_000 });
  const total = expected.debs.length + expected.npm.length;
  await expect.poll(() => countOf(page)).toBe(total);
  await expect.poll(() => card(page).textContent()).toContain('Debian GNU/Linux 12 (bookworm)');
  // The table, its sort buttons, search and toggles, as axe sees them.
  const severe = (await axeViolations(page)).filter(isSevere);
  expect(severe.map((v) => `${v.id}: ${v.help} ${v.nodes.join(' ')}`)).toEqual([]);

  // Sorted by name at first; every name the oracle has is among the rows the table holds.
  const first = await rowsOf(page);
  const names = [...expected.debs, ...expected.npm.map((m) => m.name)];
  expect(first.length).toBeGreaterThan(5);
  expect(first.map((r) => r[0]).slice(0, 5)).toEqual(
    [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, 5),
  );

  // Search: one npm package by name, with its version, purl and the layer that added it.
  const one = expected.npm[3]!;
  await card(page).getByRole('searchbox', { name: 'Search packages' }).fill(one.name);
  await expect.poll(async () => (await rowsOf(page)).find((r) => r[0] === one.name)).toBeTruthy();
  const row = (await rowsOf(page)).find((r) => r[0] === one.name)!;
  expect(row[1]).toBe(one.version);
  expect(row[2]).toBe('npm');
  expect(row[6]).toContain(`pkg:npm/${one.name}@`);
  expect(row[7]).toContain('Layer 2: RUN npm ci --omit=dev');

  // A deb the last layer installed says layer 3.
  await card(page).getByRole('searchbox', { name: 'Search packages' }).fill(expected.lateDebs[0]!);
  await expect
    .poll(async () => (await rowsOf(page)).find((r) => r[0] === expected.lateDebs[0])?.[7])
    .toContain('Layer 3: RUN apt-get install -y two-more');

  // Sort: name descending puts the last name first.
  await card(page).getByRole('searchbox', { name: 'Search packages' }).fill('');
  await expect.poll(() => countOf(page)).toBe(total);
  const nameHeader = card(page).getByRole('columnheader', { name: /Name/ });
  await nameHeader.getByRole('button').click();
  await expect.poll(() => nameHeader.getAttribute('aria-sort')).toBe('descending');
  const last = [...names].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))[0];
  await expect.poll(async () => (await rowsOf(page))[0]?.[0]).toBe(last);
  // Scrolled to the end, the virtual table draws the rows there.
  const firstName = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0];
  await table(page).evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect.poll(async () => (await rowsOf(page)).at(-1)?.[0]).toBe(firstName);
  await table(page).evaluate((el) => (el.scrollTop = 0));

  // Removed packages: the deb the last layer's status leaves out, and where it went.
  await card(page)
    .getByRole('checkbox', { name: /Show removed/ })
    .check();
  await expect.poll(() => countOf(page)).toBe(1);
  const removed = (await rowsOf(page))[0]!;
  expect(removed[0]).toBe(expected.removedDeb);
  expect(removed[7]).toContain('Layer 1');
  expect(removed[7]).toContain('removed in layer 3');
  await page.close();
});

test('a dpkg status cut short: the problem said plainly, the page still answering', async () => {
  const page = await pulled(corruptRef);
  await card(page).getByRole('button', { name: 'List packages' }).click();
  await table(page).waitFor({ timeout: 60_000 });
  // The ten whole stanzas are read; the cut one is a problem naming the file and what is wrong.
  await expect.poll(() => countOf(page)).toBe(10);
  const problems = card(page).locator('details.problems');
  await problems.locator('summary').click();
  await expect.poll(() => problems.textContent()).toMatch(/1 problem/);
  await expect
    .poll(() => problems.textContent())
    .toMatch(
      /Layer 1, \/var\/lib\/dpkg\/status: var\/lib\/dpkg\/status: stanza 11 .*has no Version/,
    );
  // The page still draws frames, and its search still works.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  await card(page).getByRole('searchbox', { name: 'Search packages' }).fill('zzzz-none');
  await expect.poll(() => countOf(page)).toBe(0);
  await page.close();
});

test('the comparison view lists the packages the second image added and removed', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: goodRef, compare: corruptRef })}`);
  await page.getByRole('region', { name: 'Comparison summary' }).waitFor({ timeout: 60_000 });
  const ask = page.getByRole('button', { name: /and compare files$/ });
  const files = page.getByRole('region', { name: 'Files', exact: true }).getByRole('tree');
  await Promise.race([ask.waitFor({ timeout: 60_000 }), files.waitFor({ timeout: 60_000 })]);
  if (await ask.isVisible()) await ask.click();
  const section = page.getByRole('region', { name: 'Packages compared' });
  await section.getByRole('button', { name: 'Compare packages' }).click({ timeout: 60_000 });
  const changed = section.getByRole('region', { name: 'Changed packages' });
  await changed.waitFor({ timeout: 60_000 });
  // The second image holds the first ten stanzas only: the deb the first image's last layer
  // dropped comes back; everything past the tenth stanza, and every npm package, is gone.
  const removed = expected.debs.length - 9 + expected.npm.length;
  await expect
    .poll(() => section.locator('.section-head').textContent())
    .toContain(`1 added · ${removed} removed · 0 upgraded · 0 downgraded · 0 changed · 9 the same`);
  const rows = await changed
    .locator('tbody tr')
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())),
    );
  expect(rows.filter((r) => r[0] === 'added').map((r) => r[1])).toEqual([expected.removedDeb]);
  expect(rows.length).toBe(removed + 1);
  const severe = (await axeViolations(page)).filter(isSevere);
  expect(severe.map((v) => `${v.id}: ${v.help} ${v.nodes.join(' ')}`)).toEqual([]);
  await page.close();
});

test('downloads the packages as CycloneDX 1.6 and SPDX 2.3: valid, about this image, each package with its layer', async () => {
  const page = await pulled(goodRef);
  await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
  await card(page).getByRole('button', { name: 'List packages' }).click();
  await table(page).waitFor({ timeout: 60_000 });
  const total = expected.debs.length + expected.npm.length;
  await expect.poll(() => countOf(page)).toBe(total);
  const download = async (name: string) => {
    const downloading = page.waitForEvent('download');
    await card(page).getByRole('button', { name, exact: true }).click();
    const file = await downloading;
    return {
      name: file.suggestedFilename(),
      doc: JSON.parse(await readFile((await file.path())!, 'utf8')) as Json,
    };
  };
  const hex = goodDigest.slice('sha256:'.length, 'sha256:'.length + 12);

  const cdx = await download('CycloneDX 1.6');
  expect(cdx.name).toBe(`packages-v1-${hex}.cdx.json`);
  const validCdx = cycloneDxValidator();
  expect(validCdx(cdx.doc), JSON.stringify(validCdx.errors)).toBe(true);
  // The image is the BOM's subject, by its manifest digest.
  const image = cdx.doc.metadata.component as Json;
  expect(image.type).toBe('container');
  expect(image.hashes).toContainEqual({ alg: 'SHA-256', content: goodDigest.slice(7) });
  const libraries = (cdx.doc.components as Json[]).filter((c) => c.type !== 'operating-system');
  expect(libraries.map((c) => c.name).sort()).toEqual(
    [...expected.debs, ...expected.npm.map((m) => m.name)].sort(),
  );
  // Each package names the layer that added it: by digest, and by its history step.
  const prop = (c: Json, name: string) =>
    (c.properties as { name: string; value: string }[]).find((p) => p.name === name)?.value;
  const late = libraries.find((c) => c.name === expected.lateDebs[0])!;
  expect(prop(late, 'berth:layer:digest')).toBe(goodLayers[2]);
  expect(prop(late, 'berth:history:createdBy')).toContain('apt-get install -y two-more');
  const npmOne = libraries.find((c) => c.name === expected.npm[0]!.name)!;
  expect(prop(npmOne, 'berth:layer:digest')).toBe(goodLayers[1]);

  const spdx = await download('SPDX 2.3');
  expect(spdx.name).toBe(`packages-v1-${hex}.spdx.json`);
  const validSpdx = spdxValidator();
  expect(validSpdx(spdx.doc), JSON.stringify(validSpdx.errors)).toBe(true);
  const packages = spdx.doc.packages as Json[];
  const root = packages.find((p) => p.primaryPackagePurpose === 'CONTAINER')!;
  expect(root.checksums).toContainEqual({
    algorithm: 'SHA256',
    checksumValue: goodDigest.slice(7),
  });
  expect(spdx.doc.relationships).toContainEqual({
    spdxElementId: 'SPDXRef-DOCUMENT',
    relationshipType: 'DESCRIBES',
    relatedSpdxElement: root.SPDXID,
  });
  // The image, its operating system, and every package the table lists.
  const listed = packages.filter((p) => p.primaryPackagePurpose === 'LIBRARY');
  expect(listed.map((p) => p.name).sort()).toEqual(
    [...expected.debs, ...expected.npm.map((m) => m.name)].sort(),
  );
  expect(packages.filter((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM').length).toBe(1);
  await page.close();
});
