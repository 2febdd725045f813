/**
 * Process helpers for the test harness: free ports, long-running services in their own
 * process group (always killed, also when a test fails or the worker exits), and one-shot
 * commands that throw with their stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Ask the kernel for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: could not read the bound address'));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

export interface SpawnServiceOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ready once a line of stdout or stderr matches. */
  readyLine?: RegExp;
  /** Ready once an HTTP GET to this URL gets any answer (any status). */
  readyUrl?: string;
  /** How long to wait for readiness. Default 15 s. */
  timeoutMs?: number;
  /** How many output lines to keep for error messages. Default 50. */
  keepLines?: number;
}

export interface Service {
  proc: ChildProcess;
  /** The last lines of stdout and stderr, oldest first. */
  output(): string[];
  /** SIGTERM the whole process group, SIGKILL it after 3 s. Safe to call twice. */
  stop(): Promise<void>;
}

/** Process groups still alive; killed when this process exits, whatever the cause. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Start a long-running process in its own process group and wait until it is ready.
 * Throws (after killing it) if it exits or times out first; the error carries its last output.
 */
export async function spawnService(
  cmd: string,
  args: readonly string[],
  opts: SpawnServiceOptions = {},
): Promise<Service> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const keep = opts.keepLines ?? 50;
  const lines: string[] = [];
  installExitHook();

  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid;

  let exited = false;
  let exitInfo = '';
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = true;
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      if (pid !== undefined) liveGroups.delete(pid);
      resolve();
    });
  });
  let spawnError: Error | undefined;
  proc.once('error', (err) => {
    spawnError = err;
    exited = true;
  });

  let readyByLine = false;
  const onData = (stream: string) => {
    let partial = '';
    return (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(`[${stream}] ${line}`);
        if (lines.length > keep) lines.shift();
        if (opts.readyLine?.test(line)) readyByLine = true;
      }
      // A ready line may come without a trailing newline.
      if (opts.readyLine?.test(partial)) readyByLine = true;
    };
  };
  proc.stdout?.on('data', onData('out'));
  proc.stderr?.on('data', onData('err'));

  if (pid !== undefined) liveGroups.add(pid);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (pid === undefined || exited) return;
      killGroup(pid, 'SIGTERM');
      const killed = await Promise.race([
        exitPromise.then(() => true),
        sleep(3000).then(() => false),
      ]);
      if (!killed) {
        killGroup(pid, 'SIGKILL');
        await exitPromise;
      }
      // Children in the group that ignored SIGTERM.
      killGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
    })();
    return stopped;
  };

  const describe = () =>
    `${cmd} ${args.join(' ')}\n--- last output ---\n${lines.join('\n') || '(none)'}`;

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`could not start ${cmd}: ${spawnError.message}`);
    }
    if (exited) {
      throw new Error(`service exited before it was ready (${exitInfo}): ${describe()}`);
    }
    if (readyByLine) break;
    if (opts.readyUrl !== undefined && (await answers(opts.readyUrl))) break;
    if (opts.readyLine === undefined && opts.readyUrl === undefined) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`service not ready after ${timeoutMs} ms: ${describe()}`);
    }
    await sleep(50);
  }

  return { proc, output: () => [...lines], stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. */
  input?: string | Buffer;
  /** Kill after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** stdout as raw bytes. */
  stdoutBytes: Buffer;
}

/** Run a command to completion; throws with its stderr when it fails. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (c: Buffer) => out.push(c));
    proc.stderr.on('data', (c: Buffer) => err.push(c));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${cmd}: ${e.message}`));
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) {
        resolve({ stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes });
        return;
      }
      const why = timedOut
        ? `timed out after ${timeoutMs} ms`
        : signal
          ? `signal ${signal}`
          : `exit code ${code}`;
      reject(new Error(`${cmd} ${args.join(' ')} failed (${why}):\n${stderr.trim()}`));
    });
    proc.stdin.on('error', () => {
      // The command may exit without reading stdin.
    });
    proc.stdin.end(opts.input);
  });
}
