// Tag listing (GET /v2/<name>/tags/list) with Link pagination, and the Link handling the
// referrers API shares. A registry's answers are untrusted: every page is size-bounded, the
// number of pages and of tags is bounded, and a Link is followed only while it stays on the same
// endpoint of the same repository on the same host.
import { JsonError, parseJsonBounded } from '../json.ts';
import { type Reference, isTag, registryApiHost, repositoryOf } from '../reference/reference.ts';
import type { RegistryClient } from './client.ts';
import { RegistryError, readBounded } from './errors.ts';

/** A page of the tag list is read up to this many bytes (about 20 000 long tags). */
export const maxTagPageBytes = 1 << 20;

export const defaultTagPageSize = 1000;
export const defaultMaxTagPages = 50;
export const defaultMaxTags = 10_000;

export interface ListTagsOptions {
  signal?: AbortSignal;
  /** The `n` asked of the registry per page; registries may send fewer. Default 1000, the
   * most ECR accepts. */
  pageSize?: number;
  /** Default 50. */
  maxPages?: number;
  /** Default 10 000. */
  maxTags?: number;
}

/** The repository has more tags than the caps allow. `tags` holds the first ones, in registry
 * order, so a caller can still show them and say the list is incomplete. */
export class TagListTruncatedError extends RegistryError {
  override name = 'TagListTruncatedError';
  constructor(
    message: string,
    readonly tags: string[],
  ) {
    super(message, 'protocol', 200);
  }
}

/**
 * Lists a repository's tags in the order the registry gives them, without duplicates,
 * following `Link: <…>; rel="next"` pagination. Failures are RegistryErrors: 404 is
 * 'not-found', a malformed page or a Link off the endpoint is 'protocol', and going over
 * maxPages or maxTags is a TagListTruncatedError carrying the tags read so far.
 */
export async function listTags(
  client: RegistryClient,
  ref: Reference,
  opts: ListTagsOptions = {},
): Promise<string[]> {
  const pageSize = positive(opts.pageSize, defaultTagPageSize, 'pageSize');
  const maxPages = positive(opts.maxPages, defaultMaxTagPages, 'maxPages');
  const maxTags = positive(opts.maxTags, defaultMaxTags, 'maxTags');
  const what = `${repositoryOf(ref)}: tag list`;
  const seen = new Set<string>();
  const requested = new Set<string>();
  let path: string | undefined = `tags/list?n=${pageSize}`;

  for (let page = 1; path !== undefined; page++) {
    if (page > maxPages) {
      throw new TagListTruncatedError(
        `${what}: the registry has more than ${maxPages} pages of tags; Berth lists at most ` +
          `${maxPages} pages (${seen.size} tags so far)`,
        [...seen],
      );
    }
    requested.add(path);
    const res = await client.repositoryRequest(ref, path, {
      method: 'GET',
      headers: { Accept: 'application/json' },
      signal: opts.signal,
    });
    if (res.status !== 200) throw await client.failure(res, what, ref.registry);
    const bytes = await readPage(res, maxTagPageBytes, what);
    const next = nextPagePath(res.headers.get('Link'), ref, 'tags/list', what);
    for (const tag of parseTagPage(bytes, what)) {
      if (seen.has(tag)) continue;
      if (seen.size >= maxTags) {
        throw new TagListTruncatedError(
          `${what}: the repository has more than ${maxTags} tags; Berth lists at most ${maxTags}`,
          [...seen],
        );
      }
      seen.add(tag);
    }
    if (next !== undefined && requested.has(next)) {
      throw new RegistryError(
        `${what}: the registry's next-page link leads back to a page already read (${next}), so the list would never end`,
        'protocol',
        res.status,
      );
    }
    path = next;
  }
  return [...seen];
}

/** Reads a response body of at most `limit` bytes, refusing a larger one before reading it
 * when Content-Length already says so. */
export async function readPage(res: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('Content-Length') ?? NaN);
  const bytes = declared > limit ? undefined : await readBounded(res, limit);
  if (!bytes) {
    await res.body?.cancel().catch(() => {});
    throw new RegistryError(
      `${what}: the page is over the ${limit}-byte limit; the registry sent more than any real answer needs`,
      'protocol',
      res.status,
    );
  }
  return bytes;
}

/** A page of a registry's list (tags, the catalog) read as a JSON object, with `fail` to word
 * what is wrong with it: every failure is a protocol error naming `what`. */
export function listPage(
  bytes: Uint8Array,
  what: string,
  list: { name: string; maxBytes: number; form: string },
): { doc: Record<string, unknown>; fail: (m: string) => never } {
  const fail = (m: string): never => {
    throw new RegistryError(`${what}: ${m}`, 'protocol', 200);
  };
  let doc: unknown;
  try {
    doc = parseJsonBounded(bytes, { what: list.name, maxBytes: list.maxBytes });
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    return fail(
      e.kind === 'syntax' || e.kind === 'encoding'
        ? 'the registry answered with something that is not JSON'
        : e.message,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return fail(`the answer is not a JSON object of the form ${list.form}`);
  }
  return { doc: doc as Record<string, unknown>, fail };
}

function parseTagPage(bytes: Uint8Array, what: string): string[] {
  const { doc, fail } = listPage(bytes, what, {
    name: 'the tag list',
    maxBytes: maxTagPageBytes,
    form: '{"name": …, "tags": […]}',
  });
  const { name, tags } = doc as { name?: unknown; tags?: unknown };
  if (typeof name !== 'string') return fail('the answer has no "name" string');
  // distribution answers null for a repository whose tags were all deleted.
  if (tags === null) return [];
  if (!Array.isArray(tags)) return fail('"tags" is neither an array nor null');
  for (const t of tags) {
    if (typeof t !== 'string') return fail(`"tags" holds a non-string (${JSON.stringify(t)})`);
    // A listed tag becomes part of a URL and a reference: one no registry would accept on
    // push is refused rather than passed on.
    if (!isTag(t)) {
      return fail(
        `the registry listed ${JSON.stringify(t.slice(0, 200))}, which is not a valid tag`,
      );
    }
  }
  return tags as string[];
}

/**
 * The next page's path for repositoryRequest (`<endpoint>?<query>`), from a Link header's
 * rel="next" target, or undefined when there is none. The target may be relative or absolute,
 * but must stay on `/v2/<repository>/<endpoint>` of the registry's API host: anything else is a
 * 'protocol' RegistryError, so a registry cannot send the client (and its token) elsewhere.
 */
export function nextPagePath(
  link: string | null,
  ref: Reference,
  endpoint: string,
  what: string,
): string | undefined {
  const target = nextLinkTarget(link);
  if (target === undefined) return undefined;
  const host = registryApiHost(ref.registry);
  const expected = `/v2/${ref.repository}/${endpoint}`;
  const refuse = (why: string): never => {
    throw new RegistryError(
      `${what}: refusing to follow the registry's next-page link ${JSON.stringify(target.slice(0, 300))}: ${why}`,
      'protocol',
      200,
    );
  };
  let url: URL;
  try {
    url = new URL(target, `https://${host}${expected}`);
  } catch {
    return refuse('it is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return refuse(`it is a ${url.protocol} URL`);
  }
  if (url.username || url.password) return refuse('it carries credentials');
  if (url.host !== host) return refuse(`it leads to another host (${url.host}, not ${host})`);
  if (url.pathname !== expected) return refuse(`it leaves ${expected}`);
  return `${endpoint}${url.search}`;
}

/** The target of the first rel="next" link in a Link header (RFC 8288), if any. */
export function nextLinkTarget(header: string | null): string | undefined {
  if (!header) return undefined;
  // <target> followed by ;-separated params, links separated by commas. Targets cannot hold
  // '>', and quoted param values here never hold ',' or ';' in practice. One pass over the
  // header: a regular expression here rescanned the rest of it from every '<' with no '>'.
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);
  let i = 0;
  for (;;) {
    const open = header.indexOf('<', i);
    if (open < 0) return undefined;
    const close = header.indexOf('>', open + 1);
    // No '>' after this '<': no later '<' can start a link either.
    if (close < 0) return undefined;
    const target = header.slice(open + 1, close);
    let j = close + 1;
    for (;;) {
      let k = j;
      while (isSpace(header[k])) k++;
      if (header[k] !== ';') break;
      k++;
      while (isSpace(header[k])) k++;
      const start = k;
      while (k < header.length && header[k] !== ';' && header[k] !== ',') k++;
      if (isRelNext(header.slice(start, k))) return target;
      j = k;
    }
    i = j;
  }
}

/** Is this Link param (after its ';') rel with "next" among its values? */
function isRelNext(param: string): boolean {
  const eq = param.indexOf('=');
  if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'rel') return false;
  const value = param
    .slice(eq + 1)
    .trim()
    .replace(/^"(.*)"$/, '$1');
  return value.toLowerCase().split(/\s+/).includes('next');
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
