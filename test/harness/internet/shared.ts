// One offline internet for a whole test run, shared by its files one after another: started by
// the first file that asks, in vitest's main process (global-setup.ts), and stopped when the
// run ends. Starting one (a namespace, a CA and a certificate per host, the backend registry,
// the emulators' server, Chromium) costs seconds a file need not pay again.
//
// A file talks to it over a Unix socket (its path handed over by vitest's provide/inject):
// the namespace's name and addresses come back, and the emulators' controls, logs, clock and
// hosts are relayed to the internet's server. What a file must own it starts itself: Berth's
// server (its rate limits and connections are per process) and its downloads directory. Each
// file begins with a reset (internet.ts `reset`): only its own emulators, fresh, every host up,
// the clock at now, the backend empty; so no file sees what another did, in whatever order
// they run. Files must not run at once against one internet; the e2e project runs them one at
// a time.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { EmulatedRequest } from './emulator.ts';
import { insideNamespace, startApp, type EmulatorSpec, type Internet } from './internet.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared internet's control socket; undefined when the project has none (each file
     * then starts its own). */
    berthInternet: string | undefined;
  }
}

/** What a file learns of the shared internet when it asks for it. */
export interface SharedInternetInfo {
  name: string;
  caPath: string;
  addresses: Record<string, string>;
  backend: string;
  chromium: string;
  /** Playwright's endpoint for the Chromium running inside the namespace. */
  browserEndpoint: string;
}

/** A request over the control socket, one JSON object a line; each gets one ControlReply. */
export type ControlRequest = { id: number } & (
  | { op: 'start' }
  | { op: 'reset'; emulators: EmulatorSpec[] }
  | { op: 'control'; emulator: string; command: string; arg?: unknown }
  | { op: 'log'; emulator: string; clear?: boolean }
  | { op: 'clock'; advanceMs: number }
  | { op: 'down'; host: string; down: boolean }
  | {
      op: 'put';
      repository: string;
      blobs: { mediaType: string; base64: string }[];
      manifests: { reference: string; mediaType: string; base64: string }[];
    }
);

export type ControlReply =
  { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Splits a stream of bytes into lines of JSON, each handed to `onMessage`. */
export function onJsonLines(socket: Socket, onMessage: (msg: unknown) => void) {
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) onMessage(JSON.parse(line));
  });
}

interface ControlClient {
  call(req: DistributiveOmit<ControlRequest, 'id'>): Promise<unknown>;
  close(): void;
}

function connectControl(path: string): Promise<ControlClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
    let nextId = 1;
    let closed = false;
    onJsonLines(socket, (msg) => {
      const reply = msg as ControlReply;
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      if (reply.ok) p?.resolve(reply.value);
      else p?.reject(new Error(reply.error));
    });
    socket.once('close', () => {
      closed = true;
      for (const p of pending.values()) p.reject(new Error('the shared internet went away'));
      pending.clear();
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // Errors show up as the close above, on every call still waiting.
      socket.on('error', () => undefined);
      resolve({
        call(req) {
          if (closed) return Promise.reject(new Error('the shared internet went away'));
          const id = nextId++;
          return new Promise((res, rej) => {
            pending.set(id, { resolve: res, reject: rej });
            socket.write(JSON.stringify({ ...req, id }) + '\n');
          });
        },
        close: () => socket.end(),
      });
    });
  });
}

/**
 * This file's view of the shared internet at `socketPath`, reset to `emulators` alone, with its
 * own Berth server and downloads directory. stop() ends only what is this file's: the
 * internet itself runs on for the next file.
 */
export async function attachInternet(
  socketPath: string,
  emulators: EmulatorSpec[],
): Promise<Internet> {
  const client = await connectControl(socketPath);
  const stops: (() => Promise<unknown>)[] = [async () => client.close()];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const info = (await client.call({ op: 'start' })) as SharedInternetInfo;
    const dir = await mkdtemp(join(tmpdir(), 'berth-internet-file-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    // Settled both before either's failure is thrown, so that stop() knows of the server.
    const [started, reset] = await Promise.allSettled([
      startApp(info.name, { home: dir, caPath: info.caPath, port: 0 }),
      client.call({ op: 'reset', emulators }),
    ]);
    if (started.status === 'fulfilled') stops.push(() => started.value.stop());
    for (const r of [started, reset]) if (r.status === 'rejected') throw r.reason;
    const app = (started as PromiseFulfilledResult<Awaited<ReturnType<typeof startApp>>>).value;

    let browser: Promise<Browser> | undefined;
    // Closing a connected browser closes the contexts this file made, and only those.
    stops.push(async () => {
      if (browser) await (await browser.catch(() => undefined))?.close();
    });

    let stopped: Promise<void> | undefined;
    return {
      name: info.name,
      dir,
      caPath: info.caPath,
      addresses: info.addresses,
      backend: info.backend,
      app: { url: app.url },
      ...insideNamespace(info.name),
      reset: async (list) => {
        await client.call({ op: 'reset', emulators: list });
      },
      async put(repository, blobs, manifests) {
        const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
        await client.call({
          op: 'put',
          repository,
          blobs: blobs.map((b) => ({ mediaType: b.mediaType, base64: b64(b.bytes) })),
          manifests: manifests.map((m) => ({
            reference: m.reference,
            mediaType: m.mediaType,
            base64: b64(m.bytes),
          })),
        });
      },
      control: (emulator, command, arg) => client.call({ op: 'control', emulator, command, arg }),
      advanceClock: async (ms) => (await client.call({ op: 'clock', advanceMs: ms })) as number,
      log: async (emulator, clear) =>
        (await client.call({ op: 'log', emulator, clear })) as EmulatedRequest[],
      setDown: async (host, down) => {
        await client.call({ op: 'down', host, down });
      },
      chromium: info.chromium,
      browser() {
        browser ??= chromium.connect(info.browserEndpoint, { timeout: 60_000 });
        return browser;
      },
      stop() {
        stopped ??= stop();
        return stopped;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
