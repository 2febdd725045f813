// The one reader of foreign JSON: bounded in size and depth before anything recursive sees it.
import { describe, expect, test } from 'vitest';
import { JsonError, jsonDepth, maxJsonDepth, parseJsonBounded } from '../../src/lib/json.ts';

const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels);
const enc = (s: string) => new TextEncoder().encode(s);

describe('jsonDepth', () => {
  const cases: { name: string; text: string; want: number }[] = [
    { name: 'a scalar', text: '1', want: 0 },
    { name: 'an empty object', text: '{}', want: 1 },
    { name: 'siblings do not add up', text: '[[1],[2],{"a":[3]}]', want: 3 },
    { name: 'brackets in a string', text: '["[[[{{{"]', want: 1 },
    { name: 'an escaped quote keeps the string open', text: '["\\"[[["]', want: 1 },
    { name: 'an escaped backslash closes it', text: '["\\\\",[[1]]]', want: 3 },
    { name: 'a key with brackets', text: '{"{[":{"]}":1}}', want: 2 },
    { name: '100,000 levels', text: nested(100_000), want: 100_000 },
  ];
  test.each(cases)('$name', ({ text, want }) => {
    expect(jsonDepth(text), `jsonDepth(${text.slice(0, 40)})`).toBe(want);
  });
});

describe('parseJsonBounded', () => {
  const bounds = { what: 'the thing', maxBytes: 1 << 20 };

  test('parses what is within both bounds, at the depth limit included', () => {
    expect(parseJsonBounded(enc('{"a":[1,"x"]}'), bounds)).toEqual({ a: [1, 'x'] });
    expect(() => parseJsonBounded(nested(maxJsonDepth), bounds)).not.toThrow();
  });

  const refusals: { name: string; input: Uint8Array | string; kind: string; message: string }[] = [
    {
      name: 'one level too deep',
      input: nested(maxJsonDepth + 1),
      kind: 'depth',
      message: `the thing nests ${maxJsonDepth + 1} levels deep; Berth reads at most ${maxJsonDepth}`,
    },
    {
      name: '100,000 levels',
      input: enc(nested(100_000)),
      kind: 'depth',
      message: `the thing nests 100000 levels deep; Berth reads at most ${maxJsonDepth}`,
    },
    {
      name: 'too many bytes',
      input: enc(`"${'x'.repeat(1 << 20)}"`),
      kind: 'size',
      message: `the thing is ${(1 << 20) + 2} bytes; Berth reads at most ${1 << 20} bytes`,
    },
    {
      name: 'too many characters',
      input: `"${'x'.repeat(1 << 20)}"`,
      kind: 'size',
      message: `the thing is ${(1 << 20) + 2} characters; Berth reads at most ${1 << 20} characters`,
    },
    {
      name: 'not UTF-8',
      input: new Uint8Array([0x7b, 0xff, 0x7d]),
      kind: 'encoding',
      message: 'the thing is not JSON: it is not even UTF-8 text',
    },
    {
      name: 'empty',
      input: '',
      kind: 'syntax',
      message: 'the thing is not JSON (the body is empty)',
    },
    {
      name: 'a web page',
      input: '<html>',
      kind: 'syntax',
      message:
        'the thing is not JSON (it looks like an HTML page, so something between Berth and the server answered instead)',
    },
  ];
  test.each(refusals)('refuses $name', ({ input, kind, message }) => {
    let err: unknown;
    try {
      parseJsonBounded(input, bounds);
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(JsonError);
    expect((err as JsonError).kind).toBe(kind);
    expect((err as Error).message).toBe(message);
  });

  test('a smaller depth bound is honoured', () => {
    expect(() => parseJsonBounded('[[1]]', { ...bounds, maxDepth: 1 })).toThrow(
      'the thing nests 2 levels deep; Berth reads at most 1',
    );
  });
});
