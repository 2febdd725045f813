// RegistryClient against a scripted Transport: every request is recorded and answered from a
// list, in order, so each case states exactly which requests the client makes. No network.
import { DigestMismatchError } from '../../src/lib/oci/errors.ts';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { MediaType, manifestAccept } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor } from '../../src/lib/oci/types.ts';
import {
  type Reference,
  parseReference,
  registryApiHost,
} from '../../src/lib/reference/reference.ts';
import {
  type Credentials,
  RegistryClient,
  type RetryPolicy,
  maxManifestBytes,
} from '../../src/lib/registry/client.ts';
import { type ErrorKind, RegistryError } from '../../src/lib/registry/errors.ts';
import { backoff, maxRetryAfterSeconds, sleep } from '../../src/lib/registry/retry.ts';
import { type Transport, proxyTransport } from '../../src/lib/registry/transport.ts';
import { type Answer, scriptedTransport } from '../harness/transport.ts';

const fastRetry: Partial<RetryPolicy> = {
  attempts: 3,
  baseDelayMs: 1,
  maxDelayMs: 4,
  maxRetryAfterMs: 4,
};

function clientFor(transport: Transport, creds?: Credentials, retry = fastRetry) {
  return new RegistryClient({ transport, credentials: () => creds, retry });
}

// ---- documents and answers -----------------------------------------------------------------

const enc = new TextEncoder();
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const doc = enc.encode(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: `sha256:${'a'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const docDigest = sha256(doc);
const otherDigest = `sha256:${'b'.repeat(64)}`;

const ok = () => new Response(null, { status: 200 });
const status = (s: number, headers: Record<string, string> = {}, body: BodyInit | null = null) =>
  new Response(body, { status: s, headers });
const challenge = (header: string, body: BodyInit | null = null) =>
  status(401, { 'WWW-Authenticate': header }, body);
const token = (value: string) => Response.json({ token: value, expires_in: 300 });
const manifest = (bytes: Uint8Array<ArrayBuffer> = doc, headers: Record<string, string> = {}) =>
  new Response(bytes, {
    status: 200,
    headers: {
      'Content-Type': MediaType.OciManifest,
      'Content-Length': String(bytes.byteLength),
      'Docker-Content-Digest': sha256(bytes),
      ...headers,
    },
  });
const headAnswer = (headers: Record<string, string>) =>
  new Response(null, { status: 200, headers });
const fullHead = {
  'Content-Type': `${MediaType.OciManifest}; charset=utf-8`,
  'Content-Length': String(doc.byteLength),
  'Docker-Content-Digest': docDigest,
};
const without = (name: string) =>
  Object.fromEntries(Object.entries(fullHead).filter(([k]) => k !== name));
const rateLimited = (retryAfter?: string) =>
  status(
    429,
    retryAfter === undefined ? {} : { 'Retry-After': retryAfter },
    JSON.stringify({
      errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }],
    }),
  );

// Docker Hub's shapes.
const hubChallenge = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"';
const hubManifest = (repo: string, id: string) =>
  `https://registry-1.docker.io/v2/${repo}/manifests/${id}`;
const hubToken = (...scopes: string[]) => {
  const u = new URL('https://auth.docker.io/token');
  u.searchParams.set('service', 'registry.docker.io');
  for (const s of scopes) u.searchParams.append('scope', s);
  return u.toString();
};
const pull = (repo: string) => `repository:${repo}:pull`;

// A private registry with Basic auth or its own token server.
const privPing = 'https://registry.example/v2/';
const privManifest = (id = 'v1') => `https://registry.example/v2/team/app/manifests/${id}`;
const privChallenge = 'Bearer realm="https://auth.example/token",service="registry.example"';
const ghcrChallenge =
  'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:owner/app:pull"';
const ghcrManifest = 'https://ghcr.io/v2/owner/app/manifests/v1';
const ghcrToken = 'https://ghcr.io/token?scope=repository%3Aowner%2Fapp%3Apull&service=ghcr.io';
const denied = () =>
  Response.json({ errors: [{ code: 'DENIED', message: 'invalid token' }] }, { status: 403 });
const alice: Credentials = { username: 'alice', password: 's3cret/p@ss' };
const aliceBasic = `Basic ${btoa(`${alice.username}:${alice.password}`)}`;

/** Token URLs compare with their query parameters in any order. */
function normalise(url: string) {
  const u = new URL(url);
  u.searchParams.sort();
  return u.toString();
}

// ---- the table -----------------------------------------------------------------------------

interface Expect {
  method?: string;
  url: string;
  /** null: no Authorization header; undefined: not checked. */
  auth?: string | null;
  accept?: string;
}

interface Case {
  name: string;
  ref: string;
  creds?: Credentials;
  retry?: Partial<RetryPolicy>;
  run?: (c: RegistryClient, ref: Reference) => Promise<unknown>;
  answers: Answer[];
  requests: Expect[];
  result?: unknown;
  error?: {
    type?: typeof RegistryError | typeof DigestMismatchError;
    kind?: ErrorKind;
    message?: RegExp;
    retryAfterSeconds?: number;
    check?: (e: RegistryError) => void;
  };
}

const resolve = (c: RegistryClient, ref: Reference) => c.resolve(ref);
const resolveTwice = async (c: RegistryClient, ref: Reference) => {
  await c.resolve(ref);
  return c.resolve(ref);
};
const head = (c: RegistryClient, ref: Reference) => c.head(ref);
const resolved = {
  descriptor: { mediaType: MediaType.OciManifest, digest: docDigest, size: doc.byteLength },
  bytes: doc,
};
const headResult: Descriptor = {
  mediaType: MediaType.OciManifest,
  digest: docDigest,
  size: doc.byteLength,
};

const cases: Case[] = [
  // Anonymous Bearer, as Docker Hub does it.
  {
    name: 'anonymous bearer: ping, token for the repository, then the request with it',
    ref: 'alpine',
    answers: [challenge(hubChallenge), token('t1'), manifest()],
    requests: [
      { url: hubManifest('library/alpine', 'latest'), auth: null },
      { url: hubToken(pull('library/alpine')), auth: null },
      {
        url: hubManifest('library/alpine', 'latest'),
        auth: 'Bearer t1',
        accept: manifestAccept,
      },
    ],
    result: resolved,
  },
  {
    name: 'the token is cached: two resolves of one repository make one token request',
    ref: 'alpine:3.20',
    run: resolveTwice,
    answers: [challenge(hubChallenge), token('t1'), manifest(), manifest()],
    requests: [
      { url: hubManifest('library/alpine', '3.20'), auth: null },
      { url: hubToken(pull('library/alpine')) },
      { url: hubManifest('library/alpine', '3.20'), auth: 'Bearer t1' },
      { url: hubManifest('library/alpine', '3.20'), auth: 'Bearer t1' },
    ],
    result: resolved,
  },
  {
    name: 'another repository gets its own token, but no second ping',
    ref: 'alpine',
    run: async (c, ref) => {
      await c.resolve(ref);
      return c.resolve(parseReference('busybox'));
    },
    answers: [challenge(hubChallenge), token('t1'), manifest(), token('t2'), manifest()],
    requests: [
      { url: hubManifest('library/alpine', 'latest'), auth: null },
      { url: hubToken(pull('library/alpine')) },
      { url: hubManifest('library/alpine', 'latest'), auth: 'Bearer t1' },
      { url: hubToken(pull('library/busybox')) },
      { url: hubManifest('library/busybox', 'latest'), auth: 'Bearer t2' },
    ],
    result: resolved,
  },
  {
    name: 'insufficient_scope: one new token for the scope the registry asks for',
    ref: 'alpine',
    answers: [
      challenge(hubChallenge),
      token('t1'),
      challenge(
        `${hubChallenge},scope="${pull('library/alpine')} ${pull('mirror/alpine')}",error="insufficient_scope"`,
      ),
      token('t2'),
      manifest(),
    ],
    requests: [
      { url: hubManifest('library/alpine', 'latest'), auth: null },
      { url: hubToken(pull('library/alpine')) },
      { url: hubManifest('library/alpine', 'latest'), auth: 'Bearer t1' },
      { url: hubToken(pull('library/alpine'), pull('mirror/alpine')) },
      { url: hubManifest('library/alpine', 'latest'), auth: 'Bearer t2' },
    ],
    result: resolved,
  },
  {
    name: 'insufficient_scope twice: re-fetched once, then "not found, or private"',
    ref: 'alpine',
    answers: [
      challenge(hubChallenge),
      token('t1'),
      challenge(`${hubChallenge},scope="${pull('x/y')}",error="insufficient_scope"`),
      token('t2'),
      challenge(`${hubChallenge},scope="${pull('x/y')}",error="insufficient_scope"`),
    ],
    requests: [
      { url: hubManifest('library/alpine', 'latest'), auth: null },
      { url: hubToken(pull('library/alpine')) },
      { url: hubManifest('library/alpine', 'latest'), auth: 'Bearer t1' },
      { url: hubToken(pull('x/y')) },
      { url: hubManifest('library/alpine', 'latest'), auth: 'Bearer t2' },
    ],
    error: { type: RegistryError, kind: 'unauthorized', message: /not found, or private/ },
  },

  // Basic auth and credentials.
  {
    name: 'basic challenge with credentials: the request carries Basic',
    ref: 'registry.example/team/app:v1',
    creds: alice,
    answers: [challenge('Basic realm="Registry Realm"'), manifest()],
    requests: [
      { url: privManifest(), auth: null },
      { url: privManifest(), auth: aliceBasic },
    ],
    result: resolved,
  },
  {
    name: 'basic challenge without credentials: unauthorized, the registry needs credentials',
    ref: 'registry.example/team/app:v1',
    answers: [challenge('Basic realm="Registry Realm"')],
    requests: [{ url: privManifest(), auth: null }],
    error: {
      type: RegistryError,
      kind: 'unauthorized',
      message: /registry\.example\/team\/app:v1: .*needs credentials/,
    },
  },
  {
    name: 'basic challenge with refused credentials: unauthorized, the credentials were refused',
    ref: 'registry.example/team/app:v1',
    creds: alice,
    answers: [challenge('Basic realm="Registry Realm"'), challenge('Basic realm="Registry Realm"')],
    requests: [
      { url: privManifest(), auth: null },
      { url: privManifest(), auth: aliceBasic },
    ],
    error: { type: RegistryError, kind: 'unauthorized', message: /refused the credentials/ },
  },
  {
    name: 'bearer with credentials: the token request carries Basic, the request the token',
    ref: 'registry.example/team/app:v1',
    creds: alice,
    answers: [challenge(privChallenge), token('t1'), manifest()],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull&account=alice',
        auth: aliceBasic,
      },
      { url: privManifest(), auth: 'Bearer t1' },
    ],
    result: resolved,
  },
  {
    name: 'bearer with credentials the token server refuses',
    ref: 'registry.example/team/app:v1',
    creds: alice,
    // The same credentials are refused a token for no scope, as docker login asks: wrong.
    answers: [challenge(privChallenge), status(401), status(401)],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: normalise(
          'https://auth.example/token?account=alice&scope=repository%3Ateam%2Fapp%3Apull&service=registry.example',
        ),
      },
      {
        url: normalise('https://auth.example/token?account=alice&service=registry.example'),
        auth: aliceBasic,
      },
    ],
    error: { type: RegistryError, kind: 'unauthorized', message: /refused these credentials/ },
  },
  {
    name: 'bearer with credentials whose repository scope is refused, but not a login: not found or private',
    ref: 'registry.example/team/app:v1',
    creds: alice,
    // GHCR refuses an absent or private package at the token server, whoever asks.
    answers: [challenge(privChallenge), status(403), token('login')],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: normalise(
          'https://auth.example/token?account=alice&scope=repository%3Ateam%2Fapp%3Apull&service=registry.example',
        ),
        auth: aliceBasic,
      },
      {
        url: normalise('https://auth.example/token?account=alice&service=registry.example'),
        auth: aliceBasic,
      },
    ],
    error: {
      type: RegistryError,
      kind: 'denied',
      message:
        /^registry\.example\/team\/app:v1: not found, or private to another account: registry\.example does not say which/,
    },
  },
  {
    name: 'bearer without credentials the token server refuses',
    ref: 'registry.example/team/app:v1',
    answers: [challenge(privChallenge), status(401)],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull',
      },
    ],
    error: { type: RegistryError, kind: 'unauthorized', message: /needs credentials/ },
  },
  {
    name: 'a token server answering JSON null has given no token',
    ref: 'registry.example/team/app:v1',
    answers: [challenge(privChallenge), new Response('null')],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull',
      },
    ],
    error: { type: RegistryError, kind: 'protocol', message: /answered without a token/ },
  },
  {
    name: 'a token answer nested 5000 deep is refused by its depth',
    ref: 'registry.example/team/app:v1',
    answers: [
      challenge(privChallenge),
      new Response(`{"token":"t","x":${'['.repeat(5000)}${']'.repeat(5000)}}`),
    ],
    requests: [
      { url: privManifest(), auth: null },
      {
        url: 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull',
      },
    ],
    error: {
      type: RegistryError,
      kind: 'protocol',
      message:
        /^registry\.example: the token server's answer nests 5001 levels deep; Berth reads at most 64$/,
    },
  },

  // GHCR refuses a token it no longer accepts with 403 DENIED and no challenge (REGISTRIES.md
  // 2.1); its tokens state no lifetime, so a cached one can be stale before the client thinks.
  {
    name: "GHCR's expired token: a cached token's 403 DENIED without a challenge gets one fresh token and one retry",
    ref: 'ghcr.io/owner/app:v1',
    run: resolveTwice,
    answers: [challenge(ghcrChallenge), token('t1'), manifest(), denied(), token('t2'), manifest()],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken, auth: null },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrToken, auth: null },
      { url: ghcrManifest, auth: 'Bearer t2' },
    ],
    result: resolved,
  },
  {
    name: "GHCR's expired token on a HEAD: a 403 with no body is renewed once too",
    ref: 'ghcr.io/owner/app:v1',
    run: async (c, ref) => {
      await c.resolve(ref);
      return c.head(ref);
    },
    answers: [
      challenge(ghcrChallenge),
      token('t1'),
      manifest(),
      status(403),
      token('t2'),
      headAnswer(fullHead),
    ],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrToken },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t2' },
    ],
    result: headResult,
  },
  {
    name: 'requests refused together with one stale token renew it with one token request',
    ref: 'ghcr.io/owner/app:v1',
    run: async (c, ref) => {
      await c.resolve(ref);
      const [a, b] = await Promise.all([c.head(ref), c.head(ref)]);
      expect(b).toEqual(a);
      return a;
    },
    answers: [
      challenge(ghcrChallenge),
      token('t1'),
      manifest(),
      status(403),
      status(403),
      token('t2'),
      headAnswer(fullHead),
      headAnswer(fullHead),
    ],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t1' },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrToken },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t2' },
      { method: 'HEAD', url: ghcrManifest, auth: 'Bearer t2' },
    ],
    result: headResult,
  },
  {
    name: "a 403 after a fresh token is final, in the registry's words",
    ref: 'ghcr.io/owner/app:v1',
    run: resolveTwice,
    answers: [challenge(ghcrChallenge), token('t1'), manifest(), denied(), token('t2'), denied()],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t2' },
    ],
    error: { type: RegistryError, kind: 'denied', message: /invalid token/ },
  },
  {
    name: 'a 403 to a token fetched for this very request is not retried',
    ref: 'ghcr.io/owner/app:v1',
    answers: [challenge(ghcrChallenge), token('t1'), denied()],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t1' },
    ],
    error: { type: RegistryError, kind: 'denied', message: /invalid token/ },
  },
  {
    name: "the proxy's own 403 to a cached token is not a stale token: no new one",
    ref: 'ghcr.io/owner/app:v1',
    run: resolveTwice,
    answers: [
      challenge(ghcrChallenge),
      token('t1'),
      manifest(),
      Response.json(
        { errors: [{ code: 'BERTH_PROXY_DENIED', message: 'the proxy does not reach ghcr.io' }] },
        { status: 403 },
      ),
    ],
    requests: [
      { url: ghcrManifest, auth: null },
      { url: ghcrToken },
      { url: ghcrManifest, auth: 'Bearer t1' },
      { url: ghcrManifest, auth: 'Bearer t1' },
    ],
    error: { type: RegistryError, kind: 'proxy-denied' },
  },

  // Retries.
  {
    name: '5xx is retried, then succeeds',
    ref: 'registry.example/team/app:v1',
    answers: [status(503), status(500), manifest()],
    requests: [{ url: privManifest() }, { url: privManifest() }, { url: privManifest() }],
    result: resolved,
  },
  {
    name: '5xx on every attempt is a server error',
    ref: 'registry.example/team/app:v1',
    answers: [status(503), status(503), status(503)],
    requests: [{ url: privManifest() }, { url: privManifest() }, { url: privManifest() }],
    error: { type: RegistryError, kind: 'server', message: /HTTP 503/ },
  },
  {
    name: 'a network TypeError is retried, then an unreachable error',
    ref: 'registry.example/team/app:v1',
    answers: [
      new TypeError('fetch failed'),
      new TypeError('fetch failed'),
      new TypeError('fetch failed'),
    ],
    requests: [{ url: privManifest() }, { url: privManifest() }, { url: privManifest() }],
    error: { type: RegistryError, kind: 'unreachable', message: /fetch failed/ },
  },
  {
    name: 'a network error on the first request is retried too',
    ref: 'registry.example/team/app:v1',
    answers: [new TypeError('fetch failed'), manifest()],
    requests: [{ url: privManifest() }, { url: privManifest() }],
    result: resolved,
  },
  {
    name: '4xx is not retried',
    ref: 'registry.example/team/app:v1',
    answers: [
      status(
        404,
        {},
        JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
      ),
    ],
    requests: [{ url: privManifest() }],
    error: { type: RegistryError, kind: 'not-found', message: /MANIFEST_UNKNOWN/ },
  },
  {
    name: '429 with Retry-After: 3600 fails at once and says so in minutes',
    ref: 'registry.example/team/app:v1',
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5000 },
    answers: [rateLimited('3600')],
    requests: [{ url: privManifest() }],
    error: {
      type: RegistryError,
      kind: 'rate-limited',
      retryAfterSeconds: 3600,
      message:
        /^registry\.example rate limit reached: retry in 60 min, or sign in for a higher limit\. /,
    },
  },
  {
    name: '429 with Retry-After as an HTTP date two hours away fails at once',
    ref: 'registry.example/team/app:v1',
    answers: [rateLimited(new Date(Date.now() + 7200_000).toUTCString())],
    requests: [{ url: privManifest() }],
    error: {
      type: RegistryError,
      kind: 'rate-limited',
      message: /rate limit reached: retry in 2 h, or sign in/,
      check: (e) => {
        expect(e.retryAfterSeconds).toBeGreaterThan(7100);
        expect(e.retryAfterSeconds).toBeLessThanOrEqual(7200);
      },
    },
  },
  {
    name: '429 without Retry-After is retried with backoff, then rate-limited',
    ref: 'registry.example/team/app:v1',
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 4 },
    answers: [rateLimited(), rateLimited()],
    requests: [{ url: privManifest() }, { url: privManifest() }],
    error: {
      type: RegistryError,
      kind: 'rate-limited',
      retryAfterSeconds: undefined,
      message: /sign in for a higher limit/,
    },
  },

  // Verification and limits.
  {
    name: 'resolve by digest: a body that does not match the digest is refused',
    ref: `registry.example/team/app@${otherDigest}`,
    answers: [manifest()],
    requests: [{ url: privManifest(otherDigest) }],
    error: { type: DigestMismatchError, message: /does not match its digest/ },
  },
  {
    name: 'resolve by digest: a matching body is accepted',
    ref: `registry.example/team/app@${docDigest}`,
    answers: [manifest()],
    requests: [{ url: privManifest(docDigest) }],
    result: resolved,
  },
  {
    name: 'a manifest declared over 4 MiB is refused before it is read',
    ref: 'registry.example/team/app:v1',
    answers: [manifest(doc, { 'Content-Length': String(maxManifestBytes + 1) })],
    requests: [{ url: privManifest() }],
    error: { type: RegistryError, kind: 'protocol', message: /over the 4194304-byte limit/ },
  },
  {
    name: 'a manifest over 4 MiB without Content-Length is cut off',
    ref: 'registry.example/team/app:v1',
    answers: [
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new Uint8Array(maxManifestBytes));
            c.enqueue(new Uint8Array(1));
            c.close();
          },
        }),
        { status: 200, headers: { 'Content-Type': MediaType.OciManifest } },
      ),
    ],
    requests: [{ url: privManifest() }],
    error: { type: RegistryError, kind: 'protocol', message: /over the 4194304-byte limit/ },
  },
  {
    name: 'fetchManifest refuses a descriptor over 4 MiB without a request',
    ref: 'registry.example/team/app:v1',
    run: (c, ref) => c.fetchManifest(ref, { ...headResult, size: maxManifestBytes + 1 }),
    answers: [],
    requests: [],
    error: { type: RegistryError, kind: 'protocol', message: /over the 4194304-byte limit/ },
  },

  // HEAD.
  {
    name: 'head: the descriptor from the headers, with the same Accept and auth as resolve',
    ref: 'alpine',
    run: head,
    answers: [challenge(hubChallenge), token('t1'), headAnswer(fullHead)],
    requests: [
      { method: 'HEAD', url: hubManifest('library/alpine', 'latest'), auth: null },
      { url: hubToken(pull('library/alpine')) },
      {
        method: 'HEAD',
        url: hubManifest('library/alpine', 'latest'),
        auth: 'Bearer t1',
        accept: manifestAccept,
      },
    ],
    result: headResult,
  },
  {
    name: 'head: undefined without Docker-Content-Digest',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [headAnswer(without('Docker-Content-Digest'))],
    requests: [{ method: 'HEAD', url: privManifest() }],
    result: undefined,
  },
  {
    name: 'head: undefined without Content-Length',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [headAnswer(without('Content-Length'))],
    requests: [{ method: 'HEAD', url: privManifest() }],
    result: undefined,
  },
  {
    name: 'head: undefined without Content-Type',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [headAnswer(without('Content-Type'))],
    requests: [{ method: 'HEAD', url: privManifest() }],
    result: undefined,
  },
  {
    name: 'head: undefined for an invalid Docker-Content-Digest',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [headAnswer({ ...fullHead, 'Docker-Content-Digest': 'sha256:ABC' })],
    requests: [{ method: 'HEAD', url: privManifest() }],
    result: undefined,
  },
  {
    name: 'head by digest: the matching digest',
    ref: `registry.example/team/app@${docDigest}`,
    run: head,
    answers: [headAnswer(fullHead)],
    requests: [{ method: 'HEAD', url: privManifest(docDigest) }],
    result: headResult,
  },
  {
    name: 'head by digest: undefined when the registry names another digest',
    ref: `registry.example/team/app@${otherDigest}`,
    run: head,
    answers: [headAnswer(fullHead)],
    requests: [{ method: 'HEAD', url: privManifest(otherDigest) }],
    result: undefined,
  },
  {
    name: 'head: a 404 without a body is a not-found error',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [status(404)],
    requests: [{ method: 'HEAD', url: privManifest() }],
    error: {
      type: RegistryError,
      kind: 'not-found',
      message: /registry\.example\/team\/app:v1: not found \(HTTP 404\)/,
    },
  },
  {
    name: 'head: a 401 without credentials is an unauthorized error',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [challenge('Basic realm="r"')],
    requests: [{ method: 'HEAD', url: privManifest(), auth: null }],
    error: { type: RegistryError, kind: 'unauthorized', message: /needs credentials/ },
  },
  {
    name: 'head: 429 with a long Retry-After is rate-limited',
    ref: 'registry.example/team/app:v1',
    run: head,
    answers: [status(429, { 'Retry-After': '360' })],
    requests: [{ method: 'HEAD', url: privManifest() }],
    error: {
      type: RegistryError,
      kind: 'rate-limited',
      retryAfterSeconds: 360,
      message: /^registry\.example rate limit reached: retry in 6 min, or sign in/,
    },
  },
];

describe('RegistryClient', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const ref = parseReference(c.ref);
      const script = scriptedTransport([...c.answers]);
      const client = clientFor(script.transport, c.creds, c.retry ?? fastRetry);
      const outcome = await (c.run ?? resolve)(client, ref).then(
        (value) => ({ value, error: undefined }),
        (error: unknown) => ({ value: undefined, error }),
      );

      if (c.error) {
        expect(outcome.error, 'an error').toBeDefined();
        const err = outcome.error as RegistryError;
        if (c.error.type) expect(err).toBeInstanceOf(c.error.type);
        if (c.error.kind) expect(err.kind).toBe(c.error.kind);
        if (c.error.message) expect(err.message).toMatch(c.error.message);
        if ('retryAfterSeconds' in c.error) {
          expect(err.retryAfterSeconds).toBe(c.error.retryAfterSeconds);
        }
        c.error.check?.(err);
      } else {
        expect(outcome.error).toBeUndefined();
        expect(outcome.value).toEqual(c.result);
      }

      expect(script.unscripted, 'requests beyond the script').toEqual([]);
      expect(script.answers, 'answers left unused').toEqual([]);
      const got = script.requests.map((r) => `${r.method} ${normalise(r.url)}`);
      const want = c.requests.map((r) => `${r.method ?? 'GET'} ${normalise(r.url)}`);
      expect(got).toEqual(want);
      c.requests.forEach((want, i) => {
        const req = script.requests[i]!;
        if (want.auth !== undefined) {
          expect(req.headers.authorization, `Authorization of request ${i}`).toBe(
            want.auth ?? undefined,
          );
        }
        if (want.accept !== undefined) expect(req.headers.accept).toBe(want.accept);
      });
      for (const req of script.requests) {
        // Docker Hub's API host, not docker.io; the token realm is named by the registry too.
        expect(req.registryHost).toBe(registryApiHost(ref.registry));
        // Credentials travel in headers only, never in a URL (which proxies and logs record).
        if (c.creds) {
          for (const secret of [
            c.creds.password,
            encodeURIComponent(c.creds.password),
            aliceBasic.slice('Basic '.length),
          ]) {
            expect(req.url).not.toContain(secret);
          }
        }
      }
    });
  }

  test('docker.io references go to registry-1.docker.io', async () => {
    const script = scriptedTransport([manifest()]);
    await clientFor(script.transport).resolve(parseReference('docker.io/library/alpine:3'));
    expect(script.requests.map((r) => [r.registryHost, new URL(r.url).host])).toEqual([
      ['registry-1.docker.io', 'registry-1.docker.io'],
    ]);
  });
});

describe('Retry-After within the retry policy', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('429 with Retry-After: 1 waits a second, then retries', async () => {
    vi.useFakeTimers();
    const script = scriptedTransport([rateLimited('1'), manifest()]);
    const client = clientFor(script.transport, undefined, {
      attempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 2000,
    });
    const pending = client.resolve(parseReference('registry.example/team/app:v1'));
    await vi.advanceTimersByTimeAsync(999);
    expect(script.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(pending).resolves.toEqual(resolved);
    expect(script.requests).toHaveLength(2);
  });

  test('a Retry-After over maxRetryAfterMs is not waited for', async () => {
    const script = scriptedTransport([rateLimited('2')]);
    const client = clientFor(script.transport, undefined, {
      attempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 1000,
      maxRetryAfterMs: 1000,
    });
    const err = await client
      .resolve(parseReference('registry.example/team/app:v1'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ kind: 'rate-limited', retryAfterSeconds: 2 });
    expect((err as Error).message).toMatch(/rate limit reached: retry in 2 s, or sign in/);
    expect(script.requests).toHaveLength(1);
  });
});

describe('ping', () => {
  test('a cancelled first caller does not fail a later one, and the ping is sent once', async () => {
    let answerPing!: (r: Response) => void;
    const script = scriptedTransport([() => new Promise<Response>((r) => (answerPing = r))]);
    const client = clientFor(script.transport);

    const first = new AbortController();
    const firstPing = client.ping('registry.example', first.signal);
    const secondPing = client.ping('registry.example');
    await vi.waitFor(() => expect(script.requests).toHaveLength(1));
    expect(script.requests[0]!.signal, 'the shared ping has no caller signal').toBeUndefined();

    first.abort(new Error('first caller gave up'));
    await expect(firstPing).rejects.toThrow('first caller gave up');

    answerPing(challenge('Basic realm="r"'));
    await expect(secondPing).resolves.toEqual([{ scheme: 'basic', params: { realm: 'r' } }]);
    expect(script.requests.map((r) => r.url)).toEqual([privPing]);
  });

  test('an already aborted caller is refused without a request', async () => {
    const script = scriptedTransport([]);
    const client = clientFor(script.transport);
    const signal = AbortSignal.abort(new Error('stop'));
    await expect(client.ping('registry.example', signal)).rejects.toThrow('stop');
    expect(script.requests).toEqual([]);
  });

  test('a failed ping is forgotten, so the next caller pings again', async () => {
    const script = scriptedTransport([status(400), ok()]);
    const client = clientFor(script.transport);
    await expect(client.ping('registry.example')).rejects.toBeInstanceOf(RegistryError);
    await expect(client.ping('registry.example')).resolves.toEqual([]);
    expect(script.requests).toHaveLength(2);
  });
});

describe('through proxyTransport', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  test('Berth-Registry is set on the token request only, naming the API host', async () => {
    const seen: { url: string; berthRegistry: string | null; auth: string | null }[] = [];
    const answers: Response[] = [challenge(hubChallenge), token('t1'), manifest()];
    vi.stubGlobal('fetch', async (input: string | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      seen.push({
        url: String(input),
        berthRegistry: headers.get('Berth-Registry'),
        auth: headers.get('Authorization'),
      });
      return answers.shift() ?? new Response(null, { status: 418 });
    });
    const client = new RegistryClient({ transport: proxyTransport('https://berth.test/proxy/') });
    await expect(client.resolve(parseReference('alpine'))).resolves.toEqual(resolved);
    expect(seen).toEqual([
      {
        url: 'https://berth.test/proxy/registry-1.docker.io/v2/library/alpine/manifests/latest',
        berthRegistry: null,
        auth: null,
      },
      {
        url: `https://berth.test/proxy/auth.docker.io/token?service=registry.docker.io&scope=${encodeURIComponent(pull('library/alpine'))}`,
        berthRegistry: 'registry-1.docker.io',
        auth: null,
      },
      {
        url: 'https://berth.test/proxy/registry-1.docker.io/v2/library/alpine/manifests/latest',
        berthRegistry: null,
        auth: 'Bearer t1',
      },
    ]);
  });
});

describe('retry helpers', () => {
  test('sleep rejects at once when already aborted', async () => {
    const reason = new Error('aborted before');
    await expect(sleep(10_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  test('sleep rejects when aborted while waiting', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error('aborted during'));
    await expect(p).rejects.toThrow('aborted during');
  });

  test('sleep removes its abort listener when the timer fires', async () => {
    const ac = new AbortController();
    const add = vi.spyOn(ac.signal, 'addEventListener');
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    await sleep(1, ac.signal);
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledWith('abort', add.mock.calls[0]![1]);
  });

  const backoffCases: [attempt: number, base: number, max: number, low: number, high: number][] = [
    [1, 100, 5000, 50, 100],
    [2, 100, 5000, 100, 200],
    [3, 100, 5000, 200, 400],
    [10, 100, 5000, 2500, 5000],
    [0, 100, 5000, 50, 100],
  ];
  for (const [attempt, base, max, low, high] of backoffCases) {
    test(`backoff(${attempt}, ${base}, ${max}) is within [${low}, ${high}]`, () => {
      for (let i = 0; i < 50; i++) {
        const d = backoff(attempt, base, max);
        expect(d).toBeGreaterThanOrEqual(low);
        expect(d).toBeLessThanOrEqual(high);
      }
    });
  }

  test('maxRetryAfterSeconds is a minute', () => expect(maxRetryAfterSeconds).toBe(60));
});
