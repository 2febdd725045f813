// Amazon ECR Public, `public.ecr.aws`, with the CloudFront host its blobs are served from.
//
// Facts used, from ../shared/REGISTRIES.md §5 (and §0, §10, §11):
// - Challenge `Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"`:
//   a realm with a trailing slash and the non-repository scope `aws` (FIXTURE, consistent).
// - Token: `GET /token/?service=public.ecr.aws&scope=…` answers `{"token":"…"}`, a "global"
//   anonymous token (CLAIM 2025). Signed in, the token is sent as Bearer; sent as Basic to the
//   registry it gets `{"errors":[{"code":"DENIED","message":"Your Authorization Token is invalid."}]}`.
// - Without a token, manifests get 401.
// - HEAD on a blob gets 401 even with a token (CLAIM 2025; switch `blobHeadUnauthorized`).
// - Blobs are served from CloudFront in front of S3: S3 headers (an S3 multipart ETag, not the
//   digest, `server: AmazonS3`, `x-cache: Hit from cloudfront`), Range gives 206; S3 refuses a
//   forwarded Authorization with its "Only one auth mechanism allowed" 400 (CAPTURE).
// - Tags as private ECR pages them: an absolute Link with an opaque `last` and no `n`,
//   `Content-Type: text/plain; charset=utf-8`, pages of 100 by default, `n` above 1000 refused
//   with UNSUPPORTED (CAPTURE, private ECR; INFER the same backend for ECR Public).
// - Referrers API: supported (SOCI doc).
// - Anonymous pulls are throttled at about 1 a second (DOC-ish; switch `anonymousPullsPerSecond`).
// Guessed (not captured):
// - The CloudFront host name (`d2glxqk2uabbnd.cloudfront.net`) and the redirect: 307 with a
//   CloudFront signed URL (Expires, Signature, Key-Pair-Id) valid 10 minutes; expired, S3's
//   AccessDenied 403.
// - Whether the token is really global (`tokenScope`: `global` answers any public repository
//   whatever scope was asked; `repository` grants only the repository scopes asked, so a client
//   that asks only for `aws` gets nothing).
// - Signing in: Basic `AWS:<token from get-authorization-token>` at the token endpoint.
// - The 429: `{"errors":[{"code":"TOOMANYREQUESTS","message":"Rate exceeded"}]}`, no Retry-After;
//   what counts is a manifest GET.
// - Error wording for a missing repository or tag (private ECR's).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { EmulatedRequest, Emulator, EmulatorContext, EmulatorFactory } from './emulator.ts';
import {
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  answer,
  API_VERSION,
  backendTags,
  blobLength,
  errorBody,
  forward,
  hostOf,
  optionControls,
  pageTags,
  relay,
  routeOf,
  send,
  urlLifetime,
  urlOf,
} from './common.ts';
import { type Grant, Signer, basicCredentials, bearerToken, readGrant, scopesOf } from './auth.ts';
import {
  isFallbackTag,
  referrersAnswer,
  s3ExpiredError,
  s3TwoAuthError,
  serveObject,
  storeError,
} from './stores.ts';

export const ECR_PUBLIC_HOST = 'public.ecr.aws';
export const ECR_CDN_HOST = 'd2glxqk2uabbnd.cloudfront.net';
const REGISTRY_ID = '709825985650';

export interface EcrPublicOptions extends SignedUrlSwitches {
  /** Tokens from `aws ecr-public get-authorization-token`, for Basic `AWS:<token>` sign-in. */
  authTokens?: string[];
  tokenScope?: 'global' | 'repository';
  blobHeadUnauthorized?: boolean;
  /** Manifest GETs a second allowed without signing in; undefined: unlimited. */
  anonymousPullsPerSecond?: number;
  /** How long a CloudFront URL lives, ms (default 10 min). */
  signedUrlMs?: number;
  headerCase?: HeaderCase;
}

/** The token `aws ecr-public get-authorization-token` would give, for signing in as `AWS`. */
export const ECR_AUTH_TOKEN = 'berth-emulated-ecr-public-authorization-token';

/** The factory the offline internet loads; switches are set with control('set', {…}). */
export const ecrPublicEmulator: EmulatorFactory = (ctx) =>
  ecrPublic(ctx, { authTokens: [ECR_AUTH_TOKEN] });

export function ecrPublic(ctx: EmulatorContext, opts: EcrPublicOptions = {}): Emulator {
  const log: EmulatedRequest[] = [];
  const signer = new Signer();
  const backendName = (name: string) => `ecrpublic/${name}`;
  let headerCase: HeaderCase = 'lower';
  const common = API_VERSION;
  const json: HeaderList = [...common, ['content-type', 'application/json; charset=utf-8']];
  const challenge = `Bearer realm="https://${ECR_PUBLIC_HOST}/token/",service="${ECR_PUBLIC_HOST}",scope="aws"`;
  /** Anonymous manifest GETs in the current second. */
  let window = { second: 0, count: 0 };

  function unauthorized(req: IncomingMessage, res: ServerResponse) {
    answer(
      req,
      res,
      401,
      [...json, ['www-authenticate', challenge]],
      errorBody('UNAUTHORIZED', 'Not Authorized'),
      headerCase,
    );
  }

  function token(req: IncomingMessage, res: ServerResponse, url: URL) {
    const creds = basicCredentials(req.headers.authorization);
    if (creds && (creds.user !== 'AWS' || !(opts.authTokens ?? []).includes(creds.password))) {
      answer(
        req,
        res,
        401,
        json,
        errorBody('DENIED', 'Your authorization token has expired. Reauthenticate and try again.'),
        headerCase,
      );
      return;
    }
    const access: Grant['access'] = {};
    if ((opts.tokenScope ?? 'global') === 'global') access['*'] = ['pull'];
    else {
      for (const s of scopesOf(url)) {
        if (s.resource.startsWith('repository:'))
          access[s.resource] = s.actions.filter((a) => a === 'pull');
      }
    }
    const value = signer.sign({
      sub: creds ? 'AWS' : '',
      access,
      exp: ctx.now() + 12 * 3600_000,
    } satisfies Grant);
    answer(
      req,
      res,
      200,
      [['content-type', 'application/json']],
      JSON.stringify({ token: Buffer.from(value).toString('base64') }),
      headerCase,
    );
  }

  function grantFor(req: IncomingMessage): Grant | undefined {
    const token = bearerToken(req.headers.authorization);
    if (!token) return undefined;
    // The token is handed out base64-encoded, as ECR's are.
    return readGrant(signer, ctx, Buffer.from(token, 'base64').toString());
  }

  const may = (grant: Grant | undefined, name: string) =>
    !!grant && (!!grant.access['*'] || !!grant.access[`repository:${name}`]?.includes('pull'));

  function notFound(req: IncomingMessage, res: ServerResponse, code: string, message: string) {
    answer(req, res, 404, json, errorBody(code, message), headerCase);
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (url.pathname === '/token/' || url.pathname === '/token') return token(req, res, url);
    if (/^Basic\s/i.test(req.headers.authorization ?? '')) {
      answer(
        req,
        res,
        403,
        json,
        errorBody('DENIED', 'Your Authorization Token is invalid.'),
        headerCase,
      );
      return;
    }
    const route = routeOf(url.pathname);
    if (!route || route.kind === 'catalog') {
      answer(req, res, 404, json, errorBody('NOT_FOUND', 'Not Found'), headerCase);
      return;
    }
    const grant = grantFor(req);
    if (route.kind === 'base') {
      if (grant) answer(req, res, 200, json, '{}', headerCase);
      else unauthorized(req, res);
      return;
    }
    const name = route.name;
    if (!may(grant, name)) return unauthorized(req, res);
    if (route.kind === 'blobs' && req.method === 'HEAD' && (opts.blobHeadUnauthorized ?? true)) {
      return unauthorized(req, res);
    }
    const repo = backendName(name);
    const tags = await backendTags(ctx, repo);
    if (tags === undefined) {
      return notFound(
        req,
        res,
        'NAME_UNKNOWN',
        `The repository with name '${name}' does not exist in the registry with id '${REGISTRY_ID}'`,
      );
    }
    if (
      route.kind === 'manifests' &&
      req.method === 'GET' &&
      grant!.sub === '' &&
      opts.anonymousPullsPerSecond !== undefined
    ) {
      const second = Math.floor(ctx.now() / 1000);
      if (window.second !== second) window = { second, count: 0 };
      if (++window.count > opts.anonymousPullsPerSecond) {
        answer(req, res, 429, json, errorBody('TOOMANYREQUESTS', 'Rate exceeded'), headerCase);
        return;
      }
    }
    if (route.kind === 'referrers') {
      const { body, headers } = await referrersAnswer(
        ctx,
        repo,
        route.ref,
        url.searchParams.get('artifactType'),
      );
      answer(req, res, 200, [...common, ...headers], body, headerCase);
      return;
    }
    if (route.kind === 'tags') {
      // A registry with the referrers API never has the tag schema's tags.
      const listed = tags.filter((t) => !isFallbackTag(t)).sort();
      const page = pageTags(listed, name, url, { kind: 'ecr', host: ECR_PUBLIC_HOST, signer });
      if (page.error) {
        answer(req, res, page.error.status, json, page.error.body, headerCase);
        return;
      }
      const headers: HeaderList = [...common, ['content-type', 'text/plain; charset=utf-8']];
      if (page.link) headers.push(['link', page.link]);
      answer(req, res, 200, headers, JSON.stringify({ name, tags: page.tags }), headerCase);
      return;
    }
    if (route.kind === 'blobs' && req.method === 'GET') {
      if ((await blobLength(ctx, repo, route.ref)) === undefined)
        return notFound(
          req,
          res,
          'BLOB_UNKNOWN',
          `Layer with digest '${route.ref}' does not exist`,
        );
      const expires = Math.floor(
        (ctx.now() + urlLifetime(opts, opts.signedUrlMs ?? 10 * 60_000)) / 1000,
      );
      const key = signer.sign({ r: repo, d: route.ref });
      const path = `/${key}`;
      const q = new URLSearchParams({
        Expires: String(expires),
        Signature: signer.mac(`${path}\n${expires}`, 'base64url').replace(/-/g, '~'),
        'Key-Pair-Id': 'K1AEMUIJB2XVVB',
      });
      answer(
        req,
        res,
        307,
        [...common, ['location', `https://${ECR_CDN_HOST}${path}?${q}`]],
        '',
        headerCase,
      );
      return;
    }
    const upstream = await forward(ctx, req, repo, route.kind, route.ref);
    if (upstream.status === 404) {
      await upstream.body?.cancel();
      return notFound(req, res, 'MANIFEST_UNKNOWN', 'Requested image not found');
    }
    await relay(req, res, upstream, common, headerCase);
  }

  async function cdn(req: IncomingMessage, res: ServerResponse, url: URL) {
    const key = url.pathname.slice(1);
    const obj = signer.read<{ r: string; d: string }>(key);
    const expires = Number(url.searchParams.get('Expires'));
    const good =
      obj &&
      signer.mac(`${url.pathname}\n${expires}`, 'base64url').replace(/-/g, '~') ===
        url.searchParams.get('Signature');
    if (!good)
      return send(req, res, storeError('s3', 403, 'AccessDenied', 'Access denied'), 'lower');
    if (req.headers.authorization !== undefined) {
      return send(req, res, s3TwoAuthError(req.headers.authorization), 'lower');
    }
    if (expires * 1000 <= ctx.now()) {
      return send(req, res, s3ExpiredError(), 'lower');
    }
    const etag = createHash('md5').update(obj.d).digest('hex');
    await serveObject(ctx, req, res, { repo: obj.r, digest: obj.d }, [
      ['etag', `"${etag}-1"`],
      ['server', 'AmazonS3'],
      ['x-amz-server-side-encryption', 'AES256'],
      ['x-cache', 'Hit from cloudfront'],
      ['via', '1.1 a5a0710f4845ad00ea1f7ede6b345c78.cloudfront.net (CloudFront)'],
    ]);
  }

  return {
    name: 'ecrpublic',
    hosts: [ECR_PUBLIC_HOST, ECR_CDN_HOST],
    backendName,
    log,
    control: optionControls(opts),
    async handle(req, res) {
      headerCase = opts.headerCase ?? 'lower';
      const url = urlOf(req);
      if (hostOf(req) === ECR_CDN_HOST) return cdn(req, res, url);
      return registry(req, res, url);
    },
  };
}
