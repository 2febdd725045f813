// The defaults the issues name, pinned: changing one must be a decision, not an accident.
import { describe, expect, test } from 'vitest';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import type { Transport } from '../../src/lib/registry/transport.ts';
import { defaultSettings, loadSettings, proxyUrlProblem } from '../../src/state/settings.ts';

const ref = parseReference('registry.example/team/app:v1');

/** A transport that answers /v2/ with 200 and every other request with `status`, counting. */
function counting(status: number, headers: Record<string, string> = {}, body = '{}') {
  const calls: string[] = [];
  const transport: Transport = async (url) => {
    calls.push(url);
    if (new URL(url).pathname === '/v2/') return new Response('{}', { status: 200 });
    return new Response(body, { status, headers });
  };
  return { transport, calls };
}

describe('registry client defaults', () => {
  test('5 attempts for a 5xx by default', async () => {
    const { transport, calls } = counting(503);
    const client = new RegistryClient({ transport, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    await expect(client.resolve(ref)).rejects.toBeInstanceOf(RegistryError);
    expect(calls.filter((u) => u.includes('/manifests/'))).toHaveLength(5);
  });

  for (const status of [401, 403, 404]) {
    test(`no retry on ${status}`, async () => {
      const { transport, calls } = counting(status);
      const client = new RegistryClient({ transport, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
      await expect(client.resolve(ref)).rejects.toBeInstanceOf(RegistryError);
      expect(calls.filter((u) => u.includes('/manifests/'))).toHaveLength(1);
    });
  }

  test('a token answer over 1 MiB is refused with a clear error', async () => {
    const huge = `{"token":"${'x'.repeat(2 << 20)}"}`;
    const transport: Transport = async (url) => {
      const path = new URL(url).pathname;
      if (path !== '/token') {
        return new Response('{}', {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer realm="https://auth.example/token",service="x"' },
        });
      }
      return new Response(huge, { status: 200 });
    };
    const client = new RegistryClient({ transport, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    await expect(client.resolve(ref)).rejects.toThrow(
      /token server's answer is over 1048576 bytes/,
    );
  });
});

describe('token cache', () => {
  test('a registry that always asks for a wider scope costs one token, not one per request', async () => {
    const wide = 'repository:team/app:pull repository:team/base:pull';
    const tokens: string[] = [];
    const asked: string[] = [];
    let requests = 0;
    const transport: Transport = async (url, init) => {
      const u = new URL(url);
      const auth = new Headers(init.headers).get('Authorization');
      if (u.pathname !== '/token') requests++;
      if (u.pathname === '/token') {
        const scope = u.searchParams.getAll('scope').join(' ');
        tokens.push(scope);
        return Response.json({ token: `t-${scope}`, expires_in: 300 });
      }
      const challenge = (scope: string) => ({
        status: 401,
        headers: {
          'WWW-Authenticate': `Bearer realm="https://r.example/token",service="r",scope="${scope}"`,
        },
      });
      if (u.pathname === '/v2/') return new Response('{}', challenge('repository:team/app:pull'));
      // Only a token for the wide scope is good enough.
      if (auth !== `Bearer t-${wide}`) return new Response('{}', challenge(wide));
      asked.push(u.pathname);
      return new Response('{}', { status: 404 });
    };
    const client = new RegistryClient({ transport, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    for (let i = 0; i < 3; i++) {
      await expect(client.resolve(ref)).rejects.toMatchObject({ kind: 'not-found' });
    }
    // The first request's 401 names the wide scope: one token for it, then the cache, and
    // later requests carry it at once (no 401 each).
    expect(tokens).toEqual([wide]);
    expect(asked).toHaveLength(3);
    expect(requests, 'one 401, then every request authorised at once').toBe(4);
  });
});

describe('settings', () => {
  const cases: [string, string | null, object][] = [
    [
      'nothing stored',
      null,
      {
        parallel: 6,
        pieceMiB: 64,
        stallSeconds: 30,
        layerJobSeconds: 600,
        indexWhilePulling: true,
        proxy: '',
        direct: false,
        platform: '',
        theme: 'system',
      },
    ],
    ['garbage', '{not json', defaultSettings],
    ['not an object', '42', defaultSettings],
    [
      'values clamped',
      '{"parallel":99,"pieceMiB":0,"stallSeconds":-5,"layerJobSeconds":0}',
      { ...defaultSettings, parallel: 16, pieceMiB: 1, stallSeconds: 1, layerJobSeconds: 1 },
    ],
    ['wrong types ignored', '{"parallel":"4","direct":"yes","theme":7}', defaultSettings],
    ['a valid choice kept', '{"parallel":5}', { ...defaultSettings, parallel: 5 }],
    [
      'a proxy URL kept without its trailing slash',
      '{"proxy":"https://proxy.example.com/proxy/"}',
      { ...defaultSettings, proxy: 'https://proxy.example.com/proxy' },
    ],
    ['a proxy that is not http(s) dropped', '{"proxy":"javascript:alert(1)"}', defaultSettings],
    ['a proxy with credentials dropped', '{"proxy":"https://u:p@proxy.example"}', defaultSettings],
    ['direct mode', '{"direct":true}', { ...defaultSettings, direct: true }],
    [
      'listing layers while pulling turned off',
      '{"indexWhilePulling":false}',
      { ...defaultSettings, indexWhilePulling: false },
    ],
    [
      'a platform normalised',
      '{"platform":"linux/aarch64"}',
      { ...defaultSettings, platform: 'linux/arm64' },
    ],
    ['an unreadable platform dropped', '{"platform":"linux"}', defaultSettings],
    ['a theme kept', '{"theme":"dark"}', { ...defaultSettings, theme: 'dark' }],
    ['an unknown theme dropped', '{"theme":"blue"}', defaultSettings],
  ];
  for (const [name, stored, want] of cases) {
    test(name, () => {
      expect(loadSettings({ getItem: () => stored }), `loadSettings(${stored})`).toEqual(want);
    });
  }

  const problems: [string, RegExp | null][] = [
    ['', null],
    ['https://proxy.example.com/proxy', null],
    ['http://127.0.0.1:8787/proxy', null],
    ['proxy.example.com', /is not a URL/],
    ['ftp://proxy.example.com/', /not an http or https URL/],
    ['https://user:secret@proxy.example.com/', /must not carry a user name or password/],
    ['https://proxy.example.com/?token=1', /no query or fragment/],
  ];
  for (const [input, want] of problems) {
    test(`proxyUrlProblem(${JSON.stringify(input)})`, () => {
      const got = proxyUrlProblem(input);
      if (want === null) expect(got, `proxyUrlProblem(${input}) = ${got}, want null`).toBeNull();
      else expect(got).toMatch(want);
    });
  }
});
