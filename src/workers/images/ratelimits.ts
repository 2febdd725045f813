// What registries said about their rate limits, as read from the answers this worker's clients
// got anyway (see lib/registry/ratelimit.ts): the newest answer per API host wins.
import { registryApiHost } from '../../lib/reference/reference.ts';
import { readRateLimit, type RateLimit } from '../../lib/registry/ratelimit.ts';

const limits = new Map<string, RateLimit>();

/** The client's onResponse: keeps the limit an answer states, if it states one. */
export function noteResponse(apiHost: string, headers: Headers): void {
  const limit = readRateLimit(headers);
  if (limit) limits.set(apiHost, limit);
}

/** The rate limit last seen for a registry (as references name it), or null. */
export async function rateLimit(arg: { registry: string }): Promise<RateLimit | null> {
  return limits.get(registryApiHost(arg.registry)) ?? null;
}
