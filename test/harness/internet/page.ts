// What every browser test of the offline internet's registries does: start the internet with
// one registry's emulator and that registry's content, open Berth's page, type a reference and
// pull, read the summary and the alert, sign in, see the tags offered, and download the archive
// and have skopeo check it inside the namespace. Kept in one place so that each registry's test
// says only its data and what differs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { newPage } from '../chromium.ts';
import { MT } from '../oci.ts';
import { buildInternetImages, type InternetImages } from './content.ts';
import type { EmulatedRequest } from './emulator.ts';
import { internetSkipReason, startInternet, type EmulatorSpec, type Internet } from './internet.ts';
import { attachInternet } from './shared.ts';

export { emulatorSpec } from './internet.ts';

/** The running internet and the images built for it, once `beforeAll` has run. */
export interface InternetRun {
  /** Why the tier is skipped (not root, no `ip`), or undefined when it runs. */
  readonly skip: string | undefined;
  readonly net: Internet;
  readonly images: InternetImages;
}

/**
 * Registers the file's beforeAll and afterAll: the internet with `emulators` (one or several)
 * made ready beside the images' build, then `seed` to put the registries' content in; what
 * the file started is stopped and removed after. Within a project that shares one internet
 * (global-setup.ts) the file attaches to it, reset to its own emulators; otherwise it starts
 * its own.
 */
export function useInternet(
  emulators: EmulatorSpec | EmulatorSpec[],
  seed: (net: Internet, images: InternetImages) => Promise<void>,
): InternetRun {
  const skip = internetSkipReason();
  if (skip) console.warn(`offline internet tier skipped: ${skip}`);
  const specs = Array.isArray(emulators) ? emulators : [emulators];
  let net: Internet | undefined;
  let images: InternetImages | undefined;
  beforeAll(async () => {
    if (skip) return;
    const socket = inject('berthInternet');
    // Both settled, so that afterAll removes whichever was made even when the other failed.
    const [started, built] = await Promise.allSettled([
      socket ? attachInternet(socket, specs) : startInternet({ emulators: specs }),
      buildInternetImages(),
    ]);
    if (started.status === 'fulfilled') net = started.value;
    if (built.status === 'fulfilled') images = built.value;
    for (const r of [started, built]) if (r.status === 'rejected') throw r.reason;
    await seed(net!, images!);
  }, 180_000);
  afterAll(async () => {
    await net?.stop();
    await images?.remove();
  });
  return {
    skip,
    get net() {
      if (!net) throw new Error('the offline internet is not started');
      return net;
    },
    get images() {
      if (!images) throw new Error('the images are not built');
      return images;
    },
  };
}

export async function openBerth(net: Internet): Promise<Page> {
  const p = await newPage(await net.browser());
  await p.goto(net.app.url);
  return p;
}

export async function pull(p: Page, ref: string): Promise<void> {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await p.getByRole('button', { name: 'Pull' }).click();
}

export function summaryOf(p: Page) {
  return p.getByRole('region', { name: 'Image summary' });
}

/** The summary's text once it names `digest`. */
export async function pulled(p: Page, digest: string): Promise<void> {
  const summary = summaryOf(p);
  await expect
    .poll(async () => (await summary.textContent().catch(() => '')) ?? '', { timeout: 90_000 })
    .toContain(digest);
}

/** The alert's text once it says something matching `re`. */
export async function alertMatching(p: Page, re: RegExp): Promise<string> {
  const alert = p.getByRole('alert').first();
  await expect
    .poll(async () => (await alert.textContent().catch(() => '')) ?? '', { timeout: 90_000 })
    .toMatch(re);
  return (await alert.textContent()) ?? '';
}

/** Fills the sign-in form the page offers for `registry` and pulls again. */
export async function signIn(p: Page, registry: string, username: string, password: string) {
  const form = p.getByRole('form', { name: `Sign in to ${registry}` });
  await form.getByRole('textbox', { name: 'Username' }).fill(username);
  await form.getByLabel('Password or token').fill(password);
  await form.getByRole('button', { name: 'Sign in and pull' }).click();
}

/** The referrers list's text once it holds `label`. */
export async function referrerListed(p: Page, label: string): Promise<void> {
  const referrers = summaryOf(p).getByRole('list', { name: 'Referrers' });
  await expect.poll(() => referrers.textContent(), { timeout: 60_000 }).toContain(label);
}

/** The tag buttons offered under the box once `typed` is typed. */
export async function offeredTags(p: Page, typed: string, expected: string[]): Promise<void> {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(typed);
  const others = p.getByRole('list', { name: 'Other tags' });
  await expect
    .poll(() => others.getByRole('button').allTextContents(), { timeout: 60_000 })
    .toEqual(expected);
}

/** Downloads the archive, has skopeo inside the namespace copy it (which checks every digest)
 * and inspect it, and returns the manifest digest skopeo wrote. */
export async function downloadAndVerify(net: Internet, p: Page, name: string): Promise<string> {
  const [download] = await Promise.all([
    p.waitForEvent('download', { timeout: 90_000 }),
    p.getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  const file = join(net.dir, `${name}-${download.suggestedFilename()}`);
  await download.saveAs(file);
  const layout = join(net.dir, `${name}-layout`);
  await net.skopeo(['copy', '--preserve-digests', `oci-archive:${file}`, `oci:${layout}:copied`]);
  await net.skopeo(['inspect', `oci-archive:${file}`]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0]!.digest;
}

/** Tags `p000`…: the single image again under `count` more tags, for pages of tags. */
export async function putManyTags(
  net: Internet,
  images: InternetImages,
  repository: string,
  count: number,
): Promise<string[]> {
  const single = await readFile(images.layout.blobPath(images.single.digest));
  const tags = Array.from({ length: count }, (_, i) => `p${String(i).padStart(3, '0')}`);
  await net.put(
    repository,
    [],
    tags.map((reference) => ({ reference, mediaType: MT.ociManifest, bytes: single })),
  );
  return tags;
}

/** A host that cannot be reached: the pull's alert names `names` and says why, in one of the
 * words `says` matches. The host comes back up whatever happens. */
export async function downIsSaid(
  run: InternetRun,
  c: { host: string; ref: string; names: RegExp; says: RegExp },
): Promise<void> {
  await run.net.setDown(c.host, true);
  try {
    const p = await openBerth(run.net);
    await pull(p, c.ref);
    const text = await alertMatching(p, c.names);
    expect(text).toMatch(c.says);
    await p.context().close();
  } finally {
    await run.net.setDown(c.host, false);
  }
}

/** One signed blob URL expires before it is used (the emulator's `expireNext` switch, beside
 * `set`): the pull asks for a new one and finishes with no alert, and `refused` picks out the
 * one request the storage host turned away. The emulator's switches are reset after. */
export async function expiredUrlIsRenewed(
  run: InternetRun,
  c: {
    emulator: string;
    set?: Record<string, unknown>;
    ref: string;
    digest: (images: InternetImages) => string;
    refused: (r: EmulatedRequest) => boolean;
  },
): Promise<void> {
  await run.net.control(c.emulator, 'set', { expireNext: 1, ...c.set });
  try {
    await run.net.log(c.emulator, true);
    const p = await openBerth(run.net);
    await pull(p, c.ref);
    await pulled(p, c.digest(run.images));
    expect(await p.getByRole('alert').count()).toBe(0);
    const refused = (await run.net.log(c.emulator)).filter(c.refused);
    expect(refused).toHaveLength(1);
    await p.context().close();
  } finally {
    await run.net.control(c.emulator, 'reset');
  }
}
