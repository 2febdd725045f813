// Human-readable figures: relative times with their exact value beside, pinned references, and
// how the page reaches registries in direct mode.
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  layerSteps,
  shortStep,
  bytesTitle,
  formatAge,
  formatBytes,
  formatId,
  formatTime,
  maxTimeMs,
  parseTime,
  pinnedReference,
  platformLabel,
  timeView,
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

describe('numbers from an image at their limits', () => {
  const now = Date.UTC(2026, 11, 5, 12, 0, 0);

  const times: {
    name: string;
    at: number | string;
    unit?: 'ms' | 's';
    want: Partial<ReturnType<typeof timeView>>;
  }[] = [
    {
      name: 'a tar mtime of 1e13 s',
      at: 1e13,
      unit: 's',
      want: { text: 'out of range (10000000000000 s)' },
    },
    {
      name: 'NaN',
      at: Number.NaN,
      want: { text: 'out of range (NaN ms)', title: 'out of range (NaN ms): not a number' },
    },
    {
      name: 'Infinity',
      at: Number.POSITIVE_INFINITY,
      want: { text: 'out of range (Infinity ms)' },
    },
    {
      name: 'one past the last Date',
      at: maxTimeMs + 1,
      want: { text: 'out of range (8640000000000001 ms)' },
    },
    {
      name: '2^53 seconds',
      at: 2 ** 53,
      unit: 's',
      want: { text: 'out of range (9007199254740992 s)' },
    },
    { name: 'the last Date', at: maxTimeMs, want: { datetime: '+275760-09-13T00:00:00.000Z' } },
    {
      name: 'a negative mtime, before 1970',
      at: -86400,
      unit: 's',
      want: { datetime: '1969-12-31T00:00:00.000Z', text: '57 years ago' },
    },
    { name: 'zero', at: 0, unit: 's', want: { datetime: '1970-01-01T00:00:00.000Z' } },
    {
      name: 'RFC 3339 text',
      at: '2026-12-05T11:00:00Z',
      want: { text: '1 h ago', datetime: '2026-12-05T11:00:00.000Z' },
    },
    {
      name: 'text that is no timestamp, with a bidi override and a newline',
      at: 'soon\u202E\nlater',
      want: {
        text: 'soon\\u202E\\nlater',
        title: 'not a timestamp Berth can read',
      },
    },
    {
      name: 'a year past what a Date holds',
      at: '+275761-01-01T00:00:00Z',
      want: { text: '+275761-01-01T00:00:00Z' },
    },
  ];
  test.each(times)('timeView: $name', ({ at, unit, want }) => {
    const got = timeView(at, unit, now);
    expect(got, `timeView(${String(at)}, ${unit})`).toMatchObject(want);
    if (!('datetime' in want)) expect(got.datetime).toBeUndefined();
    expect(got.text).not.toBe('');
  });

  test('formatAge and formatTime are total', () => {
    for (const t of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e16, -1e16]) {
      expect(formatAge(t, now), `formatAge(${t})`).toBe('out of range');
      expect(formatTime(t), `formatTime(${t})`).toBe('');
    }
  });

  const sizes: [number, string, string][] = [
    [0, '0 B', '0 bytes'],
    [999.5, '1000 B', '999.5 bytes'],
    [1234, '1.23 kB', '1234 bytes'],
    [1e15, '1.00 PB', '1000000000000000 bytes'],
    [2 ** 53 - 1, '9.01 PB', '9007199254740991 bytes'],
    [2 ** 53 + 2, '9.01 PB', 'about 9007199254740994 bytes (past 2^53, not exact)'],
    [1e18, '1.00 EB', 'about 1000000000000000000 bytes (past 2^53, not exact)'],
    [-1, 'out of range (-1 B)', 'out of range (-1 bytes)'],
    [Number.NaN, '–', 'out of range (NaN bytes)'],
    [Number.POSITIVE_INFINITY, '–', 'out of range (Infinity bytes)'],
  ];
  test.each(sizes)('formatBytes(%d) = %j, bytesTitle = %j', (n, bytes, title) => {
    expect(formatBytes(n)).toBe(bytes);
    expect(bytesTitle(n)).toBe(title);
  });

  const ids: [number, string][] = [
    [0, '0'],
    [65534, '65534'],
    [2 ** 53 - 1, '9007199254740991'],
    [2 ** 53, 'out of range (9007199254740992)'],
    [-1, 'out of range (-1)'],
    [Number.NaN, 'out of range (NaN)'],
    [1.5, 'out of range (1.5)'],
  ];
  test.each(ids)('formatId(%d) = %j', (n, want) => expect(formatId(n)).toBe(want));
});

describe('history steps as the cards show them', () => {
  test('each layer gets the command of the step that made it, or its comment', () => {
    const steps = layerSteps([
      { entry: { created_by: 'ARG X' } },
      { entry: { created_by: '/bin/sh -c #(nop) ADD file:1 in / ' }, layerIndex: 0 },
      { entry: { comment: 'buildkit.dockerfile.v0' }, layerIndex: 1 },
    ]);
    expect([...steps]).toEqual([
      [0, '/bin/sh -c #(nop) ADD file:1 in / '],
      [1, 'buildkit.dockerfile.v0'],
    ]);
  });
  test('the shell goes, the command stays, cut at the length asked', () => {
    expect(shortStep('/bin/sh -c #(nop) ADD file:1 in / ')).toBe('ADD file:1 in /');
    expect(shortStep('RUN /bin/sh -c apt-get update')).toBe('RUN apt-get update');
    expect(shortStep('RUN |1 A=b /bin/sh -c make')).toBe('RUN |1 A=b /bin/sh -c make');
    expect(shortStep('x'.repeat(100), 10)).toBe('x'.repeat(9) + '…');
    expect(shortStep('x'.repeat(48))).toBe('x'.repeat(48));
  });
});
