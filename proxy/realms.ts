// Token realms each registry announces, so a token request goes only where the registry itself
// sends its clients. A soft cache: a miss costs one GET /v2/, so any replica can answer any
// request and nothing breaks when the cache is empty. A registry's own 401 to a repository
// request, forwarded a moment before, fills it too: a client's first token request then needs
// no probe of its own (the round trip it would add comes before the client's first view).

import { bearerRealms } from './challenge.ts';
import { refused } from './errors.ts';
import { formatHostPort, type HostPort } from './policy.ts';
import { effectiveHostPort, USER_AGENT, type RequestOrigin, type Upstream } from './upstream.ts';

const REALM_TTL_MS = 10 * 60 * 1000;
const REALM_CACHE_MAX = 1000;

/** Announced realms, as compared (no query), each with the names of its own query's parameters. */
type RealmSet = Map<string, Set<string>>;

interface RealmEntry {
  realms: RealmSet;
  expires: number;
}

/** What a token request may be, once its URL is known to be an announced realm. */
export interface TokenRequestOrigin extends RequestOrigin {
  /** Parameters the realm itself carries in its query; a client may send them back. */
  realmParams: ReadonlySet<string>;
}

/** scheme://host[:port]/path of a URL, the part a realm is compared on. */
function withoutQuery(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The realms registries announce, cached per handler. */
export class Realms {
  readonly #upstream: Upstream;
  readonly #cache = new Map<string, RealmEntry>();
  readonly #inFlight = new Map<string, Promise<RealmSet>>();

  constructor(upstream: Upstream) {
    this.#upstream = upstream;
  }

  /** Is `upstream` the token realm `registry` announces? Refuses if not. */
  async check(registry: HostPort, upstream: URL): Promise<TokenRequestOrigin> {
    const key = formatHostPort(registry);
    const origin = {
      registry: key,
      listed: this.#upstream.isListed(this.#upstream.registryBase(key)),
    };
    // Refused before probing: no announcement could make this acceptable.
    if (this.#upstream.isListed(upstream) && !origin.listed) {
      const host = effectiveHostPort(upstream);
      throw refused(
        `refusing to connect to ${host}: it is in BERTH_INSECURE_REGISTRIES and registry ` +
          `${key}, whose token realm it would be, is not; ` +
          "a public registry's token realm must be a public https host",
      );
    }
    const wanted = withoutQuery(upstream);
    const realms = await this.#realmsFor(key);
    const realmParams = realms.get(wanted);
    if (!realmParams) {
      throw refused(`${wanted} is not the token realm announced by registry ${key}`);
    }
    return { ...origin, realmParams };
  }

  /** Remembers the realms a registry announced in a 401 it sent itself (not a host it
   * redirected to) to a registry API request: what a GET /v2/ would have said. */
  learn(registry: HostPort, wwwAuthenticate: string | null): void {
    const announced = realmsOf(wwwAuthenticate);
    if (announced.size === 0) return;
    const key = formatHostPort(registry);
    const cached = this.#cache.get(key);
    const realms =
      cached && cached.expires > Date.now() ? new Map([...cached.realms, ...announced]) : announced;
    this.#remember(key, realms);
  }

  async #realmsFor(registry: string): Promise<RealmSet> {
    const cached = this.#cache.get(registry);
    if (cached && cached.expires > Date.now()) return cached.realms;
    let pending = this.#inFlight.get(registry);
    if (!pending) {
      pending = this.#fetchRealms(registry).finally(() => this.#inFlight.delete(registry));
      this.#inFlight.set(registry, pending);
    }
    const realms = await pending;
    // Only confirmations are cached: a registry that was briefly down or
    // unauthenticated must not lock token requests out for ten minutes.
    if (realms.size > 0) this.#remember(registry, realms);
    return realms;
  }

  #remember(registry: string, realms: RealmSet) {
    this.#cache.delete(registry);
    if (this.#cache.size >= REALM_CACHE_MAX) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(registry, { realms, expires: Date.now() + REALM_TTL_MS });
  }

  async #fetchRealms(registry: string): Promise<RealmSet> {
    const headers = new Headers({ accept: 'application/json', 'user-agent': USER_AGENT });
    headers.set('accept-encoding', 'identity');
    const base = this.#upstream.registryBase(registry);
    const res = await this.#upstream.follow(
      base,
      { registry, listed: this.#upstream.isListed(base) },
      'GET',
      headers,
      // Shared by concurrent callers, so one client leaving must not abort it.
      new AbortController().signal,
    );
    await res.body?.cancel().catch(() => {});
    return realmsOf(res.headers.get('www-authenticate'));
  }
}

/** The realms of a WWW-Authenticate header's Bearer challenges, as compared. */
function realmsOf(header: string | null): RealmSet {
  const realms: RealmSet = new Map();
  for (const realm of bearerRealms(header)) {
    try {
      const url = new URL(realm);
      const key = withoutQuery(url);
      const params = new Set([...(realms.get(key) ?? []), ...url.searchParams.keys()]);
      realms.set(key, params);
    } catch {
      // A realm that is not a URL can never match a request.
    }
  }
  return realms;
}
