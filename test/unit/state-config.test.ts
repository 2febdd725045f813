// What the image summary shows of a config: lists capped with a count of what is left out, and
// values kept as the image wrote them for the view to show with their invisible characters
// escaped.
import { describe, expect, test } from 'vitest';
import {
  clipText,
  configFacts,
  historyText,
  listed,
  maxListed,
  maxShownChars,
  moreText,
} from '../../src/state/config.ts';
import { controlParts } from '../../src/lib/layers/view.ts';

describe('configFacts', () => {
  test('an empty config reads as Docker would run it', () => {
    expect(configFacts(undefined)).toEqual({
      entrypoint: '—',
      cmd: '—',
      workingDir: '/',
      user: 'root (default)',
      ports: { items: [], more: 0 },
      env: { items: [], more: 0 },
      labels: { items: [], more: 0 },
    });
  });

  test('fields as people read them', () => {
    const got = configFacts({
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: null,
      WorkingDir: '/app',
      User: '1000:1000',
      ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
      Env: ['PATH=/bin'],
      Labels: { a: '1' },
    });
    expect(got.entrypoint).toBe('["/bin/sh","-c"]');
    expect(got.cmd).toBe('—');
    expect(got.workingDir).toBe('/app');
    expect(got.user).toBe('1000:1000');
    expect(got.ports.items).toEqual(['80/tcp', '443/tcp']);
    expect(got.env.items).toEqual(['PATH=/bin']);
    expect(got.labels.items).toContain('a=1');
  });

  test('a label keyed __proto__ is shown like any other', () => {
    const labels = JSON.parse('{"__proto__":"x","b":"2"}') as Record<string, string>;
    expect(configFacts({ Labels: labels }).labels.items).toEqual(['__proto__=x', 'b=2']);
  });

  test('an env value with U+202E and a newline keeps them, for the view to escape', () => {
    const env = configFacts({ Env: ['A=x\u202Eexe.txt\nB=spoof'] }).env.items[0]!;
    expect(controlParts(env)).toEqual([
      ['A=x', false],
      ['\\u202E', true],
      ['exe.txt', false],
      ['\\n', true],
      ['B=spoof', false],
    ]);
  });

  test('100,000 labels and env entries: the first maxListed of each, and how many more', () => {
    const n = 100_000;
    const env = Array.from({ length: n }, (_, i) => `V${i}=${i}`);
    const labels = Object.fromEntries(env.map((e) => e.split('=')));
    const got = configFacts({ Env: env, Labels: labels });
    expect(got.env.items).toHaveLength(maxListed);
    expect(got.env.more).toBe(n - maxListed);
    expect(got.labels.items).toHaveLength(maxListed);
    expect(got.labels.more).toBe(n - maxListed);
    expect(moreText(got.env.more)).toBe(`${n - maxListed} more not shown`);
  });

  test('a megabyte value is cut, saying how much is left out', () => {
    const got = configFacts({ User: 'u'.repeat(1 << 20) }).user;
    expect(got).toBe(`${'u'.repeat(maxShownChars)}…(${(1 << 20) - maxShownChars} more characters)`);
  });
});

describe('listed, clipText, moreText, historyText', () => {
  test('listed', () => {
    expect(listed([1, 2, 3], 2)).toEqual({ items: [1, 2], more: 1 });
    expect(listed([1, 2], 2)).toEqual({ items: [1, 2], more: 0 });
    expect(listed([], 2)).toEqual({ items: [], more: 0 });
  });

  test('clipText never splits a surrogate pair', () => {
    expect(clipText('ab', 2)).toBe('ab');
    expect(clipText('a😀b', 2)).toBe('a…(3 more characters)');
    expect(clipText('a😀b', 3)).toBe('a😀…(1 more characters)');
  });

  test('moreText is empty when nothing is left out', () => {
    expect(moreText(0)).toBe('');
    expect(moreText(1)).toBe('1 more not shown');
  });

  test('historyText: the command, else the comment', () => {
    expect(historyText({ entry: { created_by: 'RUN x', comment: 'c' } })).toBe('RUN x');
    expect(historyText({ entry: { comment: 'c' } })).toBe('c');
    expect(historyText({ entry: {} })).toBe('');
  });
});
