// mcr.microsoft.com, the Microsoft Artifact Registry, with its data hosts
// (`eastus.data.mcr.microsoft.com` for blobs, `mcrflowprodcentralus.data.mcr.microsoft.com` for
// tag lists served from storage).
//
// Facts used, from ../shared/REGISTRIES.md §6 (and §0, §11):
// - Anonymous throughout, no token dance (usage reports; no raw `/v2/` capture).
// - Blobs redirect to `*.data.mcr.microsoft.com` with an Azure SAS:
//   `/<regid><suffix>//docker/registry/v2/blobs/sha256/<2>/<hex>/data?se=…&sig=…&sp=r&spr=https&sr=b&sv=2018-03-28&regid=<regid>`,
//   a double slash in the path; Range is used against it (DOC 2023).
// - `_catalog` is allowed and unpaginated; tags/list is public and unpaginated (maintainers).
// - A missing tag: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest tagged by \"<tag>\"
//   is not found","detail":{"Tag":"<tag>"}}]}` (CAPTURE 2022).
// - Some tags/list calls answered 404 with a BOM-prefixed Azure Storage XML `BlobNotFound`
//   (CAPTURE 2020, 2021): switch `brokenTagLists`.
// - Azure Storage refuses a forwarded Authorization with 400 `InvalidAuthenticationInfo`
//   (DOC, ACR; INFER the same for MCR's data hosts).
// - 429 on egress spikes (DOC; switch `throttle`).
// Guessed (not captured):
// - `/v2/` (`ping`): `open` answers 200 `{}`; `acr-challenge` answers 401 with ACR's
//   `Bearer realm="https://mcr.microsoft.com/oauth2/token",service="mcr.microsoft.com"`, and
//   that token endpoint gives anyone `{"access_token":…}` (ACR's shape), while resources need
//   nothing.
// - The redirect status (307, as ACR's) and the SAS lifetime (10 min); an expired SAS gets
//   Azure's 403 AuthenticationFailed.
// - tags/list (`tagsVia`): `direct`, or `storage`: a 307 to a SAS URL on
//   `mcrflowprodcentralus.data.mcr.microsoft.com/mcrprod/<repo>?P1=…` that serves the JSON
//   (INFER from links seen in 2020–2021).
// - A missing repository's wording (ACR's NAME_UNKNOWN with a detail object).
// - No referrers API (404 as distribution's), the 429 without a body or Retry-After.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatedRequest, Emulator, EmulatorContext, EmulatorFactory } from './emulator.ts';
import {
  type HeaderCase,
  type HeaderList,
  type SignedUrlSwitches,
  answer,
  API_VERSION,
  backendCatalog,
  backendTags,
  blobLength,
  errorBody,
  forward,
  hostOf,
  optionControls,
  relay,
  routeOf,
  urlLifetime,
  urlOf,
} from './common.ts';
import { Signer } from './auth.ts';
import { serveObject, storeErrorBody } from './stores.ts';

export const MCR_HOST = 'mcr.microsoft.com';
export const MCR_DATA_HOST = 'eastus.data.mcr.microsoft.com';
export const MCR_FLOW_HOST = 'mcrflowprodcentralus.data.mcr.microsoft.com';
const REGID = 'mcrprodeastus';

export interface McrOptions extends SignedUrlSwitches {
  ping?: 'open' | 'acr-challenge';
  tagsVia?: 'direct' | 'storage';
  /** Repositories whose tags/list answers the BOM-prefixed BlobNotFound 404. */
  brokenTagLists?: string[];
  /** Every request answered 429 while true. */
  throttle?: boolean;
  /** How long a SAS URL lives, ms (default 10 min). */
  sasMs?: number;
  headerCase?: HeaderCase;
}

/** The factory the offline internet loads; switches are set with control('set', {…}). */
export const mcrEmulator: EmulatorFactory = (ctx) => mcr(ctx, {});

export function mcr(ctx: EmulatorContext, opts: McrOptions = {}): Emulator {
  const log: EmulatedRequest[] = [];
  const signer = new Signer();
  const backendName = (name: string) => `mcr/${name}`;
  let headerCase: HeaderCase = 'lower';
  const common = API_VERSION;
  const json: HeaderList = [...common, ['content-type', 'application/json; charset=utf-8']];

  /** An Azure SAS query for `path`, expiring after sasMs. */
  function sas(path: string, extra: Record<string, string>): string {
    const se = new Date(ctx.now() + urlLifetime(opts, opts.sasMs ?? 10 * 60_000))
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const q = new URLSearchParams({
      ...extra,
      se,
      sig: signer.mac(`${path}\n${se}`, 'base64'),
      sp: 'r',
      spr: 'https',
      sr: 'b',
      sv: '2018-03-28',
    });
    return q.toString();
  }

  function checkSas(url: URL): 'ok' | 'bad' | 'expired' {
    const se = url.searchParams.get('se') ?? '';
    if (signer.mac(`${url.pathname}\n${se}`, 'base64') !== url.searchParams.get('sig'))
      return 'bad';
    return Date.parse(se) <= ctx.now() ? 'expired' : 'ok';
  }

  async function registry(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (opts.throttle) {
      answer(req, res, 429, [], '', headerCase);
      return;
    }
    if (url.pathname === '/oauth2/token' && opts.ping === 'acr-challenge') {
      const value = signer.sign({ sub: '', exp: ctx.now() + 3600_000 });
      answer(
        req,
        res,
        200,
        [['content-type', 'application/json; charset=utf-8']],
        JSON.stringify({ access_token: value }),
        headerCase,
      );
      return;
    }
    const route = routeOf(url.pathname);
    if (!route) {
      answer(
        req,
        res,
        404,
        [['content-type', 'text/plain; charset=utf-8']],
        '404 page not found\n',
        headerCase,
      );
      return;
    }
    if (route.kind === 'base') {
      if (opts.ping === 'acr-challenge' && !/^Bearer\s/i.test(req.headers.authorization ?? '')) {
        answer(
          req,
          res,
          401,
          [
            ...json,
            [
              'www-authenticate',
              `Bearer realm="https://${MCR_HOST}/oauth2/token",service="${MCR_HOST}"`,
            ],
          ],
          errorBody(
            'UNAUTHORIZED',
            'authentication required, visit https://aka.ms/acr/authorization for more information.',
          ),
          headerCase,
        );
        return;
      }
      answer(req, res, 200, json, '{}', headerCase);
      return;
    }
    if (route.kind === 'catalog') {
      const repositories = await backendCatalog(ctx, 'mcr');
      answer(req, res, 200, json, JSON.stringify({ repositories }), headerCase);
      return;
    }
    const name = route.name;
    const repo = backendName(name);
    const tags = await backendTags(ctx, repo);
    if (tags === undefined) {
      answer(
        req,
        res,
        404,
        json,
        errorBody('NAME_UNKNOWN', 'repository name not known to registry', { name }),
        headerCase,
      );
      return;
    }
    if (route.kind === 'tags') {
      if (opts.brokenTagLists?.includes(name)) {
        answer(
          req,
          res,
          404,
          [['content-type', 'application/xml']],
          storeErrorBody('azure', 'BlobNotFound', 'The specified blob does not exist.', {
            now: ctx.now(),
          }),
          headerCase,
        );
        return;
      }
      if (opts.tagsVia === 'storage') {
        const path = `/mcrprod/${name}`;
        const query = sas(path, {
          P1: String(Math.floor(ctx.now() / 1000) + 900),
          P2: '1',
          P3: '1',
          P4: randomBytes(32).toString('base64'),
        });
        answer(
          req,
          res,
          307,
          [...common, ['location', `https://${MCR_FLOW_HOST}${path}?${query}`]],
          '',
          headerCase,
        );
        return;
      }
      answer(req, res, 200, json, JSON.stringify({ name, tags: [...tags].sort() }), headerCase);
      return;
    }
    if (route.kind === 'referrers') {
      answer(
        req,
        res,
        404,
        [...common, ['content-type', 'text/plain; charset=utf-8']],
        '404 page not found\n',
        headerCase,
      );
      return;
    }
    if (route.kind === 'blobs' && req.method === 'GET') {
      if ((await blobLength(ctx, repo, route.ref)) === undefined) {
        answer(
          req,
          res,
          404,
          json,
          errorBody('BLOB_UNKNOWN', 'blob unknown to registry', route.ref),
          headerCase,
        );
        return;
      }
      const hex = route.ref.slice('sha256:'.length);
      const key = signer.sign({ r: repo });
      const path = `/${REGID}${key}//docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
      answer(
        req,
        res,
        307,
        [
          ...common,
          ['location', `https://${MCR_DATA_HOST}${path}?${sas(path, {})}&regid=${REGID}`],
        ],
        '',
        headerCase,
      );
      return;
    }
    const upstream = await forward(ctx, req, repo, route.kind, route.ref);
    if (upstream.status === 404 && !route.ref.includes(':')) {
      await upstream.body?.cancel();
      answer(
        req,
        res,
        404,
        json,
        errorBody('MANIFEST_UNKNOWN', `manifest tagged by "${route.ref}" is not found`, {
          Tag: route.ref,
        }),
        headerCase,
      );
      return;
    }
    await relay(req, res, upstream, common, headerCase);
  }

  async function data(req: IncomingMessage, res: ServerResponse, url: URL) {
    const xml: HeaderList = [
      ['content-type', 'application/xml'],
      ['server', 'Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0'],
    ];
    if (req.headers.authorization !== undefined) {
      answer(
        req,
        res,
        400,
        xml,
        storeErrorBody(
          'azure',
          'InvalidAuthenticationInfo',
          'Authentication information is not given in the correct format. Check the value of Authorization header.',
          { now: ctx.now() },
        ),
      );
      return;
    }
    const state = checkSas(url);
    if (state !== 'ok') {
      answer(
        req,
        res,
        403,
        xml,
        storeErrorBody(
          'azure',
          'AuthenticationFailed',
          'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
          { now: ctx.now() },
        ),
      );
      return;
    }
    const azure: HeaderList = [
      ['x-ms-blob-type', 'BlockBlob'],
      ['x-ms-version', '2018-03-28'],
      ['server', 'Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0'],
    ];
    if (hostOf(req) === MCR_FLOW_HOST) {
      const name = url.pathname.slice('/mcrprod/'.length);
      const tags = (await backendTags(ctx, backendName(name))) ?? [];
      answer(
        req,
        res,
        200,
        [['content-type', 'application/json'], ...azure],
        JSON.stringify({ name, tags: [...tags].sort() }),
      );
      return;
    }
    const m = new RegExp(
      `^/${REGID}([^/]+)//docker/registry/v2/blobs/sha256/[0-9a-f]{2}/([0-9a-f]{64})/data$`,
    ).exec(url.pathname);
    const obj = m ? signer.read<{ r: string }>(m[1]!) : undefined;
    if (!m || !obj) {
      answer(
        req,
        res,
        404,
        xml,
        storeErrorBody('azure', 'BlobNotFound', 'The specified blob does not exist.', {
          now: ctx.now(),
        }),
      );
      return;
    }
    await serveObject(ctx, req, res, { repo: obj.r, digest: `sha256:${m[2]}` }, azure);
  }

  return {
    name: 'mcr',
    hosts: [MCR_HOST, MCR_DATA_HOST, MCR_FLOW_HOST],
    backendName,
    log,
    control: optionControls(opts),
    async handle(req, res) {
      headerCase = opts.headerCase ?? 'lower';
      const url = urlOf(req);
      if (hostOf(req) !== MCR_HOST) return data(req, res, url);
      return registry(req, res, url);
    },
  };
}
