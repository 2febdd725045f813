/**
 * Berth's main views, each reached the way a person reaches it, against a real registry: the
 * a11y e2e test scans every stop with axe-core and `npm run screenshots` photographs them, so
 * the pictures in docs/ show exactly what the tests check.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../proxy/server.ts';
import { launchChromium } from './chromium.ts';
import { buildFixtures, type Fixtures } from './fixtures.ts';
import { startRegistry, type Registry } from './registry.ts';
import { startShim, type Shim } from './shim.ts';

export interface TourEnv {
  registry: Registry;
  fixtures: Fixtures;
  /** In front of the registry; holds the whiteout image's second layer after 1 MiB, so a pull
   * through it stays in progress. */
  slow: Shim;
  app: { url: string; close(): Promise<void> };
  browser: Browser;
  tmp: string;
  /** The whiteout image, as reached through the slow shim. */
  slowRef: string;
  stop(): Promise<void>;
}

export async function startTourEnv(): Promise<TourEnv> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const tmp = await mkdtemp(join(tmpdir(), 'berth-tour-'));
    stops.push(() => rm(tmp, { recursive: true, force: true }));
    const registry = await startRegistry();
    stops.push(() => registry.stop());
    const fixtures = await buildFixtures(registry);
    const held = fixtures.whiteout.layers![1]!.digest;
    const slow = await startShim(registry.url, {
      stallAfter: (r) =>
        r.method === 'GET' && r.path.endsWith(`/blobs/${held}`) ? 1 << 20 : undefined,
    });
    stops.push(() => slow.stop());
    const app = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: 'dist',
      insecureRegistries: [registry.host, slow.host],
    });
    stops.push(() => app.close());
    const browser = await launchChromium();
    stops.push(() => browser.close());
    const slowRef = fixtures.whiteout.ref.replace(registry.host, slow.host);
    return { registry, fixtures, slow, app, browser, tmp, slowRef, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Stop {
  /** A file-name-safe name: home, pulling, summary, … */
  name: string;
  /** What the view is, for docs/README.md. */
  title: string;
  /** Brings a page of a fresh context to the view. Stops run in order on one page. */
  visit(page: Page, env: TourEnv): Promise<void>;
}

const summaryRegion = (page: Page) => page.getByRole('region', { name: 'Image summary' });

/** The stops, in the order a person meets them. */
export const tour: Stop[] = [
  {
    name: 'home',
    title: 'Home: example references and the images opened recently',
    async visit(page, env) {
      await page.goto(env.app.url);
      await page.getByRole('heading', { name: 'Try an image' }).waitFor();
    },
  },
  {
    name: 'pulling',
    title: 'A pull in progress: one progress bar per blob, the percentage in the tab title',
    async visit(page, env) {
      await page.getByRole('textbox', { name: 'Image reference' }).fill(env.slowRef);
      await page.getByRole('button', { name: 'Pull' }).click();
      const held = env.fixtures.whiteout.layers![1]!.digest.slice(7, 19);
      const bar = page.getByRole('progressbar', { name: `layer ${held}` });
      await bar.waitFor();
      await page.waitForFunction((name) => {
        const el = document.querySelector(`[role=progressbar][aria-label="${name}"]`);
        return Number(el?.getAttribute('aria-valuenow')) > 0;
      }, `layer ${held}`);
    },
  },
  {
    name: 'summary',
    title: 'An image: digests, platform, config, layers with their sizes, referrers, history',
    async visit(page, env) {
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'Pull' }).waitFor();
      await page.getByRole('textbox', { name: 'Image reference' }).fill(env.fixtures.whiteout.ref);
      await page.getByRole('button', { name: 'Pull' }).click();
      await summaryRegion(page).waitFor({ timeout: 60_000 });
      // The summary's own line: the Referrers card below says the same once it has asked.
      await summaryRegion(page).getByText('No signatures, SBOMs or attestations').waitFor();
    },
  },
  {
    name: 'layers',
    title: 'The merged filesystem: whiteouts applied, each entry marked with its layer',
    async visit(page) {
      await page.getByRole('button', { name: 'Browse merged filesystem' }).click();
      const tree = page.getByRole('tree', { name: 'Merged filesystem' });
      await tree.waitFor();
      await tree.getByRole('treeitem', { name: 'etc' }).click();
      await tree.press('ArrowRight');
      await tree.getByRole('treeitem', { name: 'passwd' }).waitFor();
    },
  },
  {
    name: 'file',
    title: 'A file in the viewer, reached by its shareable URL',
    async visit(page, env) {
      const url = `${env.app.url}/?image=${env.fixtures.whiteout.ref}&layer=merged&path=/etc/passwd`;
      await page.goto(url);
      const viewer = page.getByRole('region', { name: 'File viewer' });
      await viewer.getByText('root:x:0:0').first().waitFor({ timeout: 30_000 });
    },
  },
  {
    name: 'library',
    title: 'The library: every stored image, its size on disk, and what it shares',
    async visit(page) {
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: /^Library/ })
        .click();
      await page.getByRole('region', { name: 'Library' }).getByRole('table').waitFor();
    },
  },
  {
    name: 'settings',
    title: 'Settings: the proxy or direct mode, downloads, default platform, sign-ins',
    async visit(page) {
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Settings' })
        .click();
      await page.getByRole('heading', { name: 'Settings' }).waitFor();
    },
  },
];

export { summaryRegion };
