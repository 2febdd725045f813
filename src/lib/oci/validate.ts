// Registry documents are untrusted input. They are parsed and checked here, once, so that the rest
// of Berth can rely on the types: every digest canonical, every size a safe integer, and every
// document unambiguously an index or an image manifest.

import { JsonError, parseJsonBounded } from '../json.ts';
import { InvalidDigestError, parseDigest } from './digest.ts';
import { maxDocumentBytes } from './limits.ts';
import { MediaType, isIndex, isManifest, isSchema1 } from './mediatypes.ts';
import type { Descriptor, HistoryEntry, ImageConfig, Index, Manifest, Platform } from './types.ts';

export class InvalidManifestError extends Error {
  override name = 'InvalidManifestError';
}

export class InvalidImageConfigError extends Error {
  override name = 'InvalidImageConfigError';
}

export type ParsedDocument =
  | { kind: 'index'; mediaType: string; index: Index }
  | { kind: 'manifest'; mediaType: string; manifest: Manifest };

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 100))}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function decodeJson(bytes: Uint8Array, what: string, fail: (m: string) => never): JsonObject {
  let doc: unknown;
  try {
    doc = parseJsonBounded(bytes, { what: `the ${what}`, maxBytes: maxDocumentBytes });
  } catch (e) {
    if (e instanceof JsonError) return fail(e.message);
    throw e;
  }
  if (!isObject(doc)) return fail(`the ${what} is JSON but not an object: it is ${describe(doc)}`);
  return doc;
}

/** The media type without parameters such as `; charset=utf-8`, lowercased as RFC 9110 allows. */
function essence(contentType: string | null | undefined): string | undefined {
  const mt = contentType?.split(';')[0]?.trim().toLowerCase();
  return mt ? mt : undefined;
}

function isKnownDocumentType(mt: string | undefined): mt is string {
  return mt !== undefined && (isIndex(mt) || isManifest(mt));
}

// RFC 6838 type/subtype, which the OCI descriptor spec requires.
const mediaTypeRe =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function optionalString(o: JsonObject, key: string, where: string, fail: (m: string) => never) {
  const v = o[key];
  if (v !== undefined && typeof v !== 'string') {
    fail(`${where}${key} must be a string, got ${describe(v)}`);
  }
  return v as string | undefined;
}

function stringArray(v: unknown, where: string, fail: (m: string) => never): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    return fail(`${where} must be an array of strings, got ${describe(v)}`);
  }
  return v as string[];
}

function stringMap(v: unknown, where: string, fail: (m: string) => never): Record<string, string> {
  if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) {
    return fail(`${where} must be an object of string values`);
  }
  return { ...(v as Record<string, string>) };
}

function manifestFail(m: string): never {
  throw new InvalidManifestError(m);
}

function validatePlatform(p: unknown, where: string): Platform {
  const fail: (m: string) => never = manifestFail;
  if (!isObject(p)) return fail(`${where}: must be an object, got ${describe(p)}`);
  const out: Platform = { architecture: '', os: '' };
  for (const key of ['architecture', 'os'] as const) {
    const v = p[key];
    if (typeof v !== 'string' || v === '') fail(`${where}: ${key} must be a non-empty string`);
    out[key] = v as string;
  }
  for (const key of ['variant', 'os.version'] as const) {
    const v = optionalString(p, key, `${where}: `, fail);
    if (v !== undefined) out[key] = v;
  }
  for (const key of ['os.features', 'features'] as const) {
    if (p[key] !== undefined) out[key] = [...stringArray(p[key], `${where}: ${key}`, fail)];
  }
  return out;
}

/**
 * Checks a descriptor from an untrusted document and returns a clean copy. `where` names it in
 * errors, e.g. "layers[2]".
 */
export function validateDescriptor(d: unknown, where: string): Descriptor {
  const fail: (m: string) => never = manifestFail;
  if (!isObject(d)) return fail(`${where}: a descriptor must be an object, got ${describe(d)}`);
  const { mediaType, digest, size } = d;
  if (typeof mediaType !== 'string' || mediaType === '') {
    return fail(`${where}: mediaType must be a non-empty string, got ${describe(mediaType)}`);
  }
  if (!mediaTypeRe.test(mediaType)) {
    return fail(
      `${where}: mediaType ${JSON.stringify(mediaType)} is not a type/subtype media type`,
    );
  }
  if (typeof digest !== 'string') {
    return fail(`${where}: digest must be a string, got ${describe(digest)}`);
  }
  try {
    parseDigest(digest);
  } catch (e) {
    if (e instanceof InvalidDigestError) fail(`${where}: ${e.message}`);
    throw e;
  }
  // Sizes bound every download; a fractional, negative or imprecise one cannot be enforced.
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    return fail(`${where}: size must be a non-negative integer, got ${describe(size)}`);
  }
  const out: Descriptor = { mediaType, digest, size };
  if (d.urls !== undefined) out.urls = [...stringArray(d.urls, `${where}: urls`, fail)];
  if (d.annotations !== undefined) {
    out.annotations = stringMap(d.annotations, `${where}: annotations`, fail);
  }
  if (d.platform !== undefined) out.platform = validatePlatform(d.platform, `${where}: platform`);
  const artifactType = optionalString(d, 'artifactType', `${where}: `, fail);
  if (artifactType !== undefined) out.artifactType = artifactType;
  const data = optionalString(d, 'data', `${where}: `, fail);
  if (data !== undefined) out.data = data;
  return out;
}

const schema1Message =
  'schema1 manifests (Docker’s pre-2017 format) are not supported; push the image again with a ' +
  'current Docker, Podman or BuildKit, or pull it by another tag';

/**
 * Parses a manifest or index from the registry. The media type is taken from the document's own
 * mediaType field, else the Content-Type, else the descriptor that pointed at it; disagreement
 * between them is refused rather than resolved, since each is a claim about the same bytes.
 */
export function parseManifestDocument(
  bytes: Uint8Array,
  opts: { contentType?: string | null; descriptorMediaType?: string },
): ParsedDocument {
  const fail: (m: string) => never = manifestFail;
  const doc = decodeJson(bytes, 'manifest', fail);
  const contentType = essence(opts.contentType);
  const descriptorType = opts.descriptorMediaType;

  const declared = doc.mediaType;
  if (declared !== undefined && typeof declared !== 'string') {
    fail(`the manifest's mediaType must be a string, got ${describe(declared)}`);
  }
  const docType = declared as string | undefined;

  if (
    doc.schemaVersion === 1 ||
    [docType, contentType, descriptorType].some((t) => t !== undefined && isSchema1(t))
  ) {
    fail(schema1Message);
  }
  if (doc.schemaVersion !== 2) {
    fail(
      doc.schemaVersion === undefined
        ? 'the manifest has no schemaVersion; an OCI or Docker v2 manifest has schemaVersion 2'
        : `the manifest has schemaVersion ${JSON.stringify(doc.schemaVersion).slice(0, 100)}; Berth reads schemaVersion 2`,
    );
  }

  const hasManifests = doc.manifests !== undefined;
  const hasImageFields = doc.layers !== undefined || doc.config !== undefined;
  if (hasManifests && hasImageFields) {
    fail(
      'the document has both "manifests" and "layers"/"config", so it reads as an index and as an ' +
        'image manifest at once; such ambiguous documents are refused (CVE-2021-41190)',
    );
  }

  for (const [label, other] of [
    ['Content-Type', contentType],
    ['descriptor media type', descriptorType],
  ] as const) {
    if (isKnownDocumentType(docType) && isKnownDocumentType(other) && docType !== other) {
      fail(
        `the manifest says its mediaType is ${docType}, but its ${label} is ${other}; ` +
          'the registry is serving inconsistent data, so Berth will not guess which is right',
      );
    }
  }
  if (
    docType === undefined &&
    isKnownDocumentType(contentType) &&
    isKnownDocumentType(descriptorType) &&
    contentType !== descriptorType
  ) {
    fail(
      `the Content-Type is ${contentType}, but the descriptor pointing here says ${descriptorType}; ` +
        'the registry is serving inconsistent data, so Berth will not guess which is right',
    );
  }

  let mediaType = docType;
  if (mediaType === undefined) {
    mediaType = [contentType, descriptorType].find(isKnownDocumentType);
  }
  if (mediaType === undefined) {
    // OCI lets mediaType be absent, and some registries send a generic Content-Type; the shape
    // decides then, which is safe now that documents with both shapes are refused.
    if (hasManifests) mediaType = MediaType.OciIndex;
    else if (doc.config !== undefined && doc.layers !== undefined)
      mediaType = MediaType.OciManifest;
    else {
      const named = contentType ?? descriptorType;
      fail(
        (named
          ? `media type ${named} is not a manifest or index`
          : 'the manifest has no media type') +
          ', and the document has neither "manifests" nor "config" and "layers" to infer one from',
      );
    }
  }
  if (!isKnownDocumentType(mediaType)) {
    fail(
      `media type ${mediaType} is not an image manifest or index Berth understands ` +
        `(it reads ${MediaType.OciIndex}, ${MediaType.OciManifest}, ${MediaType.DockerManifestList} ` +
        `and ${MediaType.DockerManifest})`,
    );
  }

  const artifactType = optionalString(doc, 'artifactType', '', fail);
  const common = {
    schemaVersion: 2 as const,
    ...(docType !== undefined && { mediaType: docType }),
    ...(artifactType !== undefined && { artifactType }),
    ...(doc.subject !== undefined && { subject: validateDescriptor(doc.subject, 'subject') }),
    ...(doc.annotations !== undefined && {
      annotations: stringMap(doc.annotations, 'annotations', fail),
    }),
  };

  if (isIndex(mediaType)) {
    if (hasImageFields) {
      fail(
        `the document is typed ${mediaType} (an index) but has "config"/"layers" instead of "manifests"`,
      );
    }
    if (!Array.isArray(doc.manifests)) {
      return fail(`the index's "manifests" must be an array, got ${describe(doc.manifests)}`);
    }
    const manifests = doc.manifests.map((m, i) => validateDescriptor(m, `manifests[${i}]`));
    return { kind: 'index', mediaType, index: { ...common, manifests } };
  }

  if (hasManifests) {
    fail(
      `the document is typed ${mediaType} (an image manifest) but has "manifests" like an index`,
    );
  }
  if (doc.config === undefined) fail('the image manifest has no "config"');
  if (!Array.isArray(doc.layers)) {
    return fail(`the image manifest's "layers" must be an array, got ${describe(doc.layers)}`);
  }
  const config = validateDescriptor(doc.config, 'config');
  const layers = doc.layers.map((l, i) => validateDescriptor(l, `layers[${i}]`));
  return { kind: 'manifest', mediaType, manifest: { ...common, config, layers } };
}

function configFail(m: string): never {
  throw new InvalidImageConfigError(m);
}

/** Parses an image configuration, checking the fields Berth reads. Unknown fields pass through. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const fail: (m: string) => never = configFail;
  const doc = decodeJson(bytes, 'image config', fail);

  for (const key of ['architecture', 'os'] as const) {
    const v = doc[key];
    if (typeof v !== 'string' || v === '') {
      fail(
        v === undefined
          ? `the image config has no ${key}; it is not a container image configuration`
          : `the image config's ${key} must be a non-empty string, got ${describe(v)}`,
      );
    }
  }
  for (const key of ['created', 'author', 'variant', 'os.version'] as const) {
    optionalString(doc, key, 'the image config’s ', fail);
  }

  const rootfs = doc.rootfs;
  if (!isObject(rootfs)) {
    return fail(
      rootfs === undefined
        ? 'the image config has no rootfs, so its layers cannot be checked'
        : `rootfs must be an object, got ${describe(rootfs)}`,
    );
  }
  if (typeof rootfs.type !== 'string') fail('rootfs.type must be a string');
  if (!Array.isArray(rootfs.diff_ids)) {
    return fail(`rootfs.diff_ids must be an array, got ${describe(rootfs.diff_ids)}`);
  }
  rootfs.diff_ids.forEach((d: unknown, i) => {
    if (typeof d !== 'string')
      fail(`rootfs.diff_ids[${i}] must be a digest string, got ${describe(d)}`);
    try {
      parseDigest(d as string);
    } catch (e) {
      if (e instanceof InvalidDigestError) fail(`rootfs.diff_ids[${i}]: ${e.message}`);
      throw e;
    }
  });

  if (doc.history !== undefined && doc.history !== null) {
    if (!Array.isArray(doc.history)) fail(`history must be an array, got ${describe(doc.history)}`);
    (doc.history as unknown[]).forEach((h, i) => validateHistory(h, `history[${i}]`));
  }
  const out: JsonObject = { ...doc };
  if (doc.history === null) delete out.history;
  if (doc.config === null) delete out.config;
  else if (doc.config !== undefined) out.config = validateRuntimeConfig(doc.config);
  return out as unknown as ImageConfig;
}

function validateHistory(h: unknown, where: string): asserts h is HistoryEntry {
  const fail: (m: string) => never = configFail;
  if (!isObject(h)) fail(`${where} must be an object, got ${describe(h)}`);
  const entry = h as JsonObject;
  for (const key of ['created', 'created_by', 'author', 'comment'] as const) {
    optionalString(entry, key, `${where}.`, fail);
  }
  if (entry.empty_layer !== undefined && typeof entry.empty_layer !== 'boolean') {
    fail(`${where}.empty_layer must be true or false, got ${describe(entry.empty_layer)}`);
  }
}

// Only the fields Berth displays are checked, so that a malformed config fails here with a
// message instead of later in the UI.
function validateRuntimeConfig(c: unknown): JsonObject {
  const fail: (m: string) => never = configFail;
  if (!isObject(c)) return fail(`config must be an object, got ${describe(c)}`);
  // Docker writes null for empty fields; ImageConfig allows null only where the UI expects it.
  const out: JsonObject = { ...c };
  for (const key of ['User', 'WorkingDir', 'StopSignal', 'Env', 'ExposedPorts', 'Volumes']) {
    if (out[key] === null) delete out[key];
  }
  for (const key of ['User', 'WorkingDir', 'StopSignal'] as const) {
    optionalString(out, key, 'config.', fail);
  }
  if (out.Env !== undefined && out.Env !== null) stringArray(out.Env, 'config.Env', fail);
  for (const key of ['Entrypoint', 'Cmd'] as const) {
    if (out[key] !== undefined && out[key] !== null) stringArray(out[key], `config.${key}`, fail);
  }
  if (out.Labels !== undefined && out.Labels !== null) stringMap(out.Labels, 'config.Labels', fail);
  for (const key of ['ExposedPorts', 'Volumes'] as const) {
    if (out[key] !== undefined && out[key] !== null && !isObject(out[key])) {
      fail(`config.${key} must be an object, got ${describe(out[key])}`);
    }
  }
  return out;
}
