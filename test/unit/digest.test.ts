import { describe, expect, test } from 'vitest';
import {
  InvalidDigestError,
  digestPath,
  isDigest,
  parseDigest,
  shortDigest,
} from '../../src/lib/oci/digest.ts';

const hex64 = 'a1b2c3d4e5f6' + '0'.repeat(52);
const hex128 = 'f'.repeat(128);

describe('parseDigest accepts', () => {
  const cases: { name: string; input: string; algorithm: string; hex: string }[] = [
    { name: 'sha256', input: `sha256:${hex64}`, algorithm: 'sha256', hex: hex64 },
    { name: 'sha512', input: `sha512:${hex128}`, algorithm: 'sha512', hex: hex128 },
    {
      name: 'sha256 of the empty string',
      input: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      algorithm: 'sha256',
      hex: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    },
  ];
  test.each(cases)('$name', ({ input, algorithm, hex }) => {
    const got = parseDigest(input);
    expect(got, `parseDigest(${input}) = ${JSON.stringify(got)}`).toEqual({ algorithm, hex });
    expect(isDigest(input), `isDigest(${input})`).toBe(true);
  });
});

describe('parseDigest rejects', () => {
  // why: a fragment the message must contain.
  const cases: { name: string; input: string; why: string }[] = [
    { name: 'empty', input: '', why: 'not of the form sha256:' },
    { name: 'no algorithm, 64 hex', input: hex64, why: `write it as sha256:${hex64}` },
    { name: 'no colon', input: 'sha256', why: 'not of the form' },
    { name: 'empty algorithm', input: `:${hex64}`, why: 'unsupported algorithm ""' },
    {
      name: 'unknown algorithm',
      input: `md5:${'0'.repeat(32)}`,
      why: 'unsupported algorithm "md5"',
    },
    { name: 'uppercase algorithm', input: `SHA256:${hex64}`, why: 'write it in lowercase' },
    { name: 'sha384', input: `sha384:${'0'.repeat(96)}`, why: 'sha256 and sha512' },
    { name: 'short sha256', input: 'sha256:abc', why: 'has 3 hex characters, want 64' },
    { name: 'long sha256', input: `sha256:${hex64}0`, why: 'has 65 hex characters, want 64' },
    { name: 'sha512 of sha256 length', input: `sha512:${hex64}`, why: 'want 128' },
    { name: 'empty hex', input: 'sha256:', why: 'has 0 hex characters' },
    { name: 'uppercase hex', input: `sha256:${hex64.toUpperCase()}`, why: 'hex must be lowercase' },
    { name: 'non-hex', input: `sha256:${'g'.repeat(64)}`, why: 'must be hexadecimal' },
    { name: 'path traversal', input: `sha256:../../${hex64}`, why: 'must be hexadecimal' },
    { name: 'second colon', input: `sha256:${hex64}:x`, why: 'must be hexadecimal' },
    { name: 'surrounding whitespace', input: ` sha256:${hex64}`, why: 'unsupported algorithm' },
    { name: 'trailing newline', input: `sha256:${hex64}\n`, why: 'must be hexadecimal' },
  ];
  test.each(cases)('$name', ({ input, why }) => {
    expect(isDigest(input), `isDigest(${JSON.stringify(input)})`).toBe(false);
    let err: unknown;
    try {
      const got = parseDigest(input);
      expect.fail(`parseDigest(${JSON.stringify(input)}) = ${JSON.stringify(got)}, want error`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidDigestError);
    const e = err as InvalidDigestError;
    expect(e.name).toBe('InvalidDigestError');
    expect(e.digest).toBe(input);
    expect(e.message, `parseDigest(${JSON.stringify(input)}) error`).toContain(why);
  });

  test('non-string input', () => {
    expect(() => parseDigest(42 as unknown as string)).toThrow(InvalidDigestError);
    expect(isDigest(undefined as unknown as string)).toBe(false);
  });
});

describe('shortDigest', () => {
  const cases: { input: string; want: string }[] = [
    { input: `sha256:${hex64}`, want: 'a1b2c3d4e5f6' },
    { input: `sha512:${hex128}`, want: 'ffffffffffff' },
  ];
  test.each(cases)('$want', ({ input, want }) => {
    const got = shortDigest(input);
    expect(got, `shortDigest(${input}) = ${got}, want ${want}`).toBe(want);
  });
  test('rejects an invalid digest', () => {
    expect(() => shortDigest('sha256:abc')).toThrow(InvalidDigestError);
  });
});

describe('digestPath', () => {
  const cases: { input: string; want: string }[] = [
    { input: `sha256:${hex64}`, want: `blobs/sha256/${hex64}` },
    { input: `sha512:${hex128}`, want: `blobs/sha512/${hex128}` },
  ];
  test.each(cases)('$want', ({ input, want }) => {
    const got = digestPath(input);
    expect(got, `digestPath(${input}) = ${got}, want ${want}`).toBe(want);
  });
  test.each(['sha256:../../etc/passwd', `sha256/${hex64}`, `SHA256:${hex64}`])(
    'rejects %s',
    (input) => {
      expect(() => digestPath(input), `digestPath(${input})`).toThrow(InvalidDigestError);
    },
  );
});
