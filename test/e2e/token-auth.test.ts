// Docker Hub's flow against a real registry with token auth: an anonymous Bearer token for a
// public repository, and sign-in for a private one. Token requests go through the proxy, which
// forwards them only to the realm the registry announces.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, copyImage, type FixtureImage } from '../harness/fixtures.ts';
import {
  startRegistry,
  startTokenRegistry,
  type Registry,
  type TokenRegistry,
} from '../harness/registry.ts';

let plain: Registry;
let reg: TokenRegistry;
let whiteout: FixtureImage;
let app: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  plain = await startRegistry();
  whiteout = (await buildFixtures(plain)).whiteout;
  reg = await startTokenRegistry({
    users: { alice: 's3cret' },
    publicRepositories: (name) => name.startsWith('public/'),
  });
  for (const repo of ['public/whiteout:v1', 'private/whiteout:v1']) {
    await copyImage(whiteout.ref, `${reg.host}/${repo}`, { destCreds: 'alice:s3cret' });
  }
  const tokenHost = new URL(reg.tokenServer.url).host;
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [reg.host, tokenHost],
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await reg?.stop();
  await plain?.stop();
});

async function pull(ref: string) {
  const page = await newPage(browser);
  await page.goto(app.url);
  await page.getByRole('textbox', { name: 'Image reference' }).fill(ref);
  await page.getByRole('button', { name: 'Pull' }).click();
  return page;
}

test('public repository: anonymous Bearer token with the pull scope', async () => {
  const before = reg.tokenServer.requests.length;
  const page = await pull(`${reg.host}/public/whiteout:v1`);
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor();
  expect(await summary.textContent()).toContain(whiteout.digest);
  const asked = reg.tokenServer.requests.slice(before);
  expect(asked.length).toBeGreaterThan(0);
  // One token serves every request of the pull: it is cached per realm, service and scope.
  expect(asked).toEqual([{ scope: ['repository:public/whiteout:pull'], status: 200 }]);
  await page.context().close();
});

test('private repository: sign in, then a token for that user', async () => {
  const page = await pull(`${reg.host}/private/whiteout:v1`);
  await page.getByRole('alert').waitFor();
  // The anonymous token was granted and its scope refused: private and absent look the same.
  expect(await page.getByRole('alert').textContent()).toMatch(
    /not found, or private: .* if the repository is yours, sign in/,
  );
  const form = page.getByRole('form', { name: `Sign in to ${reg.host}` });
  await form.getByRole('textbox', { name: 'Username' }).fill('alice');
  await form.getByLabel('Password or token').fill('s3cret');
  await form.getByRole('button', { name: 'Sign in and pull' }).click();
  const summary = page.getByRole('region', { name: 'Image summary' });
  await summary.waitFor();
  expect(await summary.textContent()).toContain(whiteout.digest);
  expect(reg.tokenServer.requests.at(-1)).toEqual({
    scope: ['repository:private/whiteout:pull'],
    user: 'alice',
    status: 200,
  });
  await page.context().close();
});
