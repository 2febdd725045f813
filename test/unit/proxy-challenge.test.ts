import { describe, expect, it } from 'vitest';
import { bearerRealms } from '../../proxy/challenge.ts';
import { parseChallenges as parseWwwAuthenticate } from '../../src/lib/registry/challenge.ts';

describe('parseWwwAuthenticate', () => {
  it('parses Docker Hub style challenges', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        },
      },
    ]);
  });

  it('separates several challenges, including joined headers', () => {
    const c = parseWwwAuthenticate(
      'Basic realm="x", Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
    );
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[1]?.params.service).toBe('registry.docker.io');
  });

  it('keeps commas and escapes inside quoted strings', () => {
    const c = parseWwwAuthenticate(
      'Bearer realm="https://a.example/t,oken", scope="repository:x:pull,push", error="say \\"hi\\""',
    );
    expect(c).toHaveLength(1);
    expect(c[0]?.params).toEqual({
      realm: 'https://a.example/t,oken',
      scope: 'repository:x:pull,push',
      error: 'say "hi"',
    });
  });

  it('handles token68, bare schemes, odd spacing and case', () => {
    const c = parseWwwAuthenticate(
      'Negotiate abc+/==, NTLM,  bearer  REALM = "https://r.example/token" , Service=reg',
    );
    expect(c).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'abc+/==' },
      { scheme: 'ntlm', params: {} },
      { scheme: 'bearer', params: { realm: 'https://r.example/token', service: 'reg' } },
    ]);
  });

  it('accepts unquoted tokens and ignores repeated params', () => {
    expect(parseWwwAuthenticate('Bearer realm=https://x, realm="https://y"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://x' } },
    ]);
  });

  it('survives garbage', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate('"unterminated')).toEqual([]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated').at(0)?.params.realm).toBe(
      'unterminated',
    );
  });
});

describe('bearerRealms', () => {
  it('returns only Bearer realms', () => {
    expect(
      bearerRealms(
        'Basic realm="https://basic.example/", Bearer realm="https://a/token", Bearer realm="https://b/token"',
      ),
    ).toEqual(['https://a/token', 'https://b/token']);
    expect(bearerRealms(null)).toEqual([]);
    expect(bearerRealms('Basic realm="x"')).toEqual([]);
  });
});
