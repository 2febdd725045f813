// Google Artifact Registry's Docker host, `us-docker.pkg.dev`, with the Google sign-in page its
// referrers path leads to (accounts.google.com).
//
// Facts used, from ../shared/REGISTRIES.md §4 (and §0, §10, §11):
// - `/v2/` challenges with `Bearer realm="https://us-docker.pkg.dev/v2/token"` and no service
//   and no scope; resource endpoints add `service="us-docker.pkg.dev"` and
//   `scope="repository:<repo>:pull"` (CAPTURE 2026-09, lower-case header names).
// - The token endpoint does not take the OAuth POST (404, as for GCR).
// - Blobs: `302 Found` with a relative Location on the same host,
//   `/artifacts-downloads/namespaces/<ns>/repositories/<repo>/downloads/<~1068 chars of
//   url-safe base64>`, whose target needs no Authorization (CAPTURE description 2020-12).
// - `GET /v2/<repo>/referrers/<digest>` redirects to
//   `https://accounts.google.com/v3/signin/identifier?…continue=https://console.cloud.google.com/artifacts/tags/v2/…`,
//   an HTML page (DOC with capture, SOCI): clients must fall back to the tag schema.
// - `tags/list?n=10000` answered 405 for one user (2022, unexplained).
// Guessed (not captured):
// - The token answer (`tokenFields`: `full` with expires_in and issued_at, or `token-only`),
//   3600 s, granted to anonymous callers for public repositories; signing in is Basic with
//   `oauth2accesstoken` or `_json_key` at the token endpoint; a bad one gets 401.
// - A repository that is private or missing, asked with a token that does not cover it, gets
//   403 DENIED `Permission "artifactregistry.repositories.downloadArtifacts" denied on resource
//   "projects/<p>/locations/us/repositories/<r>" (or it may not exist)`, the wording people
//   quote from docker; a signed-in caller asking for a missing one gets 404 NAME_UNKNOWN.
// - The download URL lives 10 minutes; past that it gets Google's HTML 403 page.
// - The 405 bound: `n` above `maxTagPage` (default 1000); with `n`, pages with a relative
//   distribution-style Link; without, every tag.
// - No _catalog (404).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
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
  isoDate,
  optionControls,
  pageTags,
  relay,
  routeOf,
  urlLifetime,
  urlOf,
} from './common.ts';
import { type Grant, Signer, allows, basicCredentials, grantOf, scopesOf } from './auth.ts';
import { serveObject } from './stores.ts';
import { googleNotFound } from './gcr.ts';

export const AR_HOST = 'us-docker.pkg.dev';
export const GOOGLE_SIGNIN_HOST = 'accounts.google.com';

export interface ArtifactRegistryOptions extends SignedUrlSwitches {
  /** Users (`oauth2accesstoken`, `_json_key`) → password; they may pull everything. */
  users?: Record<string, string>;
  tokenFields?: 'full' | 'token-only';
  /** The largest `n` tags/list accepts; above it, 405. Default 1000. */
  maxTagPage?: number;
  /** How long a download URL lives, ms (default 10 min). */
  downloadMs?: number;
  headerCase?: HeaderCase;
}

/** Who can sign in to the namespace's Artifact Registry (a made-up access token). */
export const AR_USERS: Record<string, string> = {
  oauth2accesstoken: 'ya29.berth-emulated-ar-token',
};

/** The factory the offline internet loads; switches are set with control('set', {…}). */
export const artifactRegistryEmulator: EmulatorFactory = (ctx) =>
  artifactRegistry(ctx, { users: { ...AR_USERS } });

export function artifactRegistry(
  ctx: EmulatorContext,
  opts: ArtifactRegistryOptions = {},
): Emulator {
  const log: EmulatedRequest[] = [];
  const signer = new Signer();
  /** Anyone may pull a repository (`<project>/<repository>/<image>`) unless its repository
   * component is `private`. */
  const isPublic = (name: string) => name.split('/')[1] !== 'private';
  const backendName = (name: string) => `artifactregistry/${name}`;
  let headerCase: HeaderCase = 'lower';
  const common = API_VERSION;
  const json: HeaderList = [...common, ['content-type', 'application/json; charset=utf-8']];
  const realm = `https://${AR_HOST}/v2/token`;

  function unauthorized(req: IncomingMessage, res: ServerResponse, name?: string) {
    const challenge = name
      ? `Bearer realm="${realm}",service="${AR_HOST}",scope="repository:${name}:pull"`
      : `Bearer realm="${realm}"`;
    answer(
      req,
      res,
      401,
      [...json, ['www-authenticate', challenge]],
      errorBody(
        'UNAUTHORIZED',
        'Unauthenticated request. Unauthenticated requests do not have permission "artifactregistry.repositories.downloadArtifacts" on resource',
      ),
      headerCase,
    );
  }

  function denied(req: IncomingMessage, res: ServerResponse, name: string) {
    const [project, repository] = name.split('/');
    answer(
      req,
      res,
      403,
      json,
      errorBody(
        'DENIED',
        `Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/${project}/locations/us/repositories/${repository}" (or it may not exist)`,
      ),
      headerCase,
    );
  }

  function token(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (req.method === 'POST') {
      return googleNotFound(req, res, url.pathname, headerCase);
    }
    const creds = basicCredentials(req.headers.authorization);
    const users = opts.users ?? {};
    if (creds && users[creds.user] !== creds.password) {
      answer(
        req,
        res,
        401,
        json,
        errorBody('UNAUTHORIZED', 'failed to authenticate: invalid credentials'),
        headerCase,
      );
      return;
    }
    const user = creds?.user ?? '';
    const now = ctx.now();
    const access: Grant['access'] = {};
    for (const s of scopesOf(url)) {
      const name = s.resource.replace(/^repository:/, '');
      if (s.resource.startsWith('repository:') && (user || isPublic(name))) {
        access[s.resource] = s.actions.filter((a) => a === 'pull');
      }
    }
    const lifetime = 3600;
    const value = signer.sign({ sub: user, access, exp: now + lifetime * 1000 } satisfies Grant);
    const doc =
      opts.tokenFields === 'token-only'
        ? { token: value }
        : { token: value, expires_in: lifetime, issued_at: isoDate(now, true) };
    answer(
      req,
      res,
      200,
      [['content-type', 'application/json; charset=utf-8']],
      JSON.stringify(doc),
      headerCase,
    );
  }

  /** A download path: the namespace and repository the real ones name, then an opaque,
   * signed, url-safe base64 of about a thousand characters. */
  function downloadPath(name: string, digest: string): string {
    const [project, repository] = name.split('/');
    const blob = signer.sign({
      r: backendName(name),
      d: digest,
      e: ctx.now() + urlLifetime(opts, opts.downloadMs ?? 10 * 60_000),
      p: randomBytes(640).toString('base64url'),
    });
    return `/artifacts-downloads/namespaces/${project}/repositories/${repository}/downloads/${blob}`;
  }

  async function download(req: IncomingMessage, res: ServerResponse, url: URL) {
    const m =
      /^\/artifacts-downloads\/namespaces\/[^/]+\/repositories\/[^/]+\/downloads\/([^/]+)$/.exec(
        url.pathname,
      );
    const obj = m ? signer.read<{ r: string; d: string; e: number }>(m[1]!) : undefined;
    if (!obj) {
      return googleNotFound(req, res, url.pathname, headerCase);
    }
    if (obj.e <= ctx.now()) {
      // Google's front end answers with its own HTML error page, not the registry's JSON.
      answer(
        req,
        res,
        403,
        [['content-type', 'text/html; charset=UTF-8']],
        '<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 403 (Forbidden)!!1</title>\n  <p><b>403.</b> <ins>That’s an error.</ins>\n  <p>Your client does not have permission to get this URL.  <ins>That’s all we know.</ins>\n',
        headerCase,
      );
      return;
    }
    await serveObject(ctx, req, res, { repo: obj.r, digest: obj.d }, []);
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (url.pathname === '/v2/token') return token(req, res, url);
    if (url.pathname.startsWith('/artifacts-downloads/')) return download(req, res, url);
    const route = routeOf(url.pathname);
    if (!route || route.kind === 'catalog') {
      answer(
        req,
        res,
        404,
        json,
        errorBody('NOT_FOUND', 'Requested entity was not found.'),
        headerCase,
      );
      return;
    }
    const grant = grantOf(signer, ctx, req.headers.authorization);
    if (route.kind === 'base') {
      if (grant) answer(req, res, 200, json, '{}', headerCase);
      else unauthorized(req, res);
      return;
    }
    const name = route.name;
    if (!grant) return unauthorized(req, res, name);
    if (!allows(grant, `repository:${name}`, 'pull')) return denied(req, res, name);
    const repo = backendName(name);
    const tags = await backendTags(ctx, repo);
    if (tags === undefined) {
      if (!grant.sub) return denied(req, res, name);
      answer(
        req,
        res,
        404,
        json,
        errorBody('NAME_UNKNOWN', `Repository "${name}" not found`),
        headerCase,
      );
      return;
    }
    if (route.kind === 'referrers') {
      const continueTo = `https://console.cloud.google.com/artifacts/tags/v2/${name}/referrers/${route.ref}`;
      const q = new URLSearchParams({
        continue: continueTo,
        followup: continueTo,
        passive: '1209600',
        flowName: 'WebLiteSignIn',
        flowEntry: 'ServiceLogin',
      });
      answer(
        req,
        res,
        302,
        [
          ['content-type', 'text/html; charset=UTF-8'],
          ['location', `https://${GOOGLE_SIGNIN_HOST}/v3/signin/identifier?${q}`],
        ],
        `<HTML><HEAD><meta http-equiv="content-type" content="text/html;charset=utf-8">\n<TITLE>302 Moved</TITLE></HEAD><BODY>\n<H1>302 Moved</H1>\nThe document has moved\n</BODY></HTML>\n`,
        headerCase,
      );
      return;
    }
    if (route.kind === 'tags') {
      const n = url.searchParams.get('n');
      if (n !== null && Number(n) > (opts.maxTagPage ?? 1000)) {
        answer(
          req,
          res,
          405,
          json,
          errorBody('UNSUPPORTED', 'The operation is unsupported.'),
          headerCase,
        );
        return;
      }
      const page = pageTags([...tags].sort(), name, url, { kind: 'link-relative' });
      const headers: HeaderList = [...json];
      if (page.link) headers.push(['link', page.link]);
      answer(req, res, 200, headers, JSON.stringify({ name, tags: page.tags }), headerCase);
      return;
    }
    if (route.kind === 'blobs' && req.method === 'GET') {
      if ((await blobLength(ctx, repo, route.ref)) === undefined) {
        answer(
          req,
          res,
          404,
          json,
          errorBody('BLOB_UNKNOWN', 'blob unknown to registry'),
          headerCase,
        );
        return;
      }
      answer(
        req,
        res,
        302,
        [
          ...common,
          ['content-type', 'text/html; charset=utf-8'],
          ['location', downloadPath(name, route.ref)],
        ],
        '',
        headerCase,
      );
      return;
    }
    const upstream = await forward(ctx, req, repo, route.kind, route.ref);
    await relay(req, res, upstream, common, headerCase);
  }

  function signIn(req: IncomingMessage, res: ServerResponse) {
    answer(
      req,
      res,
      200,
      [
        ['content-type', 'text/html; charset=utf-8'],
        ['x-frame-options', 'DENY'],
      ],
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in - Google Accounts</title></head><body><div id="initialView">Sign in</div><script nonce="x">window.WIZ_global_data={};</script></body></html>\n',
      'lower',
    );
  }

  return {
    name: 'artifactregistry',
    hosts: [AR_HOST, GOOGLE_SIGNIN_HOST],
    backendName,
    log,
    control: optionControls(opts),
    async handle(req, res) {
      headerCase = opts.headerCase ?? 'lower';
      const url = urlOf(req);
      if (hostOf(req) === GOOGLE_SIGNIN_HOST) return signIn(req, res);
      return registry(req, res, url);
    },
  };
}
