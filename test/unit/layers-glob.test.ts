import { describe, expect, test } from 'vitest';
import { globMatcher } from '../../src/lib/layers/glob.ts';

describe('globMatcher', () => {
  const cases: [string, string, boolean][] = [
    ['**/*.so', 'lib/x.so', true],
    ['**/*.so', 'x.so', true],
    ['**/*.so', 'usr/lib/a/b.so', true],
    ['**/*.so', 'usr/lib/x.so.6', false],
    ['*.so', 'usr/lib/libc.so', true],
    ['*.so', 'libc.so', true],
    ['*.so', 'libc.sox', false],
    ['*.so', 'lib.so/x', false],
    ['/etc/*', 'etc/passwd', true],
    ['/etc/*', '/etc/passwd', true],
    ['/etc/*', 'etc/ssl/certs', false],
    ['/etc/*', 'usr/etc/passwd', false],
    ['usr/**/bin', 'usr/bin', true],
    ['usr/**/bin', 'usr/local/bin', true],
    ['usr/**/bin', 'usr/a/b/bin', true],
    ['usr/**/bin', 'opt/usr/bin', false],
    ['usr/**/bin', 'usr/binx', false],
    ['usr/**', 'usr/a/b', true],
    ['usr/**', 'usr', false],
    ['**', 'any/thing\n', true],
    ['a?c', 'x/abc', true],
    ['a?c', 'a/c', false],
    ['lib[0-9].so', 'lib7.so', true],
    ['lib[0-9].so', 'libx.so', false],
    ['[!a]bc', 'xbc', true],
    ['[!a]bc', 'abc', false],
    ['[]]x', ']x', true],
    ['f[.]txt', 'f.txt', true],
    ['f[.]txt', 'fxtxt', false],
    ['*(1).txt', 'a+b(1).txt', true],
    ['*(1).txt', 'a+b1.txt', false],
    ['$*^', '$x^', true],
    ['*.TXT', 'a.txt', false],
    ['*\n*', 'ctl\nname', true],
    // No wildcards: a case-insensitive substring.
    ['[', 'a[b', true],
    ['[', 'ab', false],
    ['lib[', 'usr/lib[x', true],
    ['PASSWD', 'etc/passwd', true],
    ['c/pa', 'etc/passwd', true],
    ['a\\*b', 'xa*by', true],
    ['a\\*b', 'axb', false],
    ['/etc', 'etc/passwd', true],
    ['/etc', 'usr/etc', false],
    ['', 'anything', true],
    // A range the regex engine rejects is taken literally instead of throwing.
    ['*[z-a]', 'x[z-a]', true],
    ['*[z-a]', 'xb', false],
  ];
  test.each(cases)('globMatcher(%j)(%j) = %s', (pattern, path, want) => {
    expect(globMatcher(pattern)(path), `globMatcher(${pattern})(${path})`).toBe(want);
  });
});
