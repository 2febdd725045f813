// Version order for npm (semver), PyPI (PEP 440), Go modules, Maven and Cargo. Each parser
// answers undefined for a version its ecosystem would not accept, so that a change between two
// such versions reads as "changed" rather than as a guessed upgrade.
import type { Ecosystem } from './types.ts';

export function compareLangVersions(
  ecosystem: Exclude<Ecosystem, 'apk' | 'deb' | 'rpm'>,
  a: string,
  b: string,
): number | undefined {
  switch (ecosystem) {
    case 'npm':
      return compareParsed(parseSemver(a, true), parseSemver(b, true), compareSemver);
    case 'cargo':
      return compareParsed(parseSemver(a, false), parseSemver(b, false), compareSemver);
    case 'golang':
      return compareParsed(parseGo(a), parseGo(b), compareSemver);
    case 'pypi':
      return compareParsed(parsePep440(a), parsePep440(b), comparePep440);
    case 'maven':
      return compareMaven(a, b);
  }
}

function compareParsed<T>(a: T | undefined, b: T | undefined, cmp: (a: T, b: T) => number) {
  return a === undefined || b === undefined ? undefined : Math.sign(cmp(a, b));
}

/** Digit strings of any length, by value. */
function compareDigits(a: string, b: string): number {
  a = a.replace(/^0+(?=\d)/, '');
  b = b.replace(/^0+(?=\d)/, '');
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

// --- semver (npm, Cargo, Go) ---------------------------------------------------------------

interface Semver {
  core: [string, string, string];
  pre: string[];
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/** semver 2.0.0; npm also takes a leading `v` or `=` (what `semver.valid` cleans). */
export function parseSemver(v: string, loose: boolean): Semver | undefined {
  let s = v.trim();
  if (loose) s = s.replace(/^[=v]+/, '');
  const m = SEMVER.exec(s);
  if (!m) return undefined;
  // npm's semver refuses numbers past 2^53 - 1; Cargo's are u64.
  if (
    loose &&
    [m[1]!, m[2]!, m[3]!].some((n) => n.length > 15 && Number(n) > Number.MAX_SAFE_INTEGER)
  )
    return undefined;
  return { core: [m[1]!, m[2]!, m[3]!], pre: m[4] ? m[4].split('.') : [] };
}

export function compareSemver(a: Semver, b: Semver): number {
  for (let i = 0; i < 3; i++) {
    const c = compareDigits(a.core[i]!, b.core[i]!);
    if (c) return c;
  }
  // A prerelease comes before its release; build metadata does not count.
  if (!a.pre.length || !b.pre.length) return b.pre.length - a.pre.length;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i]!;
    const y = b.pre[i]!;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    const c = xn && yn ? compareDigits(x, y) : xn ? -1 : yn ? 1 : x < y ? -1 : x > y ? 1 : 0;
    if (c) return c;
  }
  return a.pre.length - b.pre.length;
}

/** Go module versions: semver with a `v` (v1 and v1.2 short for v1.0.0 and v1.2.0, as
 * golang.org/x/mod/semver reads them), pseudo-versions being prereleases that sort by their
 * timestamp; and the Go release versions of the standard library: go1.21.3, go1.20, go1.21rc2. */
export function parseGo(v: string): Semver | undefined {
  const go = /^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta|alpha)(\d+))?$/.exec(v);
  if (go) {
    const pre = go[4] ? [go[4], go[5]!] : [];
    return { core: [go[1]!, go[2] ?? '0', go[3] ?? '0'], pre };
  }
  const short = /^v(\d+)(?:\.(\d+))?$/.exec(v);
  if (short) return { core: [short[1]!, short[2] ?? '0', '0'], pre: [] };
  return v.startsWith('v') ? parseSemver(v.slice(1), false) : undefined;
}

// --- PEP 440 -------------------------------------------------------------------------------

interface Pep440 {
  epoch: number;
  release: number[];
  /** [phase, number]: phase 0 a, 1 b, 2 rc; undefined for none. */
  pre?: [number, number];
  post?: number;
  dev?: number;
  local?: (number | string)[];
}

const PEP440 =
  /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/;

export function parsePep440(v: string): Pep440 | undefined {
  const m = PEP440.exec(v.trim().toLowerCase());
  if (!m) return undefined;
  const release = m[2]!.split('.').map(Number);
  while (release.length > 1 && release[release.length - 1] === 0) release.pop();
  const out: Pep440 = { epoch: m[1] ? Number(m[1]) : 0, release };
  if (m[3])
    out.pre = [
      m[3] === 'a' || m[3] === 'alpha' ? 0 : m[3] === 'b' || m[3] === 'beta' ? 1 : 2,
      Number(m[4] ?? 0),
    ];
  if (m[5] !== undefined) out.post = Number(m[5]);
  else if (m[6]) out.post = Number(m[7] ?? 0);
  if (m[8]) out.dev = Number(m[9] ?? 0);
  if (m[10]) out.local = m[10].split(/[-_.]/).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  return out;
}

/** packaging's _cmpkey, as a comparison. */
export function comparePep440(a: Pep440, b: Pep440): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  for (let i = 0; i < Math.max(a.release.length, b.release.length); i++) {
    const c = (a.release[i] ?? 0) - (b.release[i] ?? 0);
    if (c) return c;
  }
  // A dev release of a final (1.0.dev1) comes before its pre-releases; no pre-release sorts
  // after every pre-release.
  const preKey = (v: Pep440): [number, number] =>
    v.pre ?? (v.post === undefined && v.dev !== undefined ? [-1, 0] : [3, 0]);
  const [ap, an] = preKey(a);
  const [bp, bn] = preKey(b);
  if (ap !== bp) return ap - bp;
  if (an !== bn) return an - bn;
  const post = (a.post ?? -1) - (b.post ?? -1);
  if (post) return post;
  const dev = (a.dev ?? Infinity) - (b.dev ?? Infinity);
  if (dev && Number.isFinite(dev)) return dev;
  if (a.dev === undefined && b.dev !== undefined) return 1;
  if (b.dev === undefined && a.dev !== undefined) return -1;
  // A local version sorts after the public one; numeric segments after alphanumeric ones.
  if (!a.local || !b.local) return (a.local ? 1 : 0) - (b.local ? 1 : 0);
  for (let i = 0; i < Math.max(a.local.length, b.local.length); i++) {
    const x = a.local[i];
    const y = b.local[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    if (typeof x !== typeof y) return typeof x === 'number' ? 1 : -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

// --- Maven ---------------------------------------------------------------------------------

/** Maven's ComparableVersion: the version split into numbers and qualifiers at dots, hyphens
 * and digit-letter changes; a hyphen starts a sub-list; trailing zeros and empty qualifiers
 * ("", final, ga, release) drop out; qualifiers order alpha < beta < milestone < rc <
 * snapshot < "" < sp < any other (alphabetical). */
type MavenItem = bigint | string | MavenItem[];

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const ALIASES: Record<string, string> = { ga: '', final: '', release: '', cr: 'rc' };

function qualifierKey(q: string): string {
  const i = QUALIFIERS.indexOf(q);
  return i >= 0 ? String(i) : `${QUALIFIERS.length}-${q}`;
}

function isNull(item: MavenItem): boolean {
  return item === 0n || item === '' || (Array.isArray(item) && item.length === 0);
}

function normalize(list: MavenItem[]): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const last = list[i]!;
    if (isNull(last)) list.splice(i, 1);
    else if (!Array.isArray(last)) break;
  }
}

export function parseMaven(version: string): MavenItem[] | undefined {
  const v = version.trim().toLowerCase();
  if (!v) return undefined;
  const root: MavenItem[] = [];
  let list = root;
  const stack: MavenItem[][] = [root];
  let start = 0;
  let digit = false;
  const item = (s: string, followedByDigit: boolean): MavenItem => {
    if (digit) return BigInt(s);
    // a1, b2, m3: the short forms, only when a number follows.
    if (followedByDigit && s.length === 1)
      s = s === 'a' ? 'alpha' : s === 'b' ? 'beta' : s === 'm' ? 'milestone' : s;
    return ALIASES[s] ?? s;
  };
  for (let i = 0; i <= v.length; i++) {
    const c = v[i];
    if (c === '.' || c === undefined) {
      list.push(i === start ? 0n : item(v.slice(start, i), false));
      start = i + 1;
    } else if (c === '-') {
      list.push(i === start ? 0n : item(v.slice(start, i), false));
      start = i + 1;
      const sub: MavenItem[] = [];
      list.push(sub);
      list = sub;
      stack.push(sub);
    } else if (/\d/.test(c)) {
      if (!digit && i > start) {
        // letters then digits: the digits start a sub-list (1.0alpha1 = 1.0-alpha-1)
        list.push(item(v.slice(start, i), true));
        start = i;
        const sub: MavenItem[] = [];
        list.push(sub);
        list = sub;
        stack.push(sub);
      }
      digit = true;
    } else {
      if (digit && i > start) {
        list.push(item(v.slice(start, i), false));
        start = i;
        const sub: MavenItem[] = [];
        list.push(sub);
        list = sub;
        stack.push(sub);
      }
      digit = false;
    }
  }
  for (let i = stack.length - 1; i >= 0; i--) normalize(stack[i]!);
  return root;
}

function compareItem(a: MavenItem | undefined, b: MavenItem | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -compareItem(b, undefined);
  if (typeof a === 'bigint') {
    if (b === undefined) return a === 0n ? 0 : 1;
    if (typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
    return 1;
  }
  if (typeof a === 'string') {
    if (b === undefined)
      return qualifierKey(a) < qualifierKey('') ? -1 : qualifierKey(a) > qualifierKey('') ? 1 : 0;
    if (typeof b === 'string') {
      const x = qualifierKey(a);
      const y = qualifierKey(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return -1;
  }
  if (b === undefined) return a.length === 0 ? 0 : compareItem(a[0], undefined);
  if (typeof b === 'bigint') return -1;
  if (typeof b === 'string') return 1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareItem(a[i], b[i]);
    if (c) return c;
  }
  return 0;
}

export function compareMaven(a: string, b: string): number | undefined {
  const x = parseMaven(a);
  const y = parseMaven(b);
  return x && y ? Math.sign(compareItem(x, y)) : undefined;
}
