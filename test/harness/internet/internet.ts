/**
 * An offline internet for the tests: the registries people use, answering as they really do,
 * with their real host names and TLS, and no network at all.
 *
 * Usage (see test/e2e/internet-dockerhub.test.ts):
 *
 *   const skip = internetSkipReason();          // not root, no `ip`: skip the tier, say why
 *   const net = await startInternet({ emulators: [dockerHubEmulator] });
 *   await net.copyImage(images.layout, images.single.layoutTag, 'dockerhub/library/alpine:latest');
 *   const page = await newPage(await net.browser());   // Chromium inside the namespace
 *   await page.goto(net.app.url);                       // `npm start`'s server, unchanged
 *   await net.control('dockerhub', 'rate-limit', { remaining: 0 });
 *   await net.advanceClock(30 * 60_000);                // signed URLs and tokens expire
 *   const log = await net.log('dockerhub');             // every request each host answered
 *   await net.skopeo(['inspect', `oci-archive:${file}`]);
 *   await net.stop();                                   // also runs on process exit
 *
 * Test files use it through page.ts's useInternet, which in the e2e project attaches to one
 * internet shared by every file instead of starting one (shared.ts, global-setup.ts).
 *
 * What it builds: a network namespace (`ip netns add`) holding only `lo`, with every emulated
 * host name on an address of its own (public unicast, so the proxy's address checks pass
 * unchanged; the address exists only on the namespace's loopback), mapped by the namespace's
 * own /etc/netns/NAME/hosts; a CA made at test time with openssl and a certificate per host;
 * a real docker-registry on 127.0.0.1:5000 inside as the emulators' backend; one Node process
 * (server.ts) holding every emulator behind a TLS server on :443 of each address; Berth's
 * server (proxy/server.ts) trusting the CA through NODE_EXTRA_CA_CERTS; and Chromium and
 * skopeo run through `ip netns exec`. Nothing inside can route out, and that is checked first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.ts';
import { run, spawnService, type RunResult, type Service } from '../process.ts';
import type { EmulatedRequest, EmulatorFactory } from './emulator.ts';
import type { Command, Reply, ServerConfig } from './server.ts';

/** An emulator to load: the module's path and the name of the factory it exports. */
export interface EmulatorSpec {
  module: string;
  factory: string;
}

export interface StartInternetOptions {
  emulators: EmulatorSpec[];
  /** Start Berth's server inside (default true; 'proxy-only' needs no dist/). */
  app?: boolean | 'proxy-only';
}

export interface Internet {
  /** The network namespace's name. */
  name: string;
  /** Temp dir: the CA (ca.pem), certificates, registry storage, downloads if wanted. */
  dir: string;
  /** The CA certificate every emulated host's certificate chains to. */
  caPath: string;
  /** Host name → its address inside the namespace. */
  addresses: Record<string, string>;
  /** The backend registry, as seen from inside the namespace. */
  backend: string;
  /** Berth's server inside the namespace (`http://127.0.0.1:PORT`); Chromium reaches it. */
  app: { url: string };
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** skopeo inside the namespace, trusting the CA. */
  skopeo(args: string[]): Promise<RunResult>;
  /** Copies `oci:LAYOUT:layoutTag` into the backend as `repository:tag` (digests kept). */
  copyImage(layoutDir: string, layoutTag: string, backendRef: string): Promise<void>;
  /** Puts blobs, then manifests (by tag or digest), into a backend repository as they are. */
  put(
    repository: string,
    blobs: { mediaType: string; bytes: Uint8Array }[],
    manifests: { reference: string; mediaType: string; bytes: Uint8Array }[],
  ): Promise<void>;
  /** Makes the internet as a fresh start would: only `emulators` answer (fresh instances, empty
   * logs, default controls; other hosts answer 421), every host up, the clock back to now, no
   * connection kept open, and the backend emptied. Every host of `emulators` must be one the
   * internet was started with. */
  reset(emulators: EmulatorSpec[]): Promise<void>;
  /** Sends an emulator one of its controls; returns what it answers. */
  control(emulator: string, command: string, arg?: unknown): Promise<unknown>;
  /** Moves every emulator's clock forward; returns the new time. */
  advanceClock(ms: number): Promise<number>;
  /** The requests an emulator answered; `clear` empties its log after reading. */
  log(emulator: string, clear?: boolean): Promise<EmulatedRequest[]>;
  /** Takes a host down (its connections refused) or brings it back. */
  setDown(host: string, down: boolean): Promise<void>;
  /** A script that runs Chromium inside the namespace: playwright's executablePath. */
  chromium: string;
  /** Chromium inside the namespace, launched on first use and closed by stop(). */
  browser(): Promise<Browser>;
  stop(): Promise<void>;
}

/** Public unicast addresses for the emulated hosts. They never leave the namespace (nothing
 * routes out of it); they are public so that the proxy's address checks run as in production. */
const ADDRESS_BASE = [34, 120, 0, 0];

export const BACKEND_PORT = 5000;

/** An emulator module of this folder, by file name and factory name. */
export function emulatorSpec(file: string, factory: string): EmulatorSpec {
  return { module: fileURLToPath(new URL(`./${file}`, import.meta.url)), factory };
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Why the offline internet cannot run here, or undefined when it can. It needs Linux, root
 * (network namespaces, addresses, /etc/netns) and iproute2 and openssl; CI runs as root.
 */
export function internetSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the offline internet needs Linux network namespaces';
  if (process.getuid?.() !== 0) {
    return 'the offline internet needs root (ip netns add, /etc/netns); CI runs it as root';
  }
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['openssl', 'openssl'],
    ['skopeo', 'skopeo'],
    ['docker-registry', 'docker-registry'],
  ] as const) {
    if (!onPath(cmd)) return `the offline internet needs ${cmd} (apt-get install ${pkg})`;
  }
  return undefined;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const serverScript = fileURLToPath(new URL('./server.ts', import.meta.url));

/** Namespaces this process made and has not removed yet: removed on exit, whatever the cause. */
const liveNamespaces = new Set<string>();
let exitHook = false;

function removeNamespaceSync(name: string) {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  liveNamespaces.delete(name);
}

/** Namespaces (and what runs in them) left by a test run that was killed outright, which no
 * exit hook outlives: named for a process that no longer exists. */
function sweepStaleNamespaces() {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const m = /^(berth-(\d+)-[0-9a-f]{6})\b/.exec(line.trim());
    if (!m || pidAlive(Number(m[2]))) continue;
    const pids = spawnSync('ip', ['netns', 'pids', m[1]!], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    removeNamespaceSync(m[1]!);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function startInternet(opts: StartInternetOptions): Promise<Internet> {
  const skip = internetSkipReason();
  if (skip) throw new Error(skip);
  sweepStaleNamespaces();
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const name of liveNamespaces) removeNamespaceSync(name);
    });
  }
  const name = `berth-${process.pid}-${randomBytes(3).toString('hex')}`;
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'berth-internet-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));

    // Which hosts: asked of each emulator, built with a context that is never used.
    const hosts: string[] = [];
    for (const spec of opts.emulators) {
      const mod = (await import(spec.module)) as Record<string, unknown>;
      const factory = mod[spec.factory] as EmulatorFactory;
      const emulator = factory({ backend: 'http://unused.invalid', now: Date.now });
      for (const h of emulator.hosts) if (!hosts.includes(h)) hosts.push(h);
    }
    const addresses: Record<string, string> = {};
    hosts.forEach((h, i) => {
      const n = i + 1;
      addresses[h] = [ADDRESS_BASE[0], ADDRESS_BASE[1], n >> 8, n & 0xff].join('.');
    });

    // The namespace: only lo, each host's address on it, its own hosts file and a resolver
    // that points nowhere.
    await run('ip', ['netns', 'add', name]);
    liveNamespaces.add(name);
    stops.push(async () => removeNamespaceSync(name));
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    for (const address of Object.values(addresses)) {
      await run('ip', ['-n', name, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    }
    await mkdir(`/etc/netns/${name}`, { recursive: true });
    await writeFile(
      `/etc/netns/${name}/hosts`,
      ['127.0.0.1 localhost', '::1 localhost', ...hosts.map((h) => `${addresses[h]} ${h}`)].join(
        '\n',
      ) + '\n',
    );
    await writeFile(
      `/etc/netns/${name}/resolv.conf`,
      'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n',
    );
    await assertSealed(name);

    const inside = insideNamespace(name);

    // The CA and one certificate per host (one key for all: key generation is the slow part).
    const caPath = join(dir, 'ca.pem');
    const certs = join(dir, 'certs');
    await mkdir(certs);
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'ca.key'), '-out', caPath, '-days', '2',
      '-subj', '/CN=Berth offline internet test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
    const leafKey = join(dir, 'leaf.key');
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', leafKey]); // prettier-ignore
    const serverHosts: ServerConfig['hosts'] = {};
    await Promise.all(
      hosts.map(async (h) => {
        const cert = join(certs, `${h}.pem`);
        await run('openssl', [
          'req', '-new', '-x509', '-key', leafKey, '-CA', caPath, '-CAkey', join(dir, 'ca.key'),
          '-days', '2', '-subj', `/CN=${h.slice(0, 64)}`, '-out', cert,
          '-addext', `subjectAltName=DNS:${h}`,
          '-addext', 'basicConstraints=critical,CA:FALSE',
          '-addext', 'extendedKeyUsage=serverAuth',
        ]); // prettier-ignore
        serverHosts[h] = { address: addresses[h]!, cert, key: leafKey };
      }),
    );

    // The backend: a real distribution registry inside the namespace.
    const backend = `http://127.0.0.1:${BACKEND_PORT}`;
    const registryDir = join(dir, 'registry');
    await mkdir(registryDir);
    await writeFile(
      join(registryDir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: info',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${JSON.stringify(join(registryDir, 'data'))}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: "127.0.0.1:${BACKEND_PORT}"`,
        `  secret: "${randomBytes(16).toString('hex')}"`,
      ].join('\n') + '\n',
    );
    const registry: Service = await spawnService(
      'ip',
      ['netns', 'exec', name, 'docker-registry', 'serve', join(registryDir, 'config.yml')],
      {
        readyLine: /listening on 127\.0\.0\.1/,
        env: { PATH: process.env.PATH, HOME: registryDir },
      },
    );
    stops.push(() => registry.stop());

    // The emulators behind TLS, with an IPC channel for the test's controls.
    const configPath = join(dir, 'internet.json');
    const config: ServerConfig = { backend, hosts: serverHosts, emulators: opts.emulators };
    await writeFile(configPath, JSON.stringify(config));
    const server = await startServerProcess(name, configPath);
    stops.push(() => server.stop());

    // Berth's own server, unchanged: public https only, address checks on.
    let app = { url: '' };
    if (opts.app ?? true) {
      const berth = await startApp(name, {
        home: dir,
        caPath,
        port: 8080,
        proxyOnly: opts.app === 'proxy-only',
      });
      stops.push(() => berth.stop());
      app = { url: berth.url };
    }

    // Chromium through `ip netns exec`: playwright's pipe transport crosses it.
    let browser: Promise<Browser> | undefined;
    const wrapper = join(dir, 'chromium');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${name} ${CHROMIUM_PATH} "$@"\n`);
    await chmod(wrapper, 0o755);
    stops.push(async () => {
      if (browser) await (await browser.catch(() => undefined))?.close();
    });

    let stopped: Promise<void> | undefined;
    return {
      name,
      dir,
      caPath,
      addresses,
      backend,
      app,
      ...inside,
      async reset(emulators) {
        // Between two files nothing is in flight, and the registry caches nothing of its
        // storage (no `cache:` in its config): emptied on disk, it is empty.
        await rm(join(registryDir, 'data'), { recursive: true, force: true });
        await server.send({ op: 'reset', emulators });
      },
      async put(repository, blobs, manifests) {
        const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
        await server.send({
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
      control: (emulator, command, arg) => server.send({ op: 'control', emulator, command, arg }),
      advanceClock: async (ms) => (await server.send({ op: 'clock', advanceMs: ms })) as number,
      log: async (emulator, clear) =>
        (await server.send({ op: 'log', emulator, clear })) as EmulatedRequest[],
      setDown: async (host, down) => {
        await server.send({ op: 'down', host, down });
      },
      chromium: wrapper,
      browser() {
        browser ??= chromium.launch({
          executablePath: wrapper,
          headless: true,
          args: CHROMIUM_ARGS,
          timeout: 60_000,
        });
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

/** What runs a command inside namespace `name`: any process may use it, not only the one that
 * started the internet. */
export function insideNamespace(name: string) {
  const exec = (cmd: string, args: string[], o: { timeoutMs?: number } = {}) =>
    run('ip', ['netns', 'exec', name, cmd, ...args], o.timeoutMs ? { timeoutMs: o.timeoutMs } : {});
  return {
    exec,
    skopeo: (args: string[]) =>
      exec('skopeo', ['--insecure-policy', ...args], { timeoutMs: 120_000 }),
    async copyImage(layoutDir: string, layoutTag: string, backendRef: string): Promise<void> {
      await exec(
        'skopeo',
        [
          '--insecure-policy',
          'copy',
          '--quiet',
          '--all',
          '--preserve-digests',
          '--dest-tls-verify=false',
          `oci:${layoutDir}:${layoutTag}`,
          `docker://127.0.0.1:${BACKEND_PORT}/${backendRef}`,
        ],
        { timeoutMs: 120_000 },
      );
    },
  };
}

/** Berth's own server (`npm start`'s, unchanged) inside namespace `name`: public https only,
 * address checks on, trusting the internet's CA. Port 0 takes any free port. */
export async function startApp(
  name: string,
  o: { home: string; caPath: string; port: number; proxyOnly?: boolean },
): Promise<Service & { url: string }> {
  const berth = await spawnService(
    'ip',
    [
      ...['netns', 'exec', name, process.execPath, '--import', 'tsx', 'proxy/server.ts'],
      ...(o.proxyOnly ? ['--proxy-only'] : []),
    ],
    {
      cwd: repoRoot,
      readyLine: /Berth listening on /,
      env: {
        PATH: process.env.PATH,
        HOME: o.home,
        HOST: '127.0.0.1',
        PORT: String(o.port),
        NODE_EXTRA_CA_CERTS: o.caPath,
      },
      timeoutMs: 30_000,
    },
  );
  const line = berth
    .output()
    .map((l) => /Berth listening on (http:\/\/\S+)/.exec(l)?.[1])
    .find(Boolean);
  if (!line) {
    await berth.stop();
    throw new Error(`Berth's server said no address: ${berth.output().join('\n')}`);
  }
  return { ...berth, url: line };
}

/** Nothing inside may route out: no route but the loopback's, and a connection to an outside
 * address fails at once. Throws otherwise. */
async function assertSealed(name: string) {
  for (const family of ['-4', '-6']) {
    const { stdout } = await run('ip', ['-n', name, family, 'route', 'show']);
    const routes = stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/\bdev lo\b/.test(l));
    if (routes.length > 0) {
      throw new Error(`namespace ${name} has routes out: ${routes.join('; ')}`);
    }
  }
  const probe = spawnSync(
    'ip',
    ['netns', 'exec', name, 'bash', '-c', 'exec 3<>/dev/tcp/1.1.1.1/443'],
    { encoding: 'utf8', timeout: 5000 },
  );
  if (probe.status === 0 || !/unreachable/i.test(probe.stderr)) {
    throw new Error(
      `namespace ${name}: a connection to 1.1.1.1:443 did not fail as unreachable: ${probe.stderr}`,
    );
  }
}

interface ServerProcess {
  send(cmd: DistributiveOmit<Command, 'id'>): Promise<unknown>;
  stop(): Promise<void>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** server.ts inside the namespace, with Node's IPC channel (fd 3 survives `ip netns exec`). */
function startServerProcess(name: string, configPath: string): Promise<ServerProcess> {
  const proc: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', name, process.execPath, '--import', 'tsx', serverScript, configPath],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true },
  );
  const output: string[] = [];
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited = false;
  proc.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.ok) p?.resolve(reply.value);
    else p?.reject(new Error(reply.error));
  });
  const exitPromise = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      for (const p of pending.values())
        p.reject(new Error(`internet server exited: ${output.join('\n')}`));
      pending.clear();
      resolve();
    }),
  );
  const stop = async () => {
    if (exited || proc.pid === undefined) return;
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      // gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 3000);
    await exitPromise;
    clearTimeout(timer);
  };
  process.once('exit', () => {
    if (!exited && proc.pid !== undefined) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`internet server not ready after 30 s:\n${output.join('\n')}`));
    }, 30_000);
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        output.push(line);
        if (output.length > 50) output.shift();
        if (line.startsWith('internet ready')) {
          clearTimeout(timer);
          resolve({
            send(cmd) {
              if (exited) return Promise.reject(new Error('internet server is not running'));
              const id = nextId++;
              return new Promise((res, rej) => {
                pending.set(id, { resolve: res, reject: rej });
                proc.send({ ...cmd, id });
              });
            },
            stop,
          });
        }
      }
    };
    proc.stdout?.on('data', onLine);
    proc.stderr?.on('data', onLine);
    void exitPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`internet server exited before it was ready:\n${output.join('\n')}`));
    });
  });
}
