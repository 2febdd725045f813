/**
 * A Docker-style token server (the "Docker Registry v2 authentication" token flow) on
 * 127.0.0.1, for a registry started with `auth.token`.
 *
 * GET /token?service=S&scope=repository:NAME:pull,push&scope=…&account=U answers with an
 * RS256 JWT that distribution verifies against the self-signed certificate at `certPath`
 * (its `rootcertbundle`). The JWT header's `kid` is libtrust's key ID of that certificate's
 * public key, which is how distribution finds the key to check the signature with.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './process.ts';

export interface TokenServerOptions {
  /** The registry's service name: the token's `aud`; requests for another service get 400. */
  service: string;
  /** The token's `iss`; the registry's `auth.token.issuer` must be the same. */
  issuer: string;
  /** Users that can log in with Basic credentials (user → password). */
  users?: Record<string, string>;
  /** Repositories anyone may pull from without logging in. */
  publicRepositories?: (name: string) => boolean;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface TokenRequestRecord {
  /** Every requested scope, as sent ('repository:public/whiteout:pull'). */
  scope: string[];
  /** The user name sent in Basic credentials (also when they were wrong); never the password. */
  user?: string;
  /** HTTP status of the answer. */
  status: number;
}

export interface TokenServer {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** url + '/token': the registry's `auth.token.realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate of the signing key: the registry's `auth.token.rootcertbundle`. */
  certPath: string;
  /** libtrust key ID of the signing key (the JWT header's `kid`). */
  kid: string;
  /** Every /token request, oldest first. */
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

// ---------------------------------------------------------------------------------------
// Key IDs and JWTs

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (standard alphabet), without padding. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key ID of a public key, as distribution computes it for every key of its
 * rootcertbundle: sha256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
 * padding (48 characters), in 12 groups of 4 joined with ':'.
 */
export function libtrustKeyId(key: KeyObject): string {
  const spki = key.export({ type: 'spki', format: 'der' });
  const b32 = base32(createHash('sha256').update(spki).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(':');
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** An RS256 JWT over claims, with `kid` in its header. */
export function signJwt(claims: object, privateKey: KeyObject, kid: string): string {
  const header = { typ: 'JWT', alg: 'RS256', kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), privateKey);
  return `${input}.${b64url(signature)}`;
}

/** Decode (without verifying) a JWT's header and claims, for assertions. */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
} {
  const [h, c] = token.split('.');
  if (h === undefined || c === undefined) throw new Error('not a JWT');
  const parse = (s: string) =>
    JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: parse(h), claims: parse(c) };
}

/**
 * Parse one scope: `type:name:actions`. The name may itself hold ':' (a registry host with
 * a port), so the type ends at the first ':' and the actions start after the last.
 */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

// ---------------------------------------------------------------------------------------
// Server

/** CORS, so a page can fetch tokens straight from the realm (direct mode). */
const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, OPTIONS',
  'access-control-allow-headers': 'Authorization',
};

function sendJson(res: ServerResponse, status: number, body: unknown, extra = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(bytes.length),
    'cache-control': 'no-store',
    ...CORS_HEADERS,
    ...extra,
  });
  res.end(bytes);
}

const errorBody = (code: string, message: string) => ({ errors: [{ code, message }] });

/** Start a token server. Generates a fresh RSA 2048 key and certificate with openssl. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const users = opts.users ?? {};
  const isPublic = opts.publicRepositories ?? (() => false);
  const expiresIn = opts.expiresIn ?? 300;
  const dir = await mkdtemp(join(tmpdir(), 'berth-token-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    // distribution's rootcertbundle takes certificates only, not bare public keys.
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=berth-test-token',
    ]);
    const privateKey = createPrivateKey(await readFile(keyPath));
    const kid = libtrustKeyId(createPublicKey(privateKey));
    const requests: TokenRequestRecord[] = [];

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS_HEADERS);
        res.end();
        return;
      }
      if (url.pathname !== '/token') {
        sendJson(res, 404, errorBody('NOT_FOUND', `no such path ${url.pathname}`));
        return;
      }
      if (req.method !== 'GET') {
        sendJson(res, 405, errorBody('UNSUPPORTED', `${req.method} not supported`), {
          allow: 'GET, OPTIONS',
        });
        return;
      }
      // Scopes come as repeated `scope` parameters, each maybe space-separated (OAuth style).
      const scope = url.searchParams
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter((s) => s !== '');
      const record: TokenRequestRecord = { scope, status: 0 };
      requests.push(record);
      const answer = (status: number, body: unknown, extra = {}) => {
        record.status = status;
        sendJson(res, status, body, extra);
      };

      const service = url.searchParams.get('service');
      if (service !== null && service !== opts.service) {
        answer(400, errorBody('INVALID_REQUEST', `unknown service ${JSON.stringify(service)}`));
        return;
      }

      let user: string | undefined;
      const authorization = req.headers.authorization;
      if (authorization !== undefined) {
        const unauthorized = (message: string) =>
          answer(401, errorBody('UNAUTHORIZED', message), {
            'www-authenticate': `Basic realm="${opts.service}"`,
          });
        const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
        if (!m) {
          unauthorized('only Basic credentials are accepted');
          return;
        }
        const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = colon < 0 ? decoded : decoded.slice(0, colon);
        const password = colon < 0 ? '' : decoded.slice(colon + 1);
        record.user = name;
        if (!Object.hasOwn(users, name) || users[name] !== password) {
          unauthorized('incorrect username or password');
          return;
        }
        user = name;
      }

      // Grant what the caller may have; ask for more and you get less (maybe nothing).
      const byResource = new Map<string, AccessEntry>();
      for (const s of scope) {
        const wanted = parseScope(s);
        if (!wanted) continue;
        const key = `${wanted.type}:${wanted.name}`;
        const entry = byResource.get(key) ?? { type: wanted.type, name: wanted.name, actions: [] };
        byResource.set(key, entry);
        if (wanted.type !== 'repository') continue;
        const allowed = new Set<string>();
        if (user !== undefined) {
          allowed.add('pull');
          allowed.add('push');
        } else if (isPublic(wanted.name)) {
          allowed.add('pull');
        }
        for (const a of wanted.actions) {
          if (allowed.has(a) && !entry.actions.includes(a)) entry.actions.push(a);
        }
      }

      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: opts.issuer,
        sub: user ?? '',
        aud: opts.service,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(16).toString('hex'),
        access: [...byResource.values()],
      };
      const token = signJwt(claims, privateKey, kid);
      answer(200, {
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date(now * 1000).toISOString(),
      });
    };

    const server = createServer((req, res) => {
      try {
        handle(req, res);
      } catch (err) {
        if (!res.headersSent) sendJson(res, 500, errorBody('UNKNOWN', String(err)));
        else res.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new Error('token server: could not read the bound address');
    }
    const url = `http://127.0.0.1:${address.port}`;

    let stopped: Promise<void> | undefined;
    return {
      url,
      realm: `${url}/token`,
      service: opts.service,
      issuer: opts.issuer,
      certPath,
      kid,
      requests,
      stop() {
        stopped ??= (async () => {
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          });
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface FetchTokenOptions {
  /** The realm (token endpoint URL). */
  realm: string;
  service: string;
  scopes?: string[];
  /** Basic credentials; anonymous without. */
  user?: string;
  password?: string;
}

/** Ask a token endpoint for a token, as a registry client does. */
export async function fetchToken(
  opts: FetchTokenOptions,
): Promise<{ status: number; token?: string; body: Record<string, unknown> }> {
  const url = new URL(opts.realm);
  url.searchParams.set('service', opts.service);
  for (const s of opts.scopes ?? []) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  if (opts.user !== undefined) {
    headers.authorization =
      'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64');
  }
  const res = await fetch(url, { headers });
  const body = (await res.json()) as Record<string, unknown>;
  const token = typeof body.token === 'string' ? body.token : undefined;
  return { status: res.status, ...(token !== undefined ? { token } : {}), body };
}
