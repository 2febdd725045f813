import { describe, expect, test } from 'vitest';
import { errorFromResponse, waitText, parseRetryAfter } from '../../src/lib/registry/errors.ts';

const body = (errors: unknown) => JSON.stringify({ errors });

describe('errorFromResponse', () => {
  const cases = [
    {
      name: 'unknown manifest',
      status: 404,
      body: body([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }]),
      kind: 'not-found',
      message: /manifest unknown \(MANIFEST_UNKNOWN\).*Check the repository name/,
    },
    {
      name: 'unknown repository',
      status: 404,
      body: body([{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }]),
      kind: 'not-found',
      message: /NAME_UNKNOWN/,
    },
    {
      name: 'unauthorized',
      status: 401,
      body: body([{ code: 'UNAUTHORIZED', message: 'authentication required' }]),
      kind: 'unauthorized',
      message: /needs credentials/,
    },
    {
      name: 'denied',
      status: 403,
      body: body([{ code: 'DENIED', message: 'requested access to the resource is denied' }]),
      kind: 'denied',
      message: /not allowed/,
    },
    {
      name: 'rate limited with Retry-After',
      status: 429,
      body: body([{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }]),
      headers: { 'Retry-After': '360' },
      kind: 'rate-limited',
      message:
        /^Rate limit reached: retry in 6 min, or sign in for a higher limit\. reg\/repo:tag: .*pull rate limit/,
    },
    {
      name: 'proxy refusal',
      status: 403,
      body: body([
        {
          code: 'BERTH_PROXY_DENIED',
          message: '10.0.0.1 is a private address. Add it to BERTH_INSECURE_REGISTRIES.',
        },
      ]),
      kind: 'proxy-denied',
      message: /^[^]*private address\. Add it to BERTH_INSECURE_REGISTRIES\.$/,
    },
    {
      name: 'proxy could not connect',
      status: 502,
      body: body([{ code: 'BERTH_UPSTREAM_UNREACHABLE', message: 'connection refused' }]),
      kind: 'unreachable',
      message: /connection refused/,
    },
    {
      name: 'html 500',
      status: 500,
      body: '<html>oops</html>',
      kind: 'server',
      message: /HTTP 500/,
    },
    { name: 'empty 400', status: 400, body: '', kind: 'protocol', message: /HTTP 400/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = new Response(c.body, { status: c.status, headers: c.headers ?? {} });
      const err = await errorFromResponse(res, 'reg/repo:tag');
      expect(err.kind, `kind of ${c.name}`).toBe(c.kind);
      expect(err.status).toBe(c.status);
      if (c.kind !== 'rate-limited') expect(err.message).toMatch(/^reg\/repo:tag: /);
      expect(err.message).toMatch(c.message);
    });
  }

  test('a Docker Hub rate limit says who, when and what to do, first', async () => {
    const res = new Response(
      body([{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }]),
      { status: 429, headers: { 'Retry-After': '360' } },
    );
    const err = await errorFromResponse(res, 'docker.io/library/alpine:3.20', 'docker.io');
    expect(err.message).toBe(
      'Docker Hub rate limit reached: retry in 6 min, or sign in for a higher limit. ' +
        'docker.io/library/alpine:3.20: You have reached your pull rate limit (TOOMANYREQUESTS).',
    );
    expect(err.retryAfterSeconds).toBe(360);
  });

  test('waitText rounds up, in the unit a person reads', () => {
    const cases: [number, string][] = [
      [0, '1 s'],
      [45, '45 s'],
      [60, '1 min'],
      [361, '7 min'],
      [5400, '2 h'],
    ];
    for (const [s, want] of cases) expect(waitText(s), `waitText(${s})`).toBe(want);
  });

  test('an error body nested too deep keeps no entries, so nothing deep is posted on', async () => {
    const detail = '['.repeat(5000) + ']'.repeat(5000);
    const body = `{"errors":[{"code":"DENIED","message":"no","detail":${detail}}]}`;
    const err = await errorFromResponse(new Response(body, { status: 403 }), 'x');
    expect(err.errors).toEqual([]);
    expect(() => structuredClone(err.errors)).not.toThrow();
  });

  test('an oversized error body is not read into memory', async () => {
    const huge = new Uint8Array(2 << 20).fill(0x20);
    const err = await errorFromResponse(new Response(huge, { status: 500 }), 'x');
    expect(err.errors).toEqual([]);
    expect(err.message).toContain('HTTP 500');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cases: [string | null, number | undefined][] = [
    ['120', 120],
    [' 7 ', 7],
    ['Thu, 01 Jan 2026 00:01:00 GMT', 60],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ];
  for (const [v, want] of cases) {
    test(`parseRetryAfter(${v})`, () => expect(parseRetryAfter(v, now)).toBe(want));
  }
});
