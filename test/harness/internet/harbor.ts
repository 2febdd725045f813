// A Harbor 2.x registry at `harbor.berth.test`, a name under the `.test` top-level domain that
// RFC 2606 reserves for tests: it resolves nowhere on the internet, only where the offline
// internet's hosts file names it. With S3 storage its blobs redirect to
// `berth-harbor.s3.amazonaws.com`.
//
// Facts used, from ../shared/REGISTRIES.md §8 (and §0, §5, §11):
// - `GET /v2` without the slash: 301 to `/v2/` from nginx (Harbor 1.x CAPTURE).
// - `/v2/` 401: `Server: nginx`, `Content-Type: application/json; charset=utf-8`,
//   `Docker-Distribution-Api-Version: registry/2.0`, `Set-Cookie: sid=…; Path=/; HttpOnly`,
//   `Www-Authenticate: Bearer realm="https://<host>/service/token",service="harbor-registry"`,
//   `X-Request-Id`, and the doubled message `unauthorized: unauthorized` (2.x CAPTURE 2022, in
//   Go's header case over HTTP/1.1).
// - Token: `GET /service/token?service=harbor-registry&scope=…`, Basic for users, answering
//   `{"token": "…", "expires_in": 1800, "issued_at": "2018-04-09T09:22:53Z"}` (no fractional
//   seconds); 2.x adds `Content-Encoding: gzip`, `X-Frame-Options: DENY` and
//   `Content-Security-Policy: frame-ancestors 'none'`.
// - `_catalog` needs a token for `registry:catalog:*`; without it 401 with that scope and the
//   detail `[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]`.
// - A repository that does not exist, asked with a valid token, is 401 with the repository's
//   detail, not 404; its tags/list is `200 {"name":…,"tags":[]}` (2.13 CAPTURE 2025); a missing
//   tag is 404.
// - The referrers API exists (from 2.8.1, fixed by 2.11).
// - Blobs are 307 to S3 presigned URLs with S3 storage, else 200 with Range; S3 refuses a
//   forwarded Authorization (§5 CAPTURE).
// - Tags: Link pagination.
// Guessed (not captured):
// - Who gets which token: anonymous callers pull from public projects; users from public
//   projects and those they are members of; the admin everything. The catalog is granted to
//   signed-in users and lists what they may pull (Harbor lists everything for admins only).
// - Whether gzip depends on the request (`gzipToken`: `when-asked` honours Accept-Encoding, as
//   nginx's gzip does; `always` compresses even for `identity`).
// - The missing-repository 401 challenge adds `error="insufficient_scope"`; the missing tag's
//   body is `{"code":"NOT_FOUND","message":"artifact <repo>:<tag> not found"}`; a bad sign-in is
//   401 UNAUTHORIZED at the token endpoint.
// - Link pagination is distribution's (relative, `?last=…&n=…`), also on the catalog.
// - The S3 URL lives 20 minutes (SigV4 X-Amz-Expires=1200); expired, S3's AccessDenied 403.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { EmulatedRequest, Emulator, EmulatorContext, EmulatorFactory } from './emulator.ts';
import {
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  answer,
  backendCatalog,
  backendTags,
  blobLength,
  errorBody,
  forward,
  hostOf,
  isoDate,
  optionControls,
  pageTags,
  relay,
  routeOf,
  send,
  urlLifetime,
  urlOf,
} from './common.ts';
import { type Grant, Signer, allows, basicCredentials, grantOf, scopesOf } from './auth.ts';
import {
  isFallbackTag,
  referrersAnswer,
  s3ExpiredError,
  s3TwoAuthError,
  serveObject,
  storeError,
} from './stores.ts';

export const HARBOR_HOST = 'harbor.berth.test';
export const HARBOR_S3_HOST = 'berth-harbor.s3.amazonaws.com';
const SERVICE = 'harbor-registry';

export interface HarborUser {
  password: string;
  admin?: boolean;
  /** Projects the user is a member of. */
  projects?: string[];
}

export interface HarborOptions extends SignedUrlSwitches {
  /** Project → visibility. Default { library: 'public', team: 'private' }. */
  projects?: Record<string, 'public' | 'private'>;
  users?: Record<string, HarborUser>;
  blobs?: 'direct' | 's3';
  gzipToken?: 'when-asked' | 'always';
  headerCase?: HeaderCase;
}

/** Who can sign in to the namespace's Harbor: its default admin, a member of `team`, and a
 * user of no project. */
export const HARBOR_USERS: Record<string, HarborUser> = {
  admin: { password: 'Harbor12345', admin: true },
  alice: { password: 'alice-harbor-secret', projects: ['team'] },
  bob: { password: 'bob-harbor-secret' },
};

/** The factory the offline internet loads; switches are set with control('set', {…}). */
export const harborEmulator: EmulatorFactory = (ctx) =>
  harbor(ctx, { users: structuredClone(HARBOR_USERS) });

export function harbor(ctx: EmulatorContext, opts: HarborOptions = {}): Emulator {
  const log: EmulatedRequest[] = [];
  const signer = new Signer();
  const backendName = (name: string) => `harbor/${name}`;
  let headerCase: HeaderCase = 'canonical';
  const projects = () => opts.projects ?? { library: 'public', team: 'private' };
  const realm = `https://${HARBOR_HOST}/service/token`;
  const base = (): HeaderList => [
    ['server', 'nginx'],
    ['content-type', 'application/json; charset=utf-8'],
    ['docker-distribution-api-version', 'registry/2.0'],
    ['x-request-id', randomUUID()],
  ];

  /** May `user` ('' for anonymous) pull from project `project`? */
  function mayPull(user: string, project: string): boolean {
    const visibility = projects()[project];
    if (visibility === undefined) return false;
    if (visibility === 'public') return true;
    const u = opts.users?.[user];
    return !!u && (!!u.admin || !!u.projects?.includes(project));
  }

  function challenge(scope?: string, insufficient = false) {
    return (
      `Bearer realm="${realm}",service="${SERVICE}"` +
      (scope ? `,scope="${scope}"` : '') +
      (insufficient ? ',error="insufficient_scope"' : '')
    );
  }

  function unauthorized(
    req: IncomingMessage,
    res: ServerResponse,
    opts2: { scope?: string; insufficient?: boolean; detail?: unknown; message?: string } = {},
  ) {
    const headers = base();
    headers.push(['set-cookie', `sid=${randomBytes(16).toString('hex')}; Path=/; HttpOnly`]);
    headers.push(['www-authenticate', challenge(opts2.scope, opts2.insufficient)]);
    const body =
      opts2.detail !== undefined
        ? errorBody(
            'UNAUTHORIZED',
            opts2.message ?? 'unauthorized to access repository',
            opts2.detail,
          )
        : errorBody('UNAUTHORIZED', 'unauthorized: unauthorized');
    answer(req, res, 401, headers, body, headerCase);
  }

  function token(req: IncomingMessage, res: ServerResponse, url: URL) {
    const creds = basicCredentials(req.headers.authorization);
    let user = '';
    if (creds) {
      if (opts.users?.[creds.user]?.password !== creds.password) {
        answer(
          req,
          res,
          401,
          base(),
          errorBody('UNAUTHORIZED', 'authentication required'),
          headerCase,
        );
        return;
      }
      user = creds.user;
    }
    const access: Grant['access'] = {};
    for (const s of scopesOf(url)) {
      if (s.resource === 'registry:catalog' && user) access[s.resource] = ['*'];
      if (!s.resource.startsWith('repository:')) continue;
      const project = s.resource.slice('repository:'.length).split('/')[0]!;
      if (mayPull(user, project)) access[s.resource] = s.actions.filter((a) => a === 'pull');
    }
    const now = ctx.now();
    const value = signer.sign({ sub: user, access, exp: now + 1800_000 } satisfies Grant);
    // Spaced as Harbor's Go encoder writes it in the capture.
    const body = `{"token": ${JSON.stringify(value)}, "expires_in": 1800, "issued_at": "${isoDate(now, false)}"}`;
    const headers: HeaderList = [
      ['content-type', 'application/json; charset=utf-8'],
      ['server', 'nginx'],
      ['x-frame-options', 'DENY'],
      ['content-security-policy', "frame-ancestors 'none'"],
      ['x-request-id', randomUUID()],
    ];
    const asked = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (opts.gzipToken === 'always' || asked) {
      headers.push(['content-encoding', 'gzip'], ['vary', 'Accept-Encoding']);
      answer(req, res, 200, headers, gzipSync(body), headerCase);
      return;
    }
    answer(req, res, 200, headers, body, headerCase);
  }

  /** Repositories `user` may pull, sorted. */
  async function visibleRepositories(user: string): Promise<string[]> {
    return (await backendCatalog(ctx, 'harbor')).filter((r) => mayPull(user, r.split('/')[0]!));
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (url.pathname === '/service/token') return token(req, res, url);
    if (url.pathname === '/v2') {
      answer(
        req,
        res,
        301,
        [
          ['server', 'nginx'],
          ['content-type', 'text/html'],
          ['location', `https://${HARBOR_HOST}/v2/`],
        ],
        '<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
        headerCase,
      );
      return;
    }
    const route = routeOf(url.pathname);
    if (!route) {
      answer(req, res, 404, base(), errorBody('NOT_FOUND', 'not found'), headerCase);
      return;
    }
    const grant = grantOf(signer, ctx, req.headers.authorization);
    if (route.kind === 'base') {
      if (!grant) return unauthorized(req, res);
      answer(req, res, 200, base(), '{}', headerCase);
      return;
    }
    if (route.kind === 'catalog') {
      const scope = 'registry:catalog:*';
      const detail = [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }];
      if (!allows(grant, 'registry:catalog', '*')) {
        return unauthorized(req, res, {
          scope,
          insufficient: !!grant,
          detail,
          message: 'authentication required',
        });
      }
      const repos = await visibleRepositories(grant!.sub);
      const page = pageTags(repos, '', url, { kind: 'link-relative' });
      const headers = base();
      if (page.link) headers.push(['link', page.link.replace('/v2//tags/list', '/v2/_catalog')]);
      answer(req, res, 200, headers, JSON.stringify({ repositories: page.tags }), headerCase);
      return;
    }
    const name = route.name;
    const scope = `repository:${name}:pull`;
    const detail = [{ Type: 'repository', Class: '', Name: name, Action: 'pull' }];
    if (!grant) return unauthorized(req, res, { scope });
    if (!allows(grant, `repository:${name}`, 'pull')) {
      return unauthorized(req, res, { scope, insufficient: true, detail });
    }
    const repo = backendName(name);
    const tags = await backendTags(ctx, repo);
    if (route.kind === 'tags') {
      const listed = (tags ?? []).filter((t) => !isFallbackTag(t)).sort();
      const page = pageTags(listed, name, url, { kind: 'link-relative' });
      const headers = base();
      if (page.link) headers.push(['link', page.link]);
      answer(req, res, 200, headers, JSON.stringify({ name, tags: page.tags }), headerCase);
      return;
    }
    if (tags === undefined) return unauthorized(req, res, { scope, insufficient: true, detail });
    if (route.kind === 'referrers') {
      const r = await referrersAnswer(ctx, repo, route.ref, url.searchParams.get('artifactType'));
      answer(
        req,
        res,
        200,
        [...base().filter(([n]) => n !== 'content-type'), ...r.headers],
        r.body,
        headerCase,
      );
      return;
    }
    if (route.kind === 'blobs' && req.method === 'GET' && opts.blobs === 's3') {
      if ((await blobLength(ctx, repo, route.ref)) === undefined) {
        answer(
          req,
          res,
          404,
          base(),
          errorBody('BLOB_UNKNOWN', 'blob unknown to registry', route.ref),
          headerCase,
        );
        return;
      }
      const hex = route.ref.slice('sha256:'.length);
      const path = `/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
      // Signed long enough ago that its 1200 s are over, while expireNext lasts.
      const date = new Date(ctx.now() + (urlLifetime(opts, 0) < 0 ? -1_260_000 : 0))
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}Z$/, 'Z');
      const q = new URLSearchParams({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': `AKIAEMULATEDHARBOR/${date.slice(0, 8)}/us-east-1/s3/aws4_request`,
        'X-Amz-Date': date,
        'X-Amz-Expires': '1200',
        'X-Amz-SignedHeaders': 'host',
        'x-id': 'GetObject',
      });
      q.set('X-Amz-Signature', signer.mac(`${path}?${q}|${repo}`, 'hex'));
      q.set('x-berth-repo', signer.sign({ r: repo }));
      answer(
        req,
        res,
        307,
        [
          ...base().filter(([n]) => n !== 'content-type'),
          ['content-type', 'text/html; charset=utf-8'],
          ['location', `https://${HARBOR_S3_HOST}${path}?${q}`],
        ],
        `<a href="https://${HARBOR_S3_HOST}${path}?${q.toString().replace(/&/g, '&amp;')}">Temporary Redirect</a>.\n\n`,
        headerCase,
      );
      return;
    }
    const upstream = await forward(ctx, req, repo, route.kind, route.ref);
    if (upstream.status === 404 && route.kind === 'manifests') {
      await upstream.body?.cancel();
      answer(
        req,
        res,
        404,
        base(),
        errorBody('NOT_FOUND', `artifact ${name}:${route.ref} not found`),
        headerCase,
      );
      return;
    }
    await relay(
      req,
      res,
      upstream,
      base().filter(([n]) => n !== 'content-type'),
      headerCase,
    );
  }

  async function s3(req: IncomingMessage, res: ServerResponse, url: URL) {
    const repo = signer.read<{ r: string }>(url.searchParams.get('x-berth-repo') ?? '')?.r;
    const q = new URLSearchParams(url.search);
    const signature = q.get('X-Amz-Signature');
    q.delete('X-Amz-Signature');
    q.delete('x-berth-repo');
    const m = /^\/docker\/registry\/v2\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(
      url.pathname,
    );
    if (!repo || !m || signer.mac(`${url.pathname}?${q}|${repo}`, 'hex') !== signature) {
      const mismatch = storeError(
        's3',
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
      return send(req, res, mismatch, 'lower');
    }
    if (req.headers.authorization !== undefined) {
      return send(req, res, s3TwoAuthError(req.headers.authorization), 'lower');
    }
    const date = q.get('X-Amz-Date')!;
    const signedAt = Date.parse(
      `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
    );
    if (signedAt + Number(q.get('X-Amz-Expires')) * 1000 <= ctx.now()) {
      return send(req, res, s3ExpiredError(), 'lower');
    }
    await serveObject(ctx, req, res, { repo, digest: `sha256:${m[1]}` }, [
      ['server', 'AmazonS3'],
      ['etag', `"${randomBytes(16).toString('hex')}"`],
    ]);
  }

  return {
    name: 'harbor',
    hosts: [HARBOR_HOST, HARBOR_S3_HOST],
    backendName,
    log,
    control: optionControls(opts),
    async handle(req, res) {
      headerCase = opts.headerCase ?? 'canonical';
      const url = urlOf(req);
      if (hostOf(req) === HARBOR_S3_HOST) return s3(req, res, url);
      return registry(req, res, url);
    },
  };
}
