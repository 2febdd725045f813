import { describe, expect, test } from 'vitest';
import {
  InvalidReferenceError,
  parseRegistry,
  familiarName,
  formatReference,
  parseReference,
  registryApiHost,
  repositoryName,
  type Reference,
} from '../../src/lib/reference/reference.ts';

const sha256 = 'sha256:' + 'f'.repeat(64);
const sha256b = 'sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
const sha512 = 'sha512:' + 'f'.repeat(128);
const imageId = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';

function show(r: Reference): string {
  return JSON.stringify(r);
}

describe('parseReference accepts', () => {
  // want: the parsed reference; canonical: formatReference of it; familiar: familiarName of it.
  const cases: {
    name: string;
    input: string;
    want: Reference;
    canonical: string;
    familiar: string;
  }[] = [
    {
      name: 'official image',
      input: 'alpine',
      want: { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' },
      canonical: 'docker.io/library/alpine:latest',
      familiar: 'alpine:latest',
    },
    {
      name: 'official image with tag',
      input: 'alpine:3.20',
      want: { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' },
      canonical: 'docker.io/library/alpine:3.20',
      familiar: 'alpine:3.20',
    },
    {
      name: 'canonical official image by digest: no default tag',
      input: `docker.io/library/alpine@${sha256}`,
      want: { registry: 'docker.io', repository: 'library/alpine', digest: sha256 },
      canonical: `docker.io/library/alpine@${sha256}`,
      familiar: `alpine@${sha256}`,
    },
    {
      name: 'tag and digest are both kept',
      input: `busybox:latest@${sha256b}`,
      want: {
        registry: 'docker.io',
        repository: 'library/busybox',
        tag: 'latest',
        digest: sha256b,
      },
      canonical: `docker.io/library/busybox:latest@${sha256b}`,
      familiar: `busybox:latest@${sha256b}`,
    },
    {
      name: 'user repository on Docker Hub',
      input: 'user/app:1',
      want: { registry: 'docker.io', repository: 'user/app', tag: '1' },
      canonical: 'docker.io/user/app:1',
      familiar: 'user/app:1',
    },
    {
      name: 'docker.io without library/ gets it',
      input: 'docker.io/foo',
      want: { registry: 'docker.io', repository: 'library/foo', tag: 'latest' },
      canonical: 'docker.io/library/foo:latest',
      familiar: 'foo:latest',
    },
    {
      name: 'index.docker.io is Docker Hub',
      input: 'index.docker.io/library/debian',
      want: { registry: 'docker.io', repository: 'library/debian', tag: 'latest' },
      canonical: 'docker.io/library/debian:latest',
      familiar: 'debian:latest',
    },
    {
      name: 'index.docker.io single component',
      input: 'index.docker.io/debian',
      want: { registry: 'docker.io', repository: 'library/debian', tag: 'latest' },
      canonical: 'docker.io/library/debian:latest',
      familiar: 'debian:latest',
    },
    {
      name: 'nested library path keeps its prefix in the familiar name',
      input: 'library/foo/bar',
      want: { registry: 'docker.io', repository: 'library/foo/bar', tag: 'latest' },
      canonical: 'docker.io/library/foo/bar:latest',
      familiar: 'library/foo/bar:latest',
    },
    {
      name: 'three components on Docker Hub',
      input: 'store/foo/bar',
      want: { registry: 'docker.io', repository: 'store/foo/bar', tag: 'latest' },
      canonical: 'docker.io/store/foo/bar:latest',
      familiar: 'store/foo/bar:latest',
    },
    {
      name: 'IPv4 registry with port',
      input: '127.0.0.1:5000/test/busybox:latest',
      want: { registry: '127.0.0.1:5000', repository: 'test/busybox', tag: 'latest' },
      canonical: '127.0.0.1:5000/test/busybox:latest',
      familiar: '127.0.0.1:5000/test/busybox:latest',
    },
    {
      name: 'IPv4 registry single component: no library/',
      input: '127.0.0.1:8000/privatebase',
      want: { registry: '127.0.0.1:8000', repository: 'privatebase', tag: 'latest' },
      canonical: '127.0.0.1:8000/privatebase:latest',
      familiar: '127.0.0.1:8000/privatebase:latest',
    },
    {
      name: 'IPv4 registry without port',
      input: '192.168.1.1/repo',
      want: { registry: '192.168.1.1', repository: 'repo', tag: 'latest' },
      canonical: '192.168.1.1/repo:latest',
      familiar: '192.168.1.1/repo:latest',
    },
    {
      name: 'port-like tag on a repository',
      input: '192.168.1.1:5000/repo:5050',
      want: { registry: '192.168.1.1:5000', repository: 'repo', tag: '5050' },
      canonical: '192.168.1.1:5000/repo:5050',
      familiar: '192.168.1.1:5000/repo:5050',
    },
    {
      name: 'dotted single name is a repository, not a host',
      input: '192.168.0.1',
      want: { registry: 'docker.io', repository: 'library/192.168.0.1', tag: 'latest' },
      canonical: 'docker.io/library/192.168.0.1:latest',
      familiar: '192.168.0.1:latest',
    },
    {
      name: 'host:port without a path is name:tag',
      input: 'test.com:5000',
      want: { registry: 'docker.io', repository: 'library/test.com', tag: '5000' },
      canonical: 'docker.io/library/test.com:5000',
      familiar: 'test.com:5000',
    },
    {
      name: 'localhost',
      input: 'localhost/foo',
      want: { registry: 'localhost', repository: 'foo', tag: 'latest' },
      canonical: 'localhost/foo:latest',
      familiar: 'localhost/foo:latest',
    },
    {
      name: 'localhost with port and tag',
      input: 'localhost:5000/foo:bar',
      want: { registry: 'localhost:5000', repository: 'foo', tag: 'bar' },
      canonical: 'localhost:5000/foo:bar',
      familiar: 'localhost:5000/foo:bar',
    },
    {
      name: 'host without dot but with port',
      input: 'test:5000/repo:tag',
      want: { registry: 'test:5000', repository: 'repo', tag: 'tag' },
      canonical: 'test:5000/repo:tag',
      familiar: 'test:5000/repo:tag',
    },
    {
      name: 'IPv6 with port',
      input: '[::1]:5000/foo',
      want: { registry: '[::1]:5000', repository: 'foo', tag: 'latest' },
      canonical: '[::1]:5000/foo:latest',
      familiar: '[::1]:5000/foo:latest',
    },
    {
      name: 'IPv6 without port',
      input: '[2001:db8::1]/repo',
      want: { registry: '[2001:db8::1]', repository: 'repo', tag: 'latest' },
      canonical: '[2001:db8::1]/repo:latest',
      familiar: '[2001:db8::1]/repo:latest',
    },
    {
      name: 'IPv6 full form with tag and digest',
      input: `[2001:db8:1:2:3:4:5:6]:5000/repo:tag@${sha256}`,
      want: {
        registry: '[2001:db8:1:2:3:4:5:6]:5000',
        repository: 'repo',
        tag: 'tag',
        digest: sha256,
      },
      canonical: `[2001:db8:1:2:3:4:5:6]:5000/repo:tag@${sha256}`,
      familiar: `[2001:db8:1:2:3:4:5:6]:5000/repo:tag@${sha256}`,
    },
    {
      name: 'ghcr by digest',
      input: `ghcr.io/owner/app@${sha256}`,
      want: { registry: 'ghcr.io', repository: 'owner/app', digest: sha256 },
      canonical: `ghcr.io/owner/app@${sha256}`,
      familiar: `ghcr.io/owner/app@${sha256}`,
    },
    {
      name: 'sha512 digest',
      input: `xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`,
      want: {
        registry: 'xn--7o8h.com',
        repository: 'myimage',
        tag: 'xn--7o8h.com',
        digest: sha512,
      },
      canonical: `xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`,
      familiar: `xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`,
    },
    {
      name: 'deep path on a subdomain',
      input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
      want: { registry: 'sub-dom1.foo.com', repository: 'bar/baz/quux', tag: 'some-long-tag' },
      canonical: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
      familiar: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
    },
    {
      name: 'dots in path and tag',
      input: 'b.gcr.io/test.example.com/my-app:test.example.com',
      want: {
        registry: 'b.gcr.io',
        repository: 'test.example.com/my-app',
        tag: 'test.example.com',
      },
      canonical: 'b.gcr.io/test.example.com/my-app:test.example.com',
      familiar: 'b.gcr.io/test.example.com/my-app:test.example.com',
    },
    {
      name: 'underscore first component is not a host',
      input: 'test_com/foo',
      want: { registry: 'docker.io', repository: 'test_com/foo', tag: 'latest' },
      canonical: 'docker.io/test_com/foo:latest',
      familiar: 'test_com/foo:latest',
    },
    {
      name: 'separators: multiple dashes, double underscore',
      input: 'docker---rules/dock__er',
      want: { registry: 'docker.io', repository: 'docker---rules/dock__er', tag: 'latest' },
      canonical: 'docker.io/docker---rules/dock__er:latest',
      familiar: 'docker---rules/dock__er:latest',
    },
    {
      name: 'single-character components',
      input: 'd/t',
      want: { registry: 'docker.io', repository: 'd/t', tag: 'latest' },
      canonical: 'docker.io/d/t:latest',
      familiar: 'd/t:latest',
    },
    {
      name: 'uppercase tag',
      input: 'lowercase:Uppercase',
      want: { registry: 'docker.io', repository: 'library/lowercase', tag: 'Uppercase' },
      canonical: 'docker.io/library/lowercase:Uppercase',
      familiar: 'lowercase:Uppercase',
    },
    {
      name: '64 hex characters are a name once a registry is given',
      input: `docker.io/${imageId}`,
      want: { registry: 'docker.io', repository: `library/${imageId}`, tag: 'latest' },
      canonical: `docker.io/library/${imageId}:latest`,
      familiar: `${imageId}:latest`,
    },
    {
      name: '64 non-hex characters are a name',
      input: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
      want: {
        registry: 'docker.io',
        repository: 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
        tag: 'latest',
      },
      canonical:
        'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest',
      familiar: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest',
    },
    {
      name: 'uppercase registry host is kept',
      input: 'Example.COM/app',
      want: { registry: 'Example.COM', repository: 'app', tag: 'latest' },
      canonical: 'Example.COM/app:latest',
      familiar: 'Example.COM/app:latest',
    },
    {
      name: 'surrounding whitespace is trimmed',
      input: '  ghcr.io/o/a:1\n',
      want: { registry: 'ghcr.io', repository: 'o/a', tag: '1' },
      canonical: 'ghcr.io/o/a:1',
      familiar: 'ghcr.io/o/a:1',
    },
    {
      name: 'tag of 128 characters',
      input: 'a:' + 'x'.repeat(128),
      want: { registry: 'docker.io', repository: 'library/a', tag: 'x'.repeat(128) },
      canonical: 'docker.io/library/a:' + 'x'.repeat(128),
      familiar: 'a:' + 'x'.repeat(128),
    },
    {
      name: 'repository of exactly 255 characters',
      input: 'a/'.repeat(127) + 'a:tag',
      want: { registry: 'docker.io', repository: 'a/'.repeat(127) + 'a', tag: 'tag' },
      canonical: 'docker.io/' + 'a/'.repeat(127) + 'a:tag',
      familiar: 'a/'.repeat(127) + 'a:tag',
    },
  ];

  test.each(cases)('$name: $input', ({ input, want, canonical, familiar }) => {
    const got = parseReference(input);
    expect(
      got,
      `parseReference(${JSON.stringify(input)}) = ${show(got)}, want ${show(want)}`,
    ).toEqual(want);
    expect(formatReference(got), `formatReference(${show(got)})`).toBe(canonical);
    expect(familiarName(got), `familiarName(${show(got)})`).toBe(familiar);
    // The canonical form parses back to the same reference.
    expect(parseReference(canonical), `parseReference(${JSON.stringify(canonical)})`).toEqual(want);
  });
});

describe('parseReference rejects', () => {
  // why: a fragment the message must contain, so the user learns what to fix.
  const cases: { name: string; input: string; why: string }[] = [
    { name: 'empty', input: '', why: 'empty' },
    { name: 'only whitespace', input: ' \t\n', why: 'empty' },
    { name: 'internal whitespace', input: 'alpine: 3.20', why: 'whitespace' },
    { name: 'internal tab', input: 'foo\tbar', why: 'whitespace' },
    { name: 'uppercase name', input: 'Alpine', why: 'repository name must be lowercase' },
    { name: 'uppercase name with tag', input: 'Uppercase:tag', why: 'must be lowercase' },
    {
      name: 'uppercase second component',
      input: 'foo/Bar',
      why: 'must be lowercase: "foo/Bar" (try "foo/bar")',
    },
    {
      name: 'uppercase first component, which docker reads as a registry host',
      input: 'Docker/docker',
      why:
        'repository name must be lowercase: "Docker/docker" (try "docker/docker"). docker would ' +
        'read "Docker" as a registry host, since a repository name has no upper case, and pull ' +
        '"docker" from a host of that name',
    },
    {
      name: 'uppercase first and second component',
      input: 'Docker/Docker',
      why:
        'must be lowercase: "Docker/Docker" (try "docker/docker"). docker would refuse it too: ' +
        'it reads "Docker" as a registry host, and the repository after it still has upper case',
    },
    {
      name: 'uppercase first component with a tag and more path',
      input: 'MyOrg/team/app:V1',
      why: 'must be lowercase: "MyOrg/team/app" (try "myorg/team/app"). docker would read "MyOrg" as a registry host',
    },
    {
      name: 'uppercase first component that is no host name',
      input: 'Te_am/app',
      why:
        'must be lowercase: "Te_am/app" (try "te_am/app"). docker would refuse it too: it reads ' +
        '"Te_am" as a registry host, which is not a valid host name',
    },
    {
      name: 'uppercase after a registry',
      input: 'test:5000/Uppercase/lowercase:tag',
      why: 'lowercase',
    },
    { name: 'uppercase on docker.io', input: 'docker.io/docker/Docker', why: 'lowercase' },
    { name: 'short digest', input: 'alpine@sha256:abc', why: 'has 3 hex characters, want 64' },
    {
      name: 'digest 34 hex',
      input: 'repo@sha256:' + 'f'.repeat(34),
      why: 'not a valid sha256 digest',
    },
    { name: 'uppercase digest hex', input: 'repo@sha256:' + 'F'.repeat(64), why: 'lowercase' },
    {
      name: 'unknown digest algorithm',
      input: 'validname@invaliddigest:' + 'f'.repeat(64),
      why: 'unsupported algorithm "invaliddigest"',
    },
    { name: 'md5 digest', input: 'repo@md5:' + 'f'.repeat(32), why: 'sha256 and sha512' },
    { name: 'sha512 of sha256 length', input: 'repo@sha512:' + 'f'.repeat(64), why: 'want 128' },
    { name: 'digest without algorithm', input: 'repo@' + 'f'.repeat(64), why: 'no algorithm' },
    { name: 'empty digest', input: 'repo@', why: 'nothing follows "@"' },
    { name: 'two @', input: `repo@${sha256}@${sha256}`, why: 'more than one "@"' },
    { name: 'only a digest', input: `@${sha256}`, why: 'name before "@" is empty' },
    { name: 'only a tag', input: ':justtag', why: 'repository name is empty' },
    { name: 'two tags', input: 'a:b:c', why: 'more than one ":"' },
    { name: 'empty tag', input: 'alpine:', why: 'nothing follows ":"' },
    { name: 'tag starting with a dot', input: 'alpine:.x', why: 'tag ".x" is not valid' },
    { name: 'tag starting with a dash', input: 'alpine:-x', why: 'may not start with' },
    { name: 'tag with a plus', input: 'alpine:1+2', why: 'only letters, digits' },
    { name: 'tag of 129 characters', input: 'a:' + 'x'.repeat(129), why: 'the limit is 128' },
    { name: 'leading dash', input: '-foo', why: 'component "-foo" is not valid' },
    { name: 'leading dash in namespace', input: '-docker/docker', why: 'is not valid' },
    { name: 'trailing dash in namespace', input: 'docker-/docker', why: 'is not valid' },
    { name: 'dashes both sides', input: '-docker-/docker', why: 'is not valid' },
    {
      name: 'leading dash in registry',
      input: '-docker.io/docker/docker',
      why: 'not a valid host',
    },
    { name: 'underscores only', input: '____/____', why: 'is not valid' },
    { name: 'leading underscores', input: '_docker/_docker', why: 'is not valid' },
    { name: 'double dot', input: 'dock..er/docker', why: 'not a valid host' },
    { name: 'underscore dot', input: 'dock_.er/docker', why: 'not a valid host' },
    { name: 'dash dot', input: 'dock-.er/docker', why: 'not a valid host' },
    { name: 'triple underscore', input: 'foo___bar', why: 'is not valid' },
    { name: 'trailing slash', input: 'docker/', why: 'ends with "/"' },
    { name: 'leading slash', input: '/docker', why: 'starts with "/"' },
    { name: 'double slash', input: 'foo//bar', why: 'contains "//"' },
    { name: 'triple slash', input: 'docker///docker', why: 'contains "//"' },
    { name: 'double slash after registry', input: 'docker.io/docker///docker', why: '"//"' },
    { name: 'registry without repository', input: 'ghcr.io/', why: 'repository name is empty' },
    { name: 'special characters', input: 'aa/asdf$$^/aa', why: 'is not valid' },
    {
      name: 'https scheme',
      input: 'https://ghcr.io/x',
      why: 'remove the scheme: write "ghcr.io/x"',
    },
    { name: 'http scheme', input: 'http://localhost:5000/a', why: 'remove the scheme' },
    { name: 'docker scheme', input: 'docker://alpine', why: 'remove the scheme' },
    { name: 'bare image ID', input: imageId, why: 'looks like an image ID' },
    {
      name: 'repository over 255 characters',
      input: 'a/'.repeat(128) + 'a:tag',
      why: 'the limit is 255',
    },
    {
      name: 'namespace over 255 characters',
      input:
        Array(4)
          .fill('this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255')
          .join('_') + '/docker',
      why: 'the limit is 255',
    },
    { name: 'bare IPv6', input: '[fc00::1]', why: 'no repository; add one, e.g. [fc00::1]/name' },
    { name: 'bare IPv6 with port', input: '[2001:db8::1]:5000', why: 'no repository' },
    { name: 'IPv6 with tag and no path', input: '[2001:db8::1]:tag', why: 'no repository' },
    { name: 'unbracketed IPv6', input: 'fc00::1:5000/debian', why: 'in brackets' },
    { name: 'IPv6 zone', input: '[fe80::1%eth0]:5000/debian', why: 'no zone' },
    { name: 'IPv4-mapped IPv6', input: '[2001:db8:3:4::192.0.2.33]:5000/debian', why: 'IPv6' },
    { name: 'unclosed bracket', input: '[::1:5000/foo', why: 'closing "]"' },
    { name: 'junk after bracket', input: '[::1]x/foo', why: 'only ":port"' },
    { name: 'non-numeric port', input: 'host:abc/foo', why: 'must be a number' },
    { name: 'empty port', input: 'host:/foo', why: 'must be a number' },
    { name: 'port out of range', input: 'host:70000/foo', why: 'out of range' },
    { name: 'empty host', input: ':5000/foo', why: 'host name is empty' },
    { name: 'host label ending in dash', input: 'foo-.com/bar', why: 'not a valid host' },
    { name: 'two colons in host', input: 'localhost:5000:1/foo', why: 'more than one ":"' },
  ];

  test.each(cases)('$name: $input', ({ input, why }) => {
    let err: unknown;
    try {
      const got = parseReference(input);
      expect.fail(`parseReference(${JSON.stringify(input)}) = ${show(got)}, want error "${why}"`);
    } catch (e) {
      err = e;
    }
    expect(err, `parseReference(${JSON.stringify(input)}) threw ${String(err)}`).toBeInstanceOf(
      InvalidReferenceError,
    );
    const e = err as InvalidReferenceError;
    expect(e.name).toBe('InvalidReferenceError');
    expect(e.input).toBe(input);
    expect(e.message, `parseReference(${JSON.stringify(input)}) error`).toContain(why);
  });
});

describe('formatReference', () => {
  const cases: { name: string; ref: Reference; want: string }[] = [
    { name: 'name only', ref: { registry: 'ghcr.io', repository: 'o/a' }, want: 'ghcr.io/o/a' },
    {
      name: 'tag',
      ref: { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' },
      want: 'docker.io/library/alpine:3.20',
    },
    {
      name: 'digest',
      ref: { registry: 'host:5000', repository: 'a/b', digest: sha256 },
      want: `host:5000/a/b@${sha256}`,
    },
    {
      name: 'tag and digest',
      ref: { registry: 'host:5000', repository: 'a/b', tag: 't', digest: sha256 },
      want: `host:5000/a/b:t@${sha256}`,
    },
  ];
  test.each(cases)('$name', ({ ref, want }) => {
    const got = formatReference(ref);
    expect(got, `formatReference(${show(ref)}) = ${got}, want ${want}`).toBe(want);
  });
});

describe('familiarName', () => {
  const cases: { name: string; ref: Reference; want: string }[] = [
    {
      name: 'official',
      ref: { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' },
      want: 'alpine:3.20',
    },
    {
      name: 'user repository',
      ref: { registry: 'docker.io', repository: 'user/app', tag: '1' },
      want: 'user/app:1',
    },
    {
      name: 'other registry keeps host',
      ref: { registry: 'ghcr.io', repository: 'o/a', digest: sha256 },
      want: `ghcr.io/o/a@${sha256}`,
    },
    {
      name: 'library/ on another registry is kept',
      ref: { registry: 'quay.io', repository: 'library/alpine' },
      want: 'quay.io/library/alpine',
    },
    {
      name: 'name only',
      ref: { registry: 'docker.io', repository: 'library/redis' },
      want: 'redis',
    },
    // Found by the fuzzer: without docker.io/ these would name a registry host.
    {
      name: 'Docker Hub repository whose first component has a dot',
      ref: { registry: 'docker.io', repository: 'l.ibrary/alpine', tag: 'latest' },
      want: 'docker.io/l.ibrary/alpine:latest',
    },
    {
      name: 'Docker Hub repository whose first component is localhost',
      ref: { registry: 'docker.io', repository: 'localhost/a' },
      want: 'docker.io/localhost/a',
    },
  ];
  test.each(cases)('$name', ({ ref, want }) => {
    const got = familiarName(ref);
    expect(got, `familiarName(${show(ref)}) = ${got}, want ${want}`).toBe(want);
    // What is shown parses back to the same repository.
    const back = parseReference(got);
    expect([back.registry, back.repository]).toEqual([
      ref.registry === 'index.docker.io' ? 'docker.io' : ref.registry,
      ref.repository,
    ]);
  });
});

describe('registryApiHost', () => {
  const cases: [string, string][] = [
    ['docker.io', 'registry-1.docker.io'],
    ['index.docker.io', 'registry-1.docker.io'],
    ['ghcr.io', 'ghcr.io'],
    ['localhost:5000', 'localhost:5000'],
    ['[::1]:5000', '[::1]:5000'],
  ];
  test.each(cases)('%s', (registry, want) => {
    const got = registryApiHost(registry);
    expect(got, `registryApiHost(${registry}) = ${got}, want ${want}`).toBe(want);
  });
});

describe('repositoryName', () => {
  const cases: [string, string][] = [
    ['alpine', 'alpine'],
    ['busybox:1.36', 'busybox'],
    ['user/app', 'app'],
    ['ghcr.io/owner/group/tool@' + sha256, 'tool'],
    ['localhost:5000/foo', 'foo'],
  ];
  test.each(cases)('%s', (input, want) => {
    const got = repositoryName(parseReference(input));
    expect(got, `repositoryName(parseReference(${input})) = ${got}, want ${want}`).toBe(want);
  });
});

describe('parseRegistry', () => {
  const accepted: [string, string][] = [
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['ghcr.io', 'ghcr.io'],
    ['https://ghcr.io/', 'ghcr.io'],
    ['localhost', 'localhost'],
    ['localhost:5000', 'localhost:5000'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['[::1]:5000', '[::1]:5000'],
  ];
  for (const [input, want] of accepted) {
    test(`parseRegistry(${input}) = ${want}`, () => expect(parseRegistry(input)).toBe(want));
  }
  const refused: [string, RegExp][] = [
    ['', /a registry host is needed/],
    ['myhost', /not a host name/],
    ['ghcr.io/owner', /without a path/],
    ['a b', /is not a registry host/],
  ];
  for (const [input, want] of refused) {
    test(`parseRegistry(${JSON.stringify(input)}) is refused`, () =>
      expect(() => parseRegistry(input)).toThrow(want));
  }
});
