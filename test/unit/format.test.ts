// Human-readable figures: relative times with their exact value beside, pinned references, and
// how the page reaches registries in direct mode.
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  formatAge,
  formatTime,
  parseTime,
  pinnedReference,
  platformLabel,
} from '../../src/state/format.ts';
import { directTransport, isLoopbackHost } from '../../src/lib/registry/transport.ts';

describe('formatAge', () => {
  const now = Date.UTC(2026, 11, 5, 12, 0, 0);
  const ago = (ms: number) => now - ms;
  const s = 1000;
  const min = 60 * s;
  const h = 60 * min;
  const d = 24 * h;
  const cases: [number, string][] = [
    [ago(-5 * min), 'just now'],
    [ago(10 * s), 'just now'],
    [ago(5 * min), '5 min ago'],
    [ago(3 * h), '3 h ago'],
    [ago(d), 'yesterday'],
    [ago(12 * d), '12 days ago'],
    [ago(120 * d), '4 months ago'],
    [ago(400 * d), 'a year ago'],
    [ago(3 * 365 * d), '3 years ago'],
  ];
  for (const [then, want] of cases) {
    test(`${want}`, () => expect(formatAge(then, now), `formatAge(${then})`).toBe(want));
  }
});

describe('formatTime and parseTime', () => {
  test('the exact value carries the UTC instant', () => {
    expect(formatTime(Date.UTC(2024, 0, 2, 3, 4, 5))).toContain('2024-01-02T03:04:05.000Z');
    expect(formatTime(Number.NaN)).toBe('');
  });
  test('RFC 3339 text', () => {
    expect(parseTime('2024-01-02T03:04:05Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseTime('yesterday')).toBeNaN();
  });
});

describe('pinnedReference', () => {
  const d = `sha256:${'b'.repeat(64)}`;
  const cases: [string, string][] = [
    ['docker.io/library/alpine:3.20', `docker.io/library/alpine@${d}`],
    ['127.0.0.1:5000/team/app:v1', `127.0.0.1:5000/team/app@${d}`],
    [`ghcr.io/o/a@sha256:${'c'.repeat(64)}`, `ghcr.io/o/a@${d}`],
    ['alpine', `docker.io/library/alpine@${d}`],
  ];
  for (const [name, want] of cases) {
    test(name, () => expect(pinnedReference(name, d)).toBe(want));
  }
});

describe('directTransport', () => {
  afterEach(() => vi.unstubAllGlobals());

  test('loopback registries get plain http, others and token realms keep https', async () => {
    const seen: string[] = [];
    vi.stubGlobal('fetch', async (u: URL | string, init: RequestInit) => {
      seen.push(`${String(u)} ${init.credentials}`);
      return new Response('{}');
    });
    const t = directTransport();
    await t('https://127.0.0.1:5000/v2/', {}, '127.0.0.1:5000');
    await t('https://ghcr.io/v2/', {}, 'ghcr.io');
    await t('https://auth.example/token?scope=x', {}, '127.0.0.1:5000');
    expect(seen).toEqual([
      'http://127.0.0.1:5000/v2/ omit',
      'https://ghcr.io/v2/ omit',
      'https://auth.example/token?scope=x omit',
    ]);
  });

  test('isLoopbackHost', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.9.9.9:1', '[::1]:5000']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['ghcr.io', '10.0.0.1:5000', 'localhost.example.com', '[::2]']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});

describe('platformLabel', () => {
  test.each([
    ['all', 'all platforms'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/\u202earm64\n', 'linux/\\u202Earm64\\n'],
  ])('platformLabel(%j) = %j', (choice, want) => {
    expect(platformLabel(choice)).toBe(want);
  });
});
