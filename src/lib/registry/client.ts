// A distribution-spec client: ping, auth challenges and token cache, manifest resolve and fetch,
// streaming blob GET. It verifies what it can verify cheaply (manifest digests); blob digests are
// checked by the content store as bytes arrive.
import { JsonError, parseJsonBounded } from '../json.ts';
import { DigestMismatchError } from '../oci/errors.ts';
import { maxDocumentBytes } from '../oci/limits.ts';
import { isDigest } from '../oci/digest.ts';
import { manifestAccept } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { algorithmOf, digestBytes } from '../oci/hasher.ts';
import {
  type Reference,
  formatReference,
  registryApiHost,
  repositoryOf,
} from '../reference/reference.ts';
import { challengesOf, type Challenge } from './challenge.ts';
import {
  RegistryError,
  type RegistryErrorEntry,
  errorFromResponse,
  maxErrorBodyBytes,
  networkError,
  parseRetryAfter,
  readBounded,
  registryLabel,
} from './errors.ts';
import { backoff, maxRetryAfterSeconds, sleep } from './retry.ts';
import type { Transport } from './transport.ts';

/** Manifests larger than this are refused: real ones are a few KiB, and the whole document is
 * held in memory to be parsed. */
export const maxManifestBytes = maxDocumentBytes;

export interface Credentials {
  username: string;
  /** A password or an access token. */
  password: string;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** The longest backoff between attempts. */
  maxDelayMs: number;
  /** The longest Retry-After a 429 is waited for; a longer one is reported. One cap for every
   * request, manifests and blobs alike. */
  maxRetryAfterMs: number;
}

export interface RegistryClientOptions {
  transport: Transport;
  /** Looked up per registry on each auth; never stored by the client. */
  credentials?: (registry: string) => Credentials | undefined;
  retry?: Partial<RetryPolicy>;
  /** Sees every answer a registry's API host gives (its headers only), for what registries say
   * on the side, such as Docker Hub's remaining pulls. */
  onResponse?: (apiHost: string, headers: Headers) => void;
}

interface Token {
  value: string;
  expiresAt: number;
}

/** An Authorization header, and whether its token came from the cache rather than being
 * fetched for the request it is about to go on. */
interface Authorization {
  header: string;
  cached: boolean;
  /** The Bearer token in the header, if it is one. */
  token?: string;
}

/** Whether #token may answer from its cache: `true` asks for a new token; `stale` for any
 * token other than the one a registry refused, so requests refused together renew once. */
type Refresh = boolean | { stale: string };

export interface Resolved {
  /** The root descriptor: the manifest or index the reference names. */
  descriptor: Descriptor;
  /** The document's bytes, already checked against descriptor.digest. */
  bytes: Uint8Array;
}

export interface ByteRange {
  start: number;
  /** Inclusive end; omitted means to the end of the blob. */
  end?: number;
}

export class RegistryClient {
  readonly #transport: Transport;
  readonly #credentials: (registry: string) => Credentials | undefined;
  readonly #retry: RetryPolicy;
  readonly #onResponse: ((apiHost: string, headers: Headers) => void) | undefined;
  readonly #challenges = new Map<string, Promise<Challenge[]>>();
  /** The challenges each registry answered with, from a ping or from any 401: requests to a
   * registry known here are authorised before they are sent. */
  readonly #known = new Map<string, Challenge[]>();
  readonly #tokens = new Map<string, Token>();
  /** The scope a registry asked for in a repository's 401, when it was not the repository's
   * pull scope: later requests are authorised for it at once. */
  readonly #scopes = new Map<string, string>();
  /** Token requests under way, by cache key: concurrent first requests share one. */
  readonly #tokenRequests = new Map<string, Promise<string>>();
  /** Answers to requests that carried a token the token server granted for the user's
   * credentials. Those credentials are good, so a 401 to such a request refuses the resource,
   * not the user: the repository does not exist, or another account owns it. */
  readonly #signedInAnswers = new WeakSet<Response>();

  constructor(opts: RegistryClientOptions) {
    this.#transport = opts.transport;
    this.#credentials = opts.credentials ?? (() => undefined);
    this.#onResponse = opts.onResponse;
    this.#retry = {
      attempts: 5,
      baseDelayMs: 250,
      maxDelayMs: 5000,
      maxRetryAfterMs: maxRetryAfterSeconds * 1000,
      ...opts.retry,
    };
  }

  /** GET /v2/ once per registry, remembering the auth challenges it answers with. The request
   * is shared by every caller and so belongs to none: `signal` only stops this caller waiting. A
   * failed ping is forgotten, so the next caller tries again. */
  ping(registry: string, signal?: AbortSignal): Promise<Challenge[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let p = this.#challenges.get(registry);
    if (!p) {
      const shared = this.#ping(registry);
      p = shared;
      this.#challenges.set(registry, shared);
      shared.catch(() => {
        if (this.#challenges.get(registry) === shared) this.#challenges.delete(registry);
      });
    }
    return signal ? untilAborted(p, signal) : p;
  }

  async #ping(registry: string): Promise<Challenge[]> {
    const host = registryApiHost(registry);
    const res = await this.#send(host, `https://${host}/v2/`, { method: 'GET' }, registry);
    if (res.ok) {
      await res.body?.cancel();
      this.#known.set(registry, []);
      return [];
    }
    if (res.status === 401) {
      await res.body?.cancel();
      const challenges = challengesOf(res.headers);
      this.#known.set(registry, challenges);
      return challenges;
    }
    throw await errorFromResponse(res, `${registry}`, registry);
  }

  /** Resolves a tag or digest reference to its root descriptor, fetching the document once. */
  async resolve(ref: Reference, signal?: AbortSignal): Promise<Resolved> {
    const id = ref.digest ?? ref.tag ?? 'latest';
    const what = formatReference(ref);
    const res = await this.#request(ref, `manifests/${id}`, {
      method: 'GET',
      headers: { Accept: manifestAccept },
      signal,
    });
    if (!res.ok) throw await this.#failure(res, what, ref.registry);
    const bytes = await this.#readManifest(res, what);
    const algorithm = ref.digest ? algorithmOf(ref.digest) : 'sha256';
    const digest = await digestBytes(bytes, algorithm);
    if (ref.digest && digest !== ref.digest) {
      throw new DigestMismatchError(ref.digest, digest, bytes.byteLength, what);
    }
    const mediaType = contentType(res) || sniffMediaType(bytes);
    return { descriptor: { mediaType, digest, size: bytes.byteLength }, bytes };
  }

  /**
   * Resolves a tag or digest reference with HEAD, which Docker Hub does not count against the
   * pull rate limit. Returns the root descriptor only when the registry says everything about it
   * (a valid Docker-Content-Digest, Content-Length and Content-Type, and for a digest reference
   * the same digest); otherwise undefined, and the caller should GET with resolve(). Failures
   * throw the same typed errors as resolve().
   */
  async head(ref: Reference, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const id = ref.digest ?? ref.tag ?? 'latest';
    const what = formatReference(ref);
    const res = await this.#request(ref, `manifests/${id}`, {
      method: 'HEAD',
      headers: { Accept: manifestAccept },
      signal,
    });
    if (!res.ok) throw await this.#failure(res, what, ref.registry);
    await res.body?.cancel();
    if (res.status !== 200) return undefined;
    const digest = (res.headers.get('Docker-Content-Digest') ?? '').trim();
    if (!isDigest(digest) || (ref.digest && digest !== ref.digest)) return undefined;
    const length = (res.headers.get('Content-Length') ?? '').trim();
    const size = /^\d+$/.test(length) ? Number(length) : 0;
    if (!Number.isSafeInteger(size) || size <= 0) return undefined;
    const mediaType = contentType(res);
    if (!mediaType) return undefined;
    return { mediaType, digest, size };
  }

  /** Fetches a manifest or index by descriptor and checks its size and digest. Returns the
   * bytes and the Content-Type they came with, for the caller's media type check. */
  async fetchManifest(
    ref: Reference,
    desc: Descriptor,
    signal?: AbortSignal,
  ): Promise<{ bytes: Uint8Array; contentType: string }> {
    const what = `${repositoryOf(ref)}@${desc.digest}`;
    if (desc.size > maxManifestBytes) {
      throw new RegistryError(
        `${what}: manifest is ${desc.size} bytes, over the ${maxManifestBytes}-byte limit`,
        'protocol',
        0,
      );
    }
    const res = await this.#request(ref, `manifests/${desc.digest}`, {
      method: 'GET',
      headers: { Accept: [desc.mediaType, manifestAccept].join(', ') },
      signal,
    });
    if (!res.ok) throw await this.#failure(res, what, ref.registry);
    const bytes = await this.#readManifest(res, what);
    const digest = await digestBytes(bytes, algorithmOf(desc.digest));
    if (digest !== desc.digest || bytes.byteLength !== desc.size) {
      throw new DigestMismatchError(desc.digest, digest, bytes.byteLength, what);
    }
    return { bytes, contentType: contentType(res) };
  }

  /**
   * A small blob whole, in memory: refused before any request when its descriptor says it is
   * over `max` bytes, read no further than the descriptor's size, and checked against its
   * digest. For documents beside an image (a referrer's blobs, a SOCI zTOC); layers stream.
   */
  async fetchBlobBytes(
    ref: Reference,
    desc: Descriptor,
    max: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const what = `${repositoryOf(ref)}@${desc.digest}`;
    if (desc.size > max) {
      throw new RegistryError(
        `${what}: blob is ${desc.size} bytes, over the ${max}-byte limit`,
        'protocol',
        0,
      );
    }
    const res = await this.fetchBlob(ref, desc, undefined, signal);
    const declared = Number(res.headers.get('Content-Length') ?? NaN);
    const bytes = declared > desc.size ? undefined : await readBounded(res, desc.size);
    if (!bytes) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError(
        `${what}: the registry sent more than the ${desc.size} bytes its descriptor gives`,
        'protocol',
        res.status,
      );
    }
    const digest = await digestBytes(bytes, algorithmOf(desc.digest));
    if (digest !== desc.digest || bytes.byteLength !== desc.size) {
      throw new DigestMismatchError(desc.digest, digest, bytes.byteLength, what);
    }
    return bytes;
  }

  /** Starts a blob GET and returns the streaming response (200, or 206 for a range). */
  async fetchBlob(ref: Reference, desc: Descriptor, range?: ByteRange, signal?: AbortSignal) {
    const what = `${repositoryOf(ref)}@${desc.digest}`;
    const headers: Record<string, string> = {};
    if (range) headers.Range = `bytes=${range.start}-${range.end ?? ''}`;
    const init = { method: 'GET', headers, signal };
    let res = await this.#request(ref, `blobs/${desc.digest}`, init);
    if (res.status === 200 || res.status === 206) return res;
    // Registries send blobs to a CDN with a signed URL, followed on the way (by the proxy or
    // the browser). A refusal that is not the registry's own JSON error is the CDN's: most
    // often the URL expired before it was used. A new request gets a new URL; once only.
    let refusal = await cdnRefusal(res);
    if (refusal) {
      await res.body?.cancel();
      res = await this.#request(ref, `blobs/${desc.digest}`, init);
      if (res.status === 200 || res.status === 206) return res;
      refusal = await cdnRefusal(res);
    }
    if (refusal) {
      await res.body?.cancel();
      throw new RegistryError(
        `${what}: ${registryLabel(ref.registry)} sent the download to its storage server (CDN), ` +
          `which refused it twice (${refusal.said}). This is on the registry's side: try again later.`,
        'server',
        refusal.status,
      );
    }
    throw await this.#failure(res, what, ref.registry);
  }

  /** The error for a failed response; a 401 says whether credentials were missing or refused,
   * or, when a token was granted, that the repository is absent or private. */
  async #failure(res: Response, what: string, registry: string): Promise<RegistryError> {
    const signedIn = this.#signedInAnswers.has(res);
    // A token was granted and the resource is still refused: registries answer so for a
    // repository that does not exist as for one that is private (Docker Hub and Harbor with
    // `insufficient_scope`, Quay with a plain 401), and none says which.
    if (res.status === 401 && (signedIn || insufficientScope(res.headers))) {
      const err = await errorFromResponse(res, what, registry);
      return notFoundOrPrivate(what, registry, signedIn, err.errors);
    }
    const err = await errorFromResponse(res, what, registry);
    if (res.status === 401 && this.#credentials(registry)) {
      return new RegistryError(
        `${what}: the registry refused the credentials for ${registry}. Check the user name and password or token.`,
        'unauthorized',
        401,
        err.errors,
      );
    }
    return err;
  }

  async #readManifest(res: Response, what: string) {
    const declared = Number(res.headers.get('Content-Length') ?? NaN);
    if (declared > maxManifestBytes) {
      await res.body?.cancel();
      throw new RegistryError(
        `${what}: manifest is ${declared} bytes, over the ${maxManifestBytes}-byte limit`,
        'protocol',
        res.status,
      );
    }
    const bytes = await readBounded(res, maxManifestBytes);
    if (!bytes) {
      throw new RegistryError(
        `${what}: manifest is over the ${maxManifestBytes}-byte limit`,
        'protocol',
        res.status,
      );
    }
    return bytes;
  }

  /** A GET or HEAD of `/v2/<repository>/<path>` (path may carry a query) with the client's
   * auth and retries, for APIs built on the client (tag lists, referrers). The caller reads
   * or cancels the body and turns a failure into an error with failure(). */
  repositoryRequest(ref: Reference, path: string, init: RequestInit): Promise<Response> {
    return this.#request(ref, path, init);
  }

  /** The typed error for a failed response of repositoryRequest(). */
  failure(res: Response, what: string, registry: string): Promise<RegistryError> {
    return this.#failure(res, what, registry);
  }

  /** A repository-scoped request with auth. No `/v2/` ping comes first: a registry not heard
   * from yet gets the request without credentials, and its 401 carries the same challenge a
   * ping would (one round trip saved, as skopeo and containerd do). Once a registry's
   * challenges are known, requests are authorised before they are sent. A 401 that asks for
   * a different scope, or refuses a stale token, is authorised once more. */
  #request(ref: Reference, path: string, init: RequestInit): Promise<Response> {
    return this.#scoped(
      ref.registry,
      `${ref.repository}/${path}`,
      `repository:${ref.repository}:pull`,
      formatReference(ref),
      init,
    );
  }

  /** A GET of the registry's catalog, `_catalog` with its query, authorised for the
   * registry-wide scope distribution and Harbor ask for (`registry:catalog:*`). The caller
   * reads or cancels the body; a refusal is the caller's to word, as registries that never list
   * (Docker Hub) answer 401 even to a signed-in user. */
  catalogRequest(registry: string, path: string, init: RequestInit): Promise<Response> {
    return this.#scoped(registry, path, 'registry:catalog:*', `${registry} catalog`, init);
  }

  /** `/v2/<path>` on the registry with auth for `defaultScope` (or the scope a 401 asked for
   * instead, remembered per registry and path's first part). */
  async #scoped(
    registry: string,
    path: string,
    defaultScope: string,
    what: string,
    init: RequestInit,
  ): Promise<Response> {
    try {
      return await this.#scopedOnce(registry, path, defaultScope, what, init);
    } catch (e) {
      if (e instanceof ScopeRefused) throw notFoundOrPrivate(what, registry, true, e.errors);
      throw e;
    }
  }

  async #scopedOnce(
    registry: string,
    path: string,
    defaultScope: string,
    what: string,
    init: RequestInit,
  ): Promise<Response> {
    const host = registryApiHost(registry);
    const url = `https://${host}/v2/${path}`;
    const repoKey = `${registry}/${defaultScope}`;
    const scope = this.#scopes.get(repoKey) ?? defaultScope;
    const known = this.#known.get(registry);
    let auth = known
      ? await this.#authorize(registry, known, scope, false, init.signal)
      : undefined;
    // What `auth` was made from, to make it again with a fresh token.
    let authBy = { challenges: known ?? [], scope };
    // A request sent without Authorization because nothing was known may be answered with the
    // challenge, and then once more with a re-authorisation.
    const reauthorisations = known ? 1 : 2;
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      if (auth) headers.set('Authorization', auth.header);
      const res = await this.#send(host, url, { ...init, headers }, what);
      // #token throws unless the token server granted the credentials it was sent.
      if (auth?.header.startsWith('Bearer ') && this.#credentials(registry)) {
        this.#signedInAnswers.add(res);
      }
      // GHCR answers a token it no longer accepts with 403 DENIED and no challenge, not with a
      // 401 (REGISTRIES.md 2.1), and its tokens state no lifetime, so the cache's guess can
      // outlive them. A token from the cache gets one fresh one and one retry; a token fetched
      // for this very request is not stale, so its 403 is the answer, as is a CDN's refusal of
      // a blob's signed URL (fetchBlob's to handle).
      if (auth?.cached && (await deniedWithoutChallenge(res))) {
        // A fresh token is never `cached`: its own 403 ends here next time round.
        const renewed = await this.#authorize(
          registry,
          authBy.challenges,
          authBy.scope,
          auth.token === undefined ? true : { stale: auth.token },
          init.signal,
        );
        if (!renewed || renewed.header === auth.header) return res;
        await res.body?.cancel();
        auth = renewed;
        continue;
      }
      if (res.status !== 401 || attempt >= reauthorisations) return res;
      const fresh = challengesOf(res.headers);
      if (fresh.length === 0) return res;
      if (!this.#known.has(registry)) this.#known.set(registry, fresh);
      const challenged = fresh.find((c) => c.scheme === 'bearer')?.params.scope ?? scope;
      // A repository's request keeps its own pull scope beside a scope that names no
      // repository (ECR Public's scope="aws"), as containerd does; the catalog has none.
      const own = /^repository:(.+):pull$/.exec(defaultScope)?.[1];
      const scopeAsked = own !== undefined ? withOwnScope(challenged, own) : challenged;
      if (scopeAsked !== defaultScope) this.#scopes.set(repoKey, scopeAsked);
      // The same scope refused with a token: it went stale, fetch a new one. Another scope
      // asked for: a cached token for it serves, so a registry that always widens the scope
      // costs one token request, not one per call.
      const next = await this.#authorize(
        registry,
        fresh,
        scopeAsked,
        auth !== undefined && scopeAsked === scope,
        init.signal,
      );
      // The same Authorization again would only get the same 401.
      if (!next || next.header === auth?.header) return res;
      await res.body?.cancel();
      auth = next;
      authBy = { challenges: fresh, scope: scopeAsked };
    }
  }

  async #authorize(
    registry: string,
    challenges: Challenge[],
    scope: string,
    refresh: Refresh,
    signal?: AbortSignal | null,
  ): Promise<Authorization | undefined> {
    const creds = this.#credentials(registry);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm) {
      const t = await this.#token(registry, bearer, scope, creds, refresh, signal);
      return { header: `Bearer ${t.value}`, cached: t.cached, token: t.value };
    }
    if (challenges.some((c) => c.scheme === 'basic') && creds) {
      return { header: `Basic ${base64(`${creds.username}:${creds.password}`)}`, cached: false };
    }
    return undefined;
  }

  async #token(
    registry: string,
    challenge: Challenge,
    scope: string,
    creds: Credentials | undefined,
    refresh: Refresh,
    signal?: AbortSignal | null,
  ): Promise<{ value: string; cached: boolean }> {
    const realm = challenge.params.realm!;
    const service = challenge.params.service ?? '';
    // Credentials are part of the key so that signing in replaces an anonymous token.
    const key = [realm, service, scope, creds?.username ?? ''].join('\n');
    const cached = this.#tokens.get(key);
    const renewing = typeof refresh === 'object';
    if (
      cached &&
      (!refresh || (renewing && cached.value !== refresh.stale)) &&
      cached.expiresAt > Date.now() + 10_000
    ) {
      // A token cached since the refused one was sent is as new as a fetched one.
      return { value: cached.value, cached: !renewing };
    }
    // Requests that start together (a pull's blobs, the tag list beside the referrers) share
    // one token request rather than each asking for its own; so do requests renewing a token
    // refused together, as any request under way started after the refused token was cached.
    const pending = this.#tokenRequests.get(key);
    if (pending && (!refresh || renewing)) {
      return { value: await (signal ? untilAborted(pending, signal) : pending), cached: false };
    }
    const shared = this.#fetchToken(registry, key, realm, service, scope, creds);
    this.#tokenRequests.set(key, shared);
    const forget = () => {
      if (this.#tokenRequests.get(key) === shared) this.#tokenRequests.delete(key);
    };
    shared.then(forget, forget);
    return { value: await (signal ? untilAborted(shared, signal) : shared), cached: false };
  }

  /** One token request; shared by its callers, so no caller's signal stops it. */
  async #fetchToken(
    registry: string,
    key: string,
    realm: string,
    service: string,
    scope: string,
    creds: Credentials | undefined,
  ): Promise<string> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scope.split(' ')) if (s) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds) {
      url.searchParams.set('account', creds.username);
      headers.Authorization = `Basic ${base64(`${creds.username}:${creds.password}`)}`;
    }
    const host = registryApiHost(registry);
    const res = await this.#send(host, url.toString(), { method: 'GET', headers }, registry);
    if (!res.ok) {
      const err = await errorFromResponse(res, `${registry}: token request`, registry);
      if (res.status === 401 || res.status === 403) {
        if (creds && /(^| )repository:/.test(scope)) {
          if (await this.#credentialsAccepted(registry, realm, service, creds)) {
            throw new ScopeRefused(err.message, 'denied', res.status, err.errors);
          }
        }
        throw new RegistryError(
          creds
            ? `${registry}: the registry refused these credentials. Check the user name and password or token.`
            : `${registry}: this registry needs credentials. Sign in and pull again.`,
          'unauthorized',
          res.status,
          err.errors,
        );
      }
      throw err;
    }
    const body = await readBounded(res, maxErrorBodyBytes);
    if (!body) {
      throw new RegistryError(
        `${registry}: the token server's answer is over ${maxErrorBodyBytes} bytes; refused`,
        'protocol',
        res.status,
      );
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown } = {};
    try {
      doc = body
        ? ((parseJsonBounded(body, {
            what: `${registry}: the token server's answer`,
            maxBytes: maxErrorBodyBytes,
          }) as typeof doc) ?? {})
        : {};
    } catch (e) {
      if (!(e instanceof JsonError)) throw e;
      // One nested past the bound is named; a malformed answer has no token, as below says.
      if (e.kind === 'depth') throw new RegistryError(e.message, 'protocol', res.status);
    }
    const value =
      typeof doc.token === 'string'
        ? doc.token
        : typeof doc.access_token === 'string'
          ? doc.access_token
          : '';
    if (!value) {
      throw new RegistryError(
        `${registry}: the token server answered without a token`,
        'protocol',
        res.status,
      );
    }
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    this.#tokens.set(key, { value, expiresAt: Date.now() + ttl * 1000 });
    return value;
  }

  /** Whether the token server grants the credentials a token for no scope, as `docker login`
   * checks them. Asked only after a repository's scope was refused with them, to tell a wrong
   * password from a repository the user cannot see. */
  async #credentialsAccepted(
    registry: string,
    realm: string,
    service: string,
    creds: Credentials,
  ): Promise<boolean> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('account', creds.username);
    const headers = { Authorization: `Basic ${base64(`${creds.username}:${creds.password}`)}` };
    const host = registryApiHost(registry);
    const res = await this.#send(host, url.toString(), { method: 'GET', headers }, registry);
    await res.body?.cancel();
    return res.ok;
  }

  /** One HTTP exchange with retries for network errors, 5xx and 429 (bounded backoff). A 429
   * whose Retry-After (seconds or an HTTP date) is longer than the policy's maxRetryAfterMs is
   * returned at once: the caller's error then says how long to wait. */
  async #send(host: string, url: string, init: RequestInit, what: string): Promise<Response> {
    const { attempts, baseDelayMs, maxDelayMs, maxRetryAfterMs: longestWaitMs } = this.#retry;
    const signal = init.signal ?? undefined;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.#transport(url, init, host);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (attempt >= attempts) throw networkError(err, what);
        await sleep(backoff(attempt, baseDelayMs, maxDelayMs), signal);
        continue;
      }
      // Token realms live elsewhere and say nothing about the registry.
      if (this.#onResponse && new URL(url).host === host) this.#onResponse(host, res.headers);
      // 502 and 504 from the proxy itself mean the host is unreachable: retrying is fine, but
      // a 403 policy refusal or 4xx is final.
      const retryable = res.status >= 500 || res.status === 429;
      if (!retryable || attempt >= attempts) return res;
      let delay = backoff(attempt, baseDelayMs, maxDelayMs);
      if (res.status === 429) {
        // Docker Hub's pull limit spent: its window is hours long, so a retry only wastes time.
        if (/^\s*0\s*(;|$)/.test(res.headers.get('RateLimit-Remaining') ?? '')) return res;
        const after = parseRetryAfter(res.headers.get('Retry-After'));
        if (after !== undefined && after * 1000 > longestWaitMs) return res;
        if (after) delay = after * 1000;
      }
      await res.body?.cancel();
      await sleep(delay, signal);
    }
  }
}

/** The scope a 401 asked for, with the repository's pull scope beside it when it names no
 * repository at all (ECR Public asks for `aws`), as containerd does: a token server that grants
 * only what is asked would otherwise grant nothing for the repository. */
function withOwnScope(asked: string, repository: string): string {
  const scopes = asked.split(' ').filter(Boolean);
  if (scopes.some((s) => s.startsWith('repository:'))) return asked;
  return [...scopes, `repository:${repository}:pull`].join(' ');
}

/** The error for a repository a registry refuses without saying why: absent and private
 * read the same to a client. `signedIn`: the credentials themselves were accepted. */
function notFoundOrPrivate(
  what: string,
  registry: string,
  signedIn: boolean,
  errors: RegistryErrorEntry[] = [],
): RegistryError {
  const label = registryLabel(registry);
  return new RegistryError(
    signedIn
      ? `${what}: not found, or private to another account: ${label} does not say which. ` +
          `Check the name, or sign in as an account that can pull it.`
      : `${what}: not found, or private: ${label} does not say which. Check the name; ` +
          `if the repository is yours, sign in.`,
    signedIn ? 'denied' : 'unauthorized',
    401,
    errors,
  );
}

/** A token server that refused a repository's scope but grants the same credentials a token
 * for no scope at all, as `docker login` asks: the user is known, the repository is not theirs
 * to pull (GHCR refuses an absent or private package so). Worded by the request it served. */
class ScopeRefused extends RegistryError {}

/** Whether a 401's challenge says the token was good but not enough (RFC 6750 3.1). */
function insufficientScope(headers: Headers): boolean {
  return challengesOf(headers).some(
    (c) => c.scheme === 'bearer' && c.params.error === 'insufficient_scope',
  );
}

/** Whether an answer may be the registry's own 403 with no challenge, as GHCR refuses a token
 * it no longer accepts: a JSON error body, or none (a HEAD's). A CDN's refusal (XML, after a
 * blob's redirect) is not, nor is the proxy's (its codes start BERTH_). The body is read from
 * a clone, so the caller still has it whole. */
async function deniedWithoutChallenge(res: Response): Promise<boolean> {
  if (res.status !== 403 || challengesOf(res.headers).length > 0) return false;
  const bytes = await readBounded(res.clone(), maxErrorBodyBytes).catch(() => undefined);
  if (!bytes) return false;
  const text = new TextDecoder().decode(bytes).trim();
  if (text === '') return true;
  return /^\{/.test(text) && /"errors"\s*:/.test(text) && !/"code"\s*:\s*"BERTH_/.test(text);
}

/** A 400 or 403 to a blob GET that is not the registry's (or the proxy's) own JSON error:
 * a CDN's refusal of the signed URL it was sent to (S3, R2 and Azure answer in XML). Returns
 * what it said, or undefined for any other answer; the body is read either way. */
async function cdnRefusal(res: Response): Promise<{ status: number; said: string } | undefined> {
  if (res.status !== 400 && res.status !== 403) return undefined;
  // A clone: a registry's own error is read again, whole, by errorFromResponse.
  const bytes = await readBounded(res.clone(), maxErrorBodyBytes).catch(() => undefined);
  const text = bytes ? new TextDecoder().decode(bytes) : '';
  if (/^\s*\{/.test(text) && /"errors"\s*:/.test(text)) return undefined;
  const tag = (name: string) =>
    new RegExp(`<${name}>([^<]{1,200})</${name}>`).exec(text)?.[1]?.trim();
  const words = [tag('Code'), tag('Message')].filter(Boolean).join(': ');
  return { status: res.status, said: `HTTP ${res.status}${words ? `, ${words}` : ''}` };
}

/** The media type a response declares, without parameters; '' when it declares none. */
function contentType(res: Response): string {
  return (res.headers.get('Content-Type') ?? '').split(';')[0]!.trim();
}

/** Waits for `p` unless `signal` aborts first; `p` itself carries on for its other waiters. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function base64(s: string) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** A registry that sends no Content-Type: take the document's own mediaType. */
function sniffMediaType(bytes: Uint8Array): string {
  try {
    const doc = parseJsonBounded(new TextDecoder().decode(bytes), {
      what: 'the manifest',
      maxBytes: maxManifestBytes,
    }) as { mediaType?: unknown } | null;
    return typeof doc?.mediaType === 'string' ? doc.mediaType : '';
  } catch (e) {
    // The parser reports what is wrong with the document itself.
    if (e instanceof JsonError) return '';
    throw e;
  }
}
