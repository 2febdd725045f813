// The offline internet's front door, run inside the network namespace by internet.ts
// (`ip netns exec NAME node --import tsx server.ts CONFIG.json`): one TLS server on :443 of
// each emulated host's address, each request handed to the emulator that owns its Host.
// internet.ts drives it over the IPC channel Node sets up for a child (fd 3, which
// `ip netns exec` leaves open): move the clock, send an emulator a command, read its log,
// take a host down, put artifacts into the backend, or start over with other emulators (a
// reset, between two test files sharing one internet).
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { pathToFileURL } from 'node:url';
import {
  emulatorHandler,
  type Emulator,
  type EmulatorContext,
  type EmulatorFactory,
} from './emulator.ts';

export interface ServerConfig {
  /** http://127.0.0.1:PORT: the distribution registry inside the namespace. */
  backend: string;
  /** Every host name → its address, certificate and key files. */
  hosts: Record<string, { address: string; cert: string; key: string }>;
  /** Modules to load: each exports a factory by that name. */
  emulators: { module: string; factory: string }[];
}

/** A message from internet.ts. Each gets one Reply with the same id. */
export type Command =
  | { id: number; op: 'clock'; advanceMs: number }
  | { id: number; op: 'control'; emulator: string; command: string; arg?: unknown }
  | { id: number; op: 'log'; emulator: string; clear?: boolean }
  | { id: number; op: 'down'; host: string; down: boolean }
  | { id: number; op: 'reset'; emulators: { module: string; factory: string }[] }
  | {
      id: number;
      op: 'put';
      repository: string;
      blobs: { mediaType: string; base64: string }[];
      manifests: { reference: string; mediaType: string; base64: string }[];
    };

export type Reply =
  { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };

async function main() {
  const config = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as ServerConfig;
  let clockOffset = 0;
  const ctx: EmulatorContext = { backend: config.backend, now: () => Date.now() + clockOffset };

  // The emulators that answer now, by name and by host. A reset replaces them with fresh
  // ones: a new instance has no log and every control at its default.
  const emulators = new Map<string, Emulator>();
  const byHost = new Map<string, Emulator>();
  const load = async (specs: ServerConfig['emulators']) => {
    const made: Emulator[] = [];
    for (const spec of specs) {
      const mod = (await import(pathToFileURL(spec.module).href)) as Record<string, unknown>;
      const factory = mod[spec.factory] as EmulatorFactory | undefined;
      if (typeof factory !== 'function') {
        throw new Error(`${spec.module} exports no factory ${spec.factory}`);
      }
      const emulator = factory(ctx);
      for (const host of emulator.hosts) {
        if (!config.hosts[host]) throw new Error(`${emulator.name}: no address for ${host}`);
      }
      made.push(emulator);
    }
    emulators.clear();
    byHost.clear();
    for (const emulator of made) {
      emulators.set(emulator.name, emulator);
      for (const host of emulator.hosts) byHost.set(host, emulator);
    }
  };
  await load(config.emulators);

  const contexts = new Map<string, SecureContext>();
  const pems = new Map<string, { cert: Buffer; key: Buffer }>();
  for (const [host, h] of Object.entries(config.hosts)) {
    const pem = { cert: await readFile(h.cert), key: await readFile(h.key) };
    pems.set(host, pem);
    contexts.set(host, createSecureContext(pem));
  }

  // The server keeps every emulator's log, so an emulator need not. A host taken down has no
  // listener at all (below), so the handler never sees it.
  const handle = emulatorHandler(byHost);

  // One server per address: taking a host down closes its listener, so connecting to it is
  // refused as it would be for a registry that is down.
  const servers = new Map<string, Server>();
  const listen = (host: string) =>
    new Promise<void>((resolve, reject) => {
      const h = config.hosts[host]!;
      const server = createServer(
        {
          ...pems.get(host)!,
          SNICallback: (name, cb) =>
            cb(null, contexts.get(name.toLowerCase()) ?? contexts.get(host)),
        },
        handle,
      );
      server.once('error', reject);
      server.listen(443, h.address, () => {
        server.off('error', reject);
        servers.set(host, server);
        resolve();
      });
    });
  await Promise.all(Object.keys(config.hosts).map(listen));

  const commands: { [K in Command['op']]: (c: Extract<Command, { op: K }>) => Promise<unknown> } = {
    clock: async (c) => {
      clockOffset += c.advanceMs;
      return ctx.now();
    },
    control: async (c) => {
      const emulator = emulators.get(c.emulator);
      if (!emulator?.control) throw new Error(`no emulator ${c.emulator} with controls`);
      return emulator.control(c.command, c.arg);
    },
    log: async (c) => {
      const emulator = emulators.get(c.emulator);
      if (!emulator) throw new Error(`no emulator ${c.emulator}`);
      const log = [...emulator.log];
      if (c.clear) emulator.log.length = 0;
      return log;
    },
    down: async (c) => {
      const server = servers.get(c.host);
      if (c.down && server) {
        servers.delete(c.host);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      } else if (!c.down && !server) {
        await listen(c.host);
      }
      return undefined;
    },
    reset: async (c) => {
      await load(c.emulators);
      clockOffset = 0;
      // No connection outlives a reset: the next client starts as against a fresh internet.
      for (const server of servers.values()) server.closeAllConnections();
      await Promise.all(
        Object.keys(config.hosts)
          .filter((h) => !servers.has(h))
          .map(listen),
      );
      return undefined;
    },
    put: async (c) => {
      for (const b of c.blobs)
        await putBlob(config.backend, c.repository, Buffer.from(b.base64, 'base64'));
      for (const m of c.manifests) {
        const res = await fetch(`${config.backend}/v2/${c.repository}/manifests/${m.reference}`, {
          method: 'PUT',
          headers: { 'content-type': m.mediaType },
          body: new Uint8Array(Buffer.from(m.base64, 'base64')),
        });
        if (res.status !== 201) {
          throw new Error(
            `PUT manifest ${c.repository}:${m.reference}: ${res.status} ${await res.text()}`,
          );
        }
      }
      return undefined;
    },
  };

  process.on('message', (msg: Command) => {
    const run = commands[msg.op] as (c: Command) => Promise<unknown>;
    run(msg).then(
      (value) => process.send?.({ id: msg.id, ok: true, value } satisfies Reply),
      (err: unknown) =>
        process.send?.({
          id: msg.id,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        } satisfies Reply),
    );
  });
  // The parent going away ends the namespace's internet too.
  process.on('disconnect', () => process.exit(0));
  console.log(`internet ready: ${Object.keys(config.hosts).join(' ')}`);
}

/** A monolithic blob upload (POST then PUT with the digest). */
async function putBlob(backend: string, repository: string, bytes: Buffer) {
  const { createHash } = await import('node:crypto');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const head = await fetch(`${backend}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
  if (head.ok) return;
  const start = await fetch(`${backend}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload: ${start.status}`);
  const url = new URL(location, backend);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  if (put.status !== 201)
    throw new Error(`blob upload ${digest}: ${put.status} ${await put.text()}`);
}

main().catch((err: unknown) => {
  console.error(`internet server: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
