// What the CycloneDX and SPDX exports share: the image's package URL, the attribution of each
// package to a layer and a history step, and names for things.
import type { InventoryPackage } from '../packages/types.ts';
import { parseReference, repositoryOf, type Reference } from '../reference/reference.ts';
import type { SbomSubject } from './types.ts';

/** The image's reference, when the subject has one that parses. */
export function subjectReference(subject: SbomSubject): Reference | undefined {
  if (!subject.reference) return undefined;
  try {
    return parseReference(subject.reference);
  } catch {
    return undefined;
  }
}

/** A digest's algorithm and hex ("sha256", "ab12…"), when it is one. */
export function splitDigest(digest: string): { algorithm: string; hex: string } | undefined {
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([0-9a-f]{32,})$/.exec(digest);
  return m ? { algorithm: m[1]!, hex: m[2]! } : undefined;
}

/** The image's name for people: its repository ("docker.io/library/debian"), else its digest. */
export function subjectName(subject: SbomSubject): string {
  const ref = subjectReference(subject);
  return ref ? repositoryOf(ref) : subject.digest;
}

/** Percent-encodes a purl component (purl-spec: everything but unreserved characters). */
function purlEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
}

/**
 * The image's package URL (purl-spec, type oci):
 * `pkg:oci/debian@sha256%3Aab…?arch=amd64&repository_url=docker.io/library/debian&tag=12`.
 * The name is the repository's last component, lowercased; the version is the manifest digest.
 */
export function imagePurl(subject: SbomSubject): string {
  const ref = subjectReference(subject);
  const name = ref ? ref.repository.slice(ref.repository.lastIndexOf('/') + 1) : 'image';
  const qualifiers: [string, string][] = [];
  if (subject.platform?.architecture) qualifiers.push(['arch', subject.platform.architecture]);
  // repository_url is a URL without a scheme; its slashes stay as they are.
  if (ref)
    qualifiers.push(['repository_url', repositoryOf(ref).split('/').map(purlEncode).join('/')]);
  if (ref?.tag) qualifiers.push(['tag', purlEncode(ref.tag)]);
  const q = qualifiers.map(([k, v]) => `${k}=${k === 'arch' ? purlEncode(v) : v}`).join('&');
  return `pkg:oci/${purlEncode(name.toLowerCase())}@${purlEncode(subject.digest)}${q ? `?${q}` : ''}`;
}

/** Where a present package came from: the last event that gave it its present version. */
export interface Attribution {
  layer: number;
  kind: string;
  layerDigest?: string;
  diffID?: string;
  history?: string;
}

export function attribution(pkg: InventoryPackage, subject: SbomSubject): Attribution | undefined {
  const event = pkg.events.at(-1);
  if (!event) return undefined;
  const layer = subject.layers?.[event.layer];
  return {
    layer: event.layer,
    kind: event.kind,
    ...(layer?.digest ? { layerDigest: layer.digest } : {}),
    ...(layer?.diffID ? { diffID: layer.diffID } : {}),
    ...(layer?.history ? { history: layer.history } : {}),
  };
}

/** The name and group (CycloneDX's) of a package: maven `group:artifact`, npm `@scope/name`. */
export function splitGroup(pkg: InventoryPackage): { group?: string; name: string } {
  if (pkg.ecosystem === 'maven') {
    const i = pkg.name.indexOf(':');
    if (i > 0) return { group: pkg.name.slice(0, i), name: pkg.name.slice(i + 1) };
  }
  if (pkg.ecosystem === 'npm' && pkg.name.startsWith('@')) {
    const i = pkg.name.indexOf('/');
    if (i > 1) return { group: pkg.name.slice(0, i), name: pkg.name.slice(i + 1) };
  }
  return { name: pkg.name };
}

/** A random UUID (version 4). crypto.randomUUID needs a secure context; getRandomValues not. */
export function randomUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A file name for the download: `debian-12.cdx.json`, `debian-sha256-ab12cd34.spdx.json`. */
export function sbomFileName(subject: SbomSubject, format: 'cyclonedx' | 'spdx'): string {
  const ref = subjectReference(subject);
  const base = ref ? ref.repository.slice(ref.repository.lastIndexOf('/') + 1) : 'image';
  const hex = splitDigest(subject.digest)?.hex.slice(0, 12) ?? 'unknown';
  const tail = ref?.tag ? `${ref.tag}-${hex}` : hex;
  const safe = `${base}-${tail}`.replace(/[^A-Za-z0-9._-]+/g, '-');
  return `${safe}.${format === 'cyclonedx' ? 'cdx' : 'spdx'}.json`;
}
