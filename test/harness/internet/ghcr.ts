// ghcr.io as it answers, from ../shared/REGISTRIES.md section 2 (and 0, 11), over content kept
// in the backend under `ghcr/`.
//
// Facts used (section 2 unless said):
// - /v2/ without Authorization: 401, challenge `Bearer realm="https://ghcr.io/token",
//   service="ghcr.io",scope="repository:user/image:pull"`: the scope on /v2/ is a placeholder
//   (2.1, CAPTURE 2026). Resource endpoints challenge with the real repository's scope.
// - Anonymous resource request: 401 `{"errors":[{"code":"UNAUTHORIZED","message":
//   "authentication required"}]}` (2.1, CAPTURE 2026). No `detail`.
// - An Authorization GHCR does not accept: 403 `DENIED` with no WWW-Authenticate (2.1); Basic
//   on a resource: `{"errors":[{"code":"DENIED","message":"invalid token"}]}` (CAPTURE 2021).
// - An empty bearer: 401 `UNAUTHORIZED` "authentication token not provided" (CAPTURE 2021).
// - `Bearer QQ==` pulls public blobs; manifests need a real token (2.1).
// - Token: GET /token?scope=…[&service=ghcr.io], service optional; the answer is
//   `{"token":"…"}` only, no expires_in; the token is base64 of `v1:<owner>/<repo>:<nanos>`;
//   the anonymous token works for any public package (2.2).
// - A private or absent package, anonymously: the token endpoint refuses, in one of two
//   captured shapes (401 UNAUTHORIZED "authentication required", or DENIED "requested access
//   to the resource is denied"): option `refusedToken`, both tested. `pull,push` is refused
//   to anonymous callers (2.2).
// - Manifests: content-type, content-length, docker-content-digest, etag (quoted digest),
//   docker-distribution-api-version, x-github-request-id (2.3). Missing index Accept: 404
//   MANIFEST_UNKNOWN "OCI index found, but Accept header does not support OCI indexes"
//   (CAPTURE 2026). No rate-limit headers (CLAIM).
// - Blobs: 307 to `https://pkg-containers.githubusercontent.com/ghcrblobs07/blobs/sha256:<hex>
//   ?se=<expiry>&sig=<b64>&sr=b&sv=2025-01-05&hmac=<…>`, an Azure SAS of about 10 minutes
//   (2.4, CAPTURE 2026). Azure Storage refuses an extra Authorization with 400
//   InvalidAuthenticationInfo (6, DOC); Range on a SAS URL works (INFER in 2.4).
// - Tags: Link relative, `</v2/<repo>/tags/list?last=<tag>&n=<n>>; rel="next"` (CLAIM),
//   default page about 100 (CLAIM).
// - No referrers API: clients use the `sha256-<hex>` tag (2.5).
// - Header names lower case, as over HTTP/2 (section 0 conventions); option `headerCase`.
//
// Guessed (not captured): the 307's own headers and empty body; a HEAD of a blob redirects
// like a GET; the token endpoint's answer to wrong credentials (403 DENIED "denied", from
// docker login's `denied: denied`); a token lifetime (default: none, option
// `tokenLifetimeMs`), and an expired or unknown token answered like any token GHCR does not
// accept (403 DENIED "invalid token"); the referrers path's 404 body; `_catalog` (challenged
// with `registry:catalog:*`, whose token request is refused, and DENIED with any token); the
// blob host's XML for an expired or forged SAS (Azure's AuthenticationFailed); /v2/ with a
// valid token (200 `{}`); tag pages when `n` is absent (one default-sized page).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext } from './emulator.ts';
import {
  type Answer,
  type HeaderCase,
  type HeaderList,
  type Route,
  type SignedUrlSwitches,
  backendManifest,
  backendHas,
  backendTags,
  blobLength,
  errorBody,
  hostOf,
  httpDate,
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
  bearerToken,
  isPrivate,
  live,
  scopesOf,
  Signer,
  signIn,
  TokenBook,
} from './auth.ts';
import { BlobHomes, objectAnswer, storeError } from './stores.ts';

export const GHCR_HOST = 'ghcr.io';
export const GHCR_BLOB_HOST = 'pkg-containers.githubusercontent.com';
const REALM = 'https://ghcr.io/token';
/** The placeholder GHCR puts in the /v2/ challenge. */
export const GHCR_PLACEHOLDER_SCOPE = 'repository:user/image:pull';
const SAS_VERSION = '2025-01-05';
const BLOB_CONTAINER = 'ghcrblobs07';

export interface GhcrOptions extends Visibility, SignedUrlSwitches {
  headerCase: HeaderCase;
  /** The token endpoint's refusal for a private or absent package: both shapes are captured. */
  refusedToken: 'unauthorized' | 'denied';
  /** How long a token is accepted; undefined: as long as the emulator runs (not captured). */
  tokenLifetimeMs?: number;
  /** How long a blob URL's SAS lasts (`se=`): about 10 minutes. */
  blobUrlLifetimeMs: number;
  /** Tags per page when the client asks for none (about 100, CLAIM). */
  defaultPageSize: number;
  /** The most tags a page holds whatever `n` asks (not captured; default no cap). */
  maxPageSize?: number;
}

export const defaultGhcrOptions = (): GhcrOptions => ({
  headerCase: 'lower',
  refusedToken: 'unauthorized',
  blobUrlLifetimeMs: 10 * 60_000,
  defaultPageSize: 100,
  users: { 'berth-user': 'ghp_berthtesttoken' },
  privateRepos: ['berth-org/private'],
});

const json: HeaderList = [['content-type', 'application/json']];

export class GhcrEmulator implements Emulator {
  readonly name = 'ghcr';
  readonly hosts = [GHCR_HOST, GHCR_BLOB_HOST] as const;
  readonly log: EmulatedRequest[] = [];
  readonly options = defaultGhcrOptions();
  readonly #ctx: EmulatorContext;
  readonly #tokens = new TokenBook();
  readonly #signer = new Signer();
  readonly #homes = new BlobHomes();
  #nonce = 0;
  /** set, reset, options, expire-next (blob host requests still to be answered as expired),
   * and forget-tokens. */
  readonly control = optionControls(this.options, {
    'forget-tokens': () => this.#tokens.clear(),
  });

  constructor(ctx: EmulatorContext) {
    this.#ctx = ctx;
  }

  backendName(name: string): string | undefined {
    return isValidName(name) ? `ghcr/${name}` : undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = hostOf(req);
    const answer =
      host === GHCR_BLOB_HOST ? await this.#blobHost(req) : await this.#registry(req, urlOf(req));
    await send(req, res, answer, this.options.headerCase);
  }

  /** Every answer of the registry host carries these. */
  #common(): HeaderList {
    return [
      ['docker-distribution-api-version', 'registry/2.0'],
      ['x-github-request-id', randomUUID().toUpperCase().replace(/-/g, ':').slice(0, 30)],
    ];
  }

  async #registry(req: IncomingMessage, url: URL): Promise<Answer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.#error(405, 'UNSUPPORTED', 'The operation is unsupported.');
    }
    if (url.pathname === '/token') return this.#token(req, url);
    const route = routeOf(url.pathname, true);
    if (!route) {
      return {
        status: 404,
        headers: [['content-type', 'text/plain; charset=utf-8']],
        body: '404 page not found\n',
      };
    }
    const refused = await this.#authorize(req, route);
    if (refused) return refused;
    switch (route.kind) {
      case 'base':
        return { status: 200, headers: [...json, ...this.#common()], body: '{}' };
      case 'catalog':
        return this.#error(403, 'DENIED', 'requested access to the resource is denied');
      case 'manifests':
        return this.#manifest(req, route.name, route.ref);
      case 'blobs':
        return this.#blob(route.name, route.ref);
      case 'tags':
        return this.#tags(route.name, url);
      case 'referrers':
        return this.#error(404, 'NOT_FOUND', 'not found');
    }
  }

  #error(status: number, code: string, message: string, extra: HeaderList = []): Answer {
    return {
      status,
      headers: [...json, ...this.#common(), ...extra],
      body: errorBody(code, message),
    };
  }

  #challenge(scope: string, message = 'authentication required'): Answer {
    return this.#error(401, 'UNAUTHORIZED', message, [
      ['www-authenticate', `Bearer realm="${REALM}",service="ghcr.io",scope="${scope}"`],
    ]);
  }

  /** undefined when the request may go on; otherwise GHCR's refusal. */
  async #authorize(req: IncomingMessage, route: Route): Promise<Answer | undefined> {
    const scope =
      route.kind === 'base'
        ? GHCR_PLACEHOLDER_SCOPE
        : route.kind === 'catalog'
          ? 'registry:catalog:*'
          : `repository:${(route as { name: string }).name}:pull`;
    const header = req.headers.authorization;
    if (header === undefined) return this.#challenge(scope);
    const token = bearerToken(header);
    if (token === undefined) return this.#error(403, 'DENIED', 'invalid token');
    if (token === '') return this.#challenge(scope, 'authentication token not provided');
    if (token === 'QQ==') {
      // The "no-auth GitHub Packages default": enough for a public blob, not a manifest.
      if (route.kind === 'blobs' && !isPrivate(this.options, route.name)) return undefined;
      return this.#challenge(scope);
    }
    const grant = live(this.#tokens.lookup(token), this.#ctx);
    if (!grant) return this.#error(403, 'DENIED', 'invalid token');
    if (route.kind === 'base') return undefined;
    if (route.kind === 'catalog') return undefined;
    const name = (route as { name: string }).name;
    // An anonymous GHCR token pulls any public package; a private one needs its grant.
    if (allows(grant, `repository:${name}`, 'pull')) return undefined;
    if (!isPrivate(this.options, name)) return undefined;
    return this.#error(403, 'DENIED', 'requested access to the resource is denied');
  }

  async #token(req: IncomingMessage, url: URL): Promise<Answer> {
    const refuse = (): Answer =>
      this.options.refusedToken === 'unauthorized'
        ? { status: 401, headers: json, body: errorBody('UNAUTHORIZED', 'authentication required') }
        : {
            status: 403,
            headers: json,
            body: errorBody('DENIED', 'requested access to the resource is denied'),
          };
    const user = signIn(this.options, req.headers.authorization);
    if (user === null) return { status: 403, headers: json, body: errorBody('DENIED', 'denied') };
    const grant: Grant = {
      sub: user ?? '',
      access: {},
      service: url.searchParams.get('service') ?? 'ghcr.io',
      exp:
        this.options.tokenLifetimeMs === undefined
          ? undefined
          : this.#ctx.now() + this.options.tokenLifetimeMs,
    };
    const repositories: string[] = [];
    for (const s of scopesOf(url)) {
      if (s.name === undefined) continue;
      if (s.type !== 'repository') return refuse();
      if (s.actions.some((a) => a !== 'pull') && !user) return refuse();
      const backend = this.backendName(s.name);
      if (!backend || !(await backendHas(this.#ctx, backend))) return refuse();
      if (isPrivate(this.options, s.name) && !user) return refuse();
      grant.access[s.resource] = s.actions.filter((a) => a === 'pull');
      repositories.push(s.name);
    }
    const first = repositories[0] ?? '';
    const token = this.#tokens.issue(grant, () => {
      const nanos = BigInt(this.#ctx.now()) * 1_000_000n + BigInt(this.#nonce++ % 1_000_000);
      return Buffer.from(`v1:${first}:${nanos}`).toString('base64');
    });
    return { status: 200, headers: json, body: JSON.stringify({ token }) };
  }

  async #manifest(req: IncomingMessage, name: string, reference: string): Promise<Answer> {
    const got = await backendManifest(this.#ctx, req, 'ghcr', name, reference, this.#common());
    if (!('code' in got)) return got;
    return this.#error(got.status, got.code, got.message.replace('accept header', 'Accept header'));
  }

  async #blob(name: string, digest: string): Promise<Answer> {
    if (!isDigest(digest))
      return this.#error(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
    const backendName = this.backendName(name)!;
    if ((await blobLength(this.#ctx, backendName, digest)) === undefined) {
      return this.#error(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
    }
    this.#homes.set(digest, backendName);
    return {
      status: 307,
      headers: [
        ['location', this.signedBlobUrl(digest)],
        ['content-length', '0'],
        ...this.#common(),
      ],
    };
  }

  /** A blob host URL for a digest, signed until now + blobUrlLifetimeMs (whole seconds). */
  signedBlobUrl(digest: string, lifetimeMs = this.options.blobUrlLifetimeMs): string {
    const expiry = new Date(Math.floor((this.#ctx.now() + lifetimeMs) / 1000) * 1000);
    const se = expiry.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const sig = this.#signer.mac(`${digest}\n${se}`, 'base64');
    const hmac = this.#signer.mac(`hmac\n${sig}`, 'base64');
    const q = new URLSearchParams({ se, sig, sr: 'b', sv: SAS_VERSION, hmac });
    return `https://${GHCR_BLOB_HOST}/${BLOB_CONTAINER}/blobs/${digest}?${q}`;
  }

  async #tags(name: string, url: URL): Promise<Answer> {
    const all = await backendTags(this.#ctx, this.backendName(name)!);
    if (!all) return this.#error(404, 'NAME_UNKNOWN', 'repository name not known to registry');
    let n = pageSizeOf(url) ?? this.options.defaultPageSize;
    if (this.options.maxPageSize !== undefined) n = Math.min(n, this.options.maxPageSize);
    const page = tagPage(all, n, url.searchParams.get('last'));
    const headers: HeaderList = [...json, ...this.#common()];
    if (page.last !== undefined) {
      const q = `last=${encodeURIComponent(page.last)}&n=${n}`;
      headers.push(['link', `</v2/${name}/tags/list?${q}>; rel="next"`]);
    }
    return { status: 200, headers, body: JSON.stringify({ name, tags: page.tags }) };
  }

  /** pkg-containers.githubusercontent.com: Azure Blob Storage behind a SAS. */
  async #blobHost(req: IncomingMessage): Promise<Answer> {
    const url = urlOf(req);
    const m = new RegExp(`^/${BLOB_CONTAINER}/blobs/(sha256:[a-f0-9]{64})$`).exec(url.pathname);
    const se = url.searchParams.get('se') ?? '';
    const sig = url.searchParams.get('sig') ?? '';
    const hmac = url.searchParams.get('hmac') ?? '';
    if (req.headers.authorization !== undefined) {
      return this.#azureError(
        400,
        'InvalidAuthenticationInfo',
        'Authentication information is not given in the correct format. Check the value of Authorization header.',
      );
    }
    if (
      !m ||
      !this.#signer.verify(`${m[1]}\n${se}`, sig) ||
      !this.#signer.verify(`hmac\n${sig}`, hmac)
    ) {
      return this.#azureError(
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
        'Signature did not match.',
      );
    }
    const now = this.#ctx.now();
    const forced = spendExpireNext(this.options);
    if (forced || Date.parse(se) <= now) {
      return this.#azureError(
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
        `Signature not valid in the specified time frame: Start [] - Expiry [${httpDate(Date.parse(se))}] - Current [${httpDate(now)}]`,
      );
    }
    const digest = m[1]!;
    const home = this.#homes.get(digest);
    if (!home) return this.#azureError(404, 'BlobNotFound', 'The specified blob does not exist.');
    return objectAnswer(this.#ctx, req, home, digest, (lengths) => [
      ['content-type', 'application/octet-stream'],
      ['accept-ranges', 'bytes'],
      ['etag', `"0x8DC${digest.slice(7, 20).toUpperCase()}"`],
      ['last-modified', httpDate(Date.UTC(2026, 0, 1))],
      ['x-ms-request-id', randomUUID()],
      ['x-ms-version', SAS_VERSION],
      ['x-ms-blob-type', 'BlockBlob'],
      ['server', 'Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0'],
      ...lengths,
    ]);
  }

  /** Azure Storage's error document, with an AuthenticationErrorDetail when given. */
  #azureError(status: number, code: string, message: string, detail?: string): Answer {
    return storeError('azure', status, code, message, {
      now: this.#ctx.now(),
      fields: detail ? [['AuthenticationErrorDetail', detail]] : [],
    });
  }
}

export const ghcrEmulator = (ctx: EmulatorContext) => new GhcrEmulator(ctx);
