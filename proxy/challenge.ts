// The proxy confirms token realms with the same challenge parser the client uses.
import { parseChallenges } from '../src/lib/registry/challenge.ts';

/** Realm URLs of all Bearer challenges in a WWW-Authenticate value. */
export function bearerRealms(header: string | null): string[] {
  return parseChallenges(header)
    .filter((c) => c.scheme === 'bearer' && typeof c.params.realm === 'string')
    .map((c) => c.params.realm as string);
}
