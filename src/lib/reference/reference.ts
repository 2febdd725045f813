// Image references, following Docker's grammar (github.com/distribution/reference):
//
//	reference := name [ ":" tag ] [ "@" digest ]
//	name      := [ domain "/" ] path
//	domain    := host [ ":" port ]       ; host is a DNS name, IPv4, or [IPv6]
//	path      := component [ "/" component ]*
//	component := [a-z0-9]+ ( separator [a-z0-9]+ )*   ; separator is . _ __ or one or more -
//	tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//
// The parser works piece by piece rather than with one big regexp so that every rejection can say
// which part is wrong and how to fix it.

import { InvalidDigestError, parseDigest } from '../oci/digest.ts';

export interface Reference {
  /** The registry host and optional port; 'docker.io' for Docker Hub. */
  registry: string;
  /** The repository path within the registry, e.g. 'library/alpine'. */
  repository: string;
  tag?: string;
  digest?: string;
}

export class InvalidReferenceError extends Error {
  override name = 'InvalidReferenceError';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`invalid image reference ${quote(input)}: ${reason}`);
  }
}

export const defaultRegistry = 'docker.io';
export const defaultTag = 'latest';
const legacyDefaultRegistry = 'index.docker.io';
const officialRepoPrefix = 'library/';
const maxRepositoryLength = 255;
const maxTagLength = 128;

const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const domainNameRe =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
// Zone identifiers and IPv4-mapped forms are excluded, as distribution does.
const ipv6Re = /^\[[a-fA-F0-9:]+\]$/;
const tagRe = /^[\w][\w.-]*$/;
const identifierRe = /^[a-f0-9]{64}$/;
const schemeRe = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/**
 * The registry a host names, as references name it: `index.docker.io` and
 * `registry-1.docker.io` are `docker.io`. A scheme and a trailing slash are forgiven; a path or
 * a name Docker would not read as a host (no dot, no port, not localhost) is refused.
 */
export function parseRegistry(input: string): string {
  const host = input
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/+$/, '');
  const refuse = (reason: string) =>
    new Error(`${quote(input)} is not a registry host: ${reason}.`);
  if (!host) throw refuse('a registry host is needed, for example ghcr.io');
  if (host.includes('/')) throw refuse('a registry is a host[:port], without a path');
  if (host.toLowerCase() === 'registry-1.docker.io') return defaultRegistry;
  let ref: Reference;
  try {
    ref = parseReference(`${host}/probe`);
  } catch (err) {
    throw refuse(err instanceof InvalidReferenceError ? err.reason : String(err));
  }
  if (ref.registry === defaultRegistry && host.toLowerCase() !== defaultRegistry) {
    if (host.toLowerCase() !== legacyDefaultRegistry) {
      throw refuse('not a host name: a registry host has a dot or a port, or is localhost');
    }
  }
  return ref.registry;
}

/** Whether s is a valid tag: distribution's grammar, at most 128 characters. */
export function isTag(s: string): boolean {
  return s.length <= maxTagLength && tagRe.test(s);
}

/** Whether s is one valid path component of a repository name. */
export function isPathComponent(s: string): boolean {
  return pathComponentRe.test(s);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 300 ? s.slice(0, 300) + '…' : s);
}

/**
 * Parses a reference as `docker pull` would, normalising familiar forms: `alpine` becomes
 * docker.io/library/alpine:latest. The tag defaults to 'latest' only when there is no digest.
 */
export function parseReference(input: string): Reference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (typeof input !== 'string') fail('a reference must be a string');

  // Pasted references often carry a newline or spaces at either end; inside they are never valid.
  const s = input.trim();
  if (s === '')
    fail('the reference is empty; enter an image name such as alpine or ghcr.io/owner/app:tag');
  if (/\s/.test(s)) fail('it contains whitespace; an image reference is a single word');
  const scheme = schemeRe.exec(s);
  if (scheme) {
    fail(`remove the scheme: write ${quote(s.slice(scheme[0].length))}, not ${quote(s)}`);
  }
  // A bare image ID is ambiguous with a 64-character repository name; docker refuses it too.
  if (identifierRe.test(s)) {
    fail('this looks like an image ID, not a name; pull by digest with name@sha256:<hex> instead');
  }

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest === '') fail('nothing follows "@"; a digest looks like sha256:<64 hex characters>');
    if (digest.includes('@')) fail('it contains more than one "@"');
    try {
      parseDigest(digest);
    } catch (e) {
      if (e instanceof InvalidDigestError) fail(e.message);
      throw e;
    }
  }
  if (rest === '') fail('the name before "@" is empty');

  // The first component is a registry only if it looks like a host (distribution's rule), so
  // `user/app` stays on Docker Hub while `localhost/app` and `host:5000/app` do not.
  let registry = defaultRegistry;
  let remainder = rest;
  const slash = rest.indexOf('/');
  if (slash < 0 && rest.startsWith('[')) {
    fail(`it names a registry but no repository; add one, e.g. ${rest}/name`);
  }
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first === 'localhost' || first.includes('.') || first.includes(':')) {
      registry = first;
      remainder = rest.slice(slash + 1);
      validateRegistry(registry, fail);
    } else if (first !== first.toLowerCase()) {
      // distribution's splitDockerDomain reads an upper-case first component as a registry
      // host, since no repository may have one: `Docker/docker` is repository "docker" on a
      // host named "Docker". That is nearly always a typo, so Berth refuses it, and says what
      // docker would do instead.
      const path = rest.split(':')[0]!;
      const after = rest.slice(slash + 1);
      const afterPath = after.split(':')[0]!;
      const docker = !domainNameRe.test(first)
        ? `docker would refuse it too: it reads ${quote(first)} as a registry host, which is ` +
          'not a valid host name'
        : afterPath === afterPath.toLowerCase()
          ? `docker would read ${quote(first)} as a registry host, since a repository name has ` +
            `no upper case, and pull ${quote(after)} from a host of that name`
          : `docker would refuse it too: it reads ${quote(first)} as a registry host, and the ` +
            'repository after it still has upper case';
      fail(
        `repository name must be lowercase: ${quote(path)} (try ${quote(path.toLowerCase())}). ` +
          docker,
      );
    }
  }

  // Path components cannot contain ':', so the first one left separates the tag.
  let path = remainder;
  let tag: string | undefined;
  const colon = remainder.indexOf(':');
  if (colon >= 0) {
    path = remainder.slice(0, colon);
    tag = remainder.slice(colon + 1);
  }
  validatePath(path, fail);
  if (tag !== undefined) validateTag(tag, fail);

  if (registry === legacyDefaultRegistry) registry = defaultRegistry;
  if (registry === defaultRegistry && !path.includes('/')) path = officialRepoPrefix + path;
  if (path.length > maxRepositoryLength) {
    fail(`the repository name is ${path.length} characters; the limit is ${maxRepositoryLength}`);
  }

  const ref: Reference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = defaultTag;
  return ref;
}

function validateRegistry(registry: string, fail: (reason: string) => never): void {
  const bad = `registry ${quote(registry)} is not a valid host`;
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    if (close < 0) fail(`${bad}: "[" without a closing "]"`);
    host = registry.slice(0, close + 1);
    const after = registry.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail(`${bad}: only ":port" may follow "]"`);
      port = after.slice(1);
    }
    if (!ipv6Re.test(host)) {
      fail(`${bad}: an IPv6 address in brackets may contain only hex digits and ":" (no zone)`);
    }
  } else {
    const colon = registry.indexOf(':');
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (host === '') fail(`${bad}: the host name is empty`);
    if (port?.includes(':')) {
      fail(`${bad}: it has more than one ":"; write an IPv6 address in brackets, e.g. [::1]:5000`);
    }
    if (!domainNameRe.test(host)) {
      fail(
        `${bad}: host names are letters, digits and "-", in dot-separated labels that neither ` +
          'start nor end with "-"',
      );
    }
  }
  if (port !== undefined && !/^[0-9]+$/.test(port)) {
    fail(`${bad}: the port ${quote(port)} must be a number`);
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    fail(`${bad}: port ${port} is out of range 1-65535`);
  }
}

function validateTag(tag: string, fail: (reason: string) => never): void {
  if (tag === '') fail('nothing follows ":"; remove it or add a tag, e.g. :latest');
  if (tag.includes(':')) {
    fail('it has more than one ":" after the repository; the form is name[:tag][@digest]');
  }
  if (tag.length > maxTagLength) {
    fail(`the tag is ${tag.length} characters; the limit is ${maxTagLength}`);
  }
  if (!tagRe.test(tag)) {
    fail(
      `tag ${quote(tag)} is not valid: a tag may contain only letters, digits, "_", "." and "-", ` +
        'and may not start with "." or "-"',
    );
  }
}

function validatePath(path: string, fail: (reason: string) => never): void {
  if (path === '') fail('the repository name is empty');
  if (path !== path.toLowerCase()) {
    fail(`repository name must be lowercase: ${quote(path)} (try ${quote(path.toLowerCase())})`);
  }
  if (path.startsWith('/')) fail('the repository name starts with "/"');
  if (path.endsWith('/')) fail('the repository name ends with "/"');
  if (path.includes('//')) fail('the repository name contains "//"');
  for (const component of path.split('/')) {
    if (!pathComponentRe.test(component)) {
      fail(
        `repository path component ${quote(component)} is not valid: use lowercase letters and ` +
          'digits, separated by ".", "_", "__" or dashes, starting and ending with a letter or digit',
      );
    }
  }
}

/** "registry/repository", e.g. docker.io/library/alpine: the repository's full name, which is
 * also where its blobs come from (containerd's distribution.source). */
export function repositoryOf(ref: Pick<Reference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical string: docker.io/library/alpine:3.20, or name:tag@digest when both are set. */
export function formatReference(ref: Reference): string {
  let s = repositoryOf(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The short form docker prints: alpine:3.20, user/app:1, ghcr.io/o/a@sha256:…. */
export function familiarName(ref: Reference): string {
  let name = repositoryOf(ref);
  if (ref.registry === defaultRegistry || ref.registry === legacyDefaultRegistry) {
    name = ref.repository;
    // Only a single component under library/ is an official image; library/a/b keeps its prefix.
    if (name.startsWith(officialRepoPrefix)) {
      const short = name.slice(officialRepoPrefix.length);
      if (!short.includes('/')) name = short;
    }
    // A first component that looks like a host (l.ibrary/a, localhost/a) would be read back as
    // the registry: keep the registry in front, so the name shown parses to the same image.
    const slash = name.indexOf('/');
    const first = slash < 0 ? '' : name.slice(0, slash);
    if (first === 'localhost' || first.includes('.') || first.includes(':')) {
      name = `${defaultRegistry}/${name}`;
    }
  }
  if (ref.tag) name += `:${ref.tag}`;
  if (ref.digest) name += `@${ref.digest}`;
  return name;
}

/** The host that serves the registry API. Docker Hub's name is docker.io, but its API is not. */
export function registryApiHost(registry: string): string {
  return registry === defaultRegistry || registry === legacyDefaultRegistry
    ? 'registry-1.docker.io'
    : registry;
}

/** The last path component, a reasonable default file name: 'alpine' for library/alpine. */
export function repositoryName(ref: Reference): string {
  const i = ref.repository.lastIndexOf('/');
  return ref.repository.slice(i + 1);
}
