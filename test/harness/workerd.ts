/**
 * The proxy on workerd (Cloudflare's open-source Workers runtime, the `workerd` npm package):
 * proxy/workerd.ts bundled with esbuild, a generated capnp config, `workerd serve` on
 * 127.0.0.1:<free port> in its own process group.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { freePort, spawnService, type Service } from './process.ts';

export interface WorkerdProxyOptions {
  /** BERTH_INSECURE_REGISTRIES. When not empty, the insecure network service is bound too. */
  insecureRegistries?: string[];
  /** BERTH_ALLOWED_ORIGINS. */
  allowedOrigins?: string[];
  timeoutMs?: number;
  idleTimeoutMs?: number;
  /** BERTH_PROXY_RATE_LIMIT; 0 disables. Unset: the proxy's default (600). */
  rateLimit?: number;
  /** BERTH_PROXY_LOG=1: one console line per request, in output(). */
  log?: boolean;
  /**
   * Whether listed hosts get BERTH_INSECURE_NETWORK, a network service that allows private
   * addresses. Default: when insecureRegistries is not empty. The worker's globalOutbound
   * always allows public addresses only.
   */
  insecureNetwork?: boolean;
  /** BERTH_ALLOWED_HOSTS; default the loopback names, as the Node server answers to when bound
   * to loopback. */
  allowedHosts?: string[];
  /** Override of the worker's text bindings (to test bad values). */
  bindings?: Record<string, string>;
}

export interface WorkerdProxy {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** url + '/proxy': the base for proxyTransport and Berth's `proxy` setting. */
  proxyUrl: string;
  /** Temp dir with berth-proxy.js and config.capnp. */
  dir: string;
  service: Service;
  /** The last lines workerd printed (its console.log lines included). */
  output(): string[];
  stop(): Promise<void>;
}

export const COMPATIBILITY_DATE = '2026-11-01';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The workerd binary of the npm package (node_modules/.bin/workerd is a JS shim around it). */
export function workerdBinary(): string {
  const require = createRequire(import.meta.url);
  const bin = (require('workerd') as { default: string }).default;
  if (typeof bin !== 'string') throw new Error('the workerd package did not name its binary');
  return bin;
}

let bundled: Promise<string> | undefined;

/** proxy/workerd.ts and everything it imports as one ES module, built once per process. */
export function bundleWorker(): Promise<string> {
  bundled ??= build({
    entryPoints: [join(repoRoot, 'proxy/workerd.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    // ipaddr.js names its entry in "main" only, which a neutral build does not read by default.
    mainFields: ['module', 'main'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  }).then((out) => {
    const file = out.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output for proxy/workerd.ts');
    return file.text;
  });
  return bundled;
}

/** A capnp text literal; only printable ASCII is accepted, so JSON's escapes are capnp's. */
function capnpText(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) {
    throw new Error(`workerd config: non-printable or non-ASCII text ${JSON.stringify(value)}`);
  }
  return JSON.stringify(value);
}

export interface WorkerdConfigOptions {
  port: number;
  bindings: Record<string, string>;
  insecureNetwork: boolean;
}

/** The bundle's file name next to the config, as proxy/workerd.capnp embeds it. */
export const MODULE_FILE = 'berth-proxy.js';

/** The Workerd.Config for one berth-proxy service, as capnp text. */
export function workerdConfig(opts: WorkerdConfigOptions): string {
  const bindings = Object.entries(opts.bindings).map(
    ([name, text]) => `    (name = ${capnpText(name)}, text = ${capnpText(text)}),`,
  );
  if (opts.insecureNetwork) {
    bindings.push('    (name = "BERTH_INSECURE_NETWORK", service = "insecure-network"),');
  }
  const tls = 'tlsOptions = (trustBrowserCas = true)';
  return [
    'using Workerd = import "/workerd/workerd.capnp";',
    '',
    'const config :Workerd.Config = (',
    '  services = [',
    '    (name = "berth-proxy", worker = .proxyWorker),',
    `    (name = "public-network", network = (allow = ["public"], ${tls})),`,
    ...(opts.insecureNetwork
      ? [
          // "private" includes "local" (127.0.0.0/8); named anyway, as the docs list both.
          `    (name = "insecure-network", network = (allow = ["public", "private", "local"], ${tls})),`,
        ]
      : []),
    '  ],',
    `  sockets = [(name = "http", address = "127.0.0.1:${opts.port}", http = (), service = "berth-proxy")],`,
    ');',
    '',
    'const proxyWorker :Workerd.Worker = (',
    `  modules = [(name = "${MODULE_FILE}", esModule = embed "${MODULE_FILE}")],`,
    `  compatibilityDate = ${capnpText(COMPATIBILITY_DATE)},`,
    '  bindings = [',
    ...bindings,
    '  ],',
    '  globalOutbound = "public-network",',
    ');',
    '',
  ].join('\n');
}

/**
 * Runs `workerd serve <dir>/config.capnp` on 127.0.0.1:<free port>: `writeConfig(port)` writes
 * the config for that port (or returns extra arguments that override the socket). Retries when
 * the port was taken meanwhile.
 */
async function serve(
  dir: string,
  writeConfig: (port: number) => Promise<string[]>,
): Promise<WorkerdProxy> {
  const bin = workerdBinary();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const extra = await writeConfig(port);
    const url = `http://127.0.0.1:${port}`;
    let service: Service;
    try {
      service = await spawnService(
        bin,
        ['serve', join(dir, 'config.capnp'), '--verbose', ...extra],
        {
          cwd: dir,
          readyUrl: `${url}/`,
          timeoutMs: 20_000,
          keepLines: 200,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
        },
      );
      // Make sure what answered is this worker, not someone else on a reused port.
      const res = await fetch(`${url}/`);
      const text = await res.text();
      if (res.status !== 404 || !text.startsWith('Not found (proxy only)')) {
        await service.stop();
        throw new Error(`something other than workerd answers on ${url}`);
      }
    } catch (err) {
      if (attempt < 3 && /Address already in use|other than workerd/i.test(String(err))) continue;
      throw err;
    }
    let stopped: Promise<void> | undefined;
    return {
      url,
      proxyUrl: `${url}/proxy`,
      dir,
      service,
      output: () => service.output(),
      stop() {
        stopped ??= service.stop().then(() => rm(dir, { recursive: true, force: true }));
        return stopped;
      },
    };
  }
}

/** A temp dir holding the bundled worker; removed again if `use` fails. */
async function withBundleDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const code = await bundleWorker();
  const dir = await mkdtemp(join(tmpdir(), 'berth-workerd-'));
  try {
    await writeFile(join(dir, MODULE_FILE), code);
    return await use(dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts `workerd serve` with the proxy; stop() kills it and removes its temp dir. */
export function startWorkerdProxy(opts: WorkerdProxyOptions = {}): Promise<WorkerdProxy> {
  const insecure = opts.insecureRegistries ?? [];
  const bindings: Record<string, string> = {
    BERTH_INSECURE_REGISTRIES: insecure.join(','),
    BERTH_ALLOWED_ORIGINS: (opts.allowedOrigins ?? []).join(','),
    ...(opts.timeoutMs !== undefined ? { BERTH_PROXY_TIMEOUT_MS: String(opts.timeoutMs) } : {}),
    ...(opts.idleTimeoutMs !== undefined
      ? { BERTH_PROXY_IDLE_TIMEOUT_MS: String(opts.idleTimeoutMs) }
      : {}),
    ...(opts.rateLimit !== undefined ? { BERTH_PROXY_RATE_LIMIT: String(opts.rateLimit) } : {}),
    BERTH_PROXY_LOG: opts.log ? '1' : '',
    BERTH_ALLOWED_HOSTS: (opts.allowedHosts ?? ['localhost', '127.0.0.1']).join(','),
    ...opts.bindings,
  };
  const insecureNetwork = opts.insecureNetwork ?? insecure.length > 0;
  return withBundleDir((dir) =>
    serve(dir, async (port) => {
      const config = workerdConfig({ port, bindings, insecureNetwork });
      await writeFile(join(dir, 'config.capnp'), config);
      return [];
    }),
  );
}

/** Serves a committed config (proxy/workerd.capnp) as it is, next to the bundle, with its
 * `http` socket moved to 127.0.0.1:<free port> by workerd's --socket-addr. */
export function startWorkerdExample(configFile: string): Promise<WorkerdProxy> {
  return withBundleDir(async (dir) => {
    await copyFile(configFile, join(dir, 'config.capnp'));
    return serve(dir, async (port) => ['--socket-addr', `http=127.0.0.1:${port}`]);
  });
}
