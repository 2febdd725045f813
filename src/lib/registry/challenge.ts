// WWW-Authenticate parsing (RFC 9110 §11.6.1), enough to find Bearer realms.
//
// A header may carry several challenges, and Headers.get() joins repeated
// headers with ", ", so commas separate both challenges and parameters; the
// only way to tell them apart is whether the next item looks like `name=`.
// Quoted strings may contain commas and backslash escapes.

export interface Challenge {
  /** Lowercased auth scheme, e.g. 'bearer'. */
  scheme: string;
  /** Parameters with lowercased names. */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  const s = header;
  let i = 0;
  const out: Challenge[] = [];

  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const skipWsAndCommas = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const tokenAt = (pos: number): string => {
    let j = pos;
    while (j < s.length && TCHAR.test(s[j]!)) j++;
    return s.slice(pos, j);
  };
  // Does an auth-param (`name = value`) start at pos? Token68 padding (`abc==`)
  // also has '=' after a token, so require the '=' not to be padding.
  const paramAt = (pos: number): boolean => {
    const name = tokenAt(pos);
    if (!name) return false;
    let j = pos + name.length;
    while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
    if (s[j] !== '=') return false;
    j++;
    while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
    return j < s.length && s[j] !== '=' && s[j] !== ',';
  };
  const readValue = (): string => {
    if (s[i] !== '"') {
      // Strictly a token, but some servers leave a realm URL unquoted: take it up to the
      // next separator.
      const start = i;
      while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
      return s.slice(start, i);
    }
    i++;
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i];
      i++;
    }
    i++; // closing quote (or end of input for an unterminated string)
    return v;
  };

  while (true) {
    skipWsAndCommas();
    if (i >= s.length) break;
    const scheme = tokenAt(i);
    if (!scheme) break; // garbage: keep what we understood so far
    i += scheme.length;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();

    if (!paramAt(i)) {
      // Either token68 or no parameters at all.
      let j = i;
      while (j < s.length && TOKEN68_CHAR.test(s[j]!)) j++;
      while (j < s.length && s[j] === '=') j++;
      let k = j;
      while (k < s.length && (s[k] === ' ' || s[k] === '\t')) k++;
      if (j > i && (k >= s.length || s[k] === ',')) {
        challenge.token68 = s.slice(i, j);
        i = k;
      }
      continue;
    }

    while (paramAt(i)) {
      const name = tokenAt(i).toLowerCase();
      i += name.length;
      skipWs();
      i++; // '='
      skipWs();
      const value = readValue();
      if (!(name in challenge.params)) challenge.params[name] = value;
      skipWs();
      if (s[i] !== ',') break;
      // Past the comma: another param of this challenge, or the next challenge.
      let j = i;
      while (j < s.length && (s[j] === ' ' || s[j] === '\t' || s[j] === ',')) j++;
      if (!paramAt(j)) break;
      i = j;
    }
  }
  return out;
}

/**
 * The challenges of a response. Berth's proxy passes a registry's WWW-Authenticate on only
 * when it is Bearer alone, since a browser answers Basic with a password prompt on Berth's
 * origin; any other challenge arrives as Berth-WWW-Authenticate. Both are read.
 */
export function challengesOf(headers: Headers): Challenge[] {
  return [
    ...parseChallenges(headers.get('WWW-Authenticate')),
    ...parseChallenges(headers.get('Berth-WWW-Authenticate')),
  ];
}
