import { describe, expect, test } from 'vitest';
import { parseChallenges } from '../../src/lib/registry/challenge.ts';

describe('parseChallenges', () => {
  const cases: { name: string; header: string; want: ReturnType<typeof parseChallenges> }[] = [
    {
      name: 'docker hub bearer',
      header:
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      want: [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/alpine:pull',
          },
        },
      ],
    },
    {
      name: 'basic then bearer in one header',
      header:
        'Basic realm="Registry Realm", Bearer realm="https://ghcr.io/token",service="ghcr.io"',
      want: [
        { scheme: 'basic', params: { realm: 'Registry Realm' } },
        { scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io' } },
      ],
    },
    {
      name: 'comma inside a quoted scope',
      header:
        'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:a/b:pull,push"',
      want: [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://quay.io/v2/auth',
            service: 'quay.io',
            scope: 'repository:a/b:pull,push',
          },
        },
      ],
    },
    {
      name: 'insufficient scope error param, unquoted values, odd spacing',
      header: 'bearer  realm=https://r.example/token , error=insufficient_scope',
      want: [
        {
          scheme: 'bearer',
          params: { realm: 'https://r.example/token', error: 'insufficient_scope' },
        },
      ],
    },
    {
      name: 'escaped quote',
      header: 'Basic realm="say \\"hi\\""',
      want: [{ scheme: 'basic', params: { realm: 'say "hi"' } }],
    },
    { name: 'empty', header: '', want: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(parseChallenges(c.header), `parseChallenges(${c.header})`).toEqual(c.want);
    });
  }
});
