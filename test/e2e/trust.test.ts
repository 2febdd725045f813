// What is installed and who vouches for it, in real Chromium against the real registry
// (distribution 2.8: referrers through the tag schema, cosign's `.sig` tag): an image with real
// dpkg packages and a node package, BuildKit's SBOM attestation in its index, and a cosign
// signature made with openssl keys. The SBOM opens as a package table, the signature verifies
// with the right key and fails with the wrong one; bad referrers are flagged and not stored; a
// 50 MB SBOM opens while the page keeps drawing frames.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { newPage } from '../harness/chromium.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { buildTrustFixtures, type TrustFixtures } from '../harness/trust-fixtures.ts';
import { axeViolations, isSevere } from '../harness/axe.ts';
import { storeContents, startBerth } from './env.ts';

let registry: Registry;
let browser: Browser;
let app: { url: string; close(): Promise<void> };
let fx: TrustFixtures;

beforeAll(async () => {
  registry = await startRegistry();
  fx = await buildTrustFixtures(registry);
  ({ app, browser } = await startBerth(registry));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await registry?.stop();
});

const card = (page: Page) => page.getByRole('region', { name: 'Referrers and signatures' });
const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);
const openButton = (page: Page, digest: string) =>
  card(page).getByRole('button', { name: new RegExp(`^(Open|Close) .* ${short(digest)}$`) });

/** The image record's referrers, as IndexedDB holds them. */
function recordedReferrers(page: Page, name: string) {
  return page.evaluate(
    (n) =>
      new Promise<string[]>((resolve, reject) => {
        const req = indexedDB.open('berth');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const get = db.transaction('images').objectStore('images').get(n);
          get.onsuccess = () => {
            db.close();
            const rec = get.result as { referrers?: { descriptor: { digest: string } }[] };
            resolve((rec?.referrers ?? []).map((r) => r.descriptor.digest));
          };
        };
      }),
    name,
  );
}

async function pull(page: Page) {
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(fx.ref);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  // The registry's answer: the signature, the attestation and the huge SBOM listed.
  for (const d of [fx.signature, fx.attestation, fx.huge.manifest]) {
    await openButton(page, d).waitFor({ timeout: 60_000 });
  }
}

test('the SBOM attestation opens as a package table; the signature verifies with the right key and not the wrong one', async () => {
  const page = await newPage(browser);
  await pull(page);
  const c = card(page);
  const rows = c.getByRole('table', { name: 'Referrers' });
  await expect.poll(() => rows.textContent()).toContain('cosign signature');
  expect(await rows.textContent()).toContain('SBOM (SPDX)');
  expect(await rows.textContent()).toContain('index attestation');
  expect(await rows.textContent()).toContain('cosign tag');
  // BuildKit's attestation is mapped to the image it describes: the platform on screen.
  const attestationRow = rows
    .getByRole('row')
    .filter({ has: page.getByRole('button', { name: new RegExp(short(fx.attestation)) }) });
  expect(await attestationRow.textContent()).toContain('this platform (linux/amd64)');

  // The packages the image holds: its dpkg status and its node package, listed on request.
  const packages = page.getByRole('region', { name: 'Packages', exact: true });
  await packages.getByRole('button', { name: 'List packages' }).click();
  const packageRows = () =>
    packages
      .getByRole('region', { name: 'Packages table' })
      .locator('tbody tr:not(.spacer)')
      .evaluateAll((trs) => trs.map((tr) => tr.querySelector('td')?.textContent?.trim() ?? ''));
  await expect
    .poll(async () => (await packageRows()).includes(fx.packages[0]!.name), { timeout: 60_000 })
    .toBe(true);
  await packages.getByRole('searchbox', { name: 'Search packages' }).fill(fx.npm.name);
  await expect.poll(packageRows).toContain(fx.npm.name);

  // The attestation: an in-toto statement about this platform's manifest, its SPDX packages.
  await openButton(page, fx.attestation).click();
  const table = c.getByRole('table', { name: 'Packages in the SBOM' });
  const first = [...fx.packages].sort((a, b) => a.name.localeCompare(b.name))[0]!;
  await table.getByRole('row').filter({ hasText: first.name }).first().waitFor();
  expect(await c.getByRole('status').filter({ hasText: 'packages' }).textContent()).toContain(
    `${fx.packages.length} of ${fx.packages.length} packages`,
  );
  expect(await c.getByRole('list', { name: 'Statement subjects' }).textContent()).toContain(
    'this image',
  );
  // Search narrows the table to one package, as its name says.
  const last = fx.packages[fx.packages.length - 1]!;
  await c.getByRole('searchbox', { name: 'Search packages' }).fill(last.name);
  await table.getByRole('row').filter({ hasText: last.version }).first().waitFor();
  // Raw JSON, one click away.
  await c.getByRole('button', { name: 'Raw JSON' }).click();
  await expect
    .poll(() => c.getByLabel('Raw JSON', { exact: true }).textContent())
    .toContain('"predicateType": "https://spdx.dev/Document"');
  await c.getByRole('button', { name: 'Copy raw JSON' }).waitFor();

  // The signature: with the right key, every check passes.
  await openButton(page, fx.signature).click();
  const form = c.getByRole('form', { name: 'Verify the signature' });
  await form.getByRole('textbox', { name: /Public key/ }).fill(fx.key.publicPem);
  await form.getByRole('button', { name: 'Verify' }).click();
  const result = c.getByRole('status', { name: 'Verification result' });
  await expect.poll(() => result.textContent()).toMatch(/Verified/);
  expect(await result.textContent()).not.toMatch(/Not verified/);
  expect(await result.getByRole('list', { name: 'Checks' }).textContent()).not.toContain('failed');
  // With the wrong key, it fails, and says which check.
  await form.getByRole('textbox', { name: /Public key/ }).fill(fx.wrongKey.publicPem);
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => result.textContent()).toMatch(/Not verified/);
  expect(await result.getByRole('list', { name: 'Checks' }).textContent()).toContain('failed');
  // The Notation signature verifies against the root certificate it chains to.
  await openButton(page, fx.notation.manifest).click();
  await form.getByRole('textbox', { name: /Trust root certificates/ }).fill(fx.notation.rootPem);
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => result.textContent()).toMatch(/Verified \(Notation\)/);

  // cosign keyless: the bundle verifies against the test Sigstore's trusted root, imported,
  // for the identity and issuer it was made for; another identity fails, and so does the
  // shipped (public-good) root, which does not know the test CA.
  await openButton(page, fx.keyless.manifest).click();
  const keylessRadio = form.getByRole('radio', { name: /keyless/ });
  if (await keylessRadio.count()) await keylessRadio.check();
  const identity = form.getByRole('textbox', { name: /Identity/ });
  const issuer = form.getByRole('textbox', { name: /OIDC issuer/ });
  await identity.fill(fx.keyless.identity);
  await issuer.fill(fx.keyless.issuer);
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => result.textContent()).toMatch(/Not verified/);
  await form.getByLabel(/Sigstore trusted root/).setInputFiles({
    name: 'trusted_root.json',
    mimeType: 'application/json',
    buffer: Buffer.from(fx.keyless.trustedRoot),
  });
  await form.getByText(/A trusted root is imported/).waitFor();
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => result.textContent()).toMatch(/^\s*Verified/);
  const verified = (await result.textContent())!;
  expect(verified).toContain(fx.keyless.identity);
  expect(verified).toContain(fx.keyless.issuer);
  expect(verified).toMatch(/offline/);
  expect(await result.getByRole('list', { name: 'Checks' }).textContent()).not.toContain('failed');
  await identity.fill('someone-else@trust.test');
  await form.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => result.textContent()).toMatch(/Not verified/);
  expect(await result.getByRole('list', { name: 'Checks' }).textContent()).toContain('failed');

  // The card with a document open and a result shown has no serious accessibility problem.
  // (Only what lies inside the card: the rest of the page is other cards' business.)
  const inCard = (node: string) =>
    page.evaluate(
      (sel) => {
        const el = document.querySelector(sel);
        return !!el?.closest('[aria-labelledby="trust-heading"]');
      },
      (JSON.parse(node.slice(0, node.indexOf(']: ') + 1)) as string[])[0]!,
    );
  const severe = [];
  for (const v of (await axeViolations(page)).filter(isSevere)) {
    const nodes = [];
    for (const n of v.nodes) if (await inCard(n)) nodes.push(n);
    if (nodes.length) severe.push({ ...v, nodes });
  }
  expect(
    severe,
    severe.map((v) => `${v.id}: ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n'),
  ).toEqual([]);

  // Nothing was remembered: the box was not ticked.
  expect(await page.evaluate(() => localStorage.getItem('berth.trust'))).toBeNull();

  // With the registry out of reach, the image reopens from the store with what is attached to
  // it, and the SBOM opens again.
  await page.route('**/proxy/**', (r) => r.abort());
  await page.goto(`${app.url}/?${new URLSearchParams({ image: fx.ref })}`);
  await page.getByRole('region', { name: 'Image summary' }).waitFor({ timeout: 60_000 });
  await expect
    .poll(() => card(page).textContent(), { timeout: 60_000 })
    .toContain('The registry could not be asked');
  // All three kept through the new worker's garbage collection: the signature and the SBOM
  // referrer are not part of the image's index, only of its record.
  for (const d of [fx.signature, fx.huge.manifest]) await openButton(page, d).waitFor();
  await openButton(page, fx.attestation).click();
  await card(page)
    .getByRole('table', { name: 'Packages in the SBOM' })
    .getByRole('cell', { name: first.name, exact: true })
    .waitFor();
  // Deleting the image deletes what was stored beside it.
  await page
    .getByRole('region', { name: 'Image summary' })
    .getByRole('button', { name: 'Delete from this browser' })
    .click();
  await expect.poll(async () => (await storeContents(page)).blobs).toEqual([]);
  await page.close();
}, 240_000);

test('bad referrers are flagged with why and not stored; a 50 MB SBOM opens while frames keep coming', async () => {
  const page = await newPage(browser);
  await pull(page);
  const c = card(page);
  const flagged = c.getByRole('list', { name: 'Not stored: they failed their checks' });
  await expect.poll(() => flagged.textContent()).toMatch(/subject is sha256:.*another image/);
  expect(await flagged.textContent()).toMatch(/not a signature/);
  const name = fx.ref;
  const stored = await storeContents(page);
  expect(stored.blobs).not.toContain(fx.foreign);
  expect(stored.blobs).not.toContain(fx.notSignature);
  const recorded = await recordedReferrers(page, name);
  expect(recorded).not.toContain(fx.foreign);
  expect(recorded).not.toContain(fx.notSignature);
  expect(recorded).toEqual(
    expect.arrayContaining([fx.signature, fx.attestation, fx.huge.manifest]),
  );
  // The huge SBOM's document waits to be asked for, its size shown.
  expect(stored.blobs).not.toContain(fx.huge.layer);

  await openButton(page, fx.huge.manifest).click();
  const download = c.getByRole('button', { name: /^Download .* and open$/ });
  await download.waitFor();
  // Frames counted from the click until the table shows its rows; first, for reference, the
  // same count over two idle seconds (the machine's own jitter, in the same run).
  const startFrames = () =>
    page.evaluate(() => {
      const w = window as unknown as { gaps: number[]; stop: boolean };
      w.gaps = [];
      w.stop = false;
      let last = performance.now();
      const tick = (t: number) => {
        w.gaps.push(t - last);
        last = t;
        if (!w.stop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
  const stopFrames = () =>
    page.evaluate(() => {
      const w = window as unknown as { gaps: number[]; stop: boolean };
      w.stop = true;
      return w.gaps;
    });
  await startFrames();
  await page.waitForTimeout(2000);
  const idle = await stopFrames();
  await startFrames();
  await download.click();
  await c
    .getByRole('status')
    .filter({ hasText: `${fx.huge.packages} of ${fx.huge.packages} packages` })
    .waitFor({ timeout: 180_000 });
  await c
    .getByRole('table', { name: 'Packages in the SBOM' })
    .getByRole('cell', { name: `${fx.packages[0]!.name}-0`, exact: true })
    .waitFor();
  const gaps = await stopFrames();
  // Frames kept coming while it downloaded and parsed (the figure goes to the report).
  expect(gaps.length).toBeGreaterThan(10);
  console.log(
    `50 MB SBOM (${fx.huge.size} bytes): ${gaps.length} frames, longest gap ${Math.round(Math.max(...gaps))} ms; idle reference: ${idle.length} frames in 2 s, longest gap ${Math.round(Math.max(...idle))} ms`,
  );
  // Opening it stored its document, and changed nothing else about the bad ones.
  const after = await storeContents(page);
  expect(after.blobs).toContain(fx.huge.layer);
  expect(after.blobs).not.toContain(fx.foreign);
  expect(after.blobs).not.toContain(fx.notSignature);
  await page.close();
}, 400_000);
