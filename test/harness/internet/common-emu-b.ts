// What the emulators of gcr.io, Artifact Registry, public.ecr.aws, mcr.microsoft.com and Harbor
// share: routing /v2/ paths, talking to the backing distribution registry, answering with a
// chosen header-name case, signed tokens and URLs with an expiry, the object stores behind blob
// redirects (S3, Azure, Google Cloud Storage), tag pagination in its several shapes, and a
// referrers API for registries that have one. Facts come from ../shared/REGISTRIES.md; the
// section numbers below are that note's.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { EmulatorContext } from './emulator.ts';
import { canonicalName, errorBody, type HeaderCase, type HeaderList } from './common.ts';

export { canonicalName, errorBody, hostOf, type HeaderCase, type HeaderList } from './common.ts';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Every manifest type, for requests the emulator makes of the backend on its own account. */
export const ALL_MANIFESTS = [
  'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Writes a whole answer with header names in `headerCase`. A HEAD gets the headers only. */
export function answer(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: HeaderList,
  body: string | Uint8Array = '',
  headerCase: HeaderCase = 'lower',
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  const out: HeaderList = headers.filter(([n]) => n.toLowerCase() !== 'content-length');
  out.push(['content-length', String(bytes.byteLength)]);
  writeHead(res, status, out, headerCase);
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

export function writeHead(
  res: ServerResponse,
  status: number,
  headers: HeaderList,
  headerCase: HeaderCase,
): void {
  const flat: string[] = [];
  for (const [n, v] of headers)
    flat.push(headerCase === 'lower' ? n.toLowerCase() : canonicalName(n), v);
  // A flat [name, value, …] array keeps the names exactly as given.
  res.writeHead(status, flat as unknown as OutgoingHttpHeaders);
}

// ---------------------------------------------------------------------------------------
// /v2/ routes

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifests' | 'blobs' | 'referrers'; name: string; ref: string }
  | { kind: 'tags'; name: string };

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** The registry API route of a path, or undefined for anything else. */
export function routeOf(path: string): Route | undefined {
  if (path === '/v2/') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  let m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
  if (m && NAME.test(m[1]!)) return { kind: 'tags', name: m[1]! };
  m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
  if (m && NAME.test(m[1]!)) {
    return { kind: m[2] as 'manifests' | 'blobs' | 'referrers', name: m[1]!, ref: m[3]! };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// The backend

/** A request to the backing registry (no auth, never followed). */
export function backendFetch(
  ctx: EmulatorContext,
  path: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${ctx.backend}${path}`, {
    method: init.method ?? 'GET',
    headers: init.headers,
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

const RELAYED = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'docker-content-digest',
  'etag',
];

/** Sends the backend's answer on, with `extra` headers and the chosen header case. */
export async function relay(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Response,
  extra: HeaderList,
  headerCase: HeaderCase,
  /** Replace the backend's headers of these names by the ones in `extra`. */
): Promise<void> {
  const extraNames = new Set(extra.map(([n]) => n.toLowerCase()));
  const headers: HeaderList = [];
  for (const name of RELAYED) {
    const v = upstream.headers.get(name);
    if (v !== null && !extraNames.has(name)) headers.push([name, v]);
  }
  headers.push(...extra);
  writeHead(res, upstream.status, headers, headerCase);
  if (req.method === 'HEAD' || !upstream.body) {
    await upstream.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  await pipeBody(upstream, res);
}

/** Streams a fetch body into a Node response; a client that leaves cancels the fetch. */
export function pipeBody(upstream: Response, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const body = Readable.fromWeb(upstream.body as unknown as NodeReadableStream<Uint8Array>);
    body.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      body.destroy();
      resolve();
    });
    body.pipe(res);
  });
}

/** Every tag of a backend repository in the backend's order, or undefined when it does not
 * exist. distribution 2.8 ignores `n` and `last` and answers all of them. */
export async function backendTags(
  ctx: EmulatorContext,
  repo: string,
): Promise<string[] | undefined> {
  const res = await backendFetch(ctx, `/v2/${repo}/tags/list`);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  const doc = (await res.json()) as { tags?: string[] | null };
  return doc.tags ?? [];
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
    path = /<([^>]+)>/.exec(res.headers.get('link') ?? '')?.[1];
  }
  return all
    .filter((r) => r.startsWith(`${prefix}/`))
    .map((r) => r.slice(prefix.length + 1))
    .sort();
}

/** Does the backend hold this repository (any tag at all)? */
export async function backendHas(ctx: EmulatorContext, repo: string): Promise<boolean> {
  return (await backendTags(ctx, repo)) !== undefined;
}

/** The referrers fallback tag `sha256-<hex>` of a subject digest. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 71);
}

/** A tag the referrers tag schema made; registries with a referrers API never show one. */
export const isFallbackTag = (t: string) => /^sha(256|512)-[0-9a-f]{64}$/.test(t);

/**
 * The referrers API (OCI 1.1) over a backend that has none: the test pushes each referrer
 * with the tag schema (an index under `sha256-<hex>`), and this answers that index's entries as
 * the API does, filtered by `artifactType` when asked (and saying so in OCI-Filters-Applied).
 */
export async function referrersAnswer(
  ctx: EmulatorContext,
  repo: string,
  digest: string,
  artifactType: string | null,
): Promise<{ body: string; headers: HeaderList }> {
  const res = await backendFetch(ctx, `/v2/${repo}/manifests/${fallbackTag(digest)}`, {
    headers: { accept: OCI_INDEX },
  });
  let manifests: Array<{ artifactType?: string }> = [];
  if (res.ok) manifests = ((await res.json()) as { manifests?: typeof manifests }).manifests ?? [];
  else await res.body?.cancel();
  const headers: HeaderList = [['content-type', OCI_INDEX]];
  if (artifactType) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers.push(['oci-filters-applied', 'artifactType']);
  }
  return {
    body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
    headers,
  };
}

// ---------------------------------------------------------------------------------------
// Tokens and signed URLs

export interface Grant {
  /** User name, '' for anonymous. */
  sub: string;
  /** `repository:<name>` or `registry:catalog` → allowed actions. */
  access: Record<string, string[]>;
  /** Expiry, ms since the epoch. */
  exp: number;
}

/** Signs and reads the emulators' own opaque tokens: base64url(JSON).HMAC. */
export class Signer {
  readonly #key = randomBytes(32);

  sign(payload: unknown): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  read<T>(token: string): T | undefined {
    const dot = token.lastIndexOf('.');
    if (dot < 0) return undefined;
    const body = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.mac(body));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString()) as T;
    } catch {
      return undefined;
    }
  }

  /** An HMAC of text, hex or base64. */
  mac(text: string, encoding: 'base64url' | 'hex' | 'base64' = 'base64url'): string {
    return createHmac('sha256', this.#key).update(text).digest(encoding);
  }
}

/** The grant a request's Bearer token carries, if valid and unexpired. */
export function grantOf(
  signer: Signer,
  ctx: EmulatorContext,
  req: IncomingMessage,
): Grant | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? readGrant(signer, ctx, m[1]!) : undefined;
}

/** The grant a token carries, if valid and unexpired. */
export function readGrant(signer: Signer, ctx: EmulatorContext, token: string): Grant | undefined {
  const grant = signer.read<Grant>(token);
  return grant && grant.exp > ctx.now() ? grant : undefined;
}

export function allows(grant: Grant | undefined, resource: string, action: string): boolean {
  return !!grant?.access[resource]?.includes(action);
}

/** Basic credentials of a request, if any. */
export function basicOf(req: IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString();
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The scopes a token request asks for: every `scope` parameter, each split on spaces. */
export function scopesOf(url: URL): Array<{ resource: string; actions: string[]; raw: string }> {
  const out: Array<{ resource: string; actions: string[]; raw: string }> = [];
  for (const s of url.searchParams.getAll('scope')) {
    for (const raw of s.split(' ')) {
      if (!raw) continue;
      const last = raw.lastIndexOf(':');
      if (last < 0) {
        out.push({ resource: raw, actions: [], raw });
        continue;
      }
      out.push({ resource: raw.slice(0, last), actions: raw.slice(last + 1).split(','), raw });
    }
  }
  return out;
}

/** An ISO date; Harbor's has no fractional seconds, Docker Hub's has nanoseconds. */
export function isoDate(ms: number, fraction: boolean): string {
  const iso = new Date(ms).toISOString();
  return fraction ? iso.replace(/\.(\d{3})Z$/, '.$1000000Z') : iso.replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------------------
// Object stores behind blob redirects

/** Where a signed object-store URL leads: a backend blob, until `exp` (ms). */
export interface StoredObject {
  repo: string;
  digest: string;
  exp: number;
}

/**
 * A blob served from the backend for an object store (S3, Azure Blob, Google Cloud Storage):
 * 200 or 206 for a Range, with the store's own headers and never an added Content-Encoding.
 */
export async function serveObject(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  obj: StoredObject,
  extra: HeaderList,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (typeof req.headers.range === 'string') headers.range = req.headers.range;
  const upstream = await backendFetch(ctx, `/v2/${obj.repo}/blobs/${obj.digest}`, {
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    headers,
  });
  const out: HeaderList = [['content-type', 'application/octet-stream']];
  for (const name of ['content-length', 'content-range']) {
    const v = upstream.headers.get(name);
    if (v !== null) out.push([name, v]);
  }
  out.push(['accept-ranges', 'bytes'], ...extra);
  writeHead(res, upstream.status, out, 'lower');
  if (req.method === 'HEAD' || !upstream.body) {
    await upstream.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  await pipeBody(upstream, res);
}

/** Switches every emulator with signed URLs has. */
export interface SignedUrlSwitches {
  /** The next this many signed URLs are handed out already expired (then counts down), so a
   * test sees a client meet an expired URL and ask the registry again. */
  expireNext?: number;
}

/** How long the next signed URL lives: `ms`, or a minute in the past while expireNext lasts. */
export function urlLifetime(opts: SignedUrlSwitches, ms: number): number {
  if ((opts.expireNext ?? 0) > 0) {
    opts.expireNext = opts.expireNext! - 1;
    return -60_000;
  }
  return ms;
}

/** S3's answer to a presigned URL that also carries an Authorization header (§5, captured). */
export function s3TwoAuthError(authorization: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message>' +
    `<ArgumentName>Authorization</ArgumentName><ArgumentValue>${xmlEscape(authorization)}</ArgumentValue><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId><HostId>${randomBytes(30).toString('base64')}</HostId></Error>`
  );
}

/** S3's answer to an expired presigned URL (guessed: the usual S3 AccessDenied form). */
export function s3ExpiredError(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
}

/** An Azure Storage error: a UTF-8 BOM, then XML with a RequestId and Time (§6, captured). */
export function azureError(code: string, message: string, ms: number): string {
  const id = `${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}-0000-0000-${randomBytes(6).toString('hex')}`;
  return `\ufeff<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${id}\nTime:${new Date(ms).toISOString().replace('Z', '0000Z')}</Message></Error>`;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------------------
// Tag pagination

/**
 * How a registry pages tags/list:
 * - `all`: every tag in one answer, `n` and `last` ignored (distribution 2.8, MCR, GCR).
 * - `link-relative`: `n` honoured when given, a relative `</v2/<name>/tags/list?last=…&n=…>`
 *   (distribution 3, Harbor).
 * - `ecr`: pages of `n` (default 100, at most 1000), an absolute Link with an opaque `last`
 *   and no `n` (private ECR, §5).
 */
export type TagPaging =
  { kind: 'all' } | { kind: 'link-relative' } | { kind: 'ecr'; host: string; signer: Signer };

export interface TagPage {
  tags: string[];
  link?: string;
  /** An error answer instead of a page. */
  error?: { status: number; body: string };
}

/** One page of `tags` (already sorted as the registry sorts them) for the request's query. */
export function pageTags(tags: string[], name: string, url: URL, paging: TagPaging): TagPage {
  if (paging.kind === 'all') return { tags };
  const nParam = url.searchParams.get('n');
  if (paging.kind === 'link-relative') {
    if (nParam === null) return { tags };
    const n = Number(nParam);
    const last = url.searchParams.get('last');
    const start = last === null ? 0 : tags.findIndex((t) => t > last);
    const rest = start < 0 ? [] : tags.slice(start);
    const page = rest.slice(0, n);
    if (page.length === 0 || rest.length <= n) return { tags: page };
    const q = new URLSearchParams({ last: page[page.length - 1]!, n: String(n) });
    return { tags: page, link: `</v2/${name}/tags/list?${q}>; rel="next"` };
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

/** Reads a request body (token POSTs), at most 64 KiB. */
export async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 65536) break;
  }
  return text;
}

/**
 * The test controls every emulator of this track has, for the namespace's internet (whose
 * controls cross a process boundary as JSON): `set` merges an object into the options (the
 * switches each emulator documents), `reset` puts back the ones it started with.
 */
export function optionControls<T extends object>(
  opts: T,
): (command: string, arg: unknown) => unknown {
  const initial = structuredClone(opts);
  return (command, arg) => {
    if (command === 'set') {
      Object.assign(opts, arg as Partial<T>);
      return opts;
    }
    if (command === 'reset') {
      for (const k of Object.keys(opts)) delete (opts as Record<string, unknown>)[k];
      Object.assign(opts, structuredClone(initial));
      return opts;
    }
    throw new Error(`unknown control ${command}`);
  };
}
