// The shape every emulated registry has, so that the offline internet (internet.ts: a network
// namespace, a CA made at test time, one TLS server per address) can serve any of them. An
// emulator answers as the real service does, from ../shared/REGISTRIES.md's captures, over
// content held by a real distribution registry (the backend) under its own prefix.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostOf } from './common.ts';

export interface EmulatorContext {
  /** The backing distribution registry, `http://127.0.0.1:PORT`, reachable from the emulator.
   * An emulator keeps its repositories under its own prefix there (`dockerhub/library/alpine`). */
  backend: string;
  /** Milliseconds since the epoch. Tests move it to expire signed URLs and tokens. */
  now(): number;
}

/** One service of the internet: a registry with its token service and blob hosts. */
export interface Emulator {
  /** Short name, used in logs and as the backend prefix (`dockerhub`, `ghcr`, `quay`, …). */
  readonly name: string;
  /** Every host name it answers on, lower case (`registry-1.docker.io`, `auth.docker.io`, …). */
  readonly hosts: readonly string[];
  /** The backend repository that holds what users call `name` here, or undefined when the
   * registry has no such repository (`library/alpine` → `dockerhub/library/alpine`). */
  backendName(name: string): string | undefined;
  /** Answers one request for one of `hosts` (`req.headers.host` says which, without a port). */
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  /** Every request it has answered, for tests that count or inspect them. The internet's
   * server (server.ts) appends to it as each answer finishes: an emulator need not. */
  readonly log: EmulatedRequest[];
  /** Test controls (turn a fault on, read a state), sent by internet.ts's control(); the
   * value returned goes back to the test, so it must survive JSON. */
  control?(command: string, arg: unknown): unknown;
}

/** How internet.ts builds an emulator: a module exports one of these by name. */
export type EmulatorFactory = (ctx: EmulatorContext) => Emulator;

export interface EmulatedRequest {
  host: string;
  method: string;
  /** Path and query as received. */
  url: string;
  /** Lower-case names. `authorization` is kept so that tests can prove a CDN never gets one. */
  headers: Record<string, string | string[] | undefined>;
  status: number;
}

/**
 * The request handler of a server that answers for many emulated hosts, the Host header
 * choosing the emulator: 421 for a host no emulator has, 500 when an emulator throws. It keeps
 * every emulator's log, so an emulator need not. A host `down` says is down breaks the
 * connection (one kept alive from before it went down).
 */
export function emulatorHandler(
  byHost: ReadonlyMap<string, Emulator>,
  down: (host: string) => boolean = () => false,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const host = hostOf(req);
    if (down(host)) {
      req.socket.destroy();
      return;
    }
    const emulator = byHost.get(host);
    if (!emulator) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end(`no emulated host ${host}\n`);
      return;
    }
    res.once('finish', () => {
      emulator.log.push({
        host,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: { ...req.headers },
        status: res.statusCode,
      });
    });
    Promise.resolve()
      .then(() => emulator.handle(req, res))
      .catch((err: unknown) => {
        console.error(`${emulator.name}: ${err instanceof Error ? err.stack : String(err)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('emulator error\n');
      });
  };
}
