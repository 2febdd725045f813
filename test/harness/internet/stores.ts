// The object stores behind blob redirects (S3 and CloudFront, Azure Blob Storage, Google Cloud
// Storage) as the emulators play them: a blob served from the backend with the store's own
// headers, and each store's XML error document. Also the referrers API over a backend that
// has none. Facts come from ../shared/REGISTRIES.md; the section numbers below are that note's.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './emulator.ts';
import { type Answer, type HeaderList, backendFetch, copyHeaders, send } from './common.ts';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Every manifest type, for requests the emulator makes of the backend on its own account. */
export const ALL_MANIFESTS = [
  'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Which backend repository holds a blob, remembered as the registry redirects to it: a blob
 * host's URL names only the digest, as the real ones do. */
export class BlobHomes {
  readonly #homes = new Map<string, string>();
  set(digest: string, backendName: string) {
    this.#homes.set(digest, backendName);
  }
  get(digest: string) {
    return this.#homes.get(digest);
  }
}

/**
 * A blob of a backend repository as an object store serves it: GET or HEAD (with its Range,
 * so 200 or 206), the bytes streamed, and the headers `wrap` makes around the backend's
 * Content-Length and Content-Range (the store's own, never an added Content-Encoding).
 */
export async function objectAnswer(
  ctx: EmulatorContext,
  req: IncomingMessage,
  repo: string,
  digest: string,
  wrap: (lengths: HeaderList) => HeaderList,
): Promise<Answer> {
  const upstream = await backendFetch(ctx, `/v2/${repo}/blobs/${digest}`, {
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    headers: { range: typeof req.headers.range === 'string' ? req.headers.range : undefined },
  });
  const lengths = copyHeaders(upstream, ['content-length', 'content-range']);
  return { status: upstream.status, headers: wrap(lengths), body: upstream.body };
}

/** Writes a blob as an object store does, `extra` after its usual headers, in lower case. */
export async function serveObject(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  obj: { repo: string; digest: string },
  extra: HeaderList,
): Promise<void> {
  const answer = await objectAnswer(ctx, req, obj.repo, obj.digest, (lengths) => [
    ['content-type', 'application/octet-stream'],
    ...lengths,
    ['accept-ranges', 'bytes'],
    ...extra,
  ]);
  await send(req, res, answer, 'lower');
}

// ---------------------------------------------------------------------------------------
// The stores' XML errors

export type ObjectStore = 's3' | 'azure' | 'gcs';

export interface StoreErrorParts {
  /** Elements after the message: S3's `ArgumentName`, Azure's `AuthenticationErrorDetail`,
   * Google's `Details`, in order. */
  fields?: [string, string][];
  /** S3: end with a RequestId and a HostId (an expiry or a refused header), or not (a
   * signature that does not match). */
  ids?: boolean;
  /** Azure: the emulator's clock, for the Time line of the message. */
  now?: number;
  /** The answer's headers, instead of the store's usual ones. */
  headers?: HeaderList;
}

const xmlEscape = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An object store's XML error document:
 * - S3 (and CloudFront in front of it): `<?xml …?>` and a newline, Code, Message, the fields,
 *   then RequestId and HostId (§5, captured for "Only one auth mechanism allowed").
 * - Azure: a UTF-8 byte-order mark, and RequestId and Time (seven fraction digits) inside the
 *   Message (§6, captured).
 * - Google Cloud Storage: single-quoted declaration, Code, Message, Details.
 */
export function storeErrorBody(
  store: ObjectStore,
  code: string,
  message: string,
  parts: StoreErrorParts = {},
): string {
  const fields = (parts.fields ?? []).map(([n, v]) => `<${n}>${xmlEscape(v)}</${n}>`).join('');
  if (store === 's3') {
    const ids = parts.ids
      ? `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId><HostId>${randomBytes(30).toString('base64')}</HostId>`
      : '';
    return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${fields}${ids}</Error>`;
  }
  if (store === 'azure') {
    const time = new Date(parts.now ?? Date.now()).toISOString().replace('Z', '0000Z');
    return `\ufeff<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomUUID()}\nTime:${time}</Message>${fields}</Error>`;
  }
  return `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message>${fields}</Error>`;
}

/** The store's usual headers on an error. */
function storeErrorHeaders(store: ObjectStore, code: string): HeaderList {
  if (store === 's3') {
    return [
      ['content-type', 'application/xml'],
      ['server', 'AmazonS3'],
    ];
  }
  if (store === 'azure') {
    return [
      ['content-type', 'application/xml'],
      ['server', 'Microsoft-HTTPAPI/2.0'],
      ['x-ms-request-id', randomUUID()],
      ['x-ms-error-code', code],
    ];
  }
  return [['content-type', 'application/xml; charset=UTF-8']];
}

/** An object store's error answer: its XML document with its usual headers. */
export function storeError(
  store: ObjectStore,
  status: number,
  code: string,
  message: string,
  parts: StoreErrorParts = {},
): Answer {
  return {
    status,
    headers: parts.headers ?? storeErrorHeaders(store, code),
    body: storeErrorBody(store, code, message, parts),
  };
}

/** S3's answer to a presigned URL that also carries an Authorization header (§5, captured). */
export function s3TwoAuthError(authorization: string): Answer {
  return storeError(
    's3',
    400,
    'InvalidArgument',
    'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    {
      fields: [
        ['ArgumentName', 'Authorization'],
        ['ArgumentValue', authorization],
      ],
      ids: true,
    },
  );
}

/** S3's answer to an expired presigned URL (guessed: the usual S3 AccessDenied form). */
export function s3ExpiredError(): Answer {
  return storeError('s3', 403, 'AccessDenied', 'Request has expired', { ids: true });
}

// ---------------------------------------------------------------------------------------
// Referrers

/** The referrers fallback tag `sha256-<hex>` of a subject digest. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 71);
}

/** A tag the referrers tag schema made; registries with a referrers API never show one. */
export const isFallbackTag = (t: string) => /^sha(256|512)-[0-9a-f]{64}$/.test(t);

/**
 * The referrers API (OCI 1.1) over a backend that has none: the test pushes each referrer
 * with the tag schema (an index under `sha256-<hex>`), and this answers that index's entries as
 * the API does, filtered by `artifactType` when asked (and saying so in OCI-Filters-Applied).
 */
export async function referrersAnswer(
  ctx: EmulatorContext,
  repo: string,
  digest: string,
  artifactType: string | null,
): Promise<{ body: string; headers: HeaderList }> {
  const res = await backendFetch(ctx, `/v2/${repo}/manifests/${fallbackTag(digest)}`, {
    headers: { accept: OCI_INDEX },
  });
  let manifests: Array<{ artifactType?: string }> = [];
  if (res.ok) manifests = ((await res.json()) as { manifests?: typeof manifests }).manifests ?? [];
  else await res.body?.cancel();
  const headers: HeaderList = [['content-type', OCI_INDEX]];
  if (artifactType) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers.push(['oci-filters-applied', 'artifactType']);
  }
  return {
    body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
    headers,
  };
}
