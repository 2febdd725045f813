// WWW-Authenticate parsing (RFC 7235). One header may carry several challenges, and quoted
// parameter values may contain commas, so a naive split on ',' is wrong.

export interface Challenge {
  scheme: string; // lowercased: 'bearer', 'basic'
  params: Record<string, string>; // keys lowercased
}

export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const save = i;
      const name = token();
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (!name || s[i] !== '=') {
        // Not a parameter: either the next challenge's scheme or a token68 blob.
        i = save;
        if (s[i] === ',') i++;
        break;
      }
      i++; // '='
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ') i++;
        value = s.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (s[i] === ',') {
        i++;
        // A comma separates parameters or challenges; peek whether a parameter follows.
        const peek = i;
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        const next = token();
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        const isParam = next !== '' && s[i] === '=' && s[i + 1] !== '=';
        i = peek;
        if (!isParam) break;
      } else {
        break;
      }
    }
  }
  return out;
}
