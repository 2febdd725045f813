// The offline internet itself: sealed (nothing routes out, no name resolves but the emulated
// ones), its TLS hosts reachable by name through Berth's unchanged proxy, and gone afterwards.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { run } from '../harness/process.ts';
import { buildInternetImages, type InternetImages } from '../harness/internet/content.ts';
import { internetSkipReason, startInternet, type Internet } from '../harness/internet/internet.ts';

const skip = internetSkipReason();
if (skip) console.warn(`offline internet tier skipped: ${skip}`);

let net: Internet;
let images: InternetImages;
const plainSpec = {
  module: fileURLToPath(new URL('../harness/internet/plain.ts', import.meta.url)),
  factory: 'plainRegistry',
};

beforeAll(async () => {
  if (skip) return;
  // Built beside the internet's start, and kept for afterAll to remove even if that fails.
  const built = buildInternetImages();
  built.then((i) => (images = i)).catch(() => undefined);
  net = await startInternet({ emulators: [plainSpec], app: 'proxy-only' });
  images = await built;
  await net.copyImage(images.layout.dir, images.single.layoutTag, 'plain/single:v1');
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await images?.remove();
});

/** Runs a script in Node inside the namespace; its stdout. */
async function nodeInside(script: string): Promise<string> {
  const { stdout } = await net.exec(process.execPath, ['-e', script]);
  return stdout.trim();
}

test.skipIf(skip)('nothing routes out of the namespace, and no outside name resolves', async () => {
  const routes = await run('ip', ['-n', net.name, 'route', 'show']);
  expect(routes.stdout.trim()).toBe('');
  const out = await nodeInside(`
    const net = require('node:net');
    const dns = require('node:dns');
    const s = net.connect({ host: '1.1.1.1', port: 443 });
    s.on('connect', () => { console.log('connected'); process.exit(0); });
    s.on('error', (e) => dns.lookup('example.com', (d) => {
      console.log(e.code + ' ' + (d ? d.code : 'resolved'));
    }));
  `);
  expect(out).toMatch(/^ENETUNREACH (ENOTFOUND|EAI_AGAIN)$/);
});

test.skipIf(skip)('an emulated host answers by name over TLS through Berth proxy', async () => {
  const out = await nodeInside(`
    fetch('${net.app.url}/proxy/registry.berth.example/v2/single/manifests/v1', {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    }).then(async (r) => console.log(r.status + ' ' + r.headers.get('docker-content-digest')));
  `);
  expect(out).toBe(`200 ${images.single.digest}`);
  const log = await net.log('plain');
  expect(log.map((r) => `${r.host} ${r.method} ${r.status}`)).toContain(
    'registry.berth.example GET 200',
  );
});

test.skipIf(skip)(
  'reset: only the emulators named answer, afresh; every host up, the clock at now, the backend empty',
  async () => {
    // What a file sharing the internet finds, whatever the file before it left.
    const manifest = `${net.app.url}/proxy/registry.berth.example/v2/single/manifests/v1`;
    const status = () =>
      nodeInside(`
        fetch('${manifest}', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
          .then((r) => console.log(r.status));
      `);
    expect(await status()).toBe('200');
    expect(await net.log('plain')).not.toEqual([]);
    await net.advanceClock(60 * 60_000);
    await net.setDown('registry.berth.example', true);

    await net.reset([]);
    await expect(net.log('plain')).rejects.toThrow(/no emulator plain/);

    await net.reset([plainSpec]);
    expect(await net.log('plain')).toEqual([]);
    // Up again, answering from an empty backend.
    expect(await status()).toBe('404');
    expect(await net.advanceClock(0)).toBeLessThan(Date.now() + 60_000);
  },
);

test.skipIf(skip)(
  "stop removes the namespace and its files; a killed run's are swept",
  async () => {
    // A namespace a killed run left: named for a process that no longer exists.
    let dead = 4_000_000;
    while (isAlive(dead)) dead--;
    const stale = `berth-${dead}-0dead0`;
    await run('ip', ['netns', 'add', stale]);
    const other = await startInternet({ emulators: [], app: false });
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(stale);
    const { name } = other;
    expect(existsSync(`/etc/netns/${name}/hosts`)).toBe(true);
    await other.stop();
    const list = await run('ip', ['netns', 'list']);
    expect(list.stdout).not.toContain(name);
    expect(existsSync(`/etc/netns/${name}`)).toBe(false);
    expect(existsSync(other.dir)).toBe(false);
  },
);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
