// Browsing a registry rather than one image: its catalog (GET /v2/_catalog, page by page), and
// the tags of one repository as rows a person sorts by name or by date.
//
// Few public registries list their repositories. Docker Hub answers 401 insufficient_scope even
// to a signed-in user, GitLab never grants the catalog scope, Quay lists only what the caller may
// see; distribution, Harbor (with a catalog token) and MCR (all at once, unpaginated) do list.
// A refusal is an answer here, not a failure: the person is told to type a repository instead.
import { isPathComponent, registryApiHost } from '../reference/reference.ts';
import type { RegistryClient } from './client.ts';
import { RegistryError, registryLabel } from './errors.ts';
import { listPage, nextLinkTarget, readPage } from './tags.ts';

/** A catalog page is read up to this many bytes. MCR sends its whole catalog in one answer,
 * thousands of names; 4 MiB holds about 50 000 of them. */
export const maxCatalogPageBytes = 4 << 20;

/** What is asked of the registry per page; distribution's default and its usual maximum. */
export const defaultCatalogPageSize = 100;

const maxRepositoryLength = 255;

export interface CatalogPage {
  /** Repository names, as the registry lists them (`library/alpine`, `team/app`). */
  repositories: string[];
  /** The next page's cursor for catalogPage(), as the registry's Link header gave it; absent
   * on the last page. */
  next?: string;
}

/** The registry does not list its repositories (to this caller): a person has to name one. */
export class CatalogRefusedError extends RegistryError {
  override name = 'CatalogRefusedError';
}

export interface CatalogPageOptions {
  /** A `next` from the page before; the first page without one. */
  cursor?: string;
  /** The `n` asked for on the first page; later pages follow the registry's Link as given. */
  pageSize?: number;
  signal?: AbortSignal;
  /** Whether the caller holds credentials for the registry: a refusal then cannot be
   * lifted by signing in, and says so. */
  signedIn?: boolean;
}

/**
 * One page of the registry's catalog. A registry that refuses to list (401, 403, 404, 405
 * from the registry itself) is a CatalogRefusedError that says to type a repository name; the
 * proxy's own refusals and every other failure are the client's RegistryErrors; a malformed page
 * or a Link that leaves `/v2/_catalog` on the same host is a 'protocol' RegistryError.
 */
export async function catalogPage(
  client: RegistryClient,
  registry: string,
  opts: CatalogPageOptions = {},
): Promise<CatalogPage> {
  const what = `${registry}: catalog`;
  const pageSize = opts.pageSize ?? defaultCatalogPageSize;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  }
  const path = opts.cursor ?? `_catalog?n=${pageSize}`;
  if (!isCatalogPath(path)) throw new RangeError(`not a catalog cursor: ${path.slice(0, 200)}`);
  let res: Response;
  try {
    res = await client.catalogRequest(registry, path, {
      method: 'GET',
      headers: { Accept: 'application/json' },
      signal: opts.signal,
    });
  } catch (err) {
    // The token server refused the catalog scope (GitLab answers 403 for it): the same refusal.
    if (err instanceof RegistryError && !fromProxy(err) && refusal(err.status)) {
      throw new CatalogRefusedError(
        refusalMessage(registry, err.status, opts.signedIn ?? false),
        err.kind,
        err.status,
        err.errors,
      );
    }
    throw err;
  }
  if (res.status !== 200) {
    const err = await client.failure(res, what, registry);
    if (!fromProxy(err) && refusal(res.status)) {
      throw new CatalogRefusedError(
        refusalMessage(registry, res.status, opts.signedIn ?? false),
        err.kind,
        res.status,
        err.errors,
      );
    }
    throw err;
  }
  const bytes = await readPage(res, maxCatalogPageBytes, what);
  const next = nextCatalogPath(res.headers.get('Link'), registry, what);
  if (next === path) {
    throw new RegistryError(
      `${what}: the registry's next-page link leads back to the same page, so the list would never end`,
      'protocol',
      200,
    );
  }
  const repositories = parseCatalog(bytes, what);
  return next === undefined ? { repositories } : { repositories, next };
}

export interface ListCatalogOptions {
  signal?: AbortSignal;
  pageSize?: number;
  /** Default 20. */
  maxPages?: number;
}

/** Every page of the catalog, up to maxPages (then a 'protocol' RegistryError naming how far
 * it got), without duplicates. For scripts and tests; the page shows one page at a time. */
export async function listCatalog(
  client: RegistryClient,
  registry: string,
  opts: ListCatalogOptions = {},
): Promise<string[]> {
  const maxPages = opts.maxPages ?? 20;
  const seen = new Set<string>();
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (let page = 1; ; page++) {
    const p: CatalogPage = await catalogPage(client, registry, {
      ...(cursor === undefined ? {} : { cursor }),
      ...(opts.pageSize === undefined ? {} : { pageSize: opts.pageSize }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for (const r of p.repositories) seen.add(r);
    if (p.next === undefined) return [...seen];
    if (cursors.has(p.next)) {
      throw new RegistryError(
        `${registry}: catalog: the registry's next-page link leads back to a page already read`,
        'protocol',
        200,
      );
    }
    if (page >= maxPages) {
      throw new RegistryError(
        `${registry}: catalog: more than ${maxPages} pages (${seen.size} repositories so far)`,
        'protocol',
        200,
      );
    }
    cursors.add(p.next);
    cursor = p.next;
  }
}

/** Statuses with which registries say "not listing": Docker Hub, GitLab and Harbor without a
 * catalog token 401, GHCR 403 DENIED, registries without the route 404 or 405. */
function refusal(status: number): boolean {
  return status === 401 || status === 403 || status === 404 || status === 405;
}

function refusalMessage(registry: string, status: number, signedIn: boolean): string {
  const base = `${registryLabel(registry)} does not list its repositories; type a repository name.`;
  if (status === 401 && !signedIn) {
    return `${base} Some registries list them to a signed-in user only.`;
  }
  return base;
}

/** The proxy's own refusals (BERTH_* codes) say what to do themselves. */
const fromProxy = (err: RegistryError) =>
  err.errors.length > 0 && err.errors.every((e) => e.code.startsWith('BERTH_'));

const isCatalogPath = (p: string) => p === '_catalog' || p.startsWith('_catalog?');

/** The next page's path (`_catalog?<query>`) from a Link header's rel="next" target, or
 * undefined. The target is followed as the registry wrote it (Quay's and ECR's cursors are
 * opaque), but must stay on `/v2/_catalog` of the registry's API host. */
export function nextCatalogPath(
  link: string | null,
  registry: string,
  what: string,
): string | undefined {
  const target = nextLinkTarget(link);
  if (target === undefined) return undefined;
  const host = registryApiHost(registry);
  const refuse = (why: string): never => {
    throw new RegistryError(
      `${what}: refusing to follow the registry's next-page link ${JSON.stringify(target.slice(0, 300))}: ${why}`,
      'protocol',
      200,
    );
  };
  let url: URL;
  try {
    url = new URL(target, `https://${host}/v2/_catalog`);
  } catch {
    return refuse('it is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return refuse(`it is a ${url.protocol} URL`);
  }
  if (url.username || url.password) return refuse('it carries credentials');
  if (url.host !== host) return refuse(`it leads to another host (${url.host}, not ${host})`);
  if (url.pathname !== '/v2/_catalog') return refuse('it leaves /v2/_catalog');
  return `_catalog${url.search}`;
}

/** Whether a listed name is a repository name a reference could hold. */
export function isRepositoryName(name: string): boolean {
  return (
    name.length > 0 && name.length <= maxRepositoryLength && name.split('/').every(isPathComponent)
  );
}

function parseCatalog(bytes: Uint8Array, what: string): string[] {
  const { doc, fail } = listPage(bytes, what, {
    name: 'the catalog',
    maxBytes: maxCatalogPageBytes,
    form: '{"repositories": […]}',
  });
  const { repositories } = doc as { repositories?: unknown };
  // An empty registry: distribution answers [], some answer null or leave it out.
  if (repositories === null || repositories === undefined) return [];
  if (!Array.isArray(repositories)) return fail('"repositories" is not an array');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of repositories) {
    if (typeof r !== 'string') {
      return fail(`"repositories" holds a non-string (${JSON.stringify(r)?.slice(0, 100)})`);
    }
    // A listed name becomes a link and a reference: one no registry would accept is refused
    // rather than passed on.
    if (!isRepositoryName(r)) {
      return fail(
        `the registry listed ${JSON.stringify(r.slice(0, 200))}, which is not a repository name`,
      );
    }
    if (!seen.has(r)) {
      seen.add(r);
      out.push(r);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// A repository's tags as rows

/** How the tag rows are ordered: by name (versions in numeric order), or newest first. */
export type TagOrder = 'name' | 'date';

export interface TagRow {
  tag: string;
  /** When the image was built, from its config's `created` (ms since the epoch); absent until
   * fetched, and for images built with no date (reproducible builds set the epoch). */
  created?: number;
}

/**
 * Whether a tag is a referrers tag-schema fallback, `sha256-<hex>`, which clients push for
 * signatures, SBOMs and attestations on registries without the referrers API (GHCR,
 * distribution), or cosign's `sha256-<hex>.sig`, `.att` and `.sbom`: not images people open.
 */
export function isReferrerTag(tag: string): boolean {
  return /^sha256-[0-9a-f]{64}(?:\.[A-Za-z0-9_.-]+)?$/.test(tag);
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** Tag names as a person reads versions: 1.9 before 1.10, then code points on ties. */
export function compareTagNames(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Rows in the order asked: by name ascending; by date newest first, the rows with no date
 * (yet) after them by name. A new array. */
export function sortTagRows<T extends TagRow>(rows: readonly T[], order: TagOrder): T[] {
  const byName = (a: T, b: T) => compareTagNames(a.tag, b.tag);
  if (order === 'name') return [...rows].sort(byName);
  return [...rows].sort((a, b) => {
    if (a.created !== undefined && b.created !== undefined) {
      return b.created - a.created || byName(a, b);
    }
    if (a.created !== undefined) return -1;
    if (b.created !== undefined) return 1;
    return byName(a, b);
  });
}

/** Dates before this are no dates: reproducible builds set `created` to the epoch (1970) or
 * leave Go's zero time (year 1). */
const earliestRealDate = Date.UTC(1980, 0, 1);

/** A config's `created` as ms since the epoch, or undefined when it is missing, unreadable or
 * a reproducible build's placeholder. */
export function parseCreated(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) && at >= earliestRealDate ? at : undefined;
}
