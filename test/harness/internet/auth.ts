// Credentials, scopes, tokens and signatures as the emulators of the offline internet handle
// them. A token is one of two kinds, as the registry's own look: a value only its TokenBook
// knows (GHCR's `v1:…` base64, a JWT-looking string), or a Signer's self-contained
// base64url(JSON).HMAC. Either way it carries a Grant.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EmulatorContext } from './emulator.ts';

/** `Basic <base64 user:password>` decoded, or undefined. */
export function basicCredentials(
  header: string | undefined,
): { user: string; password: string } | undefined {
  const m = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The token of `Bearer <token>`; '' for a bare `Bearer`; undefined for anything else. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^bearer(?:\s+(\S*))?\s*$/i.exec(header ?? '');
  return m ? (m[1] ?? '') : undefined;
}

export interface Scope {
  /** The scope as asked, `repository:<name>:pull,push`. */
  raw: string;
  /** All before the last colon: `repository:<name>`, `registry:catalog`. */
  resource: string;
  /** The resource's type (`repository`, `repository(plugin)`, `registry`). */
  type: string;
  /** The resource's name; undefined when the scope has fewer than two colons. */
  name?: string;
  actions: string[];
}

/** Every `scope` parameter of a token request, each split on spaces as distribution joins
 * several scopes into one value. */
export function scopesOf(url: URL): Scope[] {
  const out: Scope[] = [];
  for (const value of url.searchParams.getAll('scope')) {
    for (const raw of value.split(' ')) {
      if (!raw) continue;
      const last = raw.lastIndexOf(':');
      const resource = last < 0 ? raw : raw.slice(0, last);
      const actions = last < 0 ? [] : raw.slice(last + 1).split(',');
      const first = resource.indexOf(':');
      out.push({
        raw,
        resource,
        type: first < 0 ? resource : resource.slice(0, first),
        name: first < 0 ? undefined : resource.slice(first + 1),
        actions,
      });
    }
  }
  return out;
}

/** distribution's token-auth detail for a repository pull. */
export function accessDetail(name: string, action = 'pull') {
  return [{ Type: 'repository', Class: '', Name: name, Action: action }];
}

// ---------------------------------------------------------------------------------------
// Grants and tokens

/** What a token lets its bearer do. */
export interface Grant {
  /** The signed-in user; '' for an anonymous token. */
  sub: string;
  /** `repository:<name>` or `registry:catalog` (or `*`) → actions granted. */
  access: Record<string, string[]>;
  /** Expiry, ms since the epoch on the emulator's clock; undefined: never. */
  exp?: number;
  /** The `service` the token was asked for, where the registry checks it. */
  service?: string;
}

export function allows(grant: Grant | undefined, resource: string, action: string): boolean {
  return !!grant?.access[resource]?.includes(action);
}

/** The grant if it has not expired on the emulator's clock. */
export function live(grant: Grant | undefined, ctx: EmulatorContext): Grant | undefined {
  return grant && (grant.exp === undefined || grant.exp > ctx.now()) ? grant : undefined;
}

/** Tokens an emulator issued, by value. The value's shape is the service's own (`mint`). */
export class TokenBook {
  readonly #grants = new Map<string, Grant>();
  issue(grant: Grant, mint: (grant: Grant) => string): string {
    const value = mint(grant);
    this.#grants.set(value, grant);
    return value;
  }
  /** The grant of a token, or undefined when it was never issued. */
  lookup(value: string): Grant | undefined {
    return this.#grants.get(value);
  }
  clear() {
    this.#grants.clear();
  }
}

/** A base64url JWT-looking string (header.claims.signature) that only its TokenBook knows. */
export function jwtLike(claims: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'EMU' })}.${b64({ ...claims, jti: randomBytes(8).toString('hex') })}.${randomBytes(32).toString('base64url')}`;
}

/** Signs with one secret per emulator: self-contained tokens, and the query of signed URLs. */
export class Signer {
  readonly #key = randomBytes(32);

  /** base64url(JSON of payload).HMAC */
  sign(payload: unknown): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** What `sign` sealed, or undefined for anything it did not make. */
  read<T>(token: string): T | undefined {
    const dot = token.lastIndexOf('.');
    if (dot < 0) return undefined;
    const body = token.slice(0, dot);
    if (!this.verify(body, token.slice(dot + 1), 'base64url')) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString()) as T;
    } catch {
      return undefined;
    }
  }

  /** An HMAC of text. */
  mac(text: string, encoding: 'base64url' | 'hex' | 'base64' = 'base64url'): string {
    return createHmac('sha256', this.#key).update(text).digest(encoding);
  }

  /** Whether `mac` is this signer's HMAC of text (compared in constant time). */
  verify(text: string, mac: string, encoding: 'base64url' | 'hex' | 'base64' = 'base64'): boolean {
    const want = Buffer.from(this.mac(text, encoding));
    const got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** The grant a Signer's token carries, if it made it and it has not expired. */
export function readGrant(signer: Signer, ctx: EmulatorContext, token: string): Grant | undefined {
  return live(signer.read<Grant>(token), ctx);
}

/** The grant of a request's Bearer token made by `signer`, if valid and unexpired. */
export function grantOf(
  signer: Signer,
  ctx: EmulatorContext,
  authorization: string | undefined,
): Grant | undefined {
  const token = bearerToken(authorization);
  return token ? readGrant(signer, ctx, token) : undefined;
}

// ---------------------------------------------------------------------------------------
// Visibility

/** Who may pull what: repositories are public unless listed as private, and a private one is
 * visible to every user who signs in with the right password. */
export interface Visibility {
  /** user → password (or access token). */
  users: Record<string, string>;
  /** Names as users type them. */
  privateRepos: string[];
}

export function isPrivate(v: Visibility, name: string): boolean {
  return v.privateRepos.includes(name);
}

/** The user a Basic header signs in as: a name when the password is right, null when the
 * header is there but wrong, undefined when there is none. */
export function signIn(v: Visibility, header: string | undefined): string | null | undefined {
  const creds = basicCredentials(header);
  if (!creds) return header ? null : undefined;
  return v.users[creds.user] !== undefined && v.users[creds.user] === creds.password
    ? creds.user
    : null;
}
