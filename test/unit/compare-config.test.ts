// Two image configs compared field by field: every ConfigField, and the shapes a config may
// have when it is someone else's JSON (absent, null, empty, of the wrong type).
import { describe, expect, test } from 'vitest';
import { compareConfigs, configFields, jsonEqual } from '../../src/lib/compare/config.ts';
import type { ConfigDiff } from '../../src/lib/compare/types.ts';

/** A config with these runtime fields (and top-level fields, when `top` is given). */
const cfg = (config: Record<string, unknown> | undefined, top: Record<string, unknown> = {}) => ({
  architecture: 'amd64',
  os: 'linux',
  ...top,
  ...(config !== undefined ? { config } : {}),
  rootfs: { type: 'layers', diff_ids: [] },
});

interface Case {
  name: string;
  a: unknown;
  b: unknown;
  want: ConfigDiff[];
}

const cases: Case[] = [
  // Env: by name, the last of a name counts, the whole entry is the value.
  {
    name: 'Env: added, removed and changed by name',
    a: cfg({ Env: ['PATH=/bin', 'A=1', 'GONE=x'] }),
    b: cfg({ Env: ['PATH=/bin', 'A=2', 'NEW=y'] }),
    want: [
      { field: 'Env', key: 'A', difference: 'changed', before: 'A=1', after: 'A=2' },
      { field: 'Env', key: 'GONE', difference: 'removed', before: 'GONE=x' },
      { field: 'Env', key: 'NEW', difference: 'added', after: 'NEW=y' },
    ],
  },
  {
    name: 'Env: a name set twice counts as its last value',
    a: cfg({ Env: ['A=1', 'A=2', 'B=1', 'B=2'] }),
    b: cfg({ Env: ['A=2', 'B=1'] }),
    want: [{ field: 'Env', key: 'B', difference: 'changed', before: 'B=2', after: 'B=1' }],
  },
  {
    name: 'Env: order does not matter',
    a: cfg({ Env: ['A=1', 'B=2'] }),
    b: cfg({ Env: ['B=2', 'A=1'] }),
    want: [],
  },
  {
    name: 'Env: a value holding = is split at the first one',
    a: cfg({ Env: ['OPTS=a=1'] }),
    b: cfg({ Env: ['OPTS=a=2'] }),
    want: [
      { field: 'Env', key: 'OPTS', difference: 'changed', before: 'OPTS=a=1', after: 'OPTS=a=2' },
    ],
  },
  {
    name: 'Env: a name without = differs from the same name set empty',
    a: cfg({ Env: ['A'] }),
    b: cfg({ Env: ['A='] }),
    want: [{ field: 'Env', key: 'A', difference: 'changed', before: 'A', after: 'A=' }],
  },
  {
    name: 'Env: absent, null and empty are the same',
    a: cfg({ Env: null }),
    b: cfg({ Env: [] }),
    want: [],
  },
  {
    name: 'Env: an entry that is not a string compares Env whole',
    a: cfg({ Env: ['A=1', 7] }),
    b: cfg({ Env: ['A=1'] }),
    want: [{ field: 'Env', difference: 'changed', before: ['A=1', 7], after: ['A=1'] }],
  },
  {
    name: 'Env: a string instead of an array compares Env whole',
    a: cfg({ Env: 'A=1' }),
    b: cfg({}),
    want: [{ field: 'Env', difference: 'removed', before: 'A=1' }],
  },
  // Labels: by key.
  {
    name: 'Labels: by key',
    a: cfg({ Labels: { keep: '1', change: 'a', gone: 'x' } }),
    b: cfg({ Labels: { keep: '1', change: 'b', new: 'y' } }),
    want: [
      { field: 'Labels', key: 'change', difference: 'changed', before: 'a', after: 'b' },
      { field: 'Labels', key: 'gone', difference: 'removed', before: 'x' },
      { field: 'Labels', key: 'new', difference: 'added', after: 'y' },
    ],
  },
  {
    name: 'Labels: absent, null and empty are the same',
    a: cfg({ Labels: null }),
    b: cfg({ Labels: {} }),
    want: [],
  },
  {
    name: 'Labels: an empty value is a value',
    a: cfg({}),
    b: cfg({ Labels: { empty: '' } }),
    want: [{ field: 'Labels', key: 'empty', difference: 'added', after: '' }],
  },
  {
    name: 'Labels: an array compares Labels whole',
    a: cfg({ Labels: ['a=1'] }),
    b: cfg({ Labels: { a: '1' } }),
    want: [{ field: 'Labels', difference: 'changed', before: ['a=1'], after: { a: '1' } }],
  },
  {
    name: 'Labels: keys that are Object.prototype names are plain keys',
    a: cfg({ Labels: JSON.parse('{"__proto__":"a","constructor":"c"}') as object }),
    b: cfg({ Labels: JSON.parse('{"__proto__":"b","toString":"t"}') as object }),
    want: [
      { field: 'Labels', key: '__proto__', difference: 'changed', before: 'a', after: 'b' },
      { field: 'Labels', key: 'constructor', difference: 'removed', before: 'c' },
      { field: 'Labels', key: 'toString', difference: 'added', after: 't' },
    ],
  },
  {
    name: 'Labels: a value that is not a string is compared deeply',
    a: cfg({ Labels: { x: { n: [1, 2] }, y: { n: 1 } } }),
    b: cfg({ Labels: { x: { n: [1, 2] }, y: { n: 2 } } }),
    want: [{ field: 'Labels', key: 'y', difference: 'changed', before: { n: 1 }, after: { n: 2 } }],
  },
  // ExposedPorts and Volumes: sets.
  {
    name: 'ExposedPorts: a set of ports; the values do not count',
    a: cfg({ ExposedPorts: { '80/tcp': {}, '53/udp': {} } }),
    b: cfg({ ExposedPorts: { '80/tcp': { odd: true }, '8080/tcp': {} } }),
    want: [
      { field: 'ExposedPorts', key: '53/udp', difference: 'removed', before: '53/udp' },
      { field: 'ExposedPorts', key: '8080/tcp', difference: 'added', after: '8080/tcp' },
    ],
  },
  {
    name: 'Volumes: a set of paths; absent, null and empty are the same',
    a: cfg({ Volumes: null }),
    b: cfg({ Volumes: { '/data': {} } }),
    want: [{ field: 'Volumes', key: '/data', difference: 'added', after: '/data' }],
  },
  {
    name: 'Volumes: an array compares Volumes whole',
    a: cfg({ Volumes: ['/data'] }),
    b: cfg({ Volumes: { '/data': {} } }),
    want: [{ field: 'Volumes', difference: 'changed', before: ['/data'], after: { '/data': {} } }],
  },
  // Whole values.
  {
    name: 'Cmd: arrays in order',
    a: cfg({ Cmd: ['a', 'b'] }),
    b: cfg({ Cmd: ['b', 'a'] }),
    want: [{ field: 'Cmd', difference: 'changed', before: ['a', 'b'], after: ['b', 'a'] }],
  },
  {
    name: 'Entrypoint: null and absent are the same',
    a: cfg({ Entrypoint: null }),
    b: cfg({}),
    want: [],
  },
  {
    name: 'Entrypoint: an empty array is not null',
    a: cfg({ Entrypoint: [] }),
    b: cfg({ Entrypoint: null }),
    want: [{ field: 'Entrypoint', difference: 'removed', before: [] }],
  },
  {
    name: 'Entrypoint: added',
    a: cfg({}),
    b: cfg({ Entrypoint: ['/init'] }),
    want: [{ field: 'Entrypoint', difference: 'added', after: ['/init'] }],
  },
  {
    name: 'Healthcheck: objects by key, whatever their order',
    a: cfg({ Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 3 } }),
    b: cfg({ Healthcheck: { Retries: 3, Interval: 1e9, Test: ['CMD', 'true'] } }),
    want: [],
  },
  {
    name: 'Healthcheck: one duration changed',
    a: cfg({ Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 } }),
    b: cfg({ Healthcheck: { Test: ['CMD', 'true'], Interval: 2e9 } }),
    want: [
      {
        field: 'Healthcheck',
        difference: 'changed',
        before: { Test: ['CMD', 'true'], Interval: 1e9 },
        after: { Test: ['CMD', 'true'], Interval: 2e9 },
      },
    ],
  },
  {
    name: 'Healthcheck: a key only on one side is a change',
    a: cfg({ Healthcheck: { Test: ['NONE'] } }),
    b: cfg({ Healthcheck: { Test: ['NONE'], Retries: 0 } }),
    want: [
      {
        field: 'Healthcheck',
        difference: 'changed',
        before: { Test: ['NONE'] },
        after: { Test: ['NONE'], Retries: 0 },
      },
    ],
  },
  {
    name: 'Shell and OnBuild: whole arrays',
    a: cfg({ Shell: ['/bin/sh', '-c'], OnBuild: ['RUN a'] }),
    b: cfg({ Shell: ['/bin/bash', '-c'], OnBuild: null }),
    want: [
      {
        field: 'Shell',
        difference: 'changed',
        before: ['/bin/sh', '-c'],
        after: ['/bin/bash', '-c'],
      },
      { field: 'OnBuild', difference: 'removed', before: ['RUN a'] },
    ],
  },
  {
    name: 'Cmd: a string instead of an array',
    a: cfg({ Cmd: 'echo hi' }),
    b: cfg({ Cmd: ['echo hi'] }),
    want: [{ field: 'Cmd', difference: 'changed', before: 'echo hi', after: ['echo hi'] }],
  },
  // Strings.
  {
    name: 'WorkingDir, User, StopSignal: strings',
    a: cfg({ WorkingDir: '/a', User: 'root', StopSignal: 'SIGTERM' }),
    b: cfg({ WorkingDir: '/b', User: '1000:1000', StopSignal: 'SIGTERM' }),
    want: [
      { field: 'WorkingDir', difference: 'changed', before: '/a', after: '/b' },
      { field: 'User', difference: 'changed', before: 'root', after: '1000:1000' },
    ],
  },
  {
    name: 'strings: empty, null and absent are the same (omitempty)',
    a: cfg({ WorkingDir: '', User: null }),
    b: cfg({ StopSignal: '' }),
    want: [],
  },
  {
    name: 'strings: a number is compared as a whole value',
    a: cfg({ User: 0 }),
    b: cfg({ User: '0' }),
    want: [{ field: 'User', difference: 'changed', before: 0, after: '0' }],
  },
  {
    name: 'platform and provenance: the top-level fields',
    a: cfg({}, { author: 'a', created: '2024-01-01T00:00:00Z' }),
    b: cfg(
      {},
      { architecture: 'arm64', variant: 'v8', os: 'linux', created: '2025-01-01T00:00:00Z' },
    ),
    want: [
      { field: 'architecture', difference: 'changed', before: 'amd64', after: 'arm64' },
      { field: 'variant', difference: 'added', after: 'v8' },
      { field: 'author', difference: 'removed', before: 'a' },
      {
        field: 'created',
        difference: 'changed',
        before: '2024-01-01T00:00:00Z',
        after: '2025-01-01T00:00:00Z',
      },
    ],
  },
  // Whole configs of odd shapes.
  {
    name: 'no config on either side',
    a: undefined,
    b: null,
    want: [],
  },
  {
    name: 'a config that is not an object reads as empty',
    a: cfg(['Env']),
    b: cfg({ Env: ['A=1'] }),
    want: [{ field: 'Env', key: 'A', difference: 'added', after: 'A=1' }],
  },
  {
    name: 'a whole config that is an array reads as empty',
    a: [1, 2],
    b: { os: 'linux' },
    want: [{ field: 'os', difference: 'added', after: 'linux' }],
  },
];

describe('compareConfigs', () => {
  test.each(cases)('$name', ({ a, b, want }) => {
    expect(compareConfigs(a, b), 'compareConfigs(a, b)').toEqual(want);
  });

  test.each(cases)('$name, the other way round', ({ a, b, want }) => {
    // b against a: added and removed swap, before and after swap.
    const swapped = want.map((d): ConfigDiff => {
      const difference =
        d.difference === 'added' ? 'removed' : d.difference === 'removed' ? 'added' : 'changed';
      return {
        field: d.field,
        ...(d.key !== undefined ? { key: d.key } : {}),
        difference,
        ...('after' in d ? { before: d.after } : {}),
        ...('before' in d ? { after: d.before } : {}),
      };
    });
    expect(compareConfigs(b, a), 'compareConfigs(b, a)').toEqual(swapped);
  });

  test('a config with itself has no differences', () => {
    for (const { a } of cases) expect(compareConfigs(a, a)).toEqual([]);
  });

  test('differences come in ConfigField order, keys in code-unit order', () => {
    const a = cfg({ Env: ['b=1', 'B=1', 'a=1'], Cmd: ['x'], User: 'u' }, { os: 'linux' });
    const b = cfg({ Env: ['b=2', 'B=2', 'a=2'], Cmd: ['y'], User: 'v' }, { os: 'windows' });
    const got = compareConfigs(a, b).map((d) => (d.key ? `${d.field}.${d.key}` : d.field));
    expect(got).toEqual(['Env.B', 'Env.a', 'Env.b', 'Cmd', 'User', 'os']);
  });

  test('every ConfigField is compared', () => {
    const valueOf = (field: string, side: number) =>
      ['Env'].includes(field)
        ? [`X=${side}`]
        : ['Labels', 'ExposedPorts', 'Volumes'].includes(field)
          ? { [`k${side}`]: {} }
          : `v${side}`;
    const topLevel = ['architecture', 'os', 'variant', 'author', 'created'];
    const side = (n: number) => {
      const run: Record<string, unknown> = {};
      const top: Record<string, unknown> = {};
      for (const f of configFields) (topLevel.includes(f) ? top : run)[f] = valueOf(f, n);
      return { ...top, config: run };
    };
    const seen = new Set(compareConfigs(side(1), side(2)).map((d) => d.field));
    expect([...seen].sort()).toEqual([...configFields].sort());
  });

  test('a deeply nested value neither overflows the stack nor throws', () => {
    let deep: unknown = 'x';
    let other: unknown = 'y';
    for (let i = 0; i < 50_000; i++) {
      deep = [deep];
      other = [other];
    }
    const got = compareConfigs(cfg({ Healthcheck: deep }), cfg({ Healthcheck: other }));
    expect(got.map((d) => d.difference)).toEqual(['changed']);
    expect(compareConfigs(cfg({ Healthcheck: deep }), cfg({ Healthcheck: deep }))).toEqual([]);
  });

  test('a cycle (not JSON, but not a reason to hang) compares as equal to itself', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(compareConfigs(cfg({ Healthcheck: loop }), cfg({ Healthcheck: loop }))).toEqual([]);
  });
});

describe('jsonEqual', () => {
  const cases: [unknown, unknown, boolean][] = [
    [1, 1, true],
    [1, '1', false],
    [null, undefined, false],
    [[], {}, false],
    [{}, [], false],
    [[1, [2]], [1, [2]], true],
    [[1, 2], [1, 2, 3], false],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [NaN, NaN, true],
  ];
  test.each(cases)('jsonEqual(%j, %j) = %s', (x, y, want) => {
    expect(jsonEqual(x, y)).toBe(want);
  });
});
