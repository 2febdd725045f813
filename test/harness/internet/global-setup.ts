// vitest's global setup for a project whose files share one offline internet (shared.ts). It
// runs in vitest's main process: it listens on a Unix socket and starts the internet, with
// every emulator and a Chromium inside, only when a file first asks, so that a run without
// internet tests pays nothing. The teardown stops whatever was started; on Ctrl-C, when vitest
// exits without a teardown, the exit hooks of internet.ts, process.ts and playwright kill every
// process and delete the namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserServer } from 'playwright-core';
import type { TestProject } from 'vitest/node';
import { CHROMIUM_ARGS } from '../chromium.ts';
import { emulatorSpec, internetSkipReason, startInternet, type Internet } from './internet.ts';
import {
  onJsonLines,
  type ControlReply,
  type ControlRequest,
  type SharedInternetInfo,
} from './shared.ts';

/** Every emulator a file may ask for. The namespace gets the hosts of all of them at start;
 * a reset then chooses which answer, so two that claim one host (GCR's and GitLab's
 * storage.googleapis.com) never answer at once. */
export const EVERY_EMULATOR = [
  emulatorSpec('artifact-registry.ts', 'artifactRegistryEmulator'),
  emulatorSpec('dockerhub.ts', 'dockerHub'),
  emulatorSpec('ecr-public.ts', 'ecrPublicEmulator'),
  emulatorSpec('gcr.ts', 'gcrEmulator'),
  emulatorSpec('ghcr.ts', 'ghcrEmulator'),
  emulatorSpec('gitlab.ts', 'gitlabEmulator'),
  emulatorSpec('harbor.ts', 'harborEmulator'),
  emulatorSpec('mcr.ts', 'mcrEmulator'),
  emulatorSpec('plain.ts', 'plainRegistry'),
  emulatorSpec('quay.ts', 'quayEmulator'),
];

export default async function setup(project: TestProject) {
  const skip = internetSkipReason();
  // BERTH_SHARED_INTERNET=0: every file starts its own, as a file run on its own would.
  if (skip || process.env.BERTH_SHARED_INTERNET === '0') {
    project.provide('berthInternet', undefined);
    return;
  }

  let net: Promise<Internet> | undefined;
  let browserServer: Promise<BrowserServer> | undefined;
  const start = async (): Promise<SharedInternetInfo> => {
    net ??= startInternet({ emulators: EVERY_EMULATOR, app: false });
    const n = await net;
    if (!browserServer) {
      const launched = chromium.launchServer({
        executablePath: n.chromium,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 60_000,
        // Signals are vitest's to handle; playwright's exit hook still kills the browser.
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
      browserServer = launched;
      // A browser that crashed is launched again for the next file, not lost to all of them.
      void launched.then(
        (s) =>
          s.process().once('exit', () => {
            if (browserServer === launched) browserServer = undefined;
          }),
        () => {
          if (browserServer === launched) browserServer = undefined;
        },
      );
    }
    const server = await browserServer;
    return {
      name: n.name,
      caPath: n.caPath,
      addresses: n.addresses,
      backend: n.backend,
      chromium: n.chromium,
      browserEndpoint: server.wsEndpoint(),
    };
  };

  const handle = async (req: ControlRequest): Promise<unknown> => {
    if (req.op === 'start') return start();
    if (!net) throw new Error('the shared internet is not started: send start first');
    const n = await net;
    const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
    switch (req.op) {
      case 'reset':
        return n.reset(req.emulators);
      case 'control':
        return n.control(req.emulator, req.command, req.arg);
      case 'log':
        return n.log(req.emulator, req.clear);
      case 'clock':
        return n.advanceClock(req.advanceMs);
      case 'down':
        return n.setDown(req.host, req.down);
      case 'put':
        return n.put(
          req.repository,
          req.blobs.map((b) => ({ mediaType: b.mediaType, bytes: bytes(b.base64) })),
          req.manifests.map((m) => ({ ...m, bytes: bytes(m.base64) })),
        );
    }
  };

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onJsonLines(socket, (msg) => {
      const req = msg as ControlRequest;
      handle(req).then(
        (value) => reply({ id: req.id, ok: true, value }),
        (err: unknown) =>
          reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
      function reply(r: ControlReply) {
        if (!socket.destroyed) socket.write(JSON.stringify(r) + '\n');
      }
    });
  });
  const dir = await mkdtemp(join(tmpdir(), 'berth-internet-control-'));
  const socketPath = join(dir, 'control.sock');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  project.provide('berthInternet', socketPath);

  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await (await browserServer?.catch(() => undefined))?.close();
    await (await net?.catch(() => undefined))?.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
