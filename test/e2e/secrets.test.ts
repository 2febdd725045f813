// The secret scan in Chromium: an image built at test time with test secrets of every kind
// (made here, never committed, not real) in a file of layer 2 that layer 4 deletes, a .env and a
// config file that stay visible, and a token in the config's Env, a label and a build argument
// in the history. The scan lists each with its file, layer, step and visibility; values stay
// masked until Reveal; and no request leaves the page during the scan.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { newPage } from '../harness/chromium.ts';
import { push } from '../harness/fixtures.ts';
import { buildImage, FIXED_CREATED, OciLayout } from '../harness/oci.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { makeTestSecrets, type TestSecrets } from '../harness/secrets.ts';
import { startBerth } from './env.ts';

let registry: Registry;
let app: { url: string; close(): Promise<void> };
let browser: Browser;
let work: string;
let ref: string;
let s: TestSecrets;

beforeAll(async () => {
  s = await makeTestSecrets();
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-secrets-e2e-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const deploy = [
    '# deploy credentials',
    `aws_access_key_id = ${s.awsAccessKeyId}`,
    `aws_secret_access_key = ${s.awsSecretAccessKey}`,
    `GITHUB=${s.githubToken}`,
    `SLACK=${s.slackBotToken}`,
    `//registry.npmjs.org/:_authToken=${s.npmToken}`,
    s.rsaKey.trimEnd(),
    s.ecKey.trimEnd(),
    '',
  ].join('\n');
  const image = await buildImage({
    layout,
    layers: [
      {
        entries: [
          { type: 'file', path: 'etc/os-release', content: 'ID=test\n' },
          { type: 'copy', path: 'bin/sh', from: '/bin/sh' },
          {
            type: 'file',
            path: 'srv/keep/config.yaml',
            content: `app:\n  signing_key: ${s.entropy}\n`,
          },
        ],
      },
      {
        entries: [
          { type: 'file', path: 'root/secrets/deploy.txt', content: deploy },
          { type: 'file', path: 'srv/app/.env', content: `DB_PASSWORD=${s.dbPassword}\n` },
        ],
      },
      { entries: [{ type: 'file', path: 'srv/app/main.js', content: 'console.log(1);\n' }] },
      { entries: [{ type: 'whiteout', path: 'root/secrets/deploy.txt' }] },
    ],
    config: {
      config: {
        Env: ['PATH=/usr/bin:/bin', `API_TOKEN=${s.apiToken}`],
        Labels: { 'org.example.deploy-token': s.labelToken },
      },
      history: [
        { created: FIXED_CREATED, created_by: 'ADD rootfs.tar /' },
        { created: FIXED_CREATED, created_by: 'COPY deploy /root/secrets/ # buildkit' },
        {
          created: FIXED_CREATED,
          created_by: `ARG NPM_TOKEN=${s.buildArgToken}`,
          empty_layer: true,
        },
        {
          created: FIXED_CREATED,
          created_by: `RUN |1 NPM_TOKEN=${s.buildArgToken} /bin/sh -c npm ci`,
        },
        { created: FIXED_CREATED, created_by: 'RUN /bin/sh -c rm -rf /root/secrets' },
      ],
    },
  });
  ref = (await push(layout, registry, 'test/secrets', 'v1', image)).ref;
  ({ app, browser } = await startBerth(registry));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const card = (page: Page) => page.getByRole('region', { name: 'Secrets', exact: true });
const table = (page: Page) => card(page).getByRole('region', { name: 'Secrets table' });
/** The table's rows drawn now, as their cells' text. */
const rowsOf = (page: Page) =>
  table(page)
    .locator('tbody tr:not(.spacer)')
    .evaluateAll((trs) =>
      trs.map((tr) =>
        [...tr.querySelectorAll('td')].map(
          (td) => td.textContent?.replace(/\s+/g, ' ').trim() ?? '',
        ),
      ),
    );

test('scans on request: every kind, with file, layer, step and visibility; masked until Reveal; offline', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  const button = card(page).getByRole('button', { name: 'Scan for secrets' });
  await button.waitFor();
  // The page's own work after a pull (asking the registry what is attached to the image) is
  // over before the scan starts: what is asked for while it runs is the scan's.
  await page
    .getByText('No signatures, SBOMs or attestations are attached to this image.')
    .first()
    .waitFor({ timeout: 30_000 });

  // Every request the page (and its workers) makes while the scan runs.
  const during: Request[] = [];
  const watch = (r: Request) => during.push(r);
  page.on('request', watch);
  await button.click();
  await table(page).waitFor({ timeout: 60_000 });
  page.off('request', watch);

  const rows = await rowsOf(page);
  const row = (found: string, where: string) =>
    rows.find((r) => r[0]!.startsWith(found) && r[1]!.includes(where));
  const deleted = 'Deleted in layer 4, still in layer 2';
  const expected: [string, string, string, string][] = [
    ['AWS Access Key ID', '/root/secrets/deploy.txt:2', 'Layer 2, step 2', deleted],
    ['AWS Secret Access Key', '/root/secrets/deploy.txt:3', 'Layer 2, step 2', deleted],
    ['GitHub Token', '/root/secrets/deploy.txt:4', 'Layer 2, step 2', deleted],
    ['Slack token', '/root/secrets/deploy.txt:5', 'Layer 2, step 2', deleted],
    ['Npm access token', '/root/secrets/deploy.txt:6', 'Layer 2, step 2', deleted],
    ['Private key', '/root/secrets/deploy.txt:7', 'Layer 2, step 2', deleted],
    [
      'Secret assigned in a .env file',
      '/srv/app/.env:1',
      'Layer 2, step 2',
      'In the merged filesystem',
    ],
    [
      'High-entropy string',
      '/srv/keep/config.yaml:2',
      'Layer 1, step 1',
      'In the merged filesystem',
    ],
    ['Secret-named variable', 'Config Env (API_TOKEN)', '', 'In the image config'],
    ['Secret-named variable', 'Config label (org.example.deploy-token)', '', 'In the image config'],
    [
      'Secret-named build argument (ARG)',
      'History step 3 (NPM_TOKEN)',
      'step 3',
      'In the image config',
    ],
    [
      'Secret-named build argument',
      'History step 4 (NPM_TOKEN)',
      'Layer 3, step 4',
      'In the image config',
    ],
  ];
  for (const [found, where, step, visible] of expected) {
    const r = row(found, where);
    expect(
      r,
      `no row ${found} at ${where} in ${JSON.stringify(rows.map((x) => x.slice(0, 2)))}`,
    ).toBeDefined();
    expect(r![2], `${found} layer and step`).toContain(step);
    expect(r![3], `${found} visibility`).toBe(visible);
  }
  // Both private keys, the EC one after the RSA one's lines.
  expect(rows.filter((r) => r[0] === 'Private key').length).toBe(2);

  const severe = (await axeViolations(page)).filter(isSevere);
  expect(severe.map((v) => `${v.id}: ${v.help} ${v.nodes.join(' ')}`)).toEqual([]);

  // Masked: no value is in the card until Reveal.
  const values = [
    s.awsAccessKeyId,
    s.awsSecretAccessKey,
    s.githubToken,
    s.slackBotToken,
    s.npmToken,
    s.dbPassword,
    s.entropy,
    s.apiToken,
    s.labelToken,
    s.buildArgToken,
  ];
  // The card's text (the image summary shows the config's Env, labels and history as they are).
  const pageText = () => card(page).innerText();
  for (const v of values) expect(await pageText()).not.toContain(v.slice(4, 16));
  expect(await pageText()).not.toContain(s.rsaKey.split('\n')[1]!.slice(0, 20));

  const github = rows.findIndex((r) => r[0]!.startsWith('GitHub Token'));
  await card(page)
    .getByRole('button', { name: `Reveal value ${github + 1}` })
    .click();
  await expect.poll(pageText).toContain(s.githubToken);
  // Only that one.
  expect(await pageText()).not.toContain(s.npmToken.slice(4, 16));
  await card(page)
    .getByRole('button', { name: `Hide value ${github + 1}` })
    .click();
  await expect.poll(pageText).not.toContain(s.githubToken);

  // Nothing left the page: the only requests were the app's own code, loaded by the scan
  // worker the first time (never the proxy, never the registry, never a body).
  const origin = new URL(app.url).origin;
  for (const r of during) {
    const u = new URL(r.url());
    expect(`${r.method()} ${u.origin}${u.pathname}`).toMatch(
      new RegExp(`^GET ${origin.replace(/[.]/g, '\\.')}/assets/[^/]+\\.js$`),
    );
    expect(r.postData()).toBeNull();
  }
  // A second scan, the worker's code loaded: not one request.
  const again: Request[] = [];
  const watchAgain = (r: Request) => again.push(r);
  page.on('request', watchAgain);
  await card(page).getByRole('button', { name: 'Scan again' }).click();
  await card(page).getByRole('button', { name: 'Scan again' }).waitFor({ timeout: 60_000 });
  await table(page).waitFor();
  page.off('request', watchAgain);
  expect(again.map((r) => r.url())).toEqual([]);

  // Open file: the deleted file opens in its own layer's view.
  const deploy = rows.findIndex((r) => r[1]!.includes('/root/secrets/deploy.txt:4'));
  expect(deploy).toBeGreaterThanOrEqual(0);
  await card(page)
    .getByRole('button', { name: 'Open file /root/secrets/deploy.txt of layer 2' })
    .first()
    .click();
  const viewer = page.getByRole('region', { name: 'File viewer' });
  await viewer.waitFor({ timeout: 30_000 });
  await expect
    .poll(() => viewer.textContent(), { timeout: 30_000 })
    .toContain('deploy credentials');
  expect(page.url()).toContain('layer=2');
  await page.close();
});

test('an inspected image: says which layers are missing and how big, downloads them when asked, then scans', async () => {
  const page = await newPage(browser);
  await page.goto(`${app.url}/?${new URLSearchParams({ image: ref })}`);
  await page.getByRole('button', { name: 'Inspect' }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  await expect
    .poll(async () => (await card(page).textContent())?.replace(/\s+/g, ' '))
    .toMatch(/Layers 1, 2, 3, 4 are not stored in this browser \(\d+(\.\d+)? kB to download\)/);
  const download = card(page).getByRole('button', { name: /^Download .+ and scan$/ });
  await download.click();
  await table(page).waitFor({ timeout: 60_000 });
  const rows = await rowsOf(page);
  const github = rows.find((r) => r[0]!.startsWith('GitHub Token'));
  expect(github?.[3]).toBe('Deleted in layer 4, still in layer 2');
  await page.close();
});
