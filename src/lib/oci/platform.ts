// Platforms: parsing, normalisation and matching with the semantics of containerd's platforms
// package (Normalize, Only), so Berth picks the same image from an index that `docker pull
// --platform` would.

import type { Descriptor, Index, Platform } from './types.ts';

/** The choice that pulls and exports every platform of an index. */
export const allPlatforms = 'all';

/** What a pull asks for: one platform, or every one of the index. */
export type PlatformChoice = Platform | typeof allPlatforms;

/** A choice as the page and the records write it: `all`, or formatPlatform's form. */
export function formatPlatformChoice(choice: PlatformChoice): string {
  return choice === allPlatforms ? allPlatforms : formatPlatform(choice);
}

/** A choice written by formatPlatformChoice; InvalidPlatformError for anything else. */
export function parsePlatformChoice(value: string): PlatformChoice {
  return value === allPlatforms ? allPlatforms : parsePlatform(value);
}

export class InvalidPlatformError extends Error {
  override name = 'InvalidPlatformError';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid platform ${JSON.stringify(input)}: ${reason}`);
  }
}

export class NoMatchingPlatformError extends Error {
  override name = 'NoMatchingPlatformError';
  constructor(
    readonly want: Platform,
    readonly available: Platform[],
  ) {
    super(
      `no image for ${formatPlatform(want)}; ` +
        (available.length === 0
          ? 'this index lists no platforms'
          : `this index has ${available.map(formatPlatform).join(', ')}`),
    );
  }
}

const componentRe = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses `os/arch[/variant]`. The OS may carry a version, either as containerd writes it,
 * `windows(10.0.20348)/amd64`, or as formatPlatform does, `windows/amd64 (10.0.20348)`.
 * Aliases are mapped (x86_64 -> amd64) but a variant that was written is kept, so
 * formatPlatform(parsePlatform(s)) gives back what the user chose.
 */
export function parsePlatform(s: string): Platform {
  const input = s;
  const fail = (reason: string): never => {
    throw new InvalidPlatformError(input, reason);
  };
  s = s.trim();
  if (s === '') fail('it is empty; write it as os/architecture, e.g. linux/amd64');

  let osVersion: string | undefined;
  const trailing = /^(\S+)\s+\(([^()\s]+)\)$/.exec(s);
  if (trailing) {
    s = trailing[1] ?? '';
    osVersion = trailing[2];
  }
  if (/\s/.test(s)) fail('it contains whitespace');

  const parts = s.split('/');
  if (parts.length < 2) {
    fail(`it needs an OS and an architecture, e.g. linux/${s} or ${s}/amd64`);
  }
  if (parts.length > 3) fail('it has more than three parts; the form is os/architecture[/variant]');

  let os = parts[0] ?? '';
  const inline = /^([^()]*)\(([^()]*)\)$/.exec(os);
  if (inline) {
    if (osVersion !== undefined) fail('it gives the OS version twice');
    os = inline[1] ?? '';
    osVersion = inline[2] || undefined;
  }
  const names = ['OS', 'architecture', 'variant'];
  [os, ...parts.slice(1)].forEach((part, i) => {
    if (!componentRe.test(part)) {
      fail(
        part === ''
          ? `the ${names[i]} is empty`
          : `the ${names[i]} ${JSON.stringify(part)} may contain only letters, digits, "_", "." and "-"`,
      );
    }
  });

  const written = parts[2];
  const [architecture, variant] = normalizeArch(parts[1] ?? '', written ?? '');
  const p: Platform = { os: normalizeOS(os), architecture };
  // containerd's Parse keeps an explicit arm64/v8, and leaves out the implied arm v7.
  if (written !== undefined) {
    if (variant) p.variant = variant;
    else if (architecture === 'arm64') p.variant = 'v8';
  } else if (variant && !(architecture === 'arm' && variant === 'v7')) {
    p.variant = variant;
  }
  if (osVersion !== undefined) p['os.version'] = osVersion;
  return p;
}

/** `linux/arm64/v8`; Windows images also show their OS version, which decides where they run. */
export function formatPlatform(p: Platform): string {
  let s = `${p.os || 'unknown'}/${p.architecture || 'unknown'}`;
  if (p.variant) s += `/${p.variant}`;
  if (p.os === 'windows' && p['os.version']) s += ` (${p['os.version']})`;
  return s;
}

function normalizeOS(os: string): string {
  os = os.toLowerCase();
  return os === 'macos' ? 'darwin' : os;
}

function normalizeArch(arch: string, variant: string): [string, string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', variant === 'v1' ? '' : variant];
    case 'aarch64':
    case 'arm64':
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') return ['arm64', ''];
      if (variant === '9' || variant === '9.0' || variant === 'v9.0') return ['arm64', 'v9'];
      return ['arm64', variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      if (variant === '5' || variant === '6' || variant === '8') return ['arm', 'v' + variant];
      return ['arm', variant];
    default:
      return [arch, variant];
  }
}

/** The canonical form used for comparison. Not for display: it drops variants people wrote. */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const n: Platform = { ...p, os: normalizeOS(p.os), architecture };
  delete n.variant;
  if (variant) n.variant = variant;
  if (p['os.features']) n['os.features'] = [...new Set(p['os.features'])].sort();
  return n;
}

/**
 * The platforms `want` accepts, best first, as containerd's platformVector: amd64/v3 then v2
 * then v1; arm/v7 then v6, v5; arm64/v8.2 then v8.1, v8. Unlike containerd, it never crosses to
 * another architecture (amd64 to 386, arm64 to arm): Berth shows what was asked for, and
 * quietly swapping in a 32-bit image would mislead rather than help.
 */
function platformVector(want: Platform): Platform[] {
  const vector: Platform[] = [want];
  const add = (variant: string) => vector.push(normalizePlatform({ ...want, variant }));
  const version = (v: string | undefined) => Number.parseInt((v ?? '').replace(/^v/, ''), 10);
  switch (want.architecture) {
    case 'amd64': {
      const v = /^v\d+$/.test(want.variant ?? '') ? version(want.variant) : NaN;
      for (let i = v - 1; i >= 1; i--) add(`v${i}`);
      break;
    }
    case 'arm': {
      const v = /^v\d+$/.test(want.variant ?? '') ? version(want.variant) : NaN;
      for (let i = v - 1; i >= 5; i--) add(`v${i}`);
      break;
    }
    case 'arm64': {
      const m = /^v(\d+)(?:\.(\d+))?$/.exec(want.variant ?? 'v8');
      if (!m) break;
      let major = Number(m[1]);
      let minor = m[2] === undefined ? 0 : Number(m[2]);
      if (major === 9) {
        for (let i = minor - 1; i >= 0; i--) add(i === 0 ? 'v9' : `v9.${i}`);
        // v9.0 branched from v8.5, so v9.x runs what v8.(x+5) runs.
        major = 8;
        minor += 5;
        add(`v8.${minor}`);
      }
      if (major === 8) for (let i = minor - 1; i >= 0; i--) add(i === 0 ? 'v8' : `v8.${i}`);
      break;
    }
  }
  return vector;
}

function windowsBuild(v: string | undefined): string {
  return (v ?? '').split('.').slice(0, 3).join('.');
}

function sameIgnoringVersion(a: Platform, b: Platform): boolean {
  return (
    a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '')
  );
}

/**
 * How well `have` satisfies `want`: 0 for the platform itself, higher for older compatible
 * variants, -1 for no match. Both must be normalised.
 */
function matchRank(want: Platform, have: Platform): number {
  // A Windows container runs only on a host of the same build, so a requested build must match.
  if (want.os === 'windows' && want['os.version']) {
    if (windowsBuild(want['os.version']) !== windowsBuild(have['os.version'])) return -1;
  }
  return platformVector(want).findIndex((p) => sameIgnoringVersion(p, have));
}

/** Whether an image for `have` serves a request for `want`, after normalisation (containerd's Only). */
export function platformMatches(want: Platform, have: Platform): boolean {
  return matchRank(normalizePlatform(want), normalizePlatform(have)) >= 0;
}

/** Attestation manifests (provenance, SBOMs) sit in the index beside the images but are not
 * images; BuildKit marks them both ways. */
export function isAttestation(desc: Descriptor): boolean {
  if (desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return true;
  return desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown';
}

function platformKey(p: Platform): string {
  return JSON.stringify([
    p.os,
    p.architecture,
    p.variant ?? '',
    p['os.version'] ?? '',
    [...(p['os.features'] ?? [])].sort(),
  ]);
}

/** The platforms a user can choose from, in index order, without duplicates or attestations. */
export function selectablePlatforms(index: Index): Platform[] {
  const seen = new Set<string>();
  const out: Platform[] = [];
  for (const desc of index.manifests) {
    if (!desc.platform || isAttestation(desc)) continue;
    const key = platformKey(desc.platform);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...desc.platform });
  }
  return out;
}

/** The platform among `platforms` that serves `want` best (itself, else the newest compatible
 * variant: arm/v7 before arm/v6 for arm/v7), earliest on ties; undefined when none does. */
export function bestPlatform(platforms: Platform[], want: Platform): Platform | undefined {
  const w = normalizePlatform(want);
  let best: Platform | undefined;
  let bestRank = Infinity;
  for (const p of platforms) {
    const rank = matchRank(w, normalizePlatform(p));
    if (rank >= 0 && rank < bestRank) [best, bestRank] = [p, rank];
  }
  return best;
}

/** The user's preferred platform when one offered matches it (best match first, as
 * selectManifest ranks them), else linux/amd64 when offered, as the most common choice, else the
 * index's first. */
export function defaultPlatform(platforms: Platform[], preferred?: Platform): Platform | undefined {
  const best = preferred && bestPlatform(platforms, preferred);
  if (best) return best;
  const amd64: Platform = { os: 'linux', architecture: 'amd64' };
  return platforms.find((p) => sameIgnoringVersion(normalizePlatform(p), amd64)) ?? platforms[0];
}

/** The index entry for `want`: an exact match if there is one, else the best compatible
 * variant (amd64/v2 for amd64/v3), earliest in the index on ties. */
export function selectManifest(index: Index, want: Platform): Descriptor {
  const w = normalizePlatform(want);
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const desc of index.manifests) {
    if (!desc.platform || isAttestation(desc)) continue;
    const rank = matchRank(w, normalizePlatform(desc.platform));
    if (rank >= 0 && rank < bestRank) {
      best = desc;
      bestRank = rank;
    }
  }
  if (!best) throw new NoMatchingPlatformError(want, selectablePlatforms(index));
  return best;
}

/** A platform written as text, or undefined when there is none or it cannot be read: a
 * preference (a setting, a URL) is only a preference. */
export function readPlatform(value: string | undefined): Platform | undefined {
  try {
    return value ? parsePlatform(value) : undefined;
  } catch {
    return undefined;
  }
}
