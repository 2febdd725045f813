// Importing archives in real Chromium: what Berth exported comes back byte for byte, archives
// that skopeo writes (oci-archive, and docker-archive in the legacy `docker save` form) are
// read, and damaged archives are refused with a message, leaving the store as it was.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, open, readFile, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OciLayout, buildImage } from '../harness/fixtures.ts';
import { type E2E, startE2E, storeContents } from './env.ts';

const exec = promisify(execFile);
let env: E2E;

beforeAll(async () => {
  env = await startE2E();
});
afterAll(async () => {
  await env?.stop();
});

const summary = (page: Page) => page.getByRole('region', { name: 'Image summary' });
const notice = (page: Page) => page.locator('p.notice[aria-live]');
const sorted = (xs: string[]) => [...xs].sort();

async function pull(page: Page, ref: string, platform?: 'all') {
  await page.goto(
    `${env.app.url}/?${new URLSearchParams({ image: ref, ...(platform ? { platform } : {}) })}`,
  );
  if (platform) {
    const combo = page.getByRole('combobox', { name: 'Platform', exact: true });
    await combo.waitFor();
    expect(await combo.inputValue()).toBe(platform);
  }
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await summary(page).waitFor({ timeout: 60_000 });
}

async function download(page: Page, name: string) {
  const [d] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  const file = join(env.tmp, `${name}.tar`);
  await d.saveAs(file);
  return file;
}

/** Opens the app and waits until it has created its store: reading the store before that
 * would create an empty database the app then fails to upgrade. */
async function openApp(page: Page) {
  await page.goto(env.app.url);
  await expect
    .poll(() => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name)))
    .toContain('berth');
}

/** Picks the file in the library's file input and waits for the import, and the opening of
 * the image it imported, to end. Returns the error shown, if any, and the notice: the texts the
 * notice showed are recorded as they change, as the notice is replaced when the image opens. */
async function importFile(page: Page, file: string): Promise<{ notice?: string; error?: string }> {
  await page.evaluate(() => {
    const w = window as unknown as { notices: string[]; observer?: MutationObserver };
    w.notices = [];
    const el = document.querySelector('p.notice[aria-live]')!;
    w.observer?.disconnect();
    w.observer = new MutationObserver(() => w.notices.push(el.textContent?.trim() ?? ''));
    w.observer.observe(el, { subtree: true, childList: true, characterData: true });
  });
  const notices = () => page.evaluate(() => (window as unknown as { notices: string[] }).notices);
  // The file input is in the library, reached by the header's link.
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: /^Library/ })
    .click();
  await page.getByLabel('Import an archive').setInputFiles(file);
  // "Importing…" shows once the import started, which also cleared an earlier error.
  await expect
    .poll(async () => (await notices()).some((n) => n.startsWith('Importing')))
    .toBe(true);
  await expect
    .poll(async () => (await notice(page).textContent())?.trim() ?? '', { timeout: 60_000 })
    .not.toMatch(/^(Importing|Resolving)/);
  const alert = page.getByRole('alert');
  const error = (await alert.count()) > 0 ? ((await alert.textContent()) ?? '') : undefined;
  const said = (await notices()).find((n) => n.startsWith('Imported'));
  return { ...(error !== undefined ? { error } : {}), ...(said ? { notice: said } : {}) };
}

/** Copies the archive with skopeo, which checks every blob; returns the root digest. */
async function skopeoDigest(file: string, name: string, all = false) {
  const out = join(env.tmp, `${name}-layout`);
  await exec('skopeo', [
    'copy',
    ...(all ? ['--all'] : []),
    '--preserve-digests',
    `oci-archive:${file}`,
    `oci:${out}:x`,
  ]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0]!.digest;
}

describe('round trip: export, delete, import', () => {
  for (const { label, fixture, platform } of [
    { label: 'single image', fixture: 'whiteout', platform: undefined },
    {
      label: 'multi-platform index, all platforms',
      fixture: 'multiArch',
      platform: 'all',
    },
  ] as const) {
    test(label, async () => {
      const fx = env.fixtures[fixture];
      const page = await env.page();
      await pull(page, fx.ref, platform);
      const pulled = await storeContents(page);
      const file = await download(page, `roundtrip-${fixture}`);

      await summary(page).getByRole('button', { name: 'Delete from this browser' }).click();
      // The record goes first, then the blobs only it needed.
      await expect
        .poll(() => storeContents(page))
        .toEqual({
          blobs: [],
          ingests: [],
          images: [],
          pulls: [],
          chunks: 0,
        });

      const result = await importFile(page, file);
      expect(result.error).toBeUndefined();
      // Soft: AppState.importArchive opens the image after setting its notice, which clears it.
      expect
        .soft(result.notice, 'the notice')
        .toMatch(
          new RegExp(
            `^Imported ${fx.ref} from roundtrip-${fixture}\\.tar: ${pulled.blobs.length} blobs stored, `,
          ),
        );
      await expect
        .poll(() => summary(page).getByRole('heading', { level: 2 }).textContent())
        .toBe(fx.ref);
      await expect.poll(async () => (await summary(page).textContent()) ?? '').toContain(fx.digest);
      const imported = await storeContents(page);
      expect(sorted(imported.blobs)).toEqual(sorted(pulled.blobs));
      expect(imported.images).toEqual([fx.ref]);
      expect(imported.ingests).toEqual([]);

      // Opened, an index shows its default platform; the whole index is on "All platforms".
      if (platform)
        await page.getByRole('combobox', { name: 'Platform', exact: true }).selectOption(platform);
      const again = await download(page, `roundtrip-${fixture}-again`);
      expect(await skopeoDigest(again, `roundtrip-${fixture}`, platform !== undefined)).toBe(
        fx.digest,
      );

      // A second import stores nothing new.
      const second = await importFile(page, file);
      expect(second.error).toBeUndefined();
      expect.soft(second.notice, 'the notice').toMatch(/: 0 blobs stored, 0 B\.$/);
      expect(sorted((await storeContents(page)).blobs)).toEqual(sorted(pulled.blobs));
      await page.context().close();
    });
  }
});

describe('archives written by skopeo', () => {
  test('oci-archive: named from its ref.name', async () => {
    const fx = env.fixtures.dockerTypes;
    const file = join(env.tmp, 'skopeo-oci.tar');
    const name = 'example.com/berth/from-oci:v3';
    await exec('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${fx.ref}`,
      `oci-archive:${file}:${name}`,
    ]);
    const page = await env.page();
    await openApp(page);
    expect(await importFile(page, file)).not.toHaveProperty('error');
    await expect
      .poll(() => summary(page).getByRole('heading', { level: 2 }).textContent())
      .toBe(name);
    expect(
      await summary(page).getByRole('list', { name: 'Layers' }).getByRole('listitem').count(),
    ).toBe(fx.layers!.length);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => notice(page).textContent()).toMatch(/Verified .* all match/);
    await page.context().close();
  });

  test('docker-archive (legacy docker save): named from RepoTags, layers checked against diffIDs', async () => {
    const fx = env.fixtures.dockerTypes;
    const file = join(env.tmp, 'skopeo-docker.tar');
    const name = 'example.com/berth/from-docker:v7';
    await exec('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${fx.ref}`,
      `docker-archive:${file}:${name}`,
    ]);
    const listing = (await exec('tar', ['-tf', file])).stdout.split('\n');
    expect(listing).toContain('manifest.json');
    expect(listing).not.toContain('index.json');
    const page = await env.page();
    await openApp(page);
    const result = await importFile(page, file);
    expect(result.error).toBeUndefined();
    expect
      .soft(result.notice, 'the notice')
      .toMatch(`Imported ${name} from skopeo-docker.tar: 4 blobs stored`);
    await expect
      .poll(() => summary(page).getByRole('heading', { level: 2 }).textContent())
      .toBe(name);
    const layers = summary(page).getByRole('list', { name: 'Layers' }).getByRole('listitem');
    expect(await layers.count()).toBe(fx.layers!.length);
    // The layers are the uncompressed tars: their digests are the config's diffIDs.
    const text = (await summary(page).textContent()) ?? '';
    expect(text).toContain('application/vnd.docker.image.rootfs.diff.tar');
    for (const l of fx.layers!) expect(text).toContain(l.diffID.slice(7, 19));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => notice(page).textContent()).toMatch(/Verified .* all match/);

    // Exported again, the built manifest is a valid image for skopeo.
    const again = await download(page, 'skopeo-docker-again');
    const digest = await skopeoDigest(again, 'skopeo-docker');
    expect(await summary(page).textContent()).toContain(digest);
    await page.context().close();
  });
});

describe('damaged archives are refused and leave the store as it was', () => {
  test('each names its problem', async () => {
    const fx = env.fixtures.whiteout;
    const dir = join(env.tmp, 'damaged');
    await mkdir(dir, { recursive: true });
    // The whiteout image as an OCI layout directory, to damage and tar again with GNU tar
    // (whose member names start with "./").
    const layout = join(dir, 'layout');
    await exec('skopeo', [
      'copy',
      '--src-tls-verify=false',
      '--preserve-digests',
      `docker://${fx.ref}`,
      `oci:${layout}:v1`,
    ]);
    const big = fx.layers!.reduce((a, b) => (b.size > a.size ? b : a));
    const blobFile = (digest: string, root = layout) =>
      join(root, 'blobs', 'sha256', digest.slice(7));
    const damaged = async (name: string, damage: (root: string) => Promise<void>) => {
      const root = join(dir, name);
      await exec('cp', ['-r', layout, root]);
      await damage(root);
      const file = join(dir, `${name}.tar`);
      await exec('tar', ['-cf', file, '-C', root, '.']);
      return file;
    };

    const notImage = join(dir, 'hostname.tar');
    await exec('tar', ['-cf', notImage, '-C', '/', 'etc/hostname']);
    const truncated = join(dir, 'truncated.tar');
    await exec('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${fx.ref}`,
      `oci-archive:${truncated}:v1`,
    ]);
    await truncate(truncated, Math.floor((await stat(truncated)).size / 2));
    // Other bytes under the layer's name: the same length, from a real binary.
    const replaced = await damaged('replaced', async (root) => {
      const src = await open('/usr/bin/skopeo', 'r');
      const bytes = Buffer.alloc(big.size);
      await src.read(bytes, 0, big.size, 0);
      await src.close();
      const dst = await open(blobFile(big.digest, root), 'w');
      await dst.write(bytes);
      await dst.close();
    });
    const resized = await damaged('resized', (root) =>
      copyFile('/etc/hostname', blobFile(big.digest, root)),
    );
    const missing = await damaged('missing', (root) => rm(blobFile(big.digest, root)));
    const digests = (root: string) => readdir(join(root, 'blobs', 'sha256'));
    expect(await digests(join(dir, 'missing'))).not.toContain(big.digest.slice(7));

    const cases: [string, string, RegExp | string][] = [
      [
        'a tar that holds no image',
        notImage,
        'the archive holds no index.json or manifest.json: it is not an image archive',
      ],
      ['a file that is not a tar', '/bin/true', 'true was not imported: this is not a tar archive'],
      [
        'a truncated archive',
        truncated,
        /the archive ends in the middle of blobs\/sha256\/[0-9a-f]{64} \(.* of its .* are there\): the file is truncated/,
      ],
      [
        'a blob replaced by other bytes',
        replaced,
        new RegExp(
          `blob ${big.digest} in the archive does not match its name \\(it hashes to sha256:[0-9a-f]{64}\\)`,
        ),
      ],
      [
        'a blob replaced by a file of another size',
        resized,
        new RegExp(
          `blob ${big.digest} in the archive is \\d+ bytes, but manifest ${fx.digest} lists it as ${big.size} bytes`,
        ),
      ],
      [
        'a missing layer',
        missing,
        `blob ${big.digest} listed by manifest ${fx.digest} is not in the archive`,
      ],
    ];

    const page = await env.page();
    await openApp(page);
    for (const stage of ['empty store', 'after another image was imported']) {
      if (stage !== 'empty store') {
        // Something stored first: it must stay exactly as it is.
        const other = join(dir, 'other.tar');
        await exec('skopeo', [
          'copy',
          '--src-tls-verify=false',
          `docker://${env.fixtures.dockerTypes.ref}`,
          `docker-archive:${other}:example.com/berth/other:v1`,
        ]);
        expect(await importFile(page, other)).not.toHaveProperty('error');
        await expect
          .poll(async () => (await storeContents(page)).images)
          .toEqual(['example.com/berth/other:v1']);
      }
      const before = await storeContents(page);
      expect(before.blobs.length > 0).toBe(stage !== 'empty store');
      for (const [what, file, message] of cases) {
        const { error } = await importFile(page, file);
        expect(error, `${what} (${stage})`).toMatch(message);
        expect(await storeContents(page), `${what} (${stage}): the store`).toEqual(before);
      }
    }
    await page.context().close();
  });
});

test('throughput: a 50 MB archive', async () => {
  // One 48 MiB uncompressed layer of real bytes (a prefix of the Chromium binary).
  const dir = join(env.tmp, 'big');
  const layout = await OciLayout.create(join(dir, 'layout'));
  const src = await open('/usr/lib/chromium/chromium', 'r');
  const raw = Buffer.alloc(48 << 20);
  await src.read(raw, 0, raw.length, 0);
  await src.close();
  const image = await buildImage({
    layout,
    layers: [{ raw, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
  });
  await layout.tag(image.descriptor, 'big');
  const file = join(dir, 'big.tar');
  await exec('tar', ['-cf', file, '-C', layout.dir, '.']);
  const size = (await stat(file)).size;

  const page = await env.page();
  await openApp(page);
  const started = performance.now();
  expect(await importFile(page, file)).not.toHaveProperty('error');
  const seconds = (performance.now() - started) / 1000;
  const stored = await storeContents(page);
  expect(stored.images).toEqual(['localhost/imported:big']);
  expect(stored.blobs).toHaveLength(3);
  console.log(
    `import of ${(size / 1e6).toFixed(1)} MB: ${seconds.toFixed(2)} s, ${(size / 1e6 / seconds).toFixed(0)} MB/s`,
  );
  await page.context().close();
});
