/**
 * A real CNCF distribution registry (docker-registry 2.8) on 127.0.0.1, in a temp dir.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, run, spawnService, type Service } from './process.ts';

export interface Registry {
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** Temp dir holding config.yml, the storage root (data/) and htpasswd. */
  dir: string;
  auth: 'none' | 'htpasswd';
  /** The users that can log in (htpasswd mode); empty otherwise. */
  users: Record<string, string>;
  /** The running docker-registry process. */
  service: Service;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  auth?: 'none' | 'htpasswd';
  /** htpasswd users; default { testuser: 'testpassword' }. */
  users?: Record<string, string>;
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
  const users = auth === 'htpasswd' ? (opts.users ?? { testuser: 'testpassword' }) : {};
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  try {
    const q = (s: string) => JSON.stringify(s); // JSON strings are valid YAML scalars.
    let htpasswdYaml: string[] = [];
    if (auth === 'htpasswd') {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, await htpasswdFile(users), { mode: 0o600 });
      htpasswdYaml = [
        'auth:',
        '  htpasswd:',
        '    realm: "berth-test"',
        `    path: ${q(htpasswd)}`,
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
        ...htpasswdYaml,
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
