// What the ghcr.io, quay.io and registry.gitlab.com emulators share: writing an answer in the
// header case a registry uses, forwarding to the backend distribution registry under the
// emulator's prefix, the /v2/ routes, tokens the emulator issues and checks itself, signed blob
// URLs that expire on the emulator's clock, and tag pages cut from the backend's full list (the
// backend is distribution 2.8, which ignores `n` and `last`).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import type { EmulatorContext } from './emulator.ts';
import { canonicalName, hostOf, type HeaderCase, type HeaderList } from './common.ts';

export { canonicalName, errorBody, hostOf, type HeaderCase, type HeaderList } from './common.ts';

export interface Answer {
  status: number;
  /** The reason phrase, when the service sends its own (Quay's Flask: `302 FOUND`). */
  reason?: string;
  headers?: HeaderList;
  /** A string, bytes, or a stream (a blob from the backend). */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null;
}

/** Writes an answer; HEAD gets the headers (with the body's length) and no body. A stream
 * body that breaks off ends the response early, as a failing upstream would. */
export async function send(
  req: IncomingMessage,
  res: ServerResponse,
  answer: Answer,
  headerCase: HeaderCase,
): Promise<void> {
  res.statusCode = answer.status;
  if (answer.reason) res.statusMessage = answer.reason;
  const body = answer.body ?? null;
  const fixed =
    typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
  const headers: HeaderList = [...(answer.headers ?? [])];
  if (fixed && !headers.some(([n]) => n.toLowerCase() === 'content-length')) {
    headers.push(['content-length', String(fixed.byteLength)]);
  }
  for (const [name, value] of headers) {
    res.setHeader(headerCase === 'lower' ? name.toLowerCase() : canonicalName(name), value);
  }
  if (req.method === 'HEAD' || body === null) {
    if (body instanceof ReadableStream) await body.cancel().catch(() => {});
    res.end();
    return;
  }
  if (fixed) {
    res.end(fixed);
    return;
  }
  try {
    await pipeline(Readable.fromWeb(body as NodeWebStream<Uint8Array>), res);
  } catch {
    res.destroy();
  }
}

/** distribution's token-auth detail for a repository pull. */
export function accessDetail(name: string, action = 'pull') {
  return [{ Type: 'repository', Class: '', Name: name, Action: action }];
}

// ---------------------------------------------------------------------------------------
// Routes

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest' | 'blob' | 'referrers'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'unknown' };

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const nameRe = `${component}(?:/${component})*`;
const ROUTES: [RegExp, (m: RegExpMatchArray) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [new RegExp(`^/v2/(${nameRe})/tags/list$`), (m) => ({ kind: 'tags', name: m[1]! })],
  [
    new RegExp(`^/v2/(${nameRe})/(manifests|blobs|referrers)/([^/]+)$`),
    (m) => ({
      kind: m[2] === 'manifests' ? 'manifest' : m[2] === 'blobs' ? 'blob' : 'referrers',
      name: m[1]!,
      reference: decodeURIComponent(m[3]!),
    }),
  ],
];

/** The /v2/ route of a path, or 'unknown'. */
export function routeOf(pathname: string): Route {
  for (const [re, make] of ROUTES) {
    const m = pathname.match(re);
    if (m) return make(m);
  }
  return { kind: 'unknown' };
}

export const isValidName = (name: string) => new RegExp(`^${nameRe}$`).test(name);
export const isDigest = (s: string) => /^sha256:[a-f0-9]{64}$/.test(s);

export function urlOf(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', `https://${hostOf(req) || 'invalid'}`);
}

// ---------------------------------------------------------------------------------------
// Credentials and scopes

/** `Basic <base64 user:password>` decoded, or undefined. */
export function basicCredentials(
  header: string | undefined,
): { user: string; password: string } | undefined {
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
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
  type: string;
  name: string;
  actions: string[];
}

/** Every `scope` parameter of a token request, each split on spaces as distribution joins
 * several scopes into one value. `repository(plugin):name:actions` keeps its type. */
export function scopesOf(url: URL): Scope[] {
  const out: Scope[] = [];
  for (const value of url.searchParams.getAll('scope')) {
    for (const s of value.split(' ')) {
      const last = s.lastIndexOf(':');
      const first = s.indexOf(':');
      if (first < 0 || last === first) continue;
      out.push({
        type: s.slice(0, first),
        name: s.slice(first + 1, last),
        actions: s.slice(last + 1).split(','),
      });
    }
  }
  return out;
}

/** What a token lets its bearer do. */
export interface Grant {
  /** Repository name (as users see it) → actions granted. */
  repositories: Map<string, Set<string>>;
  catalog: boolean;
  /** The signed-in user, or undefined for an anonymous token. */
  user?: string;
  /** The `service` the token was asked for. */
  service: string;
  issuedAt: number;
  /** Milliseconds since the epoch on the emulator's clock; undefined: never. */
  expiresAt?: number;
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

// ---------------------------------------------------------------------------------------
// The backend

/** A request to the backend, which speaks plain http on 127.0.0.1 and never compresses. */
export function backendFetch(
  ctx: EmulatorContext,
  method: string,
  path: string,
  headers: Record<string, string | undefined> = {},
): Promise<Response> {
  const h = new Headers({ 'accept-encoding': 'identity' });
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h.set(k, v);
  return fetch(`${ctx.backend}${path}`, { method, headers: h, redirect: 'manual' });
}

/** Whether the backend holds this repository (distribution answers NAME_UNKNOWN if not). */
export async function backendHas(ctx: EmulatorContext, backendName: string): Promise<boolean> {
  const res = await backendFetch(ctx, 'GET', `/v2/${backendName}/tags/list`);
  await res.body?.cancel();
  return res.status === 200;
}

/** Every tag of a backend repository, sorted as distribution sorts them; undefined when the
 * repository does not exist. */
export async function backendTags(
  ctx: EmulatorContext,
  backendName: string,
): Promise<string[] | undefined> {
  const res = await backendFetch(ctx, 'GET', `/v2/${backendName}/tags/list`);
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  const doc = (await res.json()) as { tags?: string[] | null };
  return [...(doc.tags ?? [])].sort();
}

/** The repositories the backend holds under `prefix/`, as users name them, sorted. The
 * backend's catalog is read page by page (distribution refuses an `n` over its maximum). */
export async function backendRepositories(ctx: EmulatorContext, prefix: string): Promise<string[]> {
  const all: string[] = [];
  let path: string | undefined = '/v2/_catalog?n=1000';
  while (path) {
    const res = await backendFetch(ctx, 'GET', path);
    const doc = (await res.json()) as { repositories?: string[] };
    all.push(...(doc.repositories ?? []));
    const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '');
    path = next
      ? new URL(next[1]!, ctx.backend).pathname + new URL(next[1]!, ctx.backend).search
      : undefined;
  }
  return all
    .filter((r) => r.startsWith(`${prefix}/`))
    .map((r) => r.slice(prefix.length + 1))
    .sort();
}

/** The manifest headers a registry passes on from the backend. */
export function manifestHeaders(backend: Response): HeaderList {
  const out: HeaderList = [];
  for (const name of ['content-type', 'content-length', 'docker-content-digest', 'etag']) {
    const v = backend.headers.get(name);
    if (v !== null) out.push([name, v]);
  }
  return out;
}

/** The backend's error entries, with its prefix taken out of every string (a NAME_UNKNOWN
 * detail names the backend repository). */
export async function backendErrors(
  backend: Response,
  prefix: string,
): Promise<{ code: string; message: string; detail?: unknown }[]> {
  const text = await backend.text().catch(() => '');
  try {
    const doc = JSON.parse(text.split(`${prefix}/`).join('')) as {
      errors?: { code: string; message: string; detail?: unknown }[];
    };
    if (Array.isArray(doc.errors) && doc.errors.length > 0) return doc.errors;
  } catch {
    // Not JSON: a 404 page from the router.
  }
  return [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }];
}

// ---------------------------------------------------------------------------------------
// Tag pages

export interface TagPage {
  tags: string[];
  /** The last tag of this page, when more follow. */
  last?: string;
}

/** The page of `n` tags after `last` (tags sorted); `n` undefined: all of them. */
export function tagPage(all: string[], n: number | undefined, last: string | null): TagPage {
  const after = last === null ? all : all.filter((t) => t > last);
  if (n === undefined || after.length <= n) return { tags: after };
  const tags = after.slice(0, n);
  return { tags, last: tags[tags.length - 1] };
}

/** `n` of a query: a positive integer, or undefined when absent or not a number. */
export function pageSizeOf(url: URL): number | undefined {
  const n = url.searchParams.get('n');
  if (n === null || !/^\d+$/.test(n)) return undefined;
  return Number(n);
}

// ---------------------------------------------------------------------------------------
// Signed URLs

/** Signs and checks the query of a blob host's URLs with one secret per emulator. */
export class Signer {
  readonly #secret = randomBytes(32);
  sign(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64');
  }
  verify(text: string, signature: string): boolean {
    const want = Buffer.from(this.sign(text));
    const got = Buffer.from(signature);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** Which backend repository holds a blob, remembered as the registry redirects to it: a blob
 * host's URL names only the digest, as the real ones do. */
export class BlobHomes {
  readonly #homes = new Map<string, string>();
  set(digest: string, backendName: string) {
    this.#homes.set(digest, backendName);
  }
  get(digest: string) {
    return this.#homes.get(digest);
  }
}

/** Forwards a blob GET or HEAD (with its Range) to the backend and answers with the bytes and
 * the given headers in place of the backend's own. */
export async function serveBlob(
  ctx: EmulatorContext,
  req: IncomingMessage,
  backendName: string,
  digest: string,
  headers: (backend: Response) => HeaderList,
): Promise<Answer> {
  const backend = await backendFetch(
    ctx,
    req.method === 'HEAD' ? 'HEAD' : 'GET',
    `/v2/${backendName}/blobs/${digest}`,
    {
      range: req.headers.range,
    },
  );
  const out: HeaderList = [];
  for (const name of ['content-length', 'content-range']) {
    const v = backend.headers.get(name);
    if (v !== null) out.push([name, v]);
  }
  return { status: backend.status, headers: [...headers(backend), ...out], body: backend.body };
}

/** RFC 1123 date, as Last-Modified is written. */
export const httpDate = (ms: number) => new Date(ms).toUTCString();

/** Options set by a test through control('set', {...}); returns the options now in force. */
export function applyOptions<T extends object>(options: T, arg: unknown): T {
  if (typeof arg === 'object' && arg !== null) Object.assign(options, arg);
  return { ...options };
}

/** Puts every option back to its default (control('reset')), switches a test added included. */
export function resetOptions<T extends object>(options: T, defaults: T): T {
  for (const key of Object.keys(options)) delete (options as Record<string, unknown>)[key];
  Object.assign(options, defaults);
  return { ...options };
}

/** Escapes text for an HTML attribute or body (a redirect page's link). */
export function htmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
