// What the browser tests of ghcr.io, quay.io and registry.gitlab.com share, inside the offline
// internet: a page on Berth's server, a pull as a person types it, the alert once it says
// something, a sign-in, and the downloaded archive checked by skopeo inside the namespace.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { newPage } from '../chromium.ts';
import { MT } from '../oci.ts';
import type { InternetImages } from './content.ts';
import type { EmulatorSpec, Internet } from './internet.ts';

/** An emulator module of this folder, by file name and factory name. */
export function emulatorSpec(file: string, factory: string): EmulatorSpec {
  return { module: fileURLToPath(new URL(`./${file}`, import.meta.url)), factory };
}

export async function openPage(net: Internet): Promise<Page> {
  const p = await newPage(await net.browser());
  await p.goto(net.app.url);
  return p;
}

export async function pull(p: Page, ref: string) {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await p.getByRole('button', { name: 'Pull' }).click();
}

export function summaryOf(p: Page) {
  return p.getByRole('region', { name: 'Image summary' });
}

/** The alert's text once it says something matching `re`. */
export async function alertMatching(p: Page, re: RegExp): Promise<string> {
  const alert = p.getByRole('alert').first();
  await expect
    .poll(async () => (await alert.textContent().catch(() => '')) ?? '', { timeout: 60_000 })
    .toMatch(re);
  return (await alert.textContent()) ?? '';
}

/** Fills the sign-in form Berth shows for `registry` and pulls again. */
export async function signIn(p: Page, registry: string, username: string, password: string) {
  const form = p.getByRole('form', { name: `Sign in to ${registry}` });
  await form.getByRole('textbox', { name: 'Username' }).fill(username);
  await form.getByLabel('Password or token').fill(password);
  await form.getByRole('button', { name: 'Sign in and pull' }).click();
}

/** Downloads the archive, has skopeo inside the namespace copy it (which checks every digest)
 * and returns the digest of the manifest skopeo wrote. */
export async function downloadAndVerify(net: Internet, p: Page, name: string): Promise<string> {
  const [download] = await Promise.all([
    p.waitForEvent('download'),
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

/** The tag buttons Berth offers under the reference box once it shows `want`. */
export async function offeredTags(p: Page, typed: string, want: string[]) {
  await p.getByRole('textbox', { name: 'Image reference' }).fill(typed);
  const others = p.getByRole('list', { name: 'Other tags' });
  await expect
    .poll(() => others.getByRole('button').allTextContents(), { timeout: 30_000 })
    .toEqual(want);
}
