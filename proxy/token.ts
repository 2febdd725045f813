// What a token request through the proxy may be: the shape distribution's token spec gives it
// (a GET with service, scope, account, client_id and offline_token), and a small JSON answer.
// The realm it goes to is checked elsewhere (realms.ts); this keeps a registry that names a
// realm from turning the proxy into a way to fetch that URL with any query, any answer.

import { proxyError, Refusal } from './errors.ts';

/** The GET token request's parameters (distribution's token spec, and docker login's). */
const TOKEN_PARAMS = new Set(['service', 'scope', 'account', 'client_id', 'offline_token']);
/** Of those, the one a request may repeat (one scope per resource). */
const REPEATABLE = new Set(['scope']);

/** Token answers are a JWT or two and a few fields, a few kB; far more is not a token. */
export const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;

/**
 * Refuses a token request that is not a GET with the token parameters: those above, and any
 * the announced realm carries in its own query (a client sends them back as they were).
 */
export function checkTokenRequest(
  method: string,
  query: string,
  realmParams: ReadonlySet<string>,
): void {
  if (method !== 'GET') {
    throw new Refusal(
      proxyError(405, 'BERTH_METHOD_NOT_ALLOWED', 'token requests are only forwarded for GET', {
        Allow: 'GET, OPTIONS',
      }),
    );
  }
  const seen = new Set<string>();
  for (const name of new URLSearchParams(query).keys()) {
    if (!TOKEN_PARAMS.has(name) && !realmParams.has(name)) {
      throw new Refusal(
        proxyError(
          400,
          'BERTH_BAD_REQUEST',
          `parameter ${JSON.stringify(name.slice(0, 50))} is not forwarded to a token realm: ` +
            `only ${[...TOKEN_PARAMS].join(', ')} are`,
        ),
      );
    }
    if (seen.has(name) && !REPEATABLE.has(name)) {
      throw new Refusal(proxyError(400, 'BERTH_BAD_REQUEST', `parameter ${name} is given twice`));
    }
    seen.add(name);
  }
}

function isJsonType(value: string | null): boolean {
  const essence = (value ?? '').split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(essence);
}

/** Reads a body up to `limit` bytes; null once it is longer. */
async function readCapped(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const invalid = (message: string) =>
  new Refusal(proxyError(502, 'BERTH_UPSTREAM_INVALID', message));

/**
 * The body a token realm's answer may pass on: JSON of at most MAX_TOKEN_ANSWER_BYTES. A
 * success that is anything else is refused (502); a refusal (401, 403, ...) keeps its status,
 * and its body only when that is JSON too, since the client reads the status first.
 */
export async function tokenAnswerBody(
  res: Response,
  body: ReadableStream<Uint8Array> | null,
  host: string,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const json = isJsonType(res.headers.get('content-type'));
  const ok = res.status >= 200 && res.status < 300;
  if (ok && !json) {
    await body?.cancel().catch(() => {});
    throw invalid(`the token realm ${host} answered ${res.status} without a JSON body`);
  }
  if (!body) return null;
  if (!json) {
    await body.cancel().catch(() => {});
    return null;
  }
  const bytes = await readCapped(body, MAX_TOKEN_ANSWER_BYTES);
  if (!bytes) {
    throw invalid(
      `the token realm ${host} answered more than ${MAX_TOKEN_ANSWER_BYTES / 1024} KiB, ` +
        'more than any token',
    );
  }
  return bytes;
}
