// Which headers cross the proxy in each direction, and the ones it adds to every response: the
// security headers that keep a registry's bytes from rendering on Berth's origin, and CORS.

const FORWARDED_REQUEST_HEADERS = ['accept', 'authorization', 'range', 'if-none-match'];
export const PASSED_RESPONSE_HEADERS = [
  'Content-Type',
  'Content-Length',
  'Content-Range',
  'Accept-Ranges',
  'Docker-Content-Digest',
  'OCI-Filters-Applied',
  'Docker-Distribution-Api-Version',
  'WWW-Authenticate',
  'Link',
  'Retry-After',
  // Docker Hub's pull allowance (`100;w=21600`), on GET and HEAD of manifests and on 401s:
  // the page shows how many pulls are left without spending one to find out.
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'Docker-RateLimit-Source',
  'ETag',
  'Last-Modified',
  'Cache-Control',
];
/**
 * Where a challenge the browser would act on travels instead of WWW-Authenticate. The client
 * reads both (src/lib/registry/challenge.ts, challengesOf).
 */
export const MOVED_CHALLENGE_HEADER = 'Berth-WWW-Authenticate';

const EXPOSE_HEADERS = [...PASSED_RESPONSE_HEADERS, MOVED_CHALLENGE_HEADER].join(', ');

/** The client's headers that go upstream; everything else (cookies, origin) stays behind. */
export function forwardedRequestHeaders(req: Request): Headers {
  const headers = new Headers();
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = req.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return headers;
}

// A WWW-Authenticate value made only of Bearer challenges (RFC 9110 auth-params, quoted or
// not, never empty: `realm=, Basic...` reads differently to different parsers). Browsers know
// no Bearer scheme, so such a value prompts nothing; anything else might.
const PARAM =
  /[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*=[ \t]*(?:"(?:[^"\\\r\n]|\\[^\r\n])*"|[^\s,"=][^\s,"]*)/.source;
const BEARER = `Bearer(?:[ \\t]+${PARAM}(?:[ \\t]*,[ \\t]*${PARAM})*)?`;
const BEARER_ONLY = new RegExp(`^[ \\t]*${BEARER}(?:[ \\t]*,[ \\t]*${BEARER})*[ \\t]*$`, 'i');

/**
 * A registry's challenge passes as WWW-Authenticate only when it is Bearer alone. Basic (or
 * Digest, NTLM, Negotiate, or anything the browser might read as one) would make a browser
 * that opens a proxy URL ask for a password on Berth's origin, or offer the person's own
 * credentials; it travels as Berth-WWW-Authenticate, which the client reads and the browser
 * does not.
 */
function passChallenge(value: string, out: Headers): void {
  // Real challenges are a few hundred bytes; the length bound also bounds the match's time.
  if (value.length <= 4096 && BEARER_ONLY.test(value)) out.set('WWW-Authenticate', value);
  else out.set(MOVED_CHALLENGE_HEADER, value);
}

/** The upstream's headers that reach the client. */
export function passedResponseHeaders(res: Response): Headers {
  const out = new Headers();
  for (const name of PASSED_RESPONSE_HEADERS) {
    const value = res.headers.get(name);
    if (value === null) continue;
    if (name === 'WWW-Authenticate') passChallenge(value, out);
    else out.set(name, value);
  }
  // If the upstream compressed anyway, fetch has decoded the body and the
  // length no longer describes it.
  const encoding = res.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') out.delete('content-length');
  return out;
}

// Media types a proxy response may carry: JSON (token endpoints, registry
// errors), raw bytes (blobs) and vendor types (OCI/Docker manifests). Vendor
// types with an XML or HTML flavour are excluded: browsers render any +xml
// type as an XML document, and XHTML-namespaced scripts in it run.
const SAFE_CONTENT_TYPE = /^application\/(?:json|octet-stream|vnd\.[a-z0-9][a-z0-9!#$&^_.+-]*)$/i;
const MARKUP_SUBTYPE = /xml|html/i;

/**
 * The Content-Type a proxy response may carry: the media type without
 * parameters when it is one of the safe ones, else application/octet-stream.
 * Anything else could render as a document on Berth's origin.
 */
export function safeContentType(value: string): string {
  // Browsers take the last of several comma-separated types; refuse them all.
  if (value.includes(',')) return 'application/octet-stream';
  const essence = (value.split(';')[0] ?? '').trim();
  if (SAFE_CONTENT_TYPE.test(essence) && !MARKUP_SUBTYPE.test(essence)) return essence;
  return 'application/octet-stream';
}

/**
 * Headers every proxy response carries, forwarded or the proxy's own. The
 * proxy serves other people's bytes from Berth's origin, so whatever they
 * are, a browser must never render them as a page there: no scripts and an
 * opaque origin even if it did (CSP sandbox), a download instead of a page
 * (attachment), no sniffing, no use by other sites' no-cors loads (CORP;
 * CORS fetches from allowed origins are not subject to it), and a
 * Content-Type from a short allowlist. A missing Content-Type stays missing:
 * the client then reads the manifest's own mediaType, and the headers above
 * already keep a browser from rendering it.
 */
export function applySecurityHeaders(headers: Headers): void {
  headers.set('Content-Security-Policy', "default-src 'none'; sandbox");
  headers.set('Content-Disposition', 'attachment');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  headers.set('X-Content-Type-Options', 'nosniff');
  const type = headers.get('content-type');
  if (type !== null) headers.set('Content-Type', safeContentType(type));
}

/** The answer to a CORS preflight. */
export function preflight(): Response {
  return new Response(null, {
    status: 204,
    headers: {
      'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Accept, Range, Berth-Registry, Content-Type',
      'Access-Control-Max-Age': '600',
    },
  });
}

/**
 * Lets the page's own origin and the allowed ones read the response, and only them: the
 * proxy's origin is Berth's, and any other site must not use it as its registry gateway.
 */
export function applyCorsHeaders(
  headers: Headers,
  origin: string | null,
  ownOrigin: string,
  allowedOrigins: ReadonlySet<string>,
): void {
  headers.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
  headers.set('Vary', 'Origin');
  if (origin !== null && (origin === ownOrigin || allowedOrigins.has(origin))) {
    headers.set('Access-Control-Allow-Origin', origin);
  }
}
