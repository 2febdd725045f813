// The client against Docker Hub's answers (../shared/REGISTRIES.md section 1), scripted: a
// granted token whose scope is still refused, the pull limit, a CDN that refuses the signed URL
// it was sent to, and a registry that is down. Each case states every request the client makes.
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { type Credentials, RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError, rateLimitText } from '../../src/lib/registry/errors.ts';
import { type Answer, scriptedTransport } from '../harness/transport.ts';
import { rejection } from '../harness/berth.ts';

function scripted(answers: Answer[], creds?: Credentials) {
  const script = scriptedTransport(answers);
  const client = new RegistryClient({
    transport: script.transport,
    credentials: () => creds,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  return { ...script, client };
}

const realm = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"';
const unauthorizedBody = (name: string) =>
  JSON.stringify({
    errors: [
      {
        code: 'UNAUTHORIZED',
        message: 'authentication required',
        detail: [{ Type: 'repository', Class: '', Name: name, Action: 'pull' }],
      },
    ],
  });
/** Docker Hub's 401 to a manifest or blob request: the challenge, with `insufficient_scope`
 * when a token came with it. */
const hub401 = (name: string, insufficient = false) =>
  new Response(unauthorizedBody(name), {
    status: 401,
    headers: {
      'content-type': 'application/json',
      'www-authenticate':
        `${realm},scope="repository:${name}:pull"` +
        (insufficient ? ',error="insufficient_scope"' : ''),
    },
  });
const token = (value: string) =>
  Response.json({ token: value, access_token: value, expires_in: 300, issued_at: '' });

const xml = (status: number, code: string, message: string) =>
  new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, headers: { 'content-type': 'application/xml' } },
  );

const blob = { mediaType: 'application/octet-stream', digest: `sha256:${'d'.repeat(64)}`, size: 3 };

describe('a granted token whose scope is still refused', () => {
  test('anonymous: "not found, or private", with sign-in offered, never "needs credentials"', async () => {
    const s = scripted([
      hub401('library/nonexistent'),
      token('t1'),
      hub401('library/nonexistent', true),
      token('t2'),
      hub401('library/nonexistent', true),
    ]);
    const err = (await rejection(s.client.resolve(parseReference('nonexistent')))) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toBe(
      'docker.io/library/nonexistent:latest: not found, or private: Docker Hub does not say ' +
        'which. Check the name; if the repository is yours, sign in.',
    );
    expect(err.kind).toBe('unauthorized');
    expect(s.unscripted).toEqual([]);
  });

  test('signed in with good credentials: the same, never "refused the credentials"', async () => {
    const s = scripted(
      [
        hub401('library/nonexistent'),
        token('t1'),
        hub401('library/nonexistent', true),
        token('t2'),
        hub401('library/nonexistent', true),
      ],
      { username: 'jane', password: 'pw' },
    );
    const err = (await rejection(s.client.resolve(parseReference('nonexistent')))) as RegistryError;
    expect(err.message).toMatch(
      /^docker\.io\/library\/nonexistent:latest: not found, or private to another account: Docker Hub does not say which\./,
    );
    expect(err.message).not.toMatch(/refused/);
    expect(err.kind).toBe('denied');
    // The token requests carried the credentials: they were accepted, only the scope was not.
    expect(
      s.requests
        .filter((r) => r.url.startsWith('https://auth.docker.io/'))
        .every((r) => r.headers.authorization?.startsWith('Basic ')),
    ).toBe(true);
  });

  test('a plain 401 to a token granted for the credentials: not found or private, never "refused"', async () => {
    // Quay answers a signed-in user's absent repository so: the token server grants the
    // credentials an empty token, and the registry refuses it with no `insufficient_scope`.
    const s = scripted(
      [
        hub401('library/alpine'),
        token('t1'),
        hub401('library/alpine'),
        token('t2'),
        hub401('library/alpine'),
      ],
      { username: 'jane', password: 'pw' },
    );
    const err = (await rejection(s.client.resolve(parseReference('alpine')))) as RegistryError;
    expect(err.message).toMatch(
      /^docker\.io\/library\/alpine:latest: not found, or private to another account/,
    );
    expect(err.message).not.toMatch(/refused/);
    expect(err.kind).toBe('denied');
    expect(s.unscripted).toEqual([]);
  });
});

describe('the pull limit', () => {
  test('the JSON 429 names the registry and the limit, and says to sign in', async () => {
    const s = scripted([
      new Response(
        JSON.stringify({
          errors: [
            {
              code: 'TOOMANYREQUESTS',
              message:
                'You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit',
            },
          ],
        }),
        {
          status: 429,
          headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600' },
        },
      ),
    ]);
    const err = (await rejection(s.client.resolve(parseReference('alpine')))) as RegistryError;
    expect(err.kind).toBe('rate-limited');
    expect(err.message).toMatch(
      /^Docker Hub rate limit reached \(100 pulls per 6 h\): wait a while, or sign in for a higher limit\./,
    );
  });

  test('a spent pull limit (ratelimit-remaining 0) is not retried', async () => {
    const script = scriptedTransport([
      new Response('{}', { status: 429, headers: { 'ratelimit-remaining': '0;w=21600' } }),
      new Response('{}', { status: 429 }),
    ]);
    const client = new RegistryClient({
      transport: script.transport,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const err = (await rejection(client.resolve(parseReference('alpine')))) as RegistryError;
    expect(err.kind).toBe('rate-limited');
    expect(script.requests).toHaveLength(1);
  });

  test('the plain-text 429 says how long to wait', async () => {
    const s = scripted([
      new Response('Too Many Requests (HAP429).\n', {
        status: 429,
        headers: { 'content-type': 'text/plain', 'retry-after': '600' },
      }),
    ]);
    const err = (await rejection(s.client.resolve(parseReference('alpine')))) as RegistryError;
    expect(err.message).toMatch(/^Docker Hub rate limit reached: retry in 10 min, or sign in/);
    expect(err.retryAfterSeconds).toBe(600);
  });

  test('rateLimitText reads ratelimit-limit in its forms', () => {
    expect(rateLimitText('100;w=21600')).toBe('100 pulls per 6 h');
    expect(rateLimitText('200; w=21600')).toBe('200 pulls per 6 h');
    expect(rateLimitText('1')).toBe('1 pull');
    expect(rateLimitText('lots')).toBeUndefined();
    expect(rateLimitText(null)).toBeUndefined();
  });
});

describe('a blob whose CDN refuses the signed URL', () => {
  const ref = parseReference('alpine');

  test('an expired URL is asked for again, once, and the blob arrives', async () => {
    const s = scripted([
      hub401('library/alpine'),
      token('t1'),
      xml(403, 'AccessDenied', 'Request has expired'),
      new Response('abc', { status: 200 }),
    ]);
    const res = await s.client.fetchBlob(ref, blob);
    expect(await res.text()).toBe('abc');
    const gets = s.requests.filter((r) => r.url.includes('/blobs/'));
    expect(gets).toHaveLength(3);
    expect(gets[2]!.headers.authorization).toBe('Bearer t1');
  });

  test("refused twice: the CDN is named as the registry's, with what it said", async () => {
    const s = scripted([
      hub401('library/alpine'),
      token('t1'),
      xml(403, 'AccessDenied', 'Access Denied'),
      xml(403, 'AccessDenied', 'Access Denied'),
    ]);
    const err = (await rejection(s.client.fetchBlob(ref, blob))) as RegistryError;
    expect(err.message).toBe(
      `docker.io/library/alpine@${blob.digest}: Docker Hub sent the download to its storage ` +
        'server (CDN), which refused it twice (HTTP 403, AccessDenied: Access Denied). This is ' +
        "on the registry's side: try again later.",
    );
    expect(err.kind).toBe('server');
    expect(s.unscripted).toEqual([]);
  });

  test("the registry's own JSON 403 is not retried, and its words are kept", async () => {
    const s = scripted([
      hub401('library/alpine'),
      token('t1'),
      Response.json(
        { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] },
        { status: 403 },
      ),
    ]);
    const err = (await rejection(s.client.fetchBlob(ref, blob))) as RegistryError;
    expect(err.kind).toBe('denied');
    expect(err.message).toMatch(/requested access to the resource is denied \(DENIED\)/);
    expect(s.requests.filter((r) => r.url.includes('/blobs/'))).toHaveLength(2);
  });
});

test('a registry that is down behind its load balancer (503, HTML) says so', async () => {
  const s = scripted([
    new Response('<html><body><h1>503 Service Unavailable</h1></body></html>', {
      status: 503,
      headers: { 'content-type': 'text/html' },
    }),
  ]);
  const err = (await rejection(s.client.resolve(parseReference('alpine')))) as RegistryError;
  expect(err.message).toBe(
    'docker.io/library/alpine:latest: service unavailable (HTTP 503). The registry is ' +
      'unavailable (down or overloaded); try again later.',
  );
  expect(err.temporary).toBe(true);
});
