// Docker Hub as it answers in 2026, from ../shared/REGISTRIES.md section 1, over content kept
// in the backend under `dockerhub/` (`library/alpine` is `dockerhub/library/alpine`).
//
// - registry-1.docker.io and index.docker.io serve the same /v2/ API (1.1); lower-case header
//   names (1.4, CAPTURE 2023 and 2025); `docker-ratelimit-source` on every answer, even a 401,
//   and `ratelimit-limit` / `ratelimit-remaining` (`100;w=21600`) on manifest answers; GETs of
//   manifests count, HEADs do not (1.4, 1.8).
// - auth.docker.io/token hands out `token`, `access_token`, `expires_in: 300`, `issued_at`
//   (1.3). Unknown or private names are not an error there: the token comes back with
//   `"access":[]`, and the registry then answers 401 with `error="insufficient_scope"` and
//   the body `UNAUTHORIZED`/`authentication required` (1.3, 1.4). Short names get no alias:
//   `alpine` is not `library/alpine` (1.8).
// - Blobs are 307 with an empty body and `content-type: application/octet-stream` (1.6) to one
//   of the CDNs, each with its own signed URL: Cloudflare `?verify=<expiry>-<sig>`, R2's
//   SigV4 presigned query (`X-Amz-Expires=1200`), and CloudFront, whose query was never captured
//   (`Expires=&Signature=&Key-Pair-Id=`, a CLAIM). A CDN refuses an expired URL (403, S3's
//   AccessDenied XML: INFER for Cloudflare) and any request carrying Authorization (400,
//   S3's "Only one auth mechanism allowed": captured for S3, INFER for R2 and the others).
// - 429: the pull limit as JSON `TOOMANYREQUESTS` with no Retry-After (1.5.1-2), or the abuse
//   limiter's plain-text `Too Many Requests (HAP429).` with `Retry-After: 60` (1.5.4).
// - tags/list: every tag without `n`; with `n`, pages and a relative Link, `n` before `last`
//   (1.7, format a CLAIM; pages of at most 100, a CLAIM too). _catalog: 401 insufficient_scope even with a token (1.7).
//   Referrers API: supported (1.7, Docker staff 2025); a control turns it off, as before 2025.
//
// Guessed (not in the captures): the 401 body for a bad password at the token service
// (`{"details":"incorrect username or password"}`), the CDN's answers to expired URLs, the
// 429's other headers, and a Cloudflare 403 body.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext } from './emulator.ts';

export const REGISTRY_HOSTS = ['registry-1.docker.io', 'index.docker.io'] as const;
export const AUTH_HOST = 'auth.docker.io';
export const CDN_HOSTS = {
  cloudflare: 'production.cloudflare.docker.com',
  r2: 'docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com',
  cloudfront: 'production.cloudfront.docker.com',
} as const;
export type Cdn = keyof typeof CDN_HOSTS;

const SERVICE = 'registry.docker.io';
const REALM = `https://${AUTH_HOST}/token`;
const SIGNED_URL_SECONDS = 1200;
const TOKEN_SECONDS = 300;
const WINDOW_SECONDS = 21600;

/** The switches tests flip with Internet.control('dockerhub', command, arg). */
export interface DockerHubControls {
  /** Add an account: { username, password }. */
  user: { username: string; password: string };
  /** Make a repository private to an account: { repository, owner }. */
  private: { repository: string; owner: string };
  /** Set the pull limit: remaining pulls, and how a spent limit answers. */
  'rate-limit': {
    limit?: number;
    remaining: number;
    style?: 'json' | 'hap429';
    retryAfter?: number;
  };
  /** The CDNs used, in turn (default all three), and whether they refuse every request. */
  cdn: { use?: Cdn[]; refuse?: boolean };
  /** The next `count` signed URLs are issued already expired (a slow hop, a skewed clock). */
  'expire-next': { count: number };
  /** The registry answers 503 to everything (its load balancer, with no registry behind). */
  unavailable: { on: boolean };
  /** Whether /v2/<name>/referrers/<digest> exists (Docker Hub added it in 2025). */
  'referrers-api': { on: boolean };
  /** The most tags one page holds, whatever `n` asks (default 100). */
  'tag-page-max': { max: number };
}

interface Grant {
  sub: string;
  access: Set<string>;
  exp: number;
}

export function dockerHub(ctx: EmulatorContext): Emulator {
  const log: EmulatedRequest[] = [];
  const secret = randomBytes(32);
  const users = new Map<string, string>();
  const owners = new Map<string, string>();
  const tokens = new Map<string, Grant>();
  const blobRepos = new Map<string, string>();
  const limit = { limit: 100, remaining: 100, style: 'json' as 'json' | 'hap429', retryAfter: 60 };
  let cdns: Cdn[] = ['cloudflare', 'r2', 'cloudfront'];
  let nextCdn = 0;
  let cdnRefuses = false;
  let expireNext = 0;
  let unavailable = false;
  let referrersApi = true;
  // Pages of at most 100, whatever `n` asks (a CLAIM: no raw Link header was captured).
  let tagPageMax = 100;

  const nowSeconds = () => Math.floor(ctx.now() / 1000);
  const sign = (s: string) => createHmac('sha256', secret).update(s).digest();

  async function repositoryExists(name: string): Promise<boolean> {
    const res = await fetch(`${ctx.backend}/v2/dockerhub/${name}/tags/list`);
    await res.body?.cancel();
    return res.ok;
  }

  // --- auth.docker.io ---------------------------------------------------------------------

  async function token(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (url.pathname !== '/token' || req.method !== 'GET') {
      return send(res, 404, { 'content-type': 'text/plain' }, '404 page not found\n');
    }
    let sub = '';
    const auth = req.headers.authorization ?? '';
    if (auth) {
      const [scheme, value = ''] = auth.split(' ');
      const [user = '', ...rest] = Buffer.from(value, 'base64').toString('utf8').split(':');
      if (scheme?.toLowerCase() !== 'basic' || users.get(user) !== rest.join(':')) {
        return sendJson(res, 401, { details: 'incorrect username or password' });
      }
      sub = user;
    }
    const access: { type: string; name: string; actions: string[]; parameters: object }[] = [];
    for (const scope of url.searchParams.getAll('scope')) {
      for (const one of scope.split(' ')) {
        const m = /^repository:([^:]+):(.+)$/.exec(one);
        if (!m || !m[2]!.split(',').includes('pull')) continue;
        const name = m[1]!;
        const owner = owners.get(name);
        if ((owner === undefined || owner === sub) && (await repositoryExists(name))) {
          access.push({
            type: 'repository',
            name,
            actions: ['pull'],
            parameters: {
              pull_limit: String(limit.limit),
              pull_limit_interval: String(WINDOW_SECONDS),
            },
          });
        }
      }
    }
    const iat = nowSeconds();
    const claims = {
      access,
      aud: SERVICE,
      exp: iat + TOKEN_SECONDS,
      iat,
      iss: AUTH_HOST,
      jti: `dckr_jti_${randomBytes(12).toString('base64url')}`,
      nbf: iat - TOKEN_SECONDS,
      sub,
    };
    const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const jwt = `${head}.${body}.${sign(`${head}.${body}`).toString('base64url')}`;
    tokens.set(jwt, { sub, access: new Set(access.map((a) => a.name)), exp: claims.exp });
    send(
      res,
      200,
      { 'content-type': 'application/json; charset=utf-8', 'strict-transport-security': HSTS },
      JSON.stringify({
        token: jwt,
        access_token: jwt,
        expires_in: TOKEN_SECONDS,
        issued_at: new Date(iat * 1000).toISOString(),
      }),
    );
  }

  // --- registry-1.docker.io, index.docker.io ----------------------------------------------

  function grantOf(req: IncomingMessage): Grant | undefined {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const grant = m ? tokens.get(m[1]!) : undefined;
    return grant && grant.exp > nowSeconds() ? grant : undefined;
  }

  function challenge(
    res: ServerResponse,
    base: Record<string, string>,
    scope: string | undefined,
    insufficient: boolean,
    detail: unknown,
  ) {
    const www =
      `Bearer realm="${REALM}",service="${SERVICE}"` +
      (scope ? `,scope="${scope}"` : '') +
      (insufficient ? ',error="insufficient_scope"' : '');
    sendJson(
      res,
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail }] },
      { ...base, 'www-authenticate': www },
    );
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    const base: Record<string, string> = {
      'docker-distribution-api-version': 'registry/2.0',
      'strict-transport-security': HSTS,
      'docker-ratelimit-source': req.socket.remoteAddress ?? '',
    };
    if (unavailable) {
      return send(
        res,
        503,
        { 'content-type': 'text/html' },
        '<html><body><h1>503 Service Unavailable</h1></body></html>\n',
      );
    }
    if (limit.style === 'hap429' && limit.remaining <= 0) {
      // The abuse limiter answers before the registry: plain text, its own headers only.
      return send(
        res,
        429,
        {
          'cache-control': 'no-cache',
          connection: 'close',
          'content-type': 'text/plain',
          'retry-after': String(limit.retryAfter),
        },
        'Too Many Requests (HAP429).\n',
      );
    }
    const grant = grantOf(req);
    if (url.pathname === '/v2/') {
      if (!grant) return challenge(res, base, undefined, false, null);
      return sendJson(res, 200, {}, base);
    }
    if (url.pathname === '/v2/_catalog') {
      return challenge(res, base, 'registry:catalog:*', grant !== undefined, [
        { Type: 'registry', Class: '', Name: 'catalog', Action: '*' },
      ]);
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/([^/]+)$/.exec(url.pathname);
    if (!m) return send(res, 404, { 'content-type': 'text/plain' }, '404 page not found\n');
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    const scope = `repository:${name}:pull`;
    if (!grant || !grant.access.has(name)) {
      return challenge(res, base, scope, grant !== undefined, [
        { Type: 'repository', Class: '', Name: name, Action: 'pull' },
      ]);
    }
    const backend = `${ctx.backend}/v2/dockerhub/${name}`;
    const ratelimit = () => ({
      'ratelimit-limit': `${limit.limit};w=${WINDOW_SECONDS}`,
      'ratelimit-remaining': `${Math.max(0, limit.remaining)};w=${WINDOW_SECONDS}`,
    });

    if (kind === 'manifests') {
      if (req.method === 'GET') {
        if (limit.remaining <= 0) {
          return sendJson(
            res,
            429,
            {
              errors: [
                {
                  code: 'TOOMANYREQUESTS',
                  message:
                    'You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit',
                },
              ],
            },
            { ...base, ...ratelimit() },
          );
        }
      }
      const up = await fetch(`${backend}/manifests/${ref}`, {
        method: req.method,
        headers: { accept: req.headers.accept ?? '*/*' },
      });
      if (req.method === 'GET' && up.ok) limit.remaining--;
      return relay(res, up, { ...base, ...ratelimit() }, [
        'content-type',
        'content-length',
        'docker-content-digest',
        'etag',
      ]);
    }
    if (kind === 'tags') {
      if (ref !== 'list')
        return send(res, 404, { 'content-type': 'text/plain' }, '404 page not found\n');
      return tags(res, backend, name, url, base);
    }
    if (kind === 'referrers') {
      if (!referrersApi)
        return send(res, 404, { 'content-type': 'text/plain' }, '404 page not found\n');
      return referrers(res, backend, ref, url, base);
    }
    // Blobs: known here, then off to a CDN.
    const head = await fetch(`${backend}/blobs/${ref}`, { method: 'HEAD' });
    await head.body?.cancel();
    if (!head.ok) {
      return sendJson(
        res,
        404,
        { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: ref }] },
        base,
      );
    }
    blobRepos.set(ref, name);
    send(
      res,
      307,
      { ...base, 'content-type': 'application/octet-stream', location: signedUrl(ref) },
      '',
    );
  }

  async function tags(
    res: ServerResponse,
    backend: string,
    name: string,
    url: URL,
    base: Record<string, string>,
  ) {
    const up = await fetch(`${backend}/tags/list`);
    if (!up.ok) return relay(res, up, base, ['content-type']);
    const all = ((await up.json()) as { tags: string[] | null }).tags ?? [];
    const n = url.searchParams.get('n');
    if (n === null) return sendJson(res, 200, { name, tags: all }, base);
    const size = Math.max(1, Math.min(Number(n) || tagPageMax, tagPageMax));
    const last = url.searchParams.get('last');
    const sorted = [...all].sort();
    const rest = last === null ? sorted : sorted.filter((t) => t > last);
    const page = rest.slice(0, size);
    const headers = { ...base };
    if (rest.length > size) {
      const next = `/v2/${name}/tags/list?n=${size}&last=${encodeURIComponent(page[page.length - 1]!)}`;
      headers.link = `<${next}>; rel="next"`;
    }
    sendJson(res, 200, { name, tags: page }, headers);
  }

  async function referrers(
    res: ServerResponse,
    backend: string,
    digest: string,
    url: URL,
    base: Record<string, string>,
  ) {
    const up = await fetch(`${backend}/manifests/${digest.replace(':', '-')}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    let manifests: { artifactType?: string }[] = [];
    if (up.ok) manifests = ((await up.json()) as { manifests?: typeof manifests }).manifests ?? [];
    else await up.body?.cancel();
    const type = url.searchParams.get('artifactType');
    const headers: Record<string, string> = {
      ...base,
      'content-type': 'application/vnd.oci.image.index.v1+json',
    };
    if (type !== null) {
      manifests = manifests.filter((d) => d.artifactType === type);
      headers['oci-filters-applied'] = 'artifactType';
    }
    send(
      res,
      200,
      headers,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests,
      }),
    );
  }

  // --- the CDNs ----------------------------------------------------------------------------

  function signedUrl(digest: string): string {
    const cdn = cdns[nextCdn++ % cdns.length]!;
    const hex = digest.replace(/^sha256:/, '');
    const path = `/registry-v2/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    let issued = nowSeconds();
    if (expireNext > 0) {
      expireNext--;
      issued -= 2 * SIGNED_URL_SECONDS;
    }
    const expiry = issued + SIGNED_URL_SECONDS;
    const mac = (s: string) => sign(`${cdn}\n${path}\n${s}`);
    if (cdn === 'cloudflare') {
      const sig = mac(String(expiry)).subarray(0, 20).toString('base64');
      return `https://${CDN_HOSTS.cloudflare}${path}?verify=${expiry}-${encodeURIComponent(sig)}`;
    }
    if (cdn === 'r2') {
      const date = new Date(issued * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
      const q = new URLSearchParams({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': `f1baa2dd9b876aeb89efebbfc9e5d5f4/${date.slice(0, 8)}/auto/s3/aws4_request`,
        'X-Amz-Date': date,
        'X-Amz-Expires': String(SIGNED_URL_SECONDS),
        'X-Amz-SignedHeaders': 'host',
      });
      q.set('X-Amz-Signature', mac(q.toString()).toString('hex'));
      return `https://${CDN_HOSTS.r2}${path}?${q}`;
    }
    const sig = mac(String(expiry))
      .toString('base64')
      .replace(/\+/g, '-')
      .replace(/=/g, '_')
      .replace(/\//g, '~');
    return `https://${CDN_HOSTS.cloudfront}${path}?Expires=${expiry}&Signature=${sig}&Key-Pair-Id=K2BERTHTESTKEY`;
  }

  /** The expiry a signed URL carries when its signature holds; undefined otherwise. */
  function verified(cdn: Cdn, url: URL): number | undefined {
    const path = url.pathname;
    const mac = (s: string) => sign(`${cdn}\n${path}\n${s}`);
    const q = url.searchParams;
    if (cdn === 'cloudflare') {
      const [expiry = '', sig = ''] = (q.get('verify') ?? '').split('-');
      return mac(expiry).subarray(0, 20).toString('base64') === sig ? Number(expiry) : undefined;
    }
    if (cdn === 'r2') {
      const sig = q.get('X-Amz-Signature') ?? '';
      const rest = new URLSearchParams([...q].filter(([k]) => k !== 'X-Amz-Signature'));
      if (mac(rest.toString()).toString('hex') !== sig) return undefined;
      const d = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(q.get('X-Amz-Date') ?? '');
      if (!d) return undefined;
      const issued = Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!) / 1000;
      return issued + Number(q.get('X-Amz-Expires'));
    }
    const expiry = q.get('Expires') ?? '';
    const sig = mac(expiry)
      .toString('base64')
      .replace(/\+/g, '-')
      .replace(/=/g, '_')
      .replace(/\//g, '~');
    return sig === q.get('Signature') ? Number(expiry) : undefined;
  }

  async function cdn(which: Cdn, req: IncomingMessage, res: ServerResponse, url: URL) {
    const xml = (status: number, code: string, message: string) =>
      send(
        res,
        status,
        { 'content-type': 'application/xml' },
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
      );
    if (req.headers.authorization !== undefined) {
      return xml(
        400,
        'InvalidArgument',
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      );
    }
    if (cdnRefuses) return xml(403, 'AccessDenied', 'Access Denied');
    const expiry = verified(which, url);
    if (expiry === undefined)
      return xml(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    if (expiry < nowSeconds()) return xml(403, 'AccessDenied', 'Request has expired');
    const hex = /\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(url.pathname)?.[1];
    const digest = `sha256:${hex}`;
    const repo = hex ? blobRepos.get(digest) : undefined;
    if (!repo) return xml(404, 'NoSuchKey', 'The specified key does not exist.');
    const headers: Record<string, string> = {};
    if (req.headers.range) headers.range = req.headers.range;
    const up = await fetch(`${ctx.backend}/v2/dockerhub/${repo}/blobs/${digest}`, {
      method: req.method,
      headers,
    });
    // An MD5-looking ETag, as the CDN's is: never the digest.
    const etag = `"${createHash('md5').update(digest).digest('hex')}"`;
    return relay(
      res,
      up,
      {
        'content-type': 'application/octet-stream',
        'accept-ranges': 'bytes',
        'cache-control': 'public, max-age=14400',
        etag,
        ...(which === 'cloudflare' ? { server: 'cloudflare', 'cf-cache-status': 'HIT' } : {}),
      },
      ['content-length', 'content-range'],
    );
  }

  return {
    name: 'dockerhub',
    hosts: [...REGISTRY_HOSTS, AUTH_HOST, ...Object.values(CDN_HOSTS)],
    log,
    backendName: (name) => `dockerhub/${name}`,
    async handle(req, res) {
      const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
      const url = new URL(req.url ?? '/', `https://${host}`);
      if (host === AUTH_HOST) return token(req, res, url);
      const which = (Object.keys(CDN_HOSTS) as Cdn[]).find((k) => CDN_HOSTS[k] === host);
      if (which) return cdn(which, req, res, url);
      return registry(req, res, url);
    },
    control(command, arg) {
      const a = (arg ?? {}) as Record<string, unknown>;
      switch (command) {
        case 'user':
          users.set(String(a.username), String(a.password));
          return undefined;
        case 'private':
          owners.set(String(a.repository), String(a.owner));
          return undefined;
        case 'rate-limit':
          if (typeof a.limit === 'number') limit.limit = a.limit;
          limit.remaining = Number(a.remaining);
          if (a.style === 'json' || a.style === 'hap429') limit.style = a.style;
          if (typeof a.retryAfter === 'number') limit.retryAfter = a.retryAfter;
          return { ...limit };
        case 'cdn':
          if (Array.isArray(a.use)) {
            cdns = a.use as Cdn[];
            nextCdn = 0;
          }
          if (typeof a.refuse === 'boolean') cdnRefuses = a.refuse;
          return undefined;
        case 'expire-next':
          expireNext = Number(a.count);
          return undefined;
        case 'unavailable':
          unavailable = Boolean(a.on);
          return undefined;
        case 'referrers-api':
          referrersApi = Boolean(a.on);
          return undefined;
        case 'tag-page-max':
          tagPageMax = Number(a.max);
          return undefined;
        case 'state':
          return { ...limit, cdns, cdnRefuses, expireNext, unavailable, referrersApi };
        default:
          throw new Error(`dockerhub: no control ${command}`);
      }
    },
  };
}

const HSTS = 'max-age=31536000';

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string) {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  doc: unknown,
  headers: Record<string, string> = {},
) {
  send(res, status, { ...headers, 'content-type': 'application/json' }, JSON.stringify(doc) + '\n');
}

/** Sends the backend's answer on, with `headers` and the backend's own `keep` headers, all in
 * lower case. */
async function relay(
  res: ServerResponse,
  up: Response,
  headers: Record<string, string>,
  keep: string[],
) {
  const out: Record<string, string> = {};
  for (const k of keep) {
    const v = up.headers.get(k);
    if (v !== null) out[k] = v;
  }
  Object.assign(out, headers);
  if (!up.ok && !out['content-type'])
    out['content-type'] = up.headers.get('content-type') ?? 'application/json';
  res.writeHead(up.status, out);
  if (!up.body) return void res.end();
  const reader = up.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}
