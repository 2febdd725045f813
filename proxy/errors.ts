// The proxy's own error responses, in the registry error shape, and the Refusal that carries one
// out of the handler's depths.

import { applySecurityHeaders } from './headers.ts';

export type ProxyErrorCode =
  | 'BERTH_PROXY_DENIED'
  | 'BERTH_UPSTREAM_UNREACHABLE'
  | 'BERTH_UPSTREAM_TIMEOUT'
  | 'BERTH_UPSTREAM_INVALID'
  | 'BERTH_PROXY_INTERNAL'
  | 'BERTH_BAD_REQUEST'
  | 'BERTH_METHOD_NOT_ALLOWED'
  | 'BERTH_RATE_LIMITED';

const INSECURE_HINT = 'If it is a private registry, add it to BERTH_INSECURE_REGISTRIES.';

/** An error in the registry error shape, so the client decodes it like one. */
export function proxyError(
  status: number,
  code: ProxyErrorCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  const out = new Headers({ 'Content-Type': 'application/json', ...headers });
  // Also sent outside the handler (node.ts, server.ts), so secured here too.
  applySecurityHeaders(out);
  return new Response(JSON.stringify({ errors: [{ code, message }] }), { status, headers: out });
}

/** Thrown inside the handler to short-circuit with a proxy error response. */
export class Refusal extends Error {
  constructor(readonly response: Response) {
    super('refused');
  }
}

/** A 403 for a host the proxy will not connect to. */
export function denied(host: string, reason: string): Refusal {
  return new Refusal(
    proxyError(
      403,
      'BERTH_PROXY_DENIED',
      `refusing to connect to ${host}: ${reason}. ${INSECURE_HINT}`,
    ),
  );
}

/** A 403 whose message says it all, with no hint to list the host. */
export function refused(message: string): Refusal {
  return new Refusal(proxyError(403, 'BERTH_PROXY_DENIED', message));
}

export function badRequest(message: string): Refusal {
  return new Refusal(proxyError(400, 'BERTH_BAD_REQUEST', message));
}

/** Anything URL-like in a message, up to where its query or fragment would start. */
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s?#"'<>]*(?:[?#][^\s"'<>]*)?/gi;

/**
 * One log line for an error nobody expected: its name and message, every URL in it cut to
 * scheme, host and path. Never the stack, nor the properties runtimes attach (a TypeError of
 * `new URL` carries the whole input, query and all): queries can hold signatures and
 * credentials, and a log is read by more people than the proxy's traffic.
 */
export function internalErrorLine(err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  return `berth proxy: internal error: ${name}: ${withoutQueries(message)}`;
}

/**
 * Text fit for a log or an error message: every URL in it cut to scheme, host and path (no
 * userinfo, query or fragment), on one line, at most 300 characters.
 */
export function withoutQueries(text: string): string {
  return text
    .replace(URL_IN_TEXT, (url) => {
      const cut = url.search(/[?#]/);
      const bare = cut < 0 ? url : url.slice(0, cut);
      return bare.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
    })
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 300);
}

/** The answer to an error nobody expected, after logging it with internalErrorLine. */
export function internalError(err: unknown, report: (line: string) => void): Response {
  report(internalErrorLine(err));
  return proxyError(502, 'BERTH_PROXY_INTERNAL', 'internal proxy error; its log says more');
}
