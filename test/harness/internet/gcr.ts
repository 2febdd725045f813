// gcr.io, Google Container Registry, with its blob store on storage.googleapis.com.
//
// Facts used, from ../shared/REGISTRIES.md §4 (and §0, §10, §11):
// - Challenge `Bearer realm="https://gcr.io/v2/token",service="gcr.io"` with no scope, even on
//   _catalog (CAPTURE 2020); since about 2026-02 the service value is unquoted, `service=gcr.io`
//   (switch `quotedService`, default false: the newest form).
// - Public content is served with no token at all: a blob HEAD got 200 with no
//   WWW-Authenticate (CAPTURE 2023).
// - The token endpoint does not take the OAuth POST: containerd notes GCR answers it 404.
// - The "unauthorized" message text (CAPTURE 2018).
// - Blobs redirect to Google Cloud Storage; tags/list carries the GCR extension fields `child`,
//   `manifest` (digest → imageSizeBytes, mediaType, tag, timeCreatedMs, timeUploadedMs, numbers
//   as strings), `name` and `tags` (ggcr CODE).
// - No referrers API: clients fall back to tags (SOCI doc).
// Guessed (not captured; each a switch where two forms are plausible):
// - The token answer's fields (`tokenFields`: `full` = token + expires_in + issued_at, or
//   `token-only`), its lifetime (3600 s) and the 401 body of a bad sign-in.
// - Whether manifests of public repositories also need no token (`anonymousPublic`, default
//   true, as the blob HEAD capture suggests), and what a missing repository answers
//   (`missing`: 404 NAME_UNKNOWN, or the same 401 a private one gets).
// - The redirect: 302 to a V2-signed `storage.googleapis.com/<bucket>/containers/images/<digest>`
//   URL with GoogleAccessId, Expires and Signature (the Location was never captured), valid
//   10 min; its expired and doubly-authorised answers are Cloud Storage's XML errors.
// - Tag paging: GCR answers every tag at once (`tagPaging`, or `link-relative`).
// - The referrers path answers a Google-style HTML 404.
// - _catalog lists the signed-in user's repositories; anonymous callers get the challenge.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext, EmulatorFactory } from './emulator.ts';
import {
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  type TagPaging,
  answer,
  API_VERSION,
  backendCatalog,
  backendFetch,
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
import { ALL_MANIFESTS, serveObject, storeError } from './stores.ts';

export const GCR_HOST = 'gcr.io';
export const GCS_HOST = 'storage.googleapis.com';
const BUCKET = 'artifacts.berth-emulated.appspot.com';

export const GCR_UNAUTHORIZED =
  "You don't have the needed permissions to perform this operation, and you may have invalid credentials. To authenticate your request, follow the steps in: https://cloud.google.com/container-registry/docs/advanced-authentication";

export interface GcrOptions extends SignedUrlSwitches {
  /** Users (`_json_key`, `oauth2accesstoken`) → password; they may pull everything. */
  users?: Record<string, string>;
  quotedService?: boolean;
  anonymousPublic?: boolean;
  missing?: 'not-found' | 'unauthorized';
  tokenFields?: 'full' | 'token-only';
  tagPaging?: 'all' | 'link-relative';
  /** How long a signed Cloud Storage URL lives, ms (default 10 min). */
  signedUrlMs?: number;
  headerCase?: HeaderCase;
}

/** Who can sign in to the namespace's gcr.io: Google's documented user names, made-up secrets. */
export const GCR_USERS: Record<string, string> = {
  oauth2accesstoken: 'ya29.berth-emulated-access-token',
  _json_key: '{"type":"service_account","project_id":"berth-proj"}',
};

/** The factory the offline internet loads; switches are set with control('set', {…}). */
export const gcrEmulator: EmulatorFactory = (ctx) => gcr(ctx, { users: { ...GCR_USERS } });

export function gcr(ctx: EmulatorContext, opts: GcrOptions = {}): Emulator {
  const log: EmulatedRequest[] = [];
  const signer = new Signer();
  // Options are read on every request, so a test can switch a fact between two requests.
  /** Only signed-in users may pull a repository whose second component is `private`
   * (`gcr.io/<project>/private/…`). */
  const isPrivate = (name: string) => name.split('/')[1] === 'private';
  const users = () => opts.users ?? {};
  let headerCase: HeaderCase = 'lower';
  /** Which backend repository a digest was redirected from: a Cloud Storage URL names only the
   * digest, and distribution serves blobs only under a repository. */
  const objects = new Map<string, string>();
  const backendName = (name: string) => `gcr/${name}`;

  const challenge = () =>
    `Bearer realm="https://${GCR_HOST}/v2/token",service=${opts.quotedService ? `"${GCR_HOST}"` : GCR_HOST}`;
  const common = API_VERSION;

  function unauthorized(req: IncomingMessage, res: ServerResponse) {
    answer(
      req,
      res,
      401,
      [...common, ['content-type', 'application/json'], ['www-authenticate', challenge()]],
      errorBody('UNAUTHORIZED', GCR_UNAUTHORIZED),
      headerCase,
    );
  }

  async function token(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (req.method === 'POST') {
      return googleNotFound(req, res, url.pathname, headerCase);
    }
    const creds = basicCredentials(req.headers.authorization);
    let user = '';
    if (creds) {
      if (users()[creds.user] === undefined || users()[creds.user] !== creds.password) {
        answer(
          req,
          res,
          401,
          [['content-type', 'application/json']],
          errorBody('UNAUTHORIZED', GCR_UNAUTHORIZED),
          headerCase,
        );
        return;
      }
      user = creds.user;
    }
    const now = ctx.now();
    const access: Grant['access'] = {};
    for (const s of scopesOf(url)) {
      const name = s.resource.replace(/^repository:/, '');
      if (s.resource.startsWith('repository:') && (user || !isPrivate(name))) {
        access[s.resource] = s.actions.filter((a) => a === 'pull');
      }
      if (s.resource === 'registry:catalog' && user) access[s.resource] = ['*'];
    }
    const lifetime = 3600;
    const value = signer.sign({ sub: user, access, exp: now + lifetime * 1000 } satisfies Grant);
    const doc =
      opts.tokenFields === 'token-only'
        ? { token: value }
        : { expires_in: lifetime, issued_at: isoDate(now, true), token: value };
    answer(
      req,
      res,
      200,
      [['content-type', 'application/json; charset=utf-8']],
      JSON.stringify(doc),
      headerCase,
    );
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (url.pathname === '/v2/token') return token(req, res, url);
    const route = routeOf(url.pathname);
    if (!route) {
      return googleNotFound(req, res, url.pathname, headerCase);
    }
    const grant = grantOf(signer, ctx, req.headers.authorization);
    if (route.kind === 'base') {
      if (grant)
        answer(req, res, 200, [...common, ['content-type', 'application/json']], '{}', headerCase);
      else unauthorized(req, res);
      return;
    }
    if (route.kind === 'catalog') {
      if (!allows(grant, 'registry:catalog', '*')) return unauthorized(req, res);
      const repositories = await backendCatalog(ctx, 'gcr');
      answer(
        req,
        res,
        200,
        [...common, ['content-type', 'application/json']],
        JSON.stringify({ repositories }),
        headerCase,
      );
      return;
    }
    const name = route.name;
    const repo = backendName(name);
    const permitted =
      allows(grant, `repository:${name}`, 'pull') ||
      ((opts.anonymousPublic ?? true) && !isPrivate(name));
    if (!permitted) return unauthorized(req, res);
    const tags = await backendTags(ctx, repo);
    if (tags === undefined) {
      // Told apart from a private repository only for a signed-in caller.
      if (opts.missing === 'unauthorized' && !grant?.sub) return unauthorized(req, res);
      answer(
        req,
        res,
        404,
        [...common, ['content-type', 'application/json']],
        errorBody('NAME_UNKNOWN', `Repository "${GCR_HOST}/${name}" not found`),
        headerCase,
      );
      return;
    }
    if (route.kind === 'referrers') {
      return googleNotFound(req, res, url.pathname, headerCase);
    }
    if (route.kind === 'tags') {
      // No referrers API here: the tag schema's `sha256-…` tags are listed like any other.
      const listed = [...tags].sort();
      const paging: TagPaging = { kind: opts.tagPaging ?? 'all' };
      const page = pageTags(listed, name, url, paging);
      const manifest: Record<string, unknown> = {};
      for (const tag of listed) {
        const m = await backendFetch(ctx, `/v2/${repo}/manifests/${tag}`, {
          headers: { accept: ALL_MANIFESTS },
        });
        const bytes = await m.text();
        const digest = m.headers.get('docker-content-digest') ?? '';
        const doc = JSON.parse(bytes) as {
          layers?: Array<{ size: number }>;
          config?: { size: number };
        };
        const entry = (manifest[digest] ??= {
          imageSizeBytes: String(
            (doc.layers ?? []).reduce((sum, l) => sum + l.size, doc.config?.size ?? 0),
          ),
          layerId: '',
          mediaType: (m.headers.get('content-type') ?? '').split(';')[0],
          tag: [] as string[],
          timeCreatedMs: '1704067200000',
          timeUploadedMs: String(ctx.now()),
        }) as { tag: string[] };
        entry.tag.push(tag);
      }
      const headers: HeaderList = [...common, ['content-type', 'application/json']];
      if (page.link) headers.push(['link', page.link]);
      answer(
        req,
        res,
        200,
        headers,
        JSON.stringify({ child: [], manifest, name, tags: page.tags }),
        headerCase,
      );
      return;
    }
    if (route.kind === 'blobs' && req.method === 'GET') {
      // Distribution must hold the blob in this repository, or it is unknown here too.
      if ((await blobLength(ctx, repo, route.ref)) === undefined) {
        answer(
          req,
          res,
          404,
          [...common, ['content-type', 'application/json']],
          errorBody('BLOB_UNKNOWN', 'blob unknown to registry'),
          headerCase,
        );
        return;
      }
      objects.set(route.ref, repo);
      const expires = Math.floor(
        (ctx.now() + urlLifetime(opts, opts.signedUrlMs ?? 10 * 60_000)) / 1000,
      );
      const path = `/${BUCKET}/containers/images/${route.ref}`;
      const signature = signer.mac(`GET\n${expires}\n${path}`, 'base64');
      const q = new URLSearchParams({
        GoogleAccessId: 'registry@berth-emulated.iam.gserviceaccount.com',
        Expires: String(expires),
        Signature: signature,
      });
      answer(
        req,
        res,
        302,
        [
          ...common,
          ['content-type', 'text/html; charset=utf-8'],
          ['location', `https://${GCS_HOST}${path}?${q}`],
        ],
        '',
        headerCase,
      );
      return;
    }
    const upstream = await forward(ctx, req, repo, route.kind, route.ref);
    await relay(req, res, upstream, common, headerCase);
  }

  async function storage(req: IncomingMessage, res: ServerResponse, url: URL) {
    const m = new RegExp(
      `^/${BUCKET.replace(/\./g, '\\.')}/containers/images/(sha256:[0-9a-f]{64})$`,
    ).exec(url.pathname);
    const repo = m ? objects.get(m[1]!) : undefined;
    const expires = Number(url.searchParams.get('Expires'));
    const good =
      m &&
      repo &&
      signer.mac(`GET\n${expires}\n${url.pathname}`, 'base64') ===
        url.searchParams.get('Signature');
    const gcsError = (status: number, code: string, message: string, details?: string) =>
      send(
        req,
        res,
        storeError('gcs', status, code, message, {
          fields: details ? [['Details', details]] : [],
        }),
        'lower',
      );
    if (!good) {
      return gcsError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.',
      );
    }
    if (req.headers.authorization !== undefined) {
      return gcsError(
        400,
        'InvalidArgument',
        'Invalid argument.',
        'Multiple authentication methods are not allowed: the request has both a signature and an Authorization header.',
      );
    }
    if (expires * 1000 <= ctx.now()) {
      return gcsError(
        400,
        'ExpiredToken',
        'The provided token has expired.',
        `Request signature expired at: ${new Date(expires * 1000).toISOString()}`,
      );
    }
    await serveObject(ctx, req, res, { repo: repo!, digest: m![1]! }, [
      ['x-goog-storage-class', 'STANDARD'],
      ['cache-control', 'private, max-age=0'],
    ]);
  }

  return {
    name: 'gcr',
    hosts: [GCR_HOST, GCS_HOST],
    backendName,
    log,
    control: optionControls(opts),
    async handle(req, res) {
      headerCase = opts.headerCase ?? 'lower';
      const url = urlOf(req);
      if (hostOf(req) === GCS_HOST) return storage(req, res, url);
      return registry(req, res, url);
    },
  };
}

/** Google's plain 404 page, as an answer. */
export function googleNotFound(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headerCase: HeaderCase,
): void {
  answer(
    req,
    res,
    404,
    [['content-type', 'text/html; charset=UTF-8']],
    notFoundPage(path),
    headerCase,
  );
}

/** Google's plain 404 page. */
export function notFoundPage(path: string): string {
  return `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${path.replace(/[<>&]/g, '')}</code> was not found on this server.  <ins>That’s all we know.</ins>\n<!-- ${randomBytes(4).toString('hex')} -->\n`;
}
