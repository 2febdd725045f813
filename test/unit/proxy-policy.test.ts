import { describe, expect, it } from 'vitest';
import {
  catalogQueryProblem,
  decodePunycode,
  decodePath,
  isForbiddenAddress,
  isInsecureHost,
  isIPLiteral,
  isRegistryApiPath,
  parseHostPort,
  parseIPv6,
  parseInsecureList,
  parseProxyPath,
  parseRegistryRoute,
  pathProblem,
} from '../../proxy/policy.ts';

describe('isForbiddenAddress', () => {
  const forbidden = [
    // IPv4 special-purpose ranges
    '0.0.0.0',
    '0.1.2.3',
    '10.0.0.1',
    '10.255.255.255',
    '100.64.0.1',
    '100.127.255.254',
    '127.0.0.1',
    '127.255.0.9',
    '169.254.169.254', // cloud metadata
    '169.254.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.8',
    '192.0.2.1',
    '192.88.99.1',
    '192.168.1.1',
    '198.18.0.1',
    '198.19.255.255',
    '198.51.100.7',
    '203.0.113.9',
    // AS112 sinks and AMT relays (RFC 7534/7535, 7450): in ipaddr.js's table, not our old one
    '192.175.48.1',
    '192.31.196.1',
    '192.52.193.1',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    // IPv6
    '::',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'febf::1',
    'fec0::1',
    'ff02::1',
    '100::1',
    '2001:db8::1',
    '2001::1', // Teredo
    '3fff::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:7f00:1', // mapped, hex spelling
    '::127.0.0.1', // IPv4-compatible (deprecated)
    '64:ff9b::10.0.0.1', // NAT64 to private
    '64:ff9b:1::1', // local-use NAT64
    '2002:7f00:1::1', // 6to4 of 127.0.0.1
    '2002:c0a8:101::1', // 6to4 of 192.168.1.1
    '2002:a00:1::', // 6to4 of 10.0.0.1
    '64:ff9b::a00:1', // NAT64 to 10.0.0.1, hex spelling
    '[::]',
    '[::ffff:127.0.0.1]',
    '::ffff:0:a00:1', // SIIT (RFC 6145) of 10.0.0.1
    // Outside global unicast 2000::/3. A range table such as ipaddr.js's calls these "unicast":
    // only an allow-list fails closed on space no table names.
    '::7f00:1', // IPv4-compatible 127.0.0.1, hex spelling
    '4000::1',
    '5f00::1', // segment routing
    // Unparseable: fail closed
    '',
    'localhost',
    'example.com',
    '127.1',
    '2130706433',
    '0x7f.0.0.1',
    '010.0.0.1',
    '256.1.1.1',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:8:9',
    '::ffff:999.0.0.1',
  ];
  const allowed = [
    '1.1.1.1',
    '8.8.8.8',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.1',
    '192.167.1.1',
    '198.17.255.255',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '[2606:4700:4700::1111]',
    '2a00:1450:4001:80b::200e',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
    '64:ff9b::808:808', // NAT64 to a public address: ipaddr.js gives every NAT64 address one name
  ];
  it.each(forbidden)('refuses %s', (ip) => expect(isForbiddenAddress(ip)).toBe(true));
  it.each(allowed)('allows %s', (ip) => expect(isForbiddenAddress(ip)).toBe(false));
});

describe('parseIPv6', () => {
  it.each([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['1:2:3:4:5:6:7::', [1, 2, 3, 4, 5, 6, 7, 0]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]],
    ['1:2:3:4:5:6:1.2.3.4', [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]],
  ])('parses %s', (text, groups) => expect(parseIPv6(text)).toEqual(groups));

  it.each(['', ':', ':::', '1:::2', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7', '::1.2.3'])(
    'rejects %s',
    (text) => expect(parseIPv6(text)).toBeNull(),
  );

  it('recognises literals', () => {
    expect(isIPLiteral('[::1]')).toBe(true);
    expect(isIPLiteral('10.0.0.1')).toBe(true);
    expect(isIPLiteral('registry.local')).toBe(false);
  });
});

describe('parseHostPort', () => {
  it.each([
    ['registry-1.docker.io', 'registry-1.docker.io', ''],
    ['Registry.Example.COM:5000', 'registry.example.com', '5000'],
    ['10.0.0.1:443', '10.0.0.1', '443'],
    ['[::1]:5000', '[::1]', '5000'],
    ['[0:0::1]', '[::1]', ''],
    ['localhost', 'localhost', ''],
    ['a.b-c.d', 'a.b-c.d', ''],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example', ''],
    ['xn--p1ai', 'xn--p1ai', ''],
    ['xn--fiqs8s.example:443', 'xn--fiqs8s.example', '443'],
  ])('accepts %s', (input, host, port) => {
    expect(parseHostPort(input)).toMatchObject({ host, port });
  });

  // Punycode judged by our own decoder, whatever this runtime's URL parser accepts (workerd's
  // took `xn--zz`): it must decode, hold non-ASCII, and fold to nothing else.
  it.each([
    ['xn--zz', 'does not decode'],
    ['xn--zz.example', 'does not decode'],
    ['a.xn--zz', 'does not decode'],
    ['xn--ocalhost-in2e', '"ⓛocalhost", which folds to "localhost"'],
    ['xn--er-kva.example', '"eŸr", an upper-case letter'],
    ['xn--a', 'U+0080, a control character'],
    ['xn--abc-', '"abc", no non-ASCII at all'],
    ['xn---', 'nothing'],
  ])('refuses the punycode host %s (%s)', (input) => {
    expect(parseHostPort(input)).toBeNull();
  });

  it('decodes punycode as RFC 3492 says', () => {
    expect(decodePunycode('bcher-kva')).toBe('bücher');
    expect(decodePunycode('ocalhost-in2e')).toBe('ⓛocalhost');
    expect(decodePunycode('ls8h')).toBe('\u{1f4a9}');
    expect(decodePunycode('zz')).toBeNull();
    expect(decodePunycode('a-é')).toBeNull();
  });

  it.each([
    '',
    ':5000',
    'user@host',
    'host:',
    'host:0',
    'host:65536',
    'host:080',
    'host:+80',
    'host:1:2',
    '-host',
    'host-.com',
    'ho_st',
    'host..com',
    'exa mple.com',
    '127.1',
    '2130706433',
    '0x7f.0.0.1',
    'a.0x10',
    '010.0.0.1',
    '[::1',
    '[::1]x',
    '[fe80::1%25eth0]',
    '::1',
    'ex\u00e4mple.com',
    'a'.repeat(64) + '.com',
    // Punycode that does not decode: the URL parser refuses it (found by the fuzzer).
    'xn--er-kva.example',
    'xn--a.com',
  ])('rejects %j', (input) => expect(parseHostPort(input)).toBeNull());
});

describe('insecure registries', () => {
  it('parses a comma list, trimming and normalising', () => {
    expect(parseInsecureList(' Registry.local:5000, ,10.0.0.5,[::1]:5001 ')).toEqual([
      'registry.local:5000',
      '10.0.0.5',
      '[::1]:5001',
    ]);
    expect(parseInsecureList(undefined)).toEqual([]);
    expect(parseInsecureList(['a:1'])).toEqual(['a:1']);
  });

  it.each(['http://registry.local:5000', 'registry.local:abc', 'user@host'])(
    'throws on %s',
    (entry) => expect(() => parseInsecureList(entry)).toThrow(/BERTH_INSECURE_REGISTRIES/),
  );

  const list = ['registry.local:5000', '10.0.0.5', '[::1]:5001'];
  it.each([
    ['registry.local:5000', true],
    ['REGISTRY.local:5000', true],
    ['registry.local:5001', false],
    ['registry.local', false],
    ['10.0.0.5', true],
    ['10.0.0.5:1234', true], // entry without port: any port
    ['10.0.0.6', false],
    ['[::1]:5001', true],
    ['[0::1]:5001', true],
    ['[::1]:5000', false],
    ['not a host', false],
  ])('%s listed: %s', (hostPort, expected) => {
    expect(isInsecureHost(hostPort, list)).toBe(expected);
  });
});

describe('parseProxyPath', () => {
  it('splits host, path and query', () => {
    const r = parseProxyPath('/proxy/registry-1.docker.io/v2/library/alpine/manifests/3.20?x=1');
    expect(r).toEqual({
      ok: true,
      target: {
        host: 'registry-1.docker.io',
        hostname: 'registry-1.docker.io',
        port: '',
        path: '/v2/library/alpine/manifests/3.20',
        query: '?x=1',
      },
    });
  });

  it('handles IPv6 with port and custom mounts', () => {
    const r = parseProxyPath('/p/[::1]:5000/v2/', '/p');
    expect(r.ok && r.target).toMatchObject({ host: '[::1]', hostname: '::1', port: '5000' });
  });

  it.each([
    ['/proxy/auth.docker.io/token?scope=repository:a/b:pull&service=x', true],
    ['/proxy/ghcr.io/v2/o/r/blobs/sha256:abc', true],
    ['/proxy/ghcr.io/v2/o/r/blobs/sha256%3Aabc', true],
    ['/proxy/ghcr.io/v2/', true],
    ['/proxy/ghcr.io/', true],
    ['/other/ghcr.io/v2/', false],
    ['/proxy', false],
    ['/proxy/', false],
    ['/proxy//v2/', false],
    ['/proxy/ghcr.io', false],
    ['/proxy/user@ghcr.io/v2/', false],
    ['/proxy/user:pw@ghcr.io/v2/', false],
    ['/proxy/ghcr.io:99999/v2/', false],
    ['/proxy/ghcr.io:0/v2/', false],
    ['/proxy/ghcr.io/v2/../x', false],
    ['/proxy/ghcr.io/v2/./x', false],
    ['/proxy/ghcr.io/v2/%2e%2e/x', false],
    ['/proxy/ghcr.io/v2/.%2E/x', false],
    ['/proxy/ghcr.io/v2/a%2fb', false],
    ['/proxy/ghcr.io/v2/a%2Fb', false],
    ['/proxy/ghcr.io/v2/a%5cb', false],
    ['/proxy/ghcr.io/v2/a%252fb', false],
    ['/proxy/ghcr.io/v2/a%00', false],
    ['/proxy/ghcr.io/v2/a%zz', false],
    ['/proxy/ghcr.io/v2/a%', false],
    ['/proxy/ghcr.io/v2//x', false],
    ['/proxy/ghcr.io/v2/a\\b', false],
    ['/proxy/ghcr.io/v2/a b', false],
    ['/proxy/ghcr.io/v2/\u00e4', false],
    ['/proxy/127.1/v2/', false],
    ['/proxy/[fe80::1%25eth0]/v2/', false],
    // A fragment in the query would be cut off upstream (found by the fuzzer).
    ['/proxy/localhost:5000/v2/a/tags/list?#n=100&last=x', false],
    ['/proxy/ghcr.io/v2/?/#v2/', false],
  ])('%s -> ok=%s', (input, ok) => {
    expect(parseProxyPath(input).ok).toBe(ok);
  });

  it('explains refusals', () => {
    expect(parseProxyPath('/proxy/a@b/v2/')).toEqual({
      ok: false,
      reason: 'userinfo is not allowed in host',
    });
    expect(pathProblem('/v2/../x')).toMatch(/dot segments/);
    expect(pathProblem('/v2/a%2fb')).toMatch(/%2f/);
    expect(pathProblem('/v2/')).toBeNull();
  });
});

describe('isRegistryApiPath', () => {
  it.each([
    ['/v2/', true],
    ['/v2/library/alpine/tags/list', true],
    ['/v2', false],
    ['/v2x/', false],
    ['/token', false],
    ['/', false],
  ])('%s -> %s', (path, expected) => expect(isRegistryApiPath(path)).toBe(expected));
});

const SHA256 = `sha256:${'a1'.repeat(32)}`;
const SHA512 = `sha512:${'0f'.repeat(64)}`;

describe('parseRegistryRoute', () => {
  it.each([
    ['/v2/', { kind: 'base' }],
    ['/v2/alpine/manifests/3.20', { kind: 'manifest', name: 'alpine', reference: '3.20' }],
    ['/v2/library/alpine/manifests/latest', { kind: 'manifest', name: 'library/alpine' }],
    [`/v2/a/manifests/${SHA256}`, { kind: 'manifest', reference: SHA256 }],
    [`/v2/a/manifests/_T.a-g${'x'.repeat(122)}`, { kind: 'manifest' }], // 128 characters
    [`/v2/a/b/c/blobs/${SHA512}`, { kind: 'blob', name: 'a/b/c', digest: SHA512 }],
    ['/v2/a.b_c__d---e/f/tags/list', { kind: 'tags', name: 'a.b_c__d---e/f' }],
    [`/v2/o/r/referrers/${SHA256}`, { kind: 'referrers', name: 'o/r', digest: SHA256 }],
    ['/v2/_catalog', { kind: 'catalog' }],
    // Route words are ordinary name components elsewhere in the name.
    ['/v2/blobs/manifests/manifests/v1', { kind: 'manifest', name: 'blobs/manifests' }],
  ])('accepts %s', (path, route) => {
    const r = parseRegistryRoute(path);
    expect(r.ok && r.route).toMatchObject(route);
  });

  it.each([
    ['/v2', /base is \/v2\/, with a slash/, false],
    ['/v2/Library/manifests/x', /invalid repository name component "Library"/, false],
    ['/v2/a-/manifests/x', /component "a-"/, false],
    ['/v2/a/_b/manifests/x', /component "_b"/, false],
    ['/v2/a.-b/manifests/x', /component "a.-b"/, false],
    ['/v2/a___b/manifests/x', /component "a___b"/, false],
    [`/v2/${'a/'.repeat(129)}manifests/x`, /longer than 255/, false],
    ['/v2/a/manifests/.x', /invalid tag ".x"/, false],
    ['/v2/a/manifests/-x', /invalid tag/, false],
    [`/v2/a/manifests/${'x'.repeat(129)}`, /invalid tag/, false],
    ['/v2/a/manifests/', /invalid tag ""/, false],
    ['/v2/a/manifests/sha256:abc', /invalid digest "sha256:abc"/, false],
    [`/v2/a/blobs/${SHA256.toUpperCase()}`, /invalid digest/, false],
    [`/v2/a/blobs/sha256:${'A1'.repeat(32)}`, /invalid digest/, false],
    [`/v2/a/blobs/md5:${'a'.repeat(32)}`, /invalid digest/, false],
    [`/v2/a/blobs/sha512:${'a'.repeat(64)}`, /invalid digest/, false],
    ['/v2/a/referrers/latest', /invalid digest "latest"/, false],
    [`/v2/a/blobs/uploads/`, /unknown registry API route/, true],
    ['/v2/a/tags/list/', /unknown registry API route/, true],
    ['/v2/a/tags', /unknown registry API route/, true],
    ['/v2/_catalog/', /unknown registry API route/, true],
    ['/v2/auth', /unknown registry API route/, true],
    [`/v2/manifests/${SHA256}`, /unknown registry API route/, true],
  ])('refuses %s, naming what is wrong', (path, reason, unknown) => {
    const r = parseRegistryRoute(path);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.unknown).toBe(unknown);
    }
  });
});

describe('catalogQueryProblem', () => {
  it.each(['', '?', '?n=100', '?last=a/b&n=10', '?n=10&last=library%2Falpine', '?last=', '?n='])(
    'accepts %j',
    (query) => expect(catalogQueryProblem(query)).toBeNull(),
  );

  it.each([
    ['?n=1&scope=x', /"scope" is not forwarded to \/v2\/_catalog: only n and last are/],
    ['?N=1', /"N" is not forwarded/],
    ['?n=1&n=2', /n is given twice/],
    ['?last=a&last=b', /last is given twice/],
    ['?n=-1', /n must be a number/],
    ['?n=1e3', /n must be a number/],
    ['?n=1&', /"" is not forwarded/],
    ['?last=a b', /characters that are not allowed/],
    ['?last=a%zz', /malformed percent-encoding/],
  ])('refuses %j', (query, reason) => expect(catalogQueryProblem(query)).toMatch(reason));
});

describe('path decoding', () => {
  it.each([
    ['/v2/a%2Fb', /encoded slash %2f/],
    ['/v2/%2E%2E/x', /encoded dot %2e/],
    ['/v2/a%5cb', /encoded backslash %5c/],
    ['/v2/a%2541', /encoded percent sign/],
    ['/v2/a%40b', /encoded '@' %40/],
    ['/v2/a@b', /'@' is not allowed/],
    ['/v2/a%3fb', /encoded question mark/],
    ['/v2/a%23b', /encoded fragment marker/],
    ['/v2/a#b', /fragments/],
    ['/v2/a%0ab', /encoded control character %0a/],
    ['/v2/a%7f', /encoded control character %7f/],
    ['/v2/a\tb', /control characters/],
    ['/v2/a%20b', /encoded character " " %20/],
    ['/v2/%c3%a4', /non-ASCII/],
    ['/v2/a\\b', /backslashes/],
  ])('refuses %j', (path, reason) => expect(pathProblem(path)).toMatch(reason));

  it('decodes once, to the very path that is checked and forwarded', () => {
    const r = parseProxyPath('/proxy/ghcr.io/v2/libr%61ry/x/blobs/sha256%3Aabc?n=1');
    expect(r.ok && r.target.path).toBe('/v2/library/x/blobs/sha256:abc');
    expect(r.ok && r.target.query).toBe('?n=1');
    // Nothing left to decode: a second pass is the identity.
    expect(decodePath('/v2/library/x/blobs/sha256:abc')).toBe('/v2/library/x/blobs/sha256:abc');
    const url = new URL(`https://ghcr.io${r.ok ? r.target.path : ''}`);
    expect(url.pathname).toBe('/v2/library/x/blobs/sha256:abc');
  });
});
