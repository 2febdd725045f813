// Address and URL policy for the Berth proxy.
//
// Pure functions only (no node: imports) so the same rules run in Node, in the
// Vite dev server and on edge runtimes. Anything we cannot parse is treated as
// forbidden: the proxy must fail closed, never open.

import ipaddr from 'ipaddr.js';
import { isDigest } from '../src/lib/oci/digest.ts';
import { isPathComponent, isTag } from '../src/lib/reference/reference.ts';

/** Error code carried by connect-time refusals so the handler can map them to 403. */
export const DENIED_CODE = 'BERTH_PROXY_DENIED';

// ---------------------------------------------------------------------------
// IP literals
//
// Reading an address is ours, and strict: it must agree with the WHATWG URL parser the proxy's
// requests go through (ipaddr.js's parser is laxer: it takes `1.2.3.04` inside IPv6, and reads
// `::a.b.c.d` as `::ffff:a.b.c.d`). Classifying it is ipaddr.js's: its special-purpose ranges
// follow RFC 6890 and its successors, kept up to date by its maintainers. What is ours again is
// judging what an address reaches (an IPv4 host behind a mapped, NAT64 or 6to4 address).

/** Strict dotted-quad IPv4 (no leading zeros: URL parsers read `010` as octal). */
export function parseIPv4(s: string): [number, number, number, number] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const out: number[] = [];
  for (const part of m.slice(1)) {
    if (part.length > 1 && part.startsWith('0')) return null;
    const n = Number(part);
    if (n > 255) return null;
    out.push(n);
  }
  return out as [number, number, number, number];
}

/** IPv6 text (no brackets, no zone id) to eight 16-bit groups. */
export function parseIPv6(s: string): number[] | null {
  if (s.length === 0 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let text = s;
  const trailer: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return null;
    trailer.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!head || !tail) return null;
  const explicit = head.length + tail.length + trailer.length;
  if (halves.length === 2) {
    if (explicit > 7) return null;
    return [...head, ...new Array<number>(8 - explicit).fill(0), ...tail, ...trailer];
  }
  return explicit === 8 ? [...head, ...trailer] : null;
}

/** Everything that is not ordinary public unicast: private, loopback, link-local (cloud
 * metadata at 169.254.169.254), CGNAT, multicast, reserved, documentation, benchmarking… */
function isForbiddenV4(ip: ipaddr.IPv4): boolean {
  return ip.range() !== 'unicast';
}

const v4FromGroups = (hi: number, lo: number) =>
  new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

/** The NAT64 well-known prefix, which translates to the IPv4 address in the last 32 bits. */
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];
/** Global unicast: the only public IPv6 space. */
const GLOBAL = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];

function isForbiddenV6(ip: ipaddr.IPv6): boolean {
  const g = ip.parts;
  // ::ffff:a.b.c.d, NAT64 and 6to4 reach an IPv4 host: judge that address.
  if (ip.isIPv4MappedAddress()) return isForbiddenV4(ip.toIPv4Address());
  if (ip.match(NAT64)) return isForbiddenV4(v4FromGroups(g[6]!, g[7]!));
  if (ip.range() === '6to4') return isForbiddenV4(v4FromGroups(g[1]!, g[2]!));
  // Only global unicast 2000::/3 is public; this also rules out ::, ::1, IPv4-compatible
  // ::/96, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64 and unassigned space.
  return !ip.match(GLOBAL) || ip.range() !== 'unicast';
}

/** The address, bracketed IPv6 allowed, or null when it is not an IP literal as we read one. */
function parseIP(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const v4 = parseIPv4(bare);
  if (v4) return new ipaddr.IPv4(v4);
  const v6 = parseIPv6(bare);
  return v6 ? new ipaddr.IPv6(v6) : null;
}

/** Is `ip` an IP literal (IPv4 dotted quad or IPv6, brackets allowed)? */
export function isIPLiteral(ip: string): boolean {
  return parseIP(ip) !== null;
}

/**
 * True unless `ip` is an ordinary public unicast address. Accepts IPv4, IPv6,
 * bracketed IPv6. Unparseable input (including zone ids) counts as forbidden.
 */
export function isForbiddenAddress(ip: string): boolean {
  const a = parseIP(ip);
  if (!a) return true;
  return a.kind() === 'ipv4' ? isForbiddenV4(a as ipaddr.IPv4) : isForbiddenV6(a as ipaddr.IPv6);
}

// ---------------------------------------------------------------------------
// host[:port]

export interface HostPort {
  /** Lowercase hostname or IPv4, or bracketed canonical IPv6. */
  host: string;
  /** Hostname without brackets (what DNS / connect see). */
  hostname: string;
  /** Decimal port as written, or '' when absent. */
  port: string;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function isHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  const labels = h.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  // WHATWG URL parsing turns a host whose last label looks numeric into an
  // IPv4 address (`2130706433`, `127.1`, `0x7f.1`); only exact dotted quads may.
  const last = labels[labels.length - 1] ?? '';
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(last)) return parseIPv4(h) !== null;
  // An "xn--" label is punycode. It must decode, by our own reading (URL parsers differ:
  // workerd's takes `xn--zz`, Node's does not), to a label a resolver would look up as it is,
  // and this runtime's URL parser must read the host unchanged, or the request cannot be built.
  if (labels.some((l) => l.startsWith('xn--'))) {
    if (!labels.every((l) => !l.startsWith('xn--') || isCanonicalPunycode(l.slice(4)))) {
      return false;
    }
    try {
      return new URL(`http://${h}/`).hostname === h;
    } catch {
      return false;
    }
  }
  return true;
}

/** RFC 3492 decoding of a punycode label (without its `xn--`); null when it does not decode. */
export function decodePunycode(input: string): string | null {
  const base = 36;
  const tMin = 1;
  const tMax = 26;
  const adapt = (delta: number, points: number, first: boolean): number => {
    let d = first ? Math.floor(delta / 700) : delta >> 1;
    d += Math.floor(d / points);
    let k = 0;
    while (d > ((base - tMin) * tMax) >> 1) {
      d = Math.floor(d / (base - tMin));
      k += base;
    }
    return k + Math.floor(((base - tMin + 1) * d) / (d + 38));
  };
  const cut = input.lastIndexOf('-');
  const output = cut > 0 ? [...input.slice(0, cut)].map((c) => c.codePointAt(0)!) : [];
  if (output.some((c) => c >= 0x80)) return null;
  let n = 128;
  let bias = 72;
  let i = 0;
  for (let pos = cut > 0 ? cut + 1 : 0; pos < input.length;) {
    const oldi = i;
    for (let w = 1, k = base; ; k += base) {
      if (pos >= input.length) return null;
      const c = input.charCodeAt(pos++);
      const digit = c >= 0x30 && c <= 0x39 ? c - 22 : c >= 0x61 && c <= 0x7a ? c - 0x61 : base;
      if (digit >= base) return null;
      i += digit * w;
      if (i > 0x10ffff * 64) return null;
      const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
      if (digit < t) break;
      w *= base - t;
    }
    bias = adapt(i - oldi, output.length + 1, oldi === 0);
    n += Math.floor(i / (output.length + 1));
    i %= output.length + 1;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return null;
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}

/**
 * Does a punycode label decode to what a resolver looks up as it is: some non-ASCII, no
 * control, format, space or separator characters, nothing that Unicode normalisation or case
 * folding would turn into something else (`xn--ocalhost-in2e` is "ⓛocalhost", which folds to
 * "localhost"; full-width dots and slashes fold to ASCII ones)?
 */
function isCanonicalPunycode(label: string): boolean {
  const decoded = decodePunycode(label);
  if (decoded === null || !/[\u0080-\u{10ffff}]/u.test(decoded)) return false;
  if (/[\p{C}\p{Z}]/u.test(decoded)) return false;
  if (/[^a-z0-9-]/.test(decoded.replace(/[\u0080-\u{10ffff}]/gu, ''))) return false;
  return decoded.normalize('NFKC').toLowerCase() === decoded;
}

function isPort(p: string): boolean {
  return /^[1-9]\d{0,4}$/.test(p) && Number(p) <= 65535;
}

/**
 * Parses `host[:port]` strictly: hostname, dotted-quad IPv4 or `[IPv6]`, with
 * an optional decimal port. Userinfo, zone ids, empty hosts and anything the
 * URL parser would rewrite are refused (null).
 */
export function parseHostPort(input: string): HostPort | null {
  const s = input.toLowerCase();
  let host: string;
  let hostname: string;
  let port = '';
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return null;
    const v6 = s.slice(1, end);
    const groups = parseIPv6(v6);
    if (!groups) return null;
    const rest = s.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      port = rest.slice(1);
      if (!isPort(port)) return null;
    }
    // Canonical form so `[0:0::1]` and `[::1]` compare equal.
    host = new URL(`http://[${v6}]/`).hostname;
    hostname = host.slice(1, -1);
  } else {
    const parts = s.split(':');
    if (parts.length > 2) return null;
    hostname = parts[0] ?? '';
    if (parts.length === 2) {
      port = parts[1] ?? '';
      if (!isPort(port)) return null;
    }
    if (!isHostname(hostname)) return null;
    host = hostname;
  }
  return { host, hostname, port };
}

export function formatHostPort(hp: Pick<HostPort, 'host' | 'port'>): string {
  return hp.port ? `${hp.host}:${hp.port}` : hp.host;
}

// ---------------------------------------------------------------------------
// BERTH_INSECURE_REGISTRIES

/**
 * Parses a comma list of `host[:port]` entries. Throws on a malformed entry:
 * a typo here silently changing which hosts get plain http would be worse
 * than refusing to start.
 */
export function parseInsecureList(value: string | readonly string[] | undefined): string[] {
  const raw = typeof value === 'string' ? value.split(',') : (value ?? []);
  const out: string[] = [];
  for (const item of raw) {
    const entry = item.trim();
    if (entry === '') continue;
    const hp = parseHostPort(entry);
    if (!hp) {
      throw new Error(
        `invalid BERTH_INSECURE_REGISTRIES entry ${JSON.stringify(entry)}: expected host or host:port`,
      );
    }
    out.push(formatHostPort(hp));
  }
  return out;
}

/**
 * One warning per listed entry without a port (deduplicated): such an entry
 * opens every port on that host to the proxy, not just the registry's. For
 * the server and the Vite plugin to print at start; never the handler.
 */
export function insecureListWarnings(list: readonly string[]): string[] {
  const out = new Set<string>();
  for (const item of list) {
    const hp = parseHostPort(item);
    if (hp && hp.port === '') {
      out.add(
        `BERTH_INSECURE_REGISTRIES entry ${hp.host} has no port: every port on that host is ` +
          `reachable through the proxy; list it as ${hp.host}:<port> to allow only the registry`,
      );
    }
  }
  return [...out];
}

/**
 * Is `hostPort` listed? An entry with a port matches only that port; an entry
 * without a port matches the host on any port.
 */
export function isInsecureHost(hostPort: string, list: readonly string[]): boolean {
  const target = parseHostPort(hostPort);
  if (!target) return false;
  return list.some((item) => {
    const entry = parseHostPort(item);
    return (
      !!entry && entry.host === target.host && (entry.port === '' || entry.port === target.port)
    );
  });
}

// ---------------------------------------------------------------------------
// /proxy/<host[:port]>/<path>?<query>

export interface ProxyTarget extends HostPort {
  /** Upstream path, decoded once, always starting with '/'; sent exactly as is. */
  path: string;
  /** '' or '?...' exactly as received. */
  query: string;
}

export type ParseResult = { ok: true; target: ProxyTarget } | { ok: false; reason: string };

// Characters a checked path may hold literally. Everything here passes through
// URL parsing and upstream unchanged; '@' is left out because some servers and
// proxies read `a@b` in a path as userinfo.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:/%]*$/;
// What a percent-escape may decode to: the literal set minus '.', '/', '%'
// (dot segments, separators and double encoding hidden from us) and '@'.
const DECODABLE = /^[A-Za-z0-9\-_~!$&'()*+,;=:]$/;

function describeEscape(hex: string): string {
  const code = parseInt(hex, 16);
  if (code < 0x20 || code === 0x7f) return `encoded control character %${hex}`;
  if (code >= 0x80) return `encoded non-ASCII byte %${hex}`;
  const named: Record<string, string> = {
    '.': 'encoded dot',
    '/': 'encoded slash',
    '\\': 'encoded backslash',
    '%': 'encoded percent sign (double encoding)',
    '@': "encoded '@'",
    '?': 'encoded question mark',
    '#': 'encoded fragment marker',
  };
  const ch = String.fromCharCode(code);
  return `${named[ch] ?? `encoded character ${JSON.stringify(ch)}`} %${hex}`;
}

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks an upstream path (no query), as received. Returns a reason, or null if fine. */
export function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'path must start with /';
  if (path.length > 4096) return 'path too long';
  if (path.includes('\\')) return 'backslashes are not allowed in path';
  if (path.includes('@')) return "'@' is not allowed in path";
  if (path.includes('#')) return 'fragments are not allowed';
  if (hasControlCharacter(path)) return 'control characters are not allowed in path';
  if (!PATH_CHARS.test(path)) return 'path contains characters that are not allowed';
  for (const m of path.matchAll(/%(.{0,2})/g)) {
    const hex = (m[1] ?? '').toLowerCase();
    if (!/^[0-9a-f]{2}$/.test(hex)) return 'malformed percent-encoding in path';
    if (!DECODABLE.test(String.fromCharCode(parseInt(hex, 16)))) {
      return `${describeEscape(hex)} is not allowed in path`;
    }
  }
  const segments = path.split('/').slice(1);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '.' || seg === '..') return 'dot segments are not allowed in path';
    if (seg === '' && i !== segments.length - 1) return 'empty path segments are not allowed';
  }
  return null;
}

/**
 * Decodes a path that passed pathProblem. Its escapes only stand for
 * characters that need none, so the result is both the path that was checked
 * and, literally, the one sent upstream: nothing decodes or normalises it later.
 */
export function decodePath(path: string): string {
  return path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * Splits `<mount>/<host[:port]>/<path>?<query>` (the request's path and
 * query, not a full URL) into a validated target.
 */
export function parseProxyPath(pathAndQuery: string, mountPath = '/proxy'): ParseResult {
  const prefix = `${mountPath}/`;
  if (!pathAndQuery.startsWith(prefix)) return { ok: false, reason: `not under ${prefix}` };
  const rest = pathAndQuery.slice(prefix.length);
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q);
  const slash = pathPart.indexOf('/');
  const hostPart = slash < 0 ? pathPart : pathPart.slice(0, slash);
  if (hostPart === '') return { ok: false, reason: 'missing upstream host' };
  if (hostPart.includes('@')) return { ok: false, reason: 'userinfo is not allowed in host' };
  const hp = parseHostPort(hostPart);
  if (!hp) return { ok: false, reason: `invalid upstream host ${JSON.stringify(hostPart)}` };
  if (slash < 0) return { ok: false, reason: 'missing upstream path' };
  const rawPath = pathPart.slice(slash);
  const problem = pathProblem(rawPath);
  if (problem) return { ok: false, reason: problem };
  const path = decodePath(rawPath);
  if (query.length > 8192) return { ok: false, reason: 'query too long' };
  // A request's query never holds one (URL parsing splits it off), but a caller's string might:
  // it would be cut off upstream, so what is checked would not be what is sent.
  if (query.includes('#')) return { ok: false, reason: 'fragments are not allowed' };
  return { ok: true, target: { ...hp, path, query } };
}

/** The registry API lives under /v2/; everything else needs a realm check. */
export function isRegistryApiPath(path: string): boolean {
  return path === '/v2/' || path.startsWith('/v2/');
}

/** Is the path the registry API's or below it (`/v2` included, to refuse it)? */
export function isUnderV2(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

// ---------------------------------------------------------------------------
// Registry API routes (OCI distribution spec grammar)

export type RegistryRoute =
  | { kind: 'base' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'catalog' }
  | { kind: 'referrers'; name: string; digest: string };

/**
 * `unknown`: the path has none of the routes' shapes, so it might be a token
 * realm that happens to live under /v2 (Quay's is /v2/auth). Otherwise a
 * route was recognised and one of its parts is malformed.
 */
export type RouteResult =
  { ok: true; route: RegistryRoute } | { ok: false; reason: string; unknown: boolean };

/** Host plus name must fit 255 characters for most clients; the name alone at most that. */
const MAX_NAME = 255;
const ROUTES =
  'expected /v2/, /v2/_catalog, /v2/<name>/manifests/<tag or digest>, /v2/<name>/blobs/<digest>, ' +
  '/v2/<name>/tags/list or /v2/<name>/referrers/<digest>';

function nameProblem(name: string): string | null {
  if (name === '') return 'missing repository name';
  if (name.length > MAX_NAME) return `repository name longer than ${MAX_NAME} characters`;
  for (const component of name.split('/')) {
    if (!isPathComponent(component)) {
      return (
        `invalid repository name component ${JSON.stringify(component)} in ${JSON.stringify(name)}: ` +
        "components are lowercase letters and digits, separated by '.', '_', '__' or dashes"
      );
    }
  }
  return null;
}

function digestProblem(digest: string): string | null {
  return isDigest(digest)
    ? null
    : `invalid digest ${JSON.stringify(digest.slice(0, 200))}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>`;
}

/**
 * Matches a decoded path under /v2 against the distribution API routes the
 * proxy forwards. Anything else is refused with a reason that names what is wrong.
 */
export function parseRegistryRoute(path: string): RouteResult {
  if (path === '/v2/') return { ok: true, route: { kind: 'base' } };
  const fail = (reason: string, unknown = false): RouteResult => ({ ok: false, reason, unknown });
  if (path === '/v2') return fail('the registry API base is /v2/, with a slash');
  if (!path.startsWith('/v2/')) return fail('not a registry API path', true);
  if (path === '/v2/_catalog') return { ok: true, route: { kind: 'catalog' } };
  const segments = path.slice('/v2/'.length).split('/');
  const n = segments.length;
  const last = segments[n - 1] ?? '';
  let route: RegistryRoute;
  let name: string;
  if (n >= 3 && segments[n - 2] === 'tags' && last === 'list') {
    name = segments.slice(0, -2).join('/');
    route = { kind: 'tags', name };
  } else if (n >= 3 && segments[n - 2] === 'manifests') {
    name = segments.slice(0, -2).join('/');
    if (last.includes(':')) {
      const problem = digestProblem(last);
      if (problem) return fail(problem);
    } else if (!isTag(last)) {
      return fail(
        `invalid tag ${JSON.stringify(last.slice(0, 200))}: tags are up to 128 letters, digits, ` +
          "'_', '.' and '-', not starting with '.' or '-'",
      );
    }
    route = { kind: 'manifest', name, reference: last };
  } else if (n >= 3 && (segments[n - 2] === 'blobs' || segments[n - 2] === 'referrers')) {
    name = segments.slice(0, -2).join('/');
    const problem = digestProblem(last);
    if (problem) return fail(problem);
    route =
      segments[n - 2] === 'blobs'
        ? { kind: 'blob', name, digest: last }
        : { kind: 'referrers', name, digest: last };
  } else {
    return fail(
      `unknown registry API route ${JSON.stringify(path.slice(0, 200))}: ${ROUTES}`,
      true,
    );
  }
  const problem = nameProblem(name);
  return problem ? fail(problem) : { ok: true, route };
}

// The catalog's query: the page size and where the last page ended, as the distribution spec
// defines them and registries' own Link headers repeat them. Nothing else is forwarded, so
// the route cannot carry other parameters to a registry's catalog handler.
const CATALOG_PARAMS = new Set(['n', 'last']);
// Characters a query may hold literally ('&' and '=' separate); the rest must be escaped.
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$'()*+,;:/@%=&]*$/;

/** Checks the query of a `/v2/_catalog` request ('' or '?...'). Returns a reason, or null. */
export function catalogQueryProblem(query: string): string | null {
  if (query === '' || query === '?') return null;
  const text = query.slice(1);
  if (!QUERY_CHARS.test(text)) return 'the catalog query contains characters that are not allowed';
  if (/%(?![0-9a-fA-F]{2})/.test(text)) return 'malformed percent-encoding in the catalog query';
  const seen = new Set<string>();
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (!CATALOG_PARAMS.has(name)) {
      return `parameter ${JSON.stringify(name.slice(0, 50))} is not forwarded to /v2/_catalog: only n and last are`;
    }
    if (seen.has(name)) return `parameter ${name} is given twice`;
    seen.add(name);
    if (name === 'n' && !/^\d{0,9}$/.test(value)) return 'n must be a number of repositories';
  }
  return null;
}
