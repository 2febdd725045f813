// The RPM sqlite reader where it really runs: in a module Web Worker of a Vite build, in
// Chromium, with sql.js's .wasm emitted as a build asset and fetched by URL (the ?url import)
// rather than read from node_modules. A tiny page is built here around the real cataloger,
// served from a local HTTP server under the app's CSP, and asked to read a real rpmdb.sqlite
// made by rpm.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'vite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, newPage } from '../harness/chromium.ts';
import { buildRpmDbs, rpmQueryAll, testSpecs } from '../harness/package-dbs.ts';

const work = await mkdtemp(join(tmpdir(), 'berth-rpm-browser-'));
let server: Server;
let browser: Browser;
let base: string;
let want: string[];

// The app's own policy (proxy/server.ts): WebAssembly may compile, nothing may eval.
const csp =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'";

const types: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

beforeAll(async () => {
  // Two packages are enough here: the formats themselves are compared in packages-os-rpm.
  const dbs = await buildRpmDbs(join(work, 'db'), testSpecs.slice(0, 2));
  want = (await rpmQueryAll(dbs.sqliteDir, 'sqlite')).map((r) =>
    r.split('\t').slice(0, 2).join(' '),
  );
  const root = join(work, 'site');
  await mkdir(root, { recursive: true });
  const rpm = resolve('src/lib/packages/rpm.ts');
  await writeFile(
    join(root, 'worker.ts'),
    `import { readRpm } from ${JSON.stringify(rpm)};
self.onmessage = async (e: MessageEvent<Uint8Array>) => {
  const r = await readRpm({ path: 'var/lib/rpm/rpmdb.sqlite', size: e.data.length, mode: 0o100644, bytes: e.data });
  self.postMessage({ packages: r.packages.map((p) => p.name + ' ' + p.version), problems: r.problems });
};`,
  );
  await writeFile(
    join(root, 'main.ts'),
    `(globalThis as any).readInWorker = async (url: string) => {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  return new Promise((done) => { w.onmessage = (e) => done(e.data); w.postMessage(bytes, [bytes.buffer]); });
};`,
  );
  await writeFile(
    join(root, 'index.html'),
    '<!doctype html><script type="module" src="./main.ts"></script>',
  );
  await build({
    root,
    base: './',
    configFile: false,
    logLevel: 'silent',
    worker: { format: 'es' },
    build: { outDir: join(root, 'dist'), target: 'es2022' },
  });
  const dist = join(root, 'dist');
  const db = await readFile(join(dbs.sqliteDir, 'rpmdb.sqlite'));
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/rpmdb.sqlite') return res.end(db);
    readFile(join(dist, path === '/' ? 'index.html' : path)).then(
      (body) =>
        res
          .writeHead(200, {
            'content-type': types[extname(path)] ?? 'text/html',
            'content-security-policy': csp,
          })
          .end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  await rm(work, { recursive: true, force: true });
});

test('the build emits sql.js as a .wasm asset, not inlined', async () => {
  const assets = await readdir(join(work, 'site', 'dist', 'assets'));
  expect(assets.some((f) => f.endsWith('.wasm'))).toBe(true);
});

test('a module worker in Chromium reads rpmdb.sqlite as rpm -qa lists it', async () => {
  const page = await newPage(browser);
  try {
    const wasm: string[] = [];
    page.on('request', (r) => r.url().endsWith('.wasm') && wasm.push(r.url()));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => 'readInWorker' in globalThis);
    const got = (await page.evaluate(`readInWorker('${base}/rpmdb.sqlite')`)) as {
      packages: string[];
      problems: string[];
    };
    expect(got.problems).toEqual([]);
    expect(got.packages.sort()).toEqual(want);
    expect(wasm).toHaveLength(1);
  } finally {
    await page.context().close();
  }
});
