// Version order for apk, dpkg and rpm, each as its own package manager orders versions, so an
// upgrade between layers reads as one whatever the distribution.
import type { Ecosystem } from './types.ts';

export function compareOsVersions(
  ecosystem: Extract<Ecosystem, 'apk' | 'deb' | 'rpm'>,
  a: string,
  b: string,
): number | undefined {
  if (a === b) return 0;
  switch (ecosystem) {
    case 'deb':
      return compareDpkg(a, b);
    case 'rpm':
      return compareRpm(a, b);
    case 'apk':
      return compareApk(a, b);
  }
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined) =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));

/** Two runs of digits as numbers of any length: leading zeros dropped, then longer is
 * larger, then the digits in order. */
function compareDigits(a: string, b: string): number {
  a = a.replace(/^0+/, '');
  b = b.replace(/^0+/, '');
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// --- dpkg (deb-version(7); dpkg's lib/dpkg/version.c) ---------------------------------

interface DebVersion {
  epoch: string;
  upstream: string;
  revision: string;
}

/** `[epoch:]upstream[-revision]`; undefined when dpkg would refuse it. */
function parseDpkg(v: string): DebVersion | undefined {
  v = v.trim();
  if (v === '' || /\s/.test(v)) return undefined;
  let epoch = '0';
  const colon = v.indexOf(':');
  if (colon >= 0) {
    epoch = v.slice(0, colon);
    if (!/^\d+$/.test(epoch)) return undefined;
    v = v.slice(colon + 1);
  }
  const dash = v.lastIndexOf('-');
  const upstream = dash >= 0 ? v.slice(0, dash) : v;
  const revision = dash >= 0 ? v.slice(dash + 1) : '';
  if (upstream === '' || (dash >= 0 && revision === '')) return undefined;
  if (!/^[A-Za-z0-9.+~:-]+$/.test(upstream) || !/^[A-Za-z0-9.+~]*$/.test(revision)) {
    return undefined;
  }
  return { epoch, upstream, revision };
}

/** dpkg's character order: `~` before everything, even the end; then the end and digits;
 * then letters; then everything else. */
function dpkgOrder(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (c === '~') return -1;
  if (isAlpha(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: alternating non-digit and digit runs. */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const d = dpkgOrder(a[i]) - dpkgOrder(b[j]);
      if (d !== 0) return sign(d);
      i++;
      j++;
    }
    const si = i;
    const sj = j;
    while (isDigit(a[i])) i++;
    while (isDigit(b[j])) j++;
    const d = compareDigits(a.slice(si, i), b.slice(sj, j));
    if (d !== 0) return d;
  }
  return 0;
}

function compareDpkg(a: string, b: string): number | undefined {
  const x = parseDpkg(a);
  const y = parseDpkg(b);
  if (!x || !y) return undefined;
  return (
    compareDigits(x.epoch, y.epoch) ||
    verrevcmp(x.upstream, y.upstream) ||
    verrevcmp(x.revision, y.revision)
  );
}

// --- rpm (rpmvercmp in rpmio/rpmvercmp.c; EVR as rpmverCmp compares it) -----------------

/** rpm's segment comparison: alphanumeric runs, digits above letters, `~` before anything
 * (even the end), `^` after the end but before anything else. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  const alnum = (c: string | undefined) => isDigit(c) || isAlpha(c);
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !alnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !alnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const si = i;
    const sj = j;
    const numeric = isDigit(a[i]);
    const same = numeric ? isDigit : isAlpha;
    while (same(a[i])) i++;
    while (same(b[j])) j++;
    // A numeric run is newer than an alphabetic one.
    if (j === sj) return numeric ? 1 : -1;
    const x = a.slice(si, i);
    const y = b.slice(sj, j);
    const d = numeric ? compareDigits(x, y) : x < y ? -1 : x > y ? 1 : 0;
    if (d !== 0) return d;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

interface Evr {
  epoch: string;
  version: string;
  release?: string;
}

/** `[epoch:]version[-release]`, split as rpm splits an EVR string. */
function parseEvr(v: string): Evr | undefined {
  let epoch = '0';
  const colon = v.indexOf(':');
  if (colon >= 0) {
    epoch = v.slice(0, colon) || '0';
    if (!/^\d+$/.test(epoch)) return undefined;
    v = v.slice(colon + 1);
  }
  const dash = v.lastIndexOf('-');
  if (dash < 0) return { epoch, version: v };
  return { epoch, version: v.slice(0, dash), release: v.slice(dash + 1) };
}

function compareRpm(a: string, b: string): number | undefined {
  const x = parseEvr(a);
  const y = parseEvr(b);
  if (!x || !y) return undefined;
  return (
    compareDigits(x.epoch, y.epoch) ||
    rpmvercmp(x.version, y.version) ||
    // As rpm.vercmp does: a missing release is an empty one, older than any release.
    rpmvercmp(x.release ?? '', y.release ?? '')
  );
}

// --- apk (apk-tools' src/version.c) ---------------------------------------------------
// digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-r#}

const enum T {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  RevisionNo,
  End,
  Invalid,
}

/** Suffix ranks: the pre-releases below "no suffix" (5), the rest above. */
const suffixRank: Record<string, number> = {
  alpha: 1,
  beta: 2,
  pre: 3,
  rc: 4,
  cvs: 6,
  svn: 7,
  git: 8,
  hg: 9,
  p: 10,
};
const noSuffix = 5;

interface Token {
  type: T;
  /** The token's text (digits, letter, suffix name, hash). */
  text: string;
}

/** apk's tokens of a version, ending with End or Invalid. */
function apkTokens(v: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const digits = (type: T) => {
    const s = i;
    while (isDigit(v[i])) i++;
    out.push({ type: i > s ? type : T.Invalid, text: v.slice(s, i) });
  };
  digits(T.InitialDigit);
  while (out.at(-1)!.type < T.End) {
    const prev = out.at(-1)!.type;
    const c = v[i];
    if (c === undefined) {
      out.push({ type: T.End, text: '' });
    } else if (c >= 'a' && c <= 'z') {
      out.push({ type: prev > T.Digit ? T.Invalid : T.Letter, text: c });
      i++;
    } else if (c === '.' || isDigit(c)) {
      if (c === '.') {
        if (prev > T.Digit) out.push({ type: T.Invalid, text: '' });
        i++;
      }
      if (out.at(-1)!.type === T.Invalid) break;
      if (prev === T.InitialDigit || prev === T.Digit) digits(T.Digit);
      else if (prev === T.Suffix && c !== '.') digits(T.SuffixNo);
      else out.push({ type: T.Invalid, text: '' });
    } else if (c === '_') {
      i++;
      const s = i;
      while (v[i] !== undefined && v[i]! >= 'a' && v[i]! <= 'z') i++;
      const name = v.slice(s, i);
      const ok = prev <= T.SuffixNo && suffixRank[name] !== undefined;
      out.push({ type: ok ? T.Suffix : T.Invalid, text: name });
    } else if (c === '~') {
      i++;
      const s = i;
      while (v[i] !== undefined && /[0-9a-fA-F]/.test(v[i]!)) i++;
      const ok = prev < T.CommitHash && i > s;
      out.push({ type: ok ? T.CommitHash : T.Invalid, text: v.slice(s, i) });
    } else if (c === '-' && v[i + 1] === 'r' && prev < T.RevisionNo) {
      i += 2;
      digits(T.RevisionNo);
    } else {
      out.push({ type: T.Invalid, text: '' });
    }
  }
  return out;
}

function compareApkTokens(a: Token, b: Token): number {
  switch (a.type) {
    case T.Digit:
      // A leading zero makes a component compare as a string (as Gentoo does: 1.01 < 1.1).
      if (a.text[0] === '0' || b.text[0] === '0') break;
      return compareDigits(a.text, b.text);
    case T.InitialDigit:
    case T.SuffixNo:
    case T.RevisionNo:
      return compareDigits(a.text, b.text);
    case T.Suffix:
      return sign(suffixRank[a.text]! - suffixRank[b.text]!);
  }
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

function compareApk(a: string, b: string): number | undefined {
  const x = apkTokens(a);
  const y = apkTokens(b);
  if (x.at(-1)!.type !== T.End || y.at(-1)!.type !== T.End) return undefined;
  let k = 0;
  for (; x[k]!.type === y[k]!.type && x[k]!.type < T.End; k++) {
    const d = compareApkTokens(x[k]!, y[k]!);
    if (d !== 0) return d;
  }
  const ta = x[k]!;
  const tb = y[k]!;
  if (ta.type === tb.type) return 0;
  // Equal so far: the longer version is newer, unless what it goes on with is a pre-release.
  if (ta.type === T.Suffix && suffixRank[ta.text]! < noSuffix) return -1;
  if (tb.type === T.Suffix && suffixRank[tb.text]! < noSuffix) return 1;
  return ta.type > tb.type ? -1 : 1;
}
