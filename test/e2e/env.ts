// One environment for the browser tests: a real registry with fixtures, a corrupting shim in
// front of it, Berth's own server (the one `npm start` runs) and Debian's Chromium.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../proxy/server.ts';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildFixtures, type Fixtures } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { startCorruptingShim, startShim } from '../harness/shim.ts';
import { freePort } from '../harness/process.ts';

export interface E2E {
  registry: Registry;
  fixtures: Fixtures;
  shim: Awaited<ReturnType<typeof startCorruptingShim>>;
  /** Forwards to the registry unchanged and records every request. */
  counter: Awaited<ReturnType<typeof startShim>>;
  app: { url: string; close(): Promise<void> };
  browser: Browser;
  tmp: string;
  /** Listed as insecure, but nothing listens there. */
  closedHost: string;
  page(): Promise<Page>;
  stop(): Promise<void>;
}

export async function startE2E(): Promise<E2E> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const tmp = await mkdtemp(join(tmpdir(), 'berth-e2e-'));
    stops.push(() => rm(tmp, { recursive: true, force: true }));
    const registry = await startRegistry();
    stops.push(() => registry.stop());
    const fixtures = await buildFixtures(registry);
    const corruptDigest = fixtures.whiteout.layers![1]!.digest;
    const shim = await startCorruptingShim(registry.url, { corruptDigest });
    stops.push(() => shim.stop());
    const counter = await startShim(registry.url);
    stops.push(() => counter.stop());
    const closedHost = `127.0.0.1:${await freePort()}`;
    const app = await startServer({
      host: '127.0.0.1',
      port: 0,
      distDir: 'dist',
      // A port nobody listens on: the "unreachable registry" case.
      insecureRegistries: [registry.host, shim.host, counter.host, closedHost],
    });
    stops.push(() => app.close());
    const browser = await launchChromium();
    stops.push(() => browser.close());
    return {
      registry,
      fixtures,
      shim,
      counter,
      app,
      browser,
      tmp,
      closedHost,
      page: () => newPage(browser),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Berth's server (the one `npm start` runs), allowed plain http to `registry`, and Chromium:
 * what a test that builds its own images needs. */
export async function startBerth(
  registry: Pick<Registry, 'host'>,
): Promise<{ app: E2E['app']; browser: Browser }> {
  const app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [registry.host],
  });
  try {
    return { app, browser: await launchChromium() };
  } catch (err) {
    await app.close();
    throw err;
  }
}

/** Reads what the page's IndexedDB holds: committed blob digests, ingests, image names. */
export function storeContents(page: Page) {
  return page.evaluate(
    () =>
      new Promise<{
        blobs: string[];
        ingests: string[];
        images: string[];
        pulls: string[];
        chunks: number;
      }>((resolve, reject) => {
        const req = indexedDB.open('berth');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const names = ['blobs', 'ingests', 'images', 'pulls'].filter((n) =>
            db.objectStoreNames.contains(n),
          );
          if (names.length < 4) {
            db.close();
            return resolve({ blobs: [], ingests: [], images: [], pulls: [], chunks: 0 });
          }
          const tx = db.transaction([...names, 'chunks']);
          const keys = (n: string) =>
            new Promise<string[]>((res) => {
              const r = tx.objectStore(n).getAllKeys();
              r.onsuccess = () => res(r.result.map(String));
            });
          const chunks = new Promise<number>((res) => {
            const r = tx.objectStore('chunks').count();
            r.onsuccess = () => res(r.result);
          });
          void Promise.all([
            keys('blobs'),
            keys('ingests'),
            keys('images'),
            keys('pulls'),
            chunks,
          ]).then(([blobs, ingests, images, pulls, count]) => {
            db.close();
            resolve({ blobs, ingests, images, pulls, chunks: count });
          });
        };
      }),
  );
}
