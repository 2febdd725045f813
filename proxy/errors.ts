// The proxy's own error responses, in the registry error shape, and the Refusal that carries one
// out of the handler's depths.

import { applySecurityHeaders } from './headers.ts';

export type ProxyErrorCode =
  | 'BERTH_PROXY_DENIED'
  | 'BERTH_UPSTREAM_UNREACHABLE'
  | 'BERTH_UPSTREAM_TIMEOUT'
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
