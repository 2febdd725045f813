/**
 * A real CNCF distribution registry (docker-registry 2.8) on 127.0.0.1, in a temp dir.
 * Auth: none, htpasswd (Basic), or Docker-style bearer tokens from ./token-server.ts.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, run, spawnService, type Service } from './process.ts';
import { fetchToken, startTokenServer, type TokenServer } from './token-server.ts';

export interface Registry {
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** Temp dir holding config.yml, the storage root (data/) and htpasswd. */
  dir: string;
  auth: RegistryAuth;
  /**
   * The users that can log in (htpasswd mode: Basic on the registry; token mode: Basic on
   * the token server, which skopeo --creds handles itself); empty otherwise.
   */
  users: Record<string, string>;
  /** Token mode: the registry's `auth.token` settings. */
  token?: TokenAuthConfig;
  /** The running docker-registry process. */
  service: Service;
  stop(): Promise<void>;
}

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

/** distribution's `auth.token` settings. */
export interface TokenAuthConfig {
  /** URL of the token endpoint, sent to clients in the Bearer challenge. */
  realm: string;
  /** Service name: sent in the challenge, must be the token's `aud`. */
  service: string;
  /** Must be the token's `iss`. */
  issuer: string;
  /** PEM certificate(s) whose keys may sign tokens. */
  certPath: string;
}

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /**
   * htpasswd users; default { testuser: 'testpassword' }. Token mode: informational only
   * (the token server checks passwords), default {}.
   */
  users?: Record<string, string>;
  /** Required with auth: 'token'. */
  token?: TokenAuthConfig;
  /** Keep the registry's access log in the service output (default false). */
  accessLog?: boolean;
}

export const REGISTRY_BIN = 'docker-registry';

/** Headers added to every registry response so a browser can talk to it directly (CORS). */
const CORS_HEADERS: Record<string, string[]> = {
  'Access-Control-Allow-Origin': ['*'],
  'Access-Control-Allow-Methods': ['GET, HEAD, OPTIONS'],
  'Access-Control-Allow-Headers': ['Authorization, Accept, Range, Content-Type'],
  'Access-Control-Expose-Headers': [
    'Docker-Content-Digest, WWW-Authenticate, Content-Range, Content-Length, Link',
  ],
};

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<Registry> {
  const auth = opts.auth ?? 'none';
  const users =
    auth === 'htpasswd'
      ? (opts.users ?? { testuser: 'testpassword' })
      : auth === 'token'
        ? (opts.users ?? {})
        : {};
  const token = auth === 'token' ? opts.token : undefined;
  if (auth === 'token' && !token) throw new Error("startRegistry: auth 'token' needs opts.token");
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  try {
    const q = (s: string) => JSON.stringify(s); // JSON strings are valid YAML scalars.
    let authYaml: string[] = [];
    if (auth === 'htpasswd') {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, await htpasswdFile(users), { mode: 0o600 });
      authYaml = ['auth:', '  htpasswd:', '    realm: "berth-test"', `    path: ${q(htpasswd)}`];
    } else if (token) {
      authYaml = [
        'auth:',
        '  token:',
        `    realm: ${q(token.realm)}`,
        `    service: ${q(token.service)}`,
        `    issuer: ${q(token.issuer)}`,
        `    rootcertbundle: ${q(token.certPath)}`,
      ];
    }
    const configPath = join(dir, 'config.yml');

    // The port may be taken between freePort() and the registry's bind: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const yaml: string[] = [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        `    disabled: ${opts.accessLog ? 'false' : 'true'}`,
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${q(join(dir, 'data'))}`,
        '  delete:',
        '    enabled: true',
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: ${q(host)}`,
        `  secret: ${q(randomBytes(24).toString('hex'))}`,
        '  headers:',
        ...Object.entries(CORS_HEADERS).map(([k, v]) => `    ${k}: [${v.map(q).join(', ')}]`),
        ...authYaml,
        // Distribution 2.7+ refuses manifests with foreign-layer urls unless they are allowed.
        'validation:',
        '  manifests:',
        '    urls:',
        `      allow: [${q('^https?://example\\.invalid/')}]`,
      ];
      await writeFile(configPath, yaml.join('\n') + '\n');

      let service: Service;
      try {
        service = await spawnService(REGISTRY_BIN, ['serve', configPath], {
          readyUrl: `http://${host}/v2/`,
          timeoutMs: 15_000,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
        });
        // Make sure what answered is our registry, not someone else on a reused port.
        const res = await fetch(`http://${host}/v2/`);
        await res.body?.cancel();
        if (res.headers.get('docker-distribution-api-version') !== 'registry/2.0') {
          await service.stop();
          throw new Error(`something other than docker-registry answers on ${host}`);
        }
      } catch (err) {
        if (attempt < 3 && /address already in use|other than docker-registry/.test(String(err))) {
          continue;
        }
        throw err;
      }
      let stopped: Promise<void> | undefined;
      return {
        host,
        url: `http://${host}`,
        dir,
        auth,
        users,
        ...(token ? { token } : {}),
        service,
        stop() {
          stopped ??= service.stop().then(() => rm(dir, { recursive: true, force: true }));
          return stopped;
        },
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface TokenRegistry extends Registry {
  tokenServer: TokenServer;
}

export interface StartTokenRegistryOptions {
  /** Users of the token server; default { testuser: 'testpassword' }. */
  users?: Record<string, string>;
  /** Repositories anyone may pull without logging in; default none. */
  publicRepositories?: (name: string) => boolean;
  /** Default 'berth-test-registry'. */
  service?: string;
  /** Default 'berth-test-token-issuer'. */
  issuer?: string;
  accessLog?: boolean;
}

/**
 * A registry with `auth.token` and its token server (./token-server.ts). Logged-in users
 * may pull and push everywhere, anonymous clients may pull publicRepositories. stop() stops
 * both.
 */
export async function startTokenRegistry(
  opts: StartTokenRegistryOptions = {},
): Promise<TokenRegistry> {
  const users = opts.users ?? { testuser: 'testpassword' };
  const tokenServer = await startTokenServer({
    service: opts.service ?? 'berth-test-registry',
    issuer: opts.issuer ?? 'berth-test-token-issuer',
    users,
    ...(opts.publicRepositories ? { publicRepositories: opts.publicRepositories } : {}),
  });
  let registry: Registry;
  try {
    registry = await startRegistry({
      auth: 'token',
      users,
      token: {
        realm: tokenServer.realm,
        service: tokenServer.service,
        issuer: tokenServer.issuer,
        certPath: tokenServer.certPath,
      },
      ...(opts.accessLog !== undefined ? { accessLog: opts.accessLog } : {}),
    });
  } catch (err) {
    await tokenServer.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    ...registry,
    tokenServer,
    stop() {
      // The registry first: it reads the token server's certificate.
      stopped ??= registry.stop().finally(() => tokenServer.stop());
      return stopped;
    },
  };
}

/**
 * Headers that authorize `actions` on repository for a user (default: the first of
 * registry.users; anonymous when there is none): Basic for htpasswd, a Bearer token fetched
 * from the realm for token auth, nothing without auth.
 */
export async function registryAuthHeaders(
  registry: Registry,
  repository: string,
  actions: string[] = ['pull'],
  user?: string,
): Promise<Record<string, string>> {
  const name = user ?? Object.keys(registry.users)[0];
  const password = name !== undefined ? registry.users[name] : undefined;
  if (registry.auth === 'htpasswd') {
    return name !== undefined && password !== undefined
      ? { authorization: basicAuth(name, password) }
      : {};
  }
  if (registry.auth !== 'token' || !registry.token) return {};
  const { status, token, body } = await fetchToken({
    realm: registry.token.realm,
    service: registry.token.service,
    scopes: [`repository:${repository}:${actions.join(',')}`],
    ...(name !== undefined && password !== undefined ? { user: name, password } : {}),
  });
  if (status !== 200 || token === undefined) {
    throw new Error(`token request for ${repository} failed: ${status} ${JSON.stringify(body)}`);
  }
  return { authorization: `Bearer ${token}` };
}

/** Basic auth header value for a user of an htpasswd registry. */
export function basicAuth(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

// ---------------------------------------------------------------------------------------
// htpasswd: distribution only accepts bcrypt entries. Node has no bcrypt, so we use
// `htpasswd -B` (apache2-utils) when present, else the system crypt(3) via perl, which on
// Debian is libxcrypt and implements bcrypt ($2b$).

async function onPath(cmd: string): Promise<string | undefined> {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(d, cmd);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 16 random bytes in bcrypt's base64 alphabet: 22 characters. */
function bcryptSalt(): string {
  return [...randomBytes(16).toString('base64').replace(/=+$/, '')]
    .map((c) => BCRYPT64[B64.indexOf(c)])
    .join('');
}

/** A bcrypt hash of password (cost 5: the registry checks it on every request). */
export async function bcryptHash(password: string): Promise<string> {
  const htpasswd = await onPath('htpasswd');
  if (htpasswd) {
    const { stdout } = await run(htpasswd, ['-niB', '-C', '5', 'u'], { input: password });
    const hash = stdout.trim().split(':')[1];
    if (hash?.startsWith('$2')) return hash;
  }
  const perl = await onPath('perl');
  if (perl) {
    const { stdout } = await run(perl, ['-e', 'print crypt($ENV{PW}, $ENV{SALT}) // ""'], {
      env: { PATH: process.env.PATH, PW: password, SALT: `$2b$05$${bcryptSalt()}` },
    });
    if (/^\$2b\$05\$.{53}$/.test(stdout)) return stdout;
  }
  throw new Error(
    'htpasswd registry: cannot make a bcrypt hash: neither `htpasswd` (apache2-utils) ' +
      'nor perl with a bcrypt-capable crypt(3) (libxcrypt) is available',
  );
}

/** Whether startRegistry({ auth: 'htpasswd' }) can work on this machine. */
export async function htpasswdSupported(): Promise<boolean> {
  try {
    await bcryptHash('probe');
    return true;
  } catch {
    return false;
  }
}

async function htpasswdFile(users: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    if (user.includes(':')) throw new Error(`htpasswd user name may not contain ':': ${user}`);
    lines.push(`${user}:${await bcryptHash(password)}`);
  }
  return lines.join('\n') + '\n';
}
