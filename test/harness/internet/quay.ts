// quay.io as it answers, from ../shared/REGISTRIES.md section 3 (and 0, 11), over content kept
// in the backend under `quay/`.
//
// Facts used (section 3 unless said):
// - /v2/ anonymously: 401, `Content-Type: text/html; charset=utf-8`, body `true` (4 bytes),
//   `Server: nginx/1.12.1`, challenge `Bearer realm="https://quay.io/v2/auth",service="quay.io"`
//   with no scope (3.1, CAPTURE 2022).
// - Two challenges on one line, `Basic realm="quay.io", Bearer realm=…`: a CLAIM, emulated as a
//   stress case only (option `twoChallenges`).
// - Token: GET /v2/auth?service=quay.io&scope=repository:<ns>/<repo>:pull, answer `{"token"}`;
//   a 2026 fixture adds `"expires_in":600,"issued_at"` (CLAIM): option `tokenExpiresIn`, both
//   tested (3.2).
// - Public repositories need no token at all: manifests, blob HEAD, tags/list answer anonymous
//   requests (3.2, CAPTURE 2021–2024).
// - A refused resource: 401 with the 112-byte body `{"errors":[{"code":"UNAUTHORIZED","detail":
//   {},"message":"access to the requested resource is not authorized"}]}`, `content-type:
//   application/json`, reason phrase `UNAUTHORIZED` (Flask), challenge with
//   `scope="repository:<repo>:pull"` (3.2, CAPTURE 2025 on-prem; body INFER from its length).
// - Basic credentials sent to the registry API: `{"error": "Invalid bearer token format"}`, a
//   non-OCI shape (3.2, CAPTURE 2022 on _catalog).
// - Blob GET: `302 FOUND`, a Werkzeug HTML body, `Location` on the CDN, `Accept-Ranges: bytes`,
//   `Docker-Content-Digest`, `Cache-Control: max-age=31536000` on a redirect whose signature
//   expires, `X-Frame-Options: DENY`, `Strict-Transport-Security: max-age=63072000; preload`
//   (3.3, CAPTURE 2020).
// - CloudFront Location `https://d3uo42mtx6z2cr.cloudfront.net/sha256/<xx>/<hex>?Expires=<epoch>
//   &Signature=<…>&Key-Pair-Id=APKAJ67PQLWGCSP66DGA` (CAPTURE 2020); since 2021 `cdn0N.quay.io`
//   (cdn01–03, DOC), with `namespace` and `username` added for accounting (2024): option `cdn`.
// - Blob HEAD: 200 straight from the registry, `content-type: application/octet-stream`,
//   `cache-control: max-age=31436000` (sic), no redirect (3.3, CAPTURE 2023).
// - Tags: `link: </v2/<repo>/tags/list?n=100&last=<tag>>; rel="next"`, pages of 100 whatever
//   was asked, `content-type: application/json`, `vary: Cookie` (3.4, CAPTURE 2024). Before:
//   `next_page=<opaque>&n=50`, relative (2021) or absolute (2016), `last=` ignored: option
//   `tagPages`, every form tested.
// - `_catalog` needs a token and lists only what its bearer may see (3.5).
// - No referrers API on quay.io (3.5, SOCI doc).
// - HTTP/2, so lower-case names (section 0); option `headerCase`.
//
// Guessed: an unknown or absent repository is refused like a private one (401, the usual
// "unauthorized: access to the requested resource is not authorized" of a mistyped quay.io
// name), for signed-in users too; the token endpoint grants an empty token for what its
// caller may not see, and answers wrong credentials with 401 `{"error": "Invalid Username or
// Password"}`; tokens last 600 s whether or not the answer says so, and an expired one is
// challenged again with `error="invalid_token"`; /v2/ with a token is 200 `true`; the
// referrers path answers Flask's HTML 404; the CDN's query expiry (10 min), its XML for an
// expired signature (CloudFront's AccessDenied), and its 400 for an Authorization header (S3's
// "Only one auth mechanism allowed", as the CDN fronts S3); the order of `namespace` and
// `username` in the cdn0N query.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext } from './emulator.ts';
import {
  type Answer,
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  backendCatalog,
  backendManifest,
  backendTags,
  blobLength,
  hostOf,
  htmlEscape,
  isDigest,
  isValidName,
  optionControls,
  pageSizeOf,
  routeOf,
  send,
  spendExpireNext,
  tagPage,
  urlOf,
} from './common.ts';
import {
  type Grant,
  type Visibility,
  allows,
  basicCredentials,
  bearerToken,
  isPrivate,
  jwtLike,
  live,
  scopesOf,
  Signer,
  signIn,
  TokenBook,
} from './auth.ts';
import { BlobHomes, objectAnswer, s3TwoAuthError, storeError } from './stores.ts';

export const QUAY_HOST = 'quay.io';
export const QUAY_CLOUDFRONT_HOST = 'd3uo42mtx6z2cr.cloudfront.net';
export const QUAY_CDN_HOSTS = ['cdn01.quay.io', 'cdn02.quay.io', 'cdn03.quay.io'] as const;
const REALM = 'https://quay.io/v2/auth';
const KEY_PAIR_ID = 'APKAJ67PQLWGCSP66DGA';

export interface QuayOptions extends Visibility, SignedUrlSwitches {
  headerCase: HeaderCase;
  /** Send `Basic realm="quay.io", ` before the Bearer challenge on one line (CLAIM). */
  twoChallenges: boolean;
  /** The token answer carries `expires_in: 600` and `issued_at` (CLAIM, 2026). */
  tokenExpiresIn: boolean;
  /** How long a token is accepted. */
  tokenLifetimeMs: number;
  /** The blob host of redirects: CloudFront (2020) or cdn0N.quay.io (2021 on). */
  cdn: 'cloudfront' | 'quay';
  /** How long a CDN URL's signature lasts. */
  cdnUrlLifetimeMs: number;
  /** Tag pages: `n=100&last=` (2024), `next_page=` relative (2021) or absolute (2016). */
  tagPages: 'last' | 'next_page' | 'next_page-absolute';
}

export const defaultQuayOptions = (): QuayOptions => ({
  headerCase: 'lower',
  twoChallenges: false,
  tokenExpiresIn: false,
  tokenLifetimeMs: 600_000,
  cdn: 'quay',
  cdnUrlLifetimeMs: 10 * 60_000,
  tagPages: 'last',
  users: { 'berth+robot': 'ROBOTTOKEN0123456789' },
  privateRepos: ['berth/private'],
});

const QUAY_HEADERS: HeaderList = [
  ['server', 'nginx/1.22.1'],
  ['docker-distribution-api-version', 'registry/2.0'],
  ['x-frame-options', 'DENY'],
  ['strict-transport-security', 'max-age=63072000; preload'],
];
const json: HeaderList = [['content-type', 'application/json']];
// Flask's jsonify ends the document with a newline: that makes the captured 112 bytes.
const UNAUTHORIZED_BODY =
  '{"errors":[{"code":"UNAUTHORIZED","detail":{},"message":"access to the requested resource is not authorized"}]}\n';

export class QuayEmulator implements Emulator {
  readonly name = 'quay';
  readonly hosts = [QUAY_HOST, QUAY_CLOUDFRONT_HOST, ...QUAY_CDN_HOSTS] as const;
  readonly log: EmulatedRequest[] = [];
  readonly options = defaultQuayOptions();
  readonly #ctx: EmulatorContext;
  readonly #tokens = new TokenBook();
  readonly #signer = new Signer();
  readonly #homes = new BlobHomes();
  #cdnTurn = 0;
  /** set, reset, options, expire-next (CDN requests still to be answered as expired). */
  readonly control = optionControls(this.options);

  constructor(ctx: EmulatorContext) {
    this.#ctx = ctx;
  }

  backendName(name: string): string | undefined {
    return isValidName(name) ? `quay/${name}` : undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = hostOf(req);
    const answer = host === QUAY_HOST ? await this.#registry(req) : await this.#cdnHost(req);
    await send(req, res, answer, this.options.headerCase);
  }

  #challenge(scope?: string, error?: string): string {
    const bearer =
      `Bearer realm="${REALM}",service="quay.io"` +
      (scope ? `,scope="${scope}"` : '') +
      (error ? `,error="${error}"` : '');
    return this.options.twoChallenges ? `Basic realm="quay.io", ${bearer}` : bearer;
  }

  #unauthorized(scope: string, error?: string): Answer {
    return {
      status: 401,
      reason: 'UNAUTHORIZED',
      headers: [...json, ...QUAY_HEADERS, ['www-authenticate', this.#challenge(scope, error)]],
      body: UNAUTHORIZED_BODY,
    };
  }

  /** The grant of the request's bearer token: undefined without one; 'invalid' for a Basic
   * header; 'expired' for a token Quay no longer (or never did) accept. */
  #grantOf(req: IncomingMessage): Grant | undefined | 'invalid' | 'expired' {
    const header = req.headers.authorization;
    if (header === undefined) return undefined;
    const token = bearerToken(header);
    if (token === undefined) return 'invalid';
    return live(this.#tokens.lookup(token), this.#ctx) ?? 'expired';
  }

  async #registry(req: IncomingMessage): Promise<Answer> {
    const url = urlOf(req);
    if (url.pathname === '/v2/auth') return this.#token(req, url);
    const route = routeOf(url.pathname, true);
    const grant = this.#grantOf(req);
    if (grant === 'invalid') {
      return {
        status: 401,
        reason: 'UNAUTHORIZED',
        headers: [...json, ...QUAY_HEADERS],
        body: '{"error": "Invalid bearer token format"}',
      };
    }
    if (!route || route.kind === 'referrers') return flaskNotFound();
    if (route.kind === 'base') {
      if (grant === undefined || grant === 'expired') {
        return {
          status: 401,
          reason: 'UNAUTHORIZED',
          headers: [
            ['content-type', 'text/html; charset=utf-8'],
            ...QUAY_HEADERS,
            ['www-authenticate', this.#challenge()],
          ],
          body: 'true',
        };
      }
      return {
        status: 200,
        headers: [['content-type', 'text/html; charset=utf-8'], ...QUAY_HEADERS],
        body: 'true',
      };
    }
    if (route.kind === 'catalog') {
      if (grant === undefined || grant === 'expired' || !allows(grant, 'registry:catalog', '*')) {
        return this.#unauthorized(
          'registry:catalog:*',
          grant === 'expired' ? 'invalid_token' : undefined,
        );
      }
      return this.#catalog(grant, url);
    }
    const scope = `repository:${route.name}:pull`;
    if (grant === 'expired') return this.#unauthorized(scope, 'invalid_token');
    if (!(await this.#mayPull(route.name, grant))) return this.#unauthorized(scope);
    switch (route.kind) {
      case 'manifests':
        return this.#manifest(req, route.name, route.ref);
      case 'blobs':
        return this.#blob(req, route.name, route.ref, grant);
      case 'tags':
        return this.#tags(route.name, url);
    }
  }

  /** Public repositories are open to all; private ones need a token that grants them; a
   * repository that does not exist is refused as a private one is. */
  async #mayPull(name: string, grant: Grant | undefined): Promise<boolean> {
    if (!(await this.#exists(name))) return false;
    if (!isPrivate(this.options, name)) return true;
    return allows(grant, `repository:${name}`, 'pull');
  }

  async #exists(name: string): Promise<boolean> {
    return (await backendTags(this.#ctx, this.backendName(name)!)) !== undefined;
  }

  async #token(req: IncomingMessage, url: URL): Promise<Answer> {
    const user = signIn(this.options, req.headers.authorization);
    if (
      user === null ||
      (req.headers.authorization && !basicCredentials(req.headers.authorization))
    ) {
      return {
        status: 401,
        reason: 'UNAUTHORIZED',
        headers: [...json, ...QUAY_HEADERS],
        body: '{"error": "Invalid Username or Password"}',
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
      if (s.name === undefined) continue;
      if (s.type === 'registry' && s.name === 'catalog') {
        grant.access['registry:catalog'] = ['*'];
        access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (s.type !== 'repository' || !s.actions.includes('pull')) continue;
      if (!(await this.#exists(s.name))) continue;
      if (isPrivate(this.options, s.name) && !user) continue;
      grant.access[s.resource] = ['pull'];
      access.push({ type: 'repository', name: s.name, actions: ['pull'] });
    }
    const token = this.#tokens.issue(grant, () =>
      jwtLike({
        iss: 'quay',
        aud: 'quay.io',
        sub: user ?? '(anonymous)',
        access,
        iat: Math.floor(now / 1000),
      }),
    );
    const doc: Record<string, unknown> = { token };
    if (this.options.tokenExpiresIn) {
      doc.expires_in = this.options.tokenLifetimeMs / 1000;
      doc.issued_at = new Date(now).toISOString();
    }
    return { status: 200, headers: [...json, ...QUAY_HEADERS], body: JSON.stringify(doc) };
  }

  async #manifest(req: IncomingMessage, name: string, reference: string): Promise<Answer> {
    const got = await backendManifest(this.#ctx, req, 'quay', name, reference, QUAY_HEADERS);
    if (!('code' in got)) return got;
    return {
      status: got.status,
      headers: [...json, ...QUAY_HEADERS],
      body: JSON.stringify({ errors: [{ code: got.code, detail: {}, message: got.message }] }),
    };
  }

  async #blob(
    req: IncomingMessage,
    name: string,
    digest: string,
    grant: Grant | undefined,
  ): Promise<Answer> {
    const backendName = this.backendName(name)!;
    const unknown = {
      status: 404,
      headers: [...json, ...QUAY_HEADERS],
      body: JSON.stringify({
        errors: [{ code: 'BLOB_UNKNOWN', detail: {}, message: 'blob unknown to registry' }],
      }),
    };
    const length = isDigest(digest) ? await blobLength(this.#ctx, backendName, digest) : undefined;
    if (length === undefined) return unknown;
    if (req.method === 'HEAD') {
      // HEAD is answered by the registry itself, with no redirect.
      return {
        status: 200,
        headers: [
          ['content-type', 'application/octet-stream'],
          ['content-length', length],
          ['docker-content-digest', digest],
          ['cache-control', 'max-age=31436000'],
          ...QUAY_HEADERS,
        ],
      };
    }
    this.#homes.set(digest, backendName);
    const location = this.signedCdnUrl(digest, name.split('/')[0]!, grant?.sub ?? '');
    const target = htmlEscape(location);
    return {
      status: 302,
      reason: 'FOUND',
      headers: [
        ['content-type', 'text/html; charset=utf-8'],
        ['location', location],
        ['accept-ranges', 'bytes'],
        ['docker-content-digest', digest],
        ['cache-control', 'max-age=31536000'],
        ...QUAY_HEADERS,
      ],
      body:
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>Redirecting...</title>\n' +
        '<h1>Redirecting...</h1>\n' +
        `<p>You should be redirected automatically to target URL: <a href="${target}">${target}</a>.  If not click the link.`,
    };
  }

  /** A CDN URL for a blob, signed until now + cdnUrlLifetimeMs, on the CDN the options say
   * (cdn01–03 in turn). */
  signedCdnUrl(digest: string, namespace: string, username: string): string {
    const hex = digest.slice('sha256:'.length);
    const expires = String(Math.floor((this.#ctx.now() + this.options.cdnUrlLifetimeMs) / 1000));
    const path = `/sha256/${hex.slice(0, 2)}/${hex}`;
    // CloudFront signatures are base64 with +=/ swapped for -_~.
    const signature = this.#signer
      .mac(`${path}\n${expires}`, 'base64')
      .replace(/\+/g, '-')
      .replace(/=/g, '_')
      .replace(/\//g, '~');
    const q = new URLSearchParams({
      Expires: expires,
      Signature: signature,
      'Key-Pair-Id': KEY_PAIR_ID,
    });
    if (this.options.cdn === 'cloudfront') return `https://${QUAY_CLOUDFRONT_HOST}${path}?${q}`;
    q.set('namespace', namespace);
    q.set('username', username);
    const host = QUAY_CDN_HOSTS[this.#cdnTurn++ % QUAY_CDN_HOSTS.length]!;
    return `https://${host}${path}?${q}`;
  }

  async #tags(name: string, url: URL): Promise<Answer> {
    const all = (await backendTags(this.#ctx, this.backendName(name)!)) ?? [];
    const headers: HeaderList = [...json, ...QUAY_HEADERS, ['vary', 'Cookie']];
    let page;
    if (this.options.tagPages === 'last') {
      page = tagPage(all, 100, url.searchParams.get('last'));
      if (page.last !== undefined) {
        headers.push([
          'link',
          `</v2/${name}/tags/list?n=100&last=${encodeURIComponent(page.last)}>; rel="next"`,
        ]);
      }
    } else {
      // The old cursor: opaque, 50 a page, and `last` ignored.
      const after = this.#cursor(url.searchParams.get('next_page'));
      page = tagPage(all, 50, after);
      if (page.last !== undefined) {
        const q = `next_page=${encodeURIComponent(this.#makeCursor(page.last))}&n=50`;
        const base = this.options.tagPages === 'next_page-absolute' ? `https://${QUAY_HOST}` : '';
        headers.push(['link', `<${base}/v2/${name}/tags/list?${q}>; rel="next"`]);
      }
    }
    return { status: 200, headers, body: JSON.stringify({ name, tags: page.tags }) };
  }

  /** A Fernet-looking cursor (`gAAAAA…`) that holds the last tag, sealed by the signer. */
  #makeCursor(last: string): string {
    const payload = Buffer.from(last).toString('base64url');
    return `gAAAAA${payload}.${this.#signer.mac(payload, 'base64').replace(/=+$/, '')}=`;
  }

  #cursor(value: string | null): string | null {
    if (value === null) return null;
    const m = /^gAAAAA([A-Za-z0-9_-]*)\.(.+)=$/.exec(value);
    if (!m || !this.#signer.verify(m[1]!, `${m[2]!}${'='.repeat((4 - (m[2]!.length % 4)) % 4)}`)) {
      return null;
    }
    return Buffer.from(m[1]!, 'base64url').toString();
  }

  async #catalog(grant: Grant, url: URL): Promise<Answer> {
    const visible = (await backendCatalog(this.#ctx, 'quay')).filter(
      (r) => !isPrivate(this.options, r) || grant.sub !== '',
    );
    const n = pageSizeOf(url) ?? 100;
    const page = tagPage(visible, n, url.searchParams.get('last'));
    const headers: HeaderList = [...json, ...QUAY_HEADERS];
    if (page.last !== undefined) {
      headers.push([
        'link',
        `</v2/_catalog?n=${n}&last=${encodeURIComponent(page.last)}>; rel="next"`,
      ]);
    }
    return { status: 200, headers, body: JSON.stringify({ repositories: page.tags }) };
  }

  /** The CDN: CloudFront in front of S3, checking its own signature. */
  async #cdnHost(req: IncomingMessage): Promise<Answer> {
    const url = urlOf(req);
    const m = /^\/sha256\/([a-f0-9]{2})\/([a-f0-9]{64})$/.exec(url.pathname);
    if (req.headers.authorization !== undefined) {
      return s3TwoAuthError(req.headers.authorization);
    }
    const expires = url.searchParams.get('Expires') ?? '';
    const signature = (url.searchParams.get('Signature') ?? '')
      .replace(/-/g, '+')
      .replace(/_/g, '=')
      .replace(/~/g, '/');
    if (
      !m ||
      m[1] !== m[2]!.slice(0, 2) ||
      url.searchParams.get('Key-Pair-Id') !== KEY_PAIR_ID ||
      !this.#signer.verify(`${url.pathname}\n${expires}`, signature) ||
      Number(expires) * 1000 <= this.#ctx.now() ||
      spendExpireNext(this.options)
    ) {
      return storeError('s3', 403, 'AccessDenied', 'Access denied', { ids: true });
    }
    const digest = `sha256:${m[2]}`;
    const home = this.#homes.get(digest);
    if (!home) {
      return storeError('s3', 404, 'NoSuchKey', 'The specified key does not exist.', { ids: true });
    }
    return objectAnswer(this.#ctx, req, home, digest, (lengths) => [
      ['content-type', 'application/octet-stream'],
      ['accept-ranges', 'bytes'],
      ['etag', `"${randomBytes(16).toString('hex')}"`],
      ['server', 'AmazonS3'],
      ['x-cache', 'Hit from cloudfront'],
      ['via', '1.1 0123456789abcdef0123456789abcdef.cloudfront.net (CloudFront)'],
      ...lengths,
    ]);
  }
}

/** Flask's 404 page, for a path Quay's /v2/ API has no route for. */
function flaskNotFound(): Answer {
  return {
    status: 404,
    reason: 'NOT FOUND',
    headers: [['content-type', 'text/html; charset=utf-8'], ...QUAY_HEADERS],
    body:
      '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n' +
      '<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n',
  };
}

export const quayEmulator = (ctx: EmulatorContext) => new QuayEmulator(ctx);
