// What the browser tests of this track's registries do on Berth's page inside the offline
// internet: type a reference and pull, read the summary and the alert, sign in, and download
// the archive and have skopeo check it inside the namespace. The same steps as the Docker Hub
// test's, kept here so that each registry's test says only what differs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { newPage } from '../chromium.ts';
import type { Internet } from './internet.ts';

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
 * and returns the manifest digest skopeo wrote. */
export async function downloadAndVerify(net: Internet, p: Page, name: string): Promise<string> {
  const [download] = await Promise.all([
    p.waitForEvent('download', { timeout: 90_000 }),
    p.getByRole('button', { name: 'Download OCI archive' }).click(),
  ]);
  const file = join(net.dir, `${name}-${download.suggestedFilename()}`);
  await download.saveAs(file);
  const layout = join(net.dir, `${name}-layout`);
  await net.skopeo(['copy', '--preserve-digests', `oci-archive:${file}`, `oci:${layout}:copied`]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0]!.digest;
}
