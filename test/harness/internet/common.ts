// What every registry emulator of the offline internet does the same way, whichever registry it
// plays: writing an answer with header names in the case the registry's captures show, the
// /v2/ routes, talking to the backing distribution registry (which holds each emulator's
// repositories under its prefix), tag pages cut from the backend's full list (the backend is
// distribution 2.8, which ignores `n` and `last`), and the test controls. Tokens and signatures
// are in auth.ts, the object stores behind blob redirects in stores.ts. Each registry's quirks
// stay in its own file.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import type { Signer } from './auth.ts';
import type { EmulatorContext } from './emulator.ts';

/** How header names are spelled on the wire: HTTP/2 and newer captures are lower case, older
 * HTTP/1.1 captures are Go's canonical form (`Www-Authenticate`). Clients must not care; the
 * emulators can send either. */
export type HeaderCase = 'lower' | 'canonical';

export type HeaderList = [string, string][];

/** What distribution and most registries put on every API answer. */
export const API_VERSION: HeaderList = [['docker-distribution-api-version', 'registry/2.0']];

/** `www-authenticate` → `Www-Authenticate`, as Go's net/http writes names. */
export function canonicalName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('-');
}

/** A registry error body: `{"errors":[{"code","message"[,"detail"]}]}`. `detail` is left out
 * when undefined (GHCR sends none), kept when null (distribution's `"detail":null`). */
export function errorBody(code: string, message: string, detail?: unknown): string {
  const entry: Record<string, unknown> = { code, message };
  if (detail !== undefined) entry.detail = detail;
  return JSON.stringify({ errors: [entry] });
}

/** The host a request was sent to, lower case and without a port. */
export function hostOf(req: IncomingMessage): string {
  return (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
}

export function urlOf(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', `https://${hostOf(req) || 'invalid'}`);
}

// ---------------------------------------------------------------------------------------
// Answers

export interface Answer {
  status: number;
  /** The reason phrase, when the service sends its own (Quay's Flask: `302 FOUND`). */
  reason?: string;
  headers?: HeaderList;
  /** A string, bytes, or a stream (a blob from the backend); null or absent: no body and no
   * Content-Length of its own. */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null;
}

/** Writes an answer with header names in `headerCase`, exactly as listed (a name given twice is
 * sent twice). A string or bytes body gets its Content-Length unless one is given; HEAD gets
 * the headers and no body. A stream body that breaks off ends the response early, as a
 * failing upstream would, and a client that leaves cancels the stream. */
export async function send(
  req: IncomingMessage,
  res: ServerResponse,
  answer: Answer,
  headerCase: HeaderCase,
): Promise<void> {
  const body = answer.body ?? null;
  const fixed =
    typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
  const headers: HeaderList = [...(answer.headers ?? [])];
  if (fixed && !headers.some(([n]) => n.toLowerCase() === 'content-length')) {
    headers.push(['content-length', String(fixed.byteLength)]);
  }
  const flat: string[] = [];
  for (const [n, v] of headers) {
    flat.push(headerCase === 'lower' ? n.toLowerCase() : canonicalName(n), v);
  }
  // A flat [name, value, …] array keeps the names exactly as given.
  const raw = flat as unknown as OutgoingHttpHeaders;
  if (answer.reason) res.writeHead(answer.status, answer.reason, raw);
  else res.writeHead(answer.status, raw);
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

/** `send` for emulators that write as they go: a whole body (empty by default, which still
 * gets its `Content-Length: 0`), header names lower case unless told. */
export function answer(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: HeaderList,
  body: string | Uint8Array = '',
  headerCase: HeaderCase = 'lower',
): void {
  void send(req, res, { status, headers, body }, headerCase);
}

// ---------------------------------------------------------------------------------------
// /v2/ routes

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifests' | 'blobs' | 'referrers'; name: string; ref: string }
  | { kind: 'tags'; name: string };

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const nameRe = `${component}(?:/${component})*`;
const NAME = new RegExp(`^${nameRe}$`);

/** The registry API route of a path, or undefined for anything else. `/v2` without its slash
 * is the base only where `slashless` says the registry answers it so. The reference is
 * percent-decoded. */
export function routeOf(path: string, slashless = false): Route | undefined {
  if (path === '/v2/' || (slashless && path === '/v2')) return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  let m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
  if (m && NAME.test(m[1]!)) return { kind: 'tags', name: m[1]! };
  m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
  if (m && NAME.test(m[1]!)) {
    const kind = m[2] as 'manifests' | 'blobs' | 'referrers';
    return { kind, name: m[1]!, ref: decodeURIComponent(m[3]!) };
  }
  return undefined;
}

export const isValidName = (name: string) => NAME.test(name);
export const isDigest = (s: string) => /^sha256:[a-f0-9]{64}$/.test(s);

// ---------------------------------------------------------------------------------------
// The backend

/** A request to the backend, which speaks plain http on 127.0.0.1: no auth, never followed,
 * never compressed. */
export function backendFetch(
  ctx: EmulatorContext,
  path: string,
  init: { method?: string; headers?: Record<string, string | undefined> } = {},
): Promise<Response> {
  const headers = new Headers({ 'accept-encoding': 'identity' });
  for (const [k, v] of Object.entries(init.headers ?? {})) if (v !== undefined) headers.set(k, v);
  return fetch(`${ctx.backend}${path}`, {
    method: init.method ?? 'GET',
    headers,
    redirect: 'manual',
  });
}

/** The request headers that matter to the backend for manifests and blobs. */
export function forwardedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['accept', 'range', 'if-none-match']) {
    const v = req.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/** A manifest or blob request passed on to the backend repository that holds `name` (GET or
 * HEAD as asked, with the request's Accept, Range and If-None-Match). */
export function forward(
  ctx: EmulatorContext,
  req: IncomingMessage,
  repo: string,
  kind: 'manifests' | 'blobs',
  ref: string,
): Promise<Response> {
  return backendFetch(ctx, `/v2/${repo}/${kind}/${ref}`, {
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    headers: forwardedHeaders(req),
  });
}

/** A blob's Content-Length in a backend repository, or undefined when it does not hold the
 * blob there (a registry redirects only for blobs it has). */
export async function blobLength(
  ctx: EmulatorContext,
  repo: string,
  digest: string,
): Promise<string | undefined> {
  const head = await backendFetch(ctx, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  return head.status === 200 ? (head.headers.get('content-length') ?? '0') : undefined;
}

/** Every tag of a backend repository, sorted; undefined when the repository does not exist.
 * distribution 2.8 ignores `n` and `last` and answers all of them, in no set order. */
export async function backendTags(
  ctx: EmulatorContext,
  repo: string,
): Promise<string[] | undefined> {
  const res = await backendFetch(ctx, `/v2/${repo}/tags/list`);
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  const doc = (await res.json()) as { tags?: string[] | null };
  return [...(doc.tags ?? [])].sort();
}

/** Does the backend hold this repository (any tag at all)? */
export async function backendHas(ctx: EmulatorContext, repo: string): Promise<boolean> {
  return (await backendTags(ctx, repo)) !== undefined;
}

/** Every backend repository under `prefix/`, without the prefix, sorted. */
export async function backendCatalog(ctx: EmulatorContext, prefix: string): Promise<string[]> {
  // distribution pages its catalog (100 at most a page by default): follow its Links.
  const all: string[] = [];
  let path: string | undefined = '/v2/_catalog?n=100';
  for (let i = 0; path && i < 1000; i++) {
    const res = await backendFetch(ctx, path);
    if (!res.ok) throw new Error(`backend catalog: ${res.status} ${await res.text()}`);
    all.push(...(((await res.json()) as { repositories?: string[] }).repositories ?? []));
    path = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
  }
  return all
    .filter((r) => r.startsWith(`${prefix}/`))
    .map((r) => r.slice(prefix.length + 1))
    .sort();
}

/** The headers of `names` the backend sent, in that order. */
export function copyHeaders(backend: Response, names: readonly string[]): HeaderList {
  const out: HeaderList = [];
  for (const name of names) {
    const v = backend.headers.get(name);
    if (v !== null) out.push([name, v]);
  }
  return out;
}

/** The manifest headers a registry passes on from the backend. */
export function manifestHeaders(backend: Response): HeaderList {
  return copyHeaders(backend, ['content-type', 'content-length', 'docker-content-digest', 'etag']);
}

const RELAYED = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'docker-content-digest',
  'etag',
];

/** Sends the backend's answer on: its own headers that matter (those named in `extra`
 * replaced by `extra`'s), then `extra`, in the chosen header case. */
export function relay(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Response,
  extra: HeaderList,
  headerCase: HeaderCase,
): Promise<void> {
  const replaced = new Set(extra.map(([n]) => n.toLowerCase()));
  const headers = copyHeaders(
    upstream,
    RELAYED.filter((n) => !replaced.has(n)),
  );
  return send(
    req,
    res,
    { status: upstream.status, headers: [...headers, ...extra], body: upstream.body },
    headerCase,
  );
}

/** The first error of a backend answer, with its status. */
export interface BackendError {
  status: number;
  code: string;
  message: string;
  detail?: unknown;
}

/** A manifest of `prefix/name` as a registry passes it on from the backend (200 or 304, its
 * headers that matter, then `extra`), or for anything else the backend's first error, its
 * prefix taken out, for the registry to word in its own shape. */
export async function backendManifest(
  ctx: EmulatorContext,
  req: IncomingMessage,
  prefix: string,
  name: string,
  ref: string,
  extra: HeaderList,
): Promise<Answer | BackendError> {
  const backend = await forward(ctx, req, `${prefix}/${name}`, 'manifests', ref);
  if (backend.status === 200 || backend.status === 304) {
    return {
      status: backend.status,
      headers: [...manifestHeaders(backend), ...extra],
      body: backend.body,
    };
  }
  return { status: backend.status, ...(await backendErrors(backend, prefix))[0]! };
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

/** distribution 3's relative next Link for a page that ends at `last` (keys sorted, as Go's
 * url.Values.Encode writes them). */
export function relativeNextLink(path: string, last: string, n: number | string): string {
  return `<${path}?${new URLSearchParams({ last, n: String(n) })}>; rel="next"`;
}

/**
 * How a registry pages tags/list, for `pageTags`:
 * - `all`: every tag in one answer, `n` and `last` ignored (distribution 2.8, MCR, GCR).
 * - `link-relative`: `n` honoured when given, a relative `</v2/<name>/tags/list?last=…&n=…>`
 *   (distribution 3, Harbor).
 * - `ecr`: pages of `n` (default 100, at most 1000), an absolute Link with an opaque `last`
 *   and no `n` (private ECR, §5 of ../shared/REGISTRIES.md).
 */
export type TagPaging =
  { kind: 'all' } | { kind: 'link-relative' } | { kind: 'ecr'; host: string; signer: Signer };

export interface LinkedTagPage {
  tags: string[];
  link?: string;
  /** An error answer instead of a page. */
  error?: { status: number; body: string };
}

/** One page of `tags` (already sorted as the registry sorts them) for the request's query. */
export function pageTags(tags: string[], name: string, url: URL, paging: TagPaging): LinkedTagPage {
  if (paging.kind === 'all') return { tags };
  const nParam = url.searchParams.get('n');
  if (paging.kind === 'link-relative') {
    if (nParam === null) return { tags };
    const n = Number(nParam);
    const page = tagPage(tags, n, url.searchParams.get('last'));
    if (page.last === undefined) return { tags: page.tags };
    return { tags: page.tags, link: relativeNextLink(`/v2/${name}/tags/list`, page.last, n) };
  }
  const n = nParam === null ? 100 : Number(nParam);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    return {
      tags: [],
      error: {
        status: 400,
        body: errorBody(
          'UNSUPPORTED',
          "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'",
        ),
      },
    };
  }
  const cursor = url.searchParams.get('last');
  let start = 0;
  if (cursor !== null) {
    const at = paging.signer.read<{ i: number; r: string }>(cursor);
    if (!at || at.r !== name) {
      return {
        tags: [],
        error: { status: 400, body: errorBody('UNSUPPORTED', 'Invalid NextToken provided') },
      };
    }
    start = at.i;
  }
  const page = tags.slice(start, start + n);
  if (start + n >= tags.length) return { tags: page };
  const next = paging.signer.sign({ i: start + n, r: name, pad: randomBytes(24).toString('hex') });
  return {
    tags: page,
    link: `<https://${paging.host}/v2/${name}/tags/list?last=${encodeURIComponent(next)}>; rel="next"`,
  };
}

// ---------------------------------------------------------------------------------------
// Other formats

/** RFC 1123 date, as Last-Modified is written. */
export const httpDate = (ms: number) => new Date(ms).toUTCString();

/** An ISO date; Harbor's has no fractional seconds, Docker Hub's has nanoseconds. */
export function isoDate(ms: number, fraction: boolean): string {
  const iso = new Date(ms).toISOString();
  return fraction ? iso.replace(/\.(\d{3})Z$/, '.$1000000Z') : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** Escapes text for an HTML attribute or body (a redirect page's link). */
export function htmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Reads a request body (token POSTs), at most 64 KiB. */
export async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 65536) break;
  }
  return text;
}

// ---------------------------------------------------------------------------------------
// Test controls

/** Switches every emulator with signed URLs has. */
export interface SignedUrlSwitches {
  /** The next this many signed URLs are expired when met (then counts down), so a test sees a
   * client meet an expired URL and ask the registry again. Set with control('set', {…}) or
   * control('expire-next', { count }). */
  expireNext?: number;
}

/** Whether the next signed URL is one expireNext spends (and counts it down). */
export function spendExpireNext(opts: SignedUrlSwitches): boolean {
  if ((opts.expireNext ?? 0) <= 0) return false;
  opts.expireNext = opts.expireNext! - 1;
  return true;
}

/** How long a signed URL handed out now lives: `ms`, or a minute in the past while
 * expireNext lasts (for emulators that seal the expiry into the URL). */
export function urlLifetime(opts: SignedUrlSwitches, ms: number): number {
  return spendExpireNext(opts) ? -60_000 : ms;
}

/**
 * The test controls of an emulator, for the namespace's internet (whose controls cross a
 * process boundary as JSON, so what they return must survive it): `set` merges an object into
 * the options (the switches each emulator documents), `reset` puts back the ones it started
 * with (switches a test added included), `options` reads them, `expire-next` sets expireNext;
 * `more` adds an emulator's own commands.
 */
export function optionControls<T extends SignedUrlSwitches>(
  opts: T,
  more: Record<string, (arg: unknown) => unknown> = {},
): (command: string, arg: unknown) => unknown {
  const initial = structuredClone(opts);
  return (command, arg) => {
    if (command === 'set') {
      if (typeof arg === 'object' && arg !== null) Object.assign(opts, arg);
      return { ...opts };
    }
    if (command === 'reset') {
      for (const k of Object.keys(opts)) delete (opts as Record<string, unknown>)[k];
      Object.assign(opts, structuredClone(initial));
      return { ...opts };
    }
    if (command === 'options') return { ...opts };
    if (command === 'expire-next') {
      opts.expireNext = Number((arg as { count?: number } | undefined)?.count ?? 1);
      return opts.expireNext;
    }
    const own = more[command];
    if (own) return own(arg);
    throw new Error(`no control ${command}`);
  };
}
