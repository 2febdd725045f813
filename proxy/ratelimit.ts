// Per-client rate limiting for the proxy: one token bucket per client key.
//
// Pure (no node: imports): the Node server keys it by socket address, and an
// edge deployment could key it by whatever its platform says the client is.
// The handler only calls take(); all state lives here.

import { parseIPv4, parseIPv6 } from './policy.ts';

export interface RateLimiter {
  /** Requests a client may make per minute (also the burst size). */
  readonly perMinute: number;
  /** Takes one token for `key`: 0 when allowed, else whole seconds until one is available. */
  take(key: string): number;
}

export interface RateLimiterOptions {
  perMinute: number;
  /** Clients remembered at once; the least recently seen are dropped first. Default 10000. */
  maxClients?: number;
  /** Clock in milliseconds; tests substitute their own. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export const DEFAULT_RATE_LIMIT = 600;

/** A token bucket per key: `perMinute` tokens, refilled continuously. */
export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const { perMinute } = opts;
  if (!(Number.isFinite(perMinute) && perMinute > 0)) {
    throw new Error('rate limit must be a positive number of requests per minute');
  }
  const maxClients = opts.maxClients ?? 10_000;
  const now = opts.now ?? Date.now;
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  function refilled(b: Bucket, t: number): number {
    return Math.min(perMinute, b.tokens + (t - b.at) * perMs);
  }

  return {
    perMinute,
    take(key) {
      const t = now();
      const bucket = buckets.get(key);
      let tokens = bucket ? refilled(bucket, t) : perMinute;
      // Re-inserted so the map stays ordered by last use, oldest first.
      buckets.delete(key);
      if (tokens < 1) {
        buckets.set(key, { tokens, at: t });
        return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
      }
      tokens -= 1;
      buckets.set(key, { tokens, at: t });
      if (buckets.size > maxClients) {
        // A full bucket carries no information: drop those first, then the oldest.
        for (const [k, b] of buckets) {
          if (buckets.size <= maxClients) break;
          if (refilled(b, t) >= perMinute) buckets.delete(k);
        }
        for (const k of buckets.keys()) {
          if (buckets.size <= maxClients) break;
          buckets.delete(k);
        }
      }
      return 0;
    },
  };
}

/**
 * The rate-limit key of a client address: IPv4 as is (also when IPv4-mapped),
 * IPv6 by its /64, since one subscriber usually holds a whole /64 and could
 * otherwise take a fresh address for every request.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (parseIPv4(bare)) return bare;
  const v6 = parseIPv6(bare);
  if (!v6) return bare;
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const [hi = 0, lo = 0] = v6.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${v6
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
