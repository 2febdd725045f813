// registry.gitlab.com as it answers, from ../shared/REGISTRIES.md section 7 (and 0, 9, 11), over
// content kept in the backend under `gitlab/`. GitLab's registry is a fork of distribution, so
// where section 7 is silent it answers as distribution's token auth does (section 9).
//
// Facts used (section 7 unless said):
// - Challenge `Bearer realm="https://gitlab.com/jwt/auth",service="container_registry"`: the
//   realm is on another host, the service is not the host name (CAPTURE 2017, DOC).
// - /v2/ 401 body `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",
//   "detail":null}]}` (CAPTURE 2017). Resource challenges add `scope="repository:<repo>:pull"`,
//   refusals of a token add `error="insufficient_scope"` or `error="invalid_token"`, with the
//   access detail `[{"Type":"repository","Class":"","Name":…,"Action":"pull"}]` (section 9).
// - Token: GET https://gitlab.com/jwt/auth?scope=…&service=container_registry answers 200
//   `{"token":"eyJ…"}`; sign-in sends `account=` with Basic credentials. A private project asked
//   for anonymously: 403 from /jwt/auth (Docker shows `denied: access forbidden`, so the body
//   is DENIED "access forbidden", INFER). A token asked with another service is not valid for
//   the scope (CLAIM). Tokens live 15 minutes on GitLab.com (DOC).
// - `_catalog`: 401 with `scope="registry:catalog:*"`, `Content-Length: 145`, `application/json;
//   charset=utf-8`, `X-Content-Type-Options: nosniff`, `Server: nginx`; never granted
//   (CAPTURE 2018–2019).
// - Manifests are served by the registry; blobs are `307 Temporary Redirect` to the CDN
//   `cdn.registry.gitlab-static.net` (DOC), `…/gitlab/docker/registry/v2/blobs/sha256/<xx>/
//   <hex>/data?Signature=…` (CLAIM), or pre-signed GCS URLs on `storage.googleapis.com`
//   (DOC): option `blobHost`. Go's http.Redirect writes a short HTML body for a GET (9). The CDN
//   sends `Cache-Control: private, max-age=0` (CLAIM).
// - Header names lower case (HTTP/2, section 0); option `headerCase`.
//
// Guessed: tag pagination (not captured: distribution 3's relative `?last=…&n=…` Link when `n`
// is given, everything without it; option `tagPages: 'all'` for 2.8's ignoring of `n`); the
// referrers path (distribution's text/plain `404 page not found`, no referrers API); an absent
// project answered like a private one (403 from /jwt/auth); a signed-in user asking for what
// they may not pull gets a token without that scope (GitLab's auth service filters scopes and
// refuses only when nothing is granted to no one), so the registry's 401 insufficient_scope
// follows; the 401
// body of wrong credentials at /jwt/auth (GitLab's "HTTP Basic: Access denied" text); the Google
// CDN query's other parameters (`Expires`, `KeyName`) and its 403 for a bad or expired
// signature; a GCS V4 signed query and its XML errors; a 400 from either for an Authorization
// header (as S3 and Azure do, section 11.2); blob HEAD redirecting like GET (distribution does).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext } from './emulator.ts';
import {
  type Answer,
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  backendManifest,
  backendHas,
  backendTags,
  blobLength,
  errorBody,
  hostOf,
  htmlEscape,
  isDigest,
  isValidName,
  optionControls,
  pageSizeOf,
  relativeNextLink,
  routeOf,
  send,
  spendExpireNext,
  tagPage,
  urlOf,
} from './common.ts';
import {
  type Grant,
  type Visibility,
  accessDetail,
  allows,
  bearerToken,
  isPrivate,
  jwtLike,
  live,
  scopesOf,
  Signer,
  signIn,
  TokenBook,
} from './auth.ts';
import { BlobHomes, objectAnswer, storeError } from './stores.ts';

export const GITLAB_REGISTRY_HOST = 'registry.gitlab.com';
export const GITLAB_HOST = 'gitlab.com';
export const GITLAB_CDN_HOST = 'cdn.registry.gitlab-static.net';
export const GCS_HOST = 'storage.googleapis.com';
const REALM = 'https://gitlab.com/jwt/auth';
const SERVICE = 'container_registry';
const BUCKET = 'gitlab-gprd-registry';

export interface GitlabOptions extends Visibility, SignedUrlSwitches {
  headerCase: HeaderCase;
  /** Where blob redirects go: the Google CDN (GitLab.com now) or signed GCS URLs (before). */
  blobHost: 'cdn' | 'gcs';
  /** How long a token is accepted: 15 minutes on GitLab.com. */
  tokenLifetimeMs: number;
  /** How long a signed blob URL lasts (not captured). */
  blobUrlLifetimeMs: number;
  /** Tag pages as distribution 3 cuts them when `n` is given, or all tags always (2.8). */
  tagPages: 'link' | 'all';
}

export const defaultGitlabOptions = (): GitlabOptions => ({
  headerCase: 'lower',
  blobHost: 'cdn',
  tokenLifetimeMs: 15 * 60_000,
  blobUrlLifetimeMs: 10 * 60_000,
  tagPages: 'link',
  users: { 'berth-user': 'glpat-berthtesttoken' },
  privateRepos: ['berth-group/private'],
});

const json: HeaderList = [['content-type', 'application/json; charset=utf-8']];
const REGISTRY_HEADERS: HeaderList = [
  ['docker-distribution-api-version', 'registry/2.0'],
  ['x-content-type-options', 'nosniff'],
  ['server', 'nginx'],
];

export class GitlabEmulator implements Emulator {
  readonly name = 'gitlab';
  readonly hosts = [GITLAB_REGISTRY_HOST, GITLAB_HOST, GITLAB_CDN_HOST, GCS_HOST] as const;
  readonly log: EmulatedRequest[] = [];
  readonly options = defaultGitlabOptions();
  readonly #ctx: EmulatorContext;
  readonly #tokens = new TokenBook();
  readonly #signer = new Signer();
  readonly #homes = new BlobHomes();
  /** set, reset, options, expire-next (blob host requests still to be answered as expired). */
  readonly control = optionControls(this.options);

  constructor(ctx: EmulatorContext) {
    this.#ctx = ctx;
  }

  backendName(name: string): string | undefined {
    return isValidName(name) ? `gitlab/${name}` : undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = hostOf(req);
    const url = urlOf(req);
    let answer: Answer;
    if (host === GITLAB_REGISTRY_HOST) answer = await this.#registry(req, url);
    else if (host === GITLAB_HOST) {
      answer =
        url.pathname === '/jwt/auth'
          ? await this.#token(req, url)
          : { status: 404, headers: [['content-type', 'text/html; charset=utf-8']], body: '' };
    } else answer = await this.#blobHost(req, url, host);
    await send(req, res, answer, this.options.headerCase);
  }

  #unauthorized(scope: string | undefined, detail: unknown, error?: string): Answer {
    const challenge =
      `Bearer realm="${REALM}",service="${SERVICE}"` +
      (scope ? `,scope="${scope}"` : '') +
      (error ? `,error="${error}"` : '');
    return {
      status: 401,
      headers: [...json, ...REGISTRY_HEADERS, ['www-authenticate', challenge]],
      // distribution's error bodies end with a newline (its JSON encoder's).
      body: `${errorBody('UNAUTHORIZED', 'authentication required', detail)}\n`,
    };
  }

  async #registry(req: IncomingMessage, url: URL): Promise<Answer> {
    const route = routeOf(url.pathname, true);
    if (!route || route.kind === 'referrers') {
      return {
        status: 404,
        headers: [['content-type', 'text/plain; charset=utf-8'], ...REGISTRY_HEADERS],
        body: '404 page not found\n',
      };
    }
    const token = bearerToken(req.headers.authorization);
    const grant = token ? live(this.#tokens.lookup(token), this.#ctx) : undefined;
    const valid = grant !== undefined && grant.service === SERVICE;
    // A token the registry cannot use (unknown, expired, another service's) is invalid_token.
    const error = req.headers.authorization && !valid ? 'invalid_token' : undefined;
    if (route.kind === 'base') {
      if (!valid) return this.#unauthorized(undefined, null, error);
      return { status: 200, headers: [...json, ...REGISTRY_HEADERS], body: '{}' };
    }
    if (route.kind === 'catalog') {
      // Never granted on GitLab.com.
      return this.#unauthorized(
        'registry:catalog:*',
        [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }],
        valid ? 'insufficient_scope' : error,
      );
    }
    const scope = `repository:${route.name}:pull`;
    if (!valid) return this.#unauthorized(scope, accessDetail(route.name), error);
    if (!allows(grant, `repository:${route.name}`, 'pull')) {
      return this.#unauthorized(scope, accessDetail(route.name), 'insufficient_scope');
    }
    switch (route.kind) {
      case 'manifests':
        return this.#manifest(req, route.name, route.ref);
      case 'blobs':
        return this.#blob(route.name, route.ref);
      case 'tags':
        return this.#tags(route.name, url);
    }
  }

  async #token(req: IncomingMessage, url: URL): Promise<Answer> {
    const user = signIn(this.options, req.headers.authorization);
    if (user === null) {
      return {
        status: 401,
        headers: json,
        body: errorBody(
          'UNAUTHORIZED',
          "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped.",
        ),
      };
    }
    const now = this.#ctx.now();
    const grant: Grant = {
      sub: user ?? '',
      access: {},
      service: url.searchParams.get('service') ?? '',
      exp: now + this.options.tokenLifetimeMs,
    };
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const s of scopesOf(url)) {
      // The catalog is never granted: the token simply does not carry it.
      if (s.type !== 'repository' || s.name === undefined) continue;
      const backend = this.backendName(s.name);
      const exists = backend !== undefined && (await backendHas(this.#ctx, backend));
      if (!exists || (isPrivate(this.options, s.name) && !user)) {
        // Anonymously, nothing to grant is a refusal; a signed-in user gets a token without
        // that scope, which the registry then refuses as insufficient_scope.
        if (!user) {
          return { status: 403, headers: json, body: errorBody('DENIED', 'access forbidden') };
        }
        continue;
      }
      // A push scope on a public project is granted; the push itself would then fail (DOC).
      grant.access[s.resource] = s.actions;
      access.push({ type: 'repository', name: s.name, actions: s.actions });
    }
    const token = this.#tokens.issue(grant, () =>
      jwtLike({
        iss: 'gitlab-issuer',
        aud: grant.service ?? '',
        sub: user ?? '',
        access,
        iat: Math.floor(now / 1000),
        exp: Math.floor((now + this.options.tokenLifetimeMs) / 1000),
      }),
    );
    return { status: 200, headers: json, body: JSON.stringify({ token }) };
  }

  async #manifest(req: IncomingMessage, name: string, reference: string): Promise<Answer> {
    const got = await backendManifest(this.#ctx, req, 'gitlab', name, reference, REGISTRY_HEADERS);
    if (!('code' in got)) return got;
    return {
      status: got.status,
      headers: [...json, ...REGISTRY_HEADERS],
      body: `${errorBody(got.code, got.message, got.detail ?? null)}\n`,
    };
  }

  async #blob(name: string, digest: string): Promise<Answer> {
    const backendName = this.backendName(name)!;
    if (!isDigest(digest) || (await blobLength(this.#ctx, backendName, digest)) === undefined) {
      return {
        status: 404,
        headers: [...json, ...REGISTRY_HEADERS],
        body: `${errorBody('BLOB_UNKNOWN', 'blob unknown to registry', digest)}\n`,
      };
    }
    this.#homes.set(digest, backendName);
    const location = this.signedBlobUrl(digest);
    return {
      status: 307,
      headers: [
        ['content-type', 'text/html; charset=utf-8'],
        ['location', location],
        ...REGISTRY_HEADERS,
      ],
      body: `<a href="${htmlEscape(location)}">Temporary Redirect</a>.\n\n`,
    };
  }

  /** The storage path distribution's filesystem layout gives a blob. */
  static blobPath(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return `docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
  }

  /** A signed blob URL on the CDN or on GCS, as the options say. */
  signedBlobUrl(digest: string, lifetimeMs = this.options.blobUrlLifetimeMs): string {
    const now = this.#ctx.now();
    const expires = Math.floor((now + lifetimeMs) / 1000);
    if (this.options.blobHost === 'cdn') {
      const path = `/gitlab/${GitlabEmulator.blobPath(digest)}`;
      const q = new URLSearchParams({
        Signature: this.#signer
          .mac(`${path}\n${expires}`, 'base64')
          .replace(/\+/g, '-')
          .replace(/\//g, '_'),
        Expires: String(expires),
        KeyName: 'gprd-registry-cdn',
      });
      return `https://${GITLAB_CDN_HOST}${path}?${q}`;
    }
    const path = `/${BUCKET}/${GitlabEmulator.blobPath(digest)}`;
    const date = new Date(now)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const seconds = String(Math.floor(lifetimeMs / 1000));
    const q = new URLSearchParams({
      'X-Goog-Algorithm': 'GOOG4-RSA-SHA256',
      'X-Goog-Credential': `registry@gitlab-production.iam.gserviceaccount.com/${date.slice(0, 8)}/auto/storage/goog4_request`,
      'X-Goog-Date': date,
      'X-Goog-Expires': seconds,
      'X-Goog-SignedHeaders': 'host',
    });
    q.set('X-Goog-Signature', this.#signer.mac(`${path}\n${date}\n${seconds}`, 'hex'));
    return `https://${GCS_HOST}${path}?${q}`;
  }

  async #blobHost(req: IncomingMessage, url: URL, host: string): Promise<Answer> {
    const cdn = host === GITLAB_CDN_HOST;
    const prefix = cdn ? '/gitlab/' : `/${BUCKET}/`;
    const m = /^docker\/registry\/v2\/blobs\/sha256\/([a-f0-9]{2})\/([a-f0-9]{64})\/data$/.exec(
      url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : '',
    );
    if (req.headers.authorization !== undefined) {
      return this.#gcsError(
        400,
        'InvalidArgument',
        'Invalid argument.',
        'Only one auth mechanism allowed; the Authorization header and a signed URL were both given.',
      );
    }
    const now = this.#ctx.now();
    let valid = false;
    let expired = false;
    if (m && m[1] === m[2]!.slice(0, 2)) {
      if (cdn) {
        const expires = url.searchParams.get('Expires') ?? '';
        const signature = (url.searchParams.get('Signature') ?? '')
          .replace(/-/g, '+')
          .replace(/_/g, '/');
        valid = this.#signer.verify(`${url.pathname}\n${expires}`, signature);
        expired = Number(expires) * 1000 <= now;
      } else {
        const date = url.searchParams.get('X-Goog-Date') ?? '';
        const seconds = url.searchParams.get('X-Goog-Expires') ?? '';
        const hex = url.searchParams.get('X-Goog-Signature') ?? '';
        valid = this.#signer.verify(`${url.pathname}\n${date}\n${seconds}`, hex, 'hex');
        const at = Date.parse(
          date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
        );
        expired = at + Number(seconds) * 1000 <= now;
      }
    }
    if (valid && spendExpireNext(this.options)) expired = true;
    if (!valid || expired) {
      if (cdn) {
        return {
          status: 403,
          headers: [
            ['content-type', 'text/plain; charset=utf-8'],
            ['cache-control', 'private, max-age=0'],
          ],
          body: expired && valid ? 'Signed request has expired\n' : 'Forbidden\n',
        };
      }
      return expired && valid
        ? this.#gcsError(
            400,
            'ExpiredToken',
            'Invalid argument.',
            'The provided token has expired.',
          )
        : this.#gcsError(
            403,
            'SignatureDoesNotMatch',
            'Access denied.',
            'The request signature we calculated does not match the signature you provided.',
          );
    }
    const digest = `sha256:${m![2]}`;
    const home = this.#homes.get(digest);
    if (!home) return this.#gcsError(404, 'NoSuchKey', 'The specified key does not exist.');
    return objectAnswer(this.#ctx, req, home, digest, (lengths) => [
      ['content-type', 'application/octet-stream'],
      ['accept-ranges', 'bytes'],
      ['cache-control', cdn ? 'private, max-age=0' : 'private, max-age=0'],
      ['etag', `"${randomBytes(16).toString('hex')}"`],
      ...(cdn ? ([['via', '1.1 google']] as HeaderList) : []),
      ['x-goog-storage-class', 'STANDARD'],
      ...lengths,
    ]);
  }

  /** Google Cloud Storage's XML error document. */
  #gcsError(status: number, code: string, message: string, details?: string): Answer {
    return storeError('gcs', status, code, message, {
      fields: details ? [['Details', details]] : [],
    });
  }

  async #tags(name: string, url: URL): Promise<Answer> {
    const all = await backendTags(this.#ctx, this.backendName(name)!);
    if (!all) {
      return {
        status: 404,
        headers: [...json, ...REGISTRY_HEADERS],
        body: `${errorBody('NAME_UNKNOWN', 'repository name not known to registry', { name })}\n`,
      };
    }
    const n = this.options.tagPages === 'link' ? pageSizeOf(url) : undefined;
    const page = tagPage(
      all,
      n,
      this.options.tagPages === 'link' ? url.searchParams.get('last') : null,
    );
    const headers: HeaderList = [...json, ...REGISTRY_HEADERS];
    if (page.last !== undefined) {
      headers.push(['link', relativeNextLink(`/v2/${name}/tags/list`, page.last, String(n))]);
    }
    return { status: 200, headers, body: `${JSON.stringify({ name, tags: page.tags })}\n` };
  }
}

export const gitlabEmulator = (ctx: EmulatorContext) => new GitlabEmulator(ctx);
