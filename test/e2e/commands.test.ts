// The command line of every view in Chromium: the image summary, a layer, a file in the viewer
// and a comparison each offer the tools' commands, and each copy button puts the exact text on
// the clipboard. The text expected is built by the same builders from what the test knows of
// its fixtures (reference, digests, a plain-http loopback registry), not read from the page.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import {
  compareCommands,
  fileCommands,
  imageCommands,
  layerCommands,
  mergedCommands,
  type Command,
  type ImageTarget,
} from '../../src/lib/commands/commands.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { buildImage, OciLayout, push, type FixtureImage } from '../harness/fixtures.ts';
import { type E2E, startE2E } from './env.ts';

let env: E2E;
let app: { url: string; close(): Promise<void> };
let page: Page;
let work: string;
/** An image with one file whose name a shell would mangle, and would show across two lines. */
let hostile: FixtureImage;
const HOSTILE_PATH = "data/it's $(id)\nnext `line`";

beforeAll(async () => {
  env = await startE2E();
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [env.registry.host],
  });
  work = await mkdtemp(join(tmpdir(), 'berth-e2e-commands-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const built = await buildImage({
    layout,
    layers: [{ entries: [{ type: 'file', path: HOSTILE_PATH, content: 'hostile\n' }] }],
  });
  hostile = await push(layout, env.registry, 'test/cli-hostile', 'v1', built);
  const context = await env.browser.newContext({
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  page = await context.newPage();
  // Stored once: the views below open it from the store.
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(env.fixtures.whiteout.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
}, 180_000);

afterAll(async () => {
  await page?.context().close();
  await app?.close();
  await env?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A single-manifest fixture on the loopback registry, as the builders take it. */
const target = (fx: FixtureImage): ImageTarget => ({
  ref: parseReference(fx.ref),
  manifestDigest: fx.digest,
  insecure: true,
});

const clipboard = () => page.evaluate(() => navigator.clipboard.readText());

/** Opens a region's "Command line" and checks that each command's copy button copies it. */
async function copiesEach(region: Locator, about: string, want: Command[]) {
  await region.locator('summary', { hasText: 'Command line' }).click();
  const group = region.getByRole('group', { name: `Commands for the ${about}` });
  await group.waitFor();
  expect(want.length).toBeGreaterThan(0);
  for (const c of want) {
    await group
      .getByRole('button', { name: `Copy ${c.tool} command: ${c.title}`, exact: true })
      .click();
    expect(await clipboard(), `${c.tool}: ${c.title}`).toBe(c.text);
  }
  // Nothing more is offered than the builders give.
  expect(await group.getByRole('button', { name: /^Copy / }).count()).toBe(want.length);
  return group;
}

describe('command line', () => {
  test('the image summary: every tool, pinned to the digest, then by tag', async () => {
    const fx = env.fixtures.whiteout;
    await page.goto(`${app.url}/?image=${fx.ref}`);
    const summary = page.getByRole('region', { name: 'Image summary' });
    await summary.waitFor({ timeout: 60_000 });
    const group = await copiesEach(summary, 'image', imageCommands(target(fx), { pinned: true }));
    expect(await clipboard()).toContain(`@${fx.digest}`);

    await group.getByRole('checkbox', { name: 'Pinned to the manifest digest' }).uncheck();
    const byTag = imageCommands(target(fx), { pinned: false });
    const skopeo = byTag.find((c) => c.tool === 'skopeo' && c.title === 'Inspect')!;
    await group.getByRole('button', { name: 'Copy skopeo command: Inspect', exact: true }).click();
    expect(await clipboard()).toBe(skopeo.text);
    expect(skopeo.text).toBe(`skopeo inspect --tls-verify=false docker://${fx.ref}`);
  });

  test('a layer: its blob listed by crane, regctl and oras', async () => {
    const fx = env.fixtures.whiteout;
    await page.goto(`${app.url}/?image=${fx.ref}&layer=2`);
    const files = page.getByRole('region', { name: 'Files', exact: true });
    await files.waitFor({ timeout: 60_000 });
    const layer = fx.layers![1]!;
    await copiesEach(
      files,
      'layer 2',
      layerCommands(target(fx), { digest: layer.digest, mediaType: layer.mediaType }),
    );
  });

  test('the merged filesystem: an export listed', async () => {
    const fx = env.fixtures.whiteout;
    await page.goto(`${app.url}/?image=${fx.ref}&layer=merged`);
    const files = page.getByRole('region', { name: 'Files', exact: true });
    await files.waitFor({ timeout: 60_000 });
    await copiesEach(files, 'merged filesystem', mergedCommands(target(fx), { pinned: true }));
  });

  test("a file in the viewer: that layer's copy and the merged one", async () => {
    const fx = env.fixtures.whiteout;
    await page.goto(`${app.url}/?image=${fx.ref}&layer=2&path=/app/hello.txt`);
    const viewer = page.getByRole('region', { name: 'File viewer' });
    await expect
      .poll(() => viewer.textContent(), { timeout: 60_000 })
      .toContain('hello from layer 2');
    const layer = fx.layers![1]!;
    await copiesEach(
      viewer,
      'file',
      fileCommands(
        target(fx),
        { path: '/app/hello.txt', layer: { digest: layer.digest, mediaType: layer.mediaType } },
        { pinned: true },
      ),
    );
  });

  test('a comparison: both configs and manifests side by side', async () => {
    const a = env.fixtures.whiteout;
    const b = env.fixtures.dockerTypes;
    await page.goto(`${app.url}/?${new URLSearchParams({ image: a.ref, compare: b.ref })}`);
    const comparison = page.getByRole('region', { name: 'Comparison', exact: true });
    await page.getByRole('region', { name: 'Comparison summary' }).waitFor({ timeout: 60_000 });
    await copiesEach(
      comparison,
      'comparison',
      compareCommands(target(a), target(b), { pinned: true }),
    );
  });

  test('by keyboard alone, and with nothing axe finds serious', async () => {
    const fx = env.fixtures.whiteout;
    await page.goto(`${app.url}/?image=${fx.ref}`);
    const summary = page.getByRole('region', { name: 'Image summary' });
    await summary.waitFor({ timeout: 60_000 });
    const disclosure = summary.locator('summary', { hasText: 'Command line' });
    await disclosure.focus();
    await page.keyboard.press('Enter');
    const group = summary.getByRole('group', { name: 'Commands for the image' });
    await group.waitFor();
    // The pin checkbox, then the first command's copy button.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const first = imageCommands(target(fx), { pinned: true })[0]!;
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      `Copy ${first.tool} command: ${first.title}`,
    );
    await page.keyboard.press('Enter');
    expect(await clipboard()).toBe(first.text);
    const severe = (await axeViolations(page)).filter(isSevere);
    expect(severe.map((v) => `${v.id}: ${v.help} ${v.nodes.join(' ')}`)).toEqual([]);
  });

  test('a file named to break a shell: copied quoted, shown with its newline escaped', async () => {
    await page.goto(
      `${app.url}/?${new URLSearchParams({ image: hostile.ref, layer: '1', path: `/${HOSTILE_PATH}` })}`,
    );
    // Not pulled: the link asks before it downloads the layer.
    await page
      .getByRole('region', { name: 'Download to open' })
      .getByRole('button', { name: /^Download .* and open$/ })
      .click({ timeout: 60_000 });
    const viewer = page.getByRole('region', { name: 'File viewer' });
    await expect.poll(() => viewer.textContent(), { timeout: 60_000 }).toContain('hostile');
    const layer = hostile.layers![0]!;
    const want = fileCommands(
      target(hostile),
      { path: `/${HOSTILE_PATH}`, layer: { digest: layer.digest, mediaType: layer.mediaType } },
      { pinned: true },
    );
    const group = await copiesEach(viewer, 'file', want);
    const crane = want.find((c) => c.tool === 'crane' && c.title === "This layer's copy")!;
    expect(crane.text).toContain(`-- 'data/it'\\''s $(id)\nnext \`line\`'`);
    // On screen the name's newline is an escape, not a line break: one line per command.
    const shown = group.locator('li', { hasText: "This layer's copy" }).first().locator('code');
    expect(await shown.locator('br').count()).toBe(0);
    expect(await shown.textContent()).not.toContain('\n');
  });
});
