import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { globMatcher, type GlobWork } from '../../src/lib/layers/glob.ts';

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

// The matcher globs had before: compiled to a backtracking RegExp. Kept here only as the oracle
// for the automaton on short inputs, where backtracking is cheap.
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/;
const escapeRegex = (c: string) => (REGEX_SPECIAL.test(c) ? `\\${c}` : c);
const escapeClass = (c: string) => ('\\]^['.includes(c) ? `\\${c}` : c);

/** Compiles a glob body (no leading or trailing "/") to a regex source; wild = has wildcards. */
function compileGlob(glob: string, classes: boolean): { source: string; wild: boolean } {
  let source = '';
  let wild = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      source += escapeRegex(glob[i + 1] ?? '\\');
      i++;
    } else if (c === '*') {
      let j = i;
      while (glob[j + 1] === '*') j++;
      const segmentStart = i === 0 || glob[i - 1] === '/';
      wild = true;
      if (j > i && segmentStart && glob[j + 1] === '/') {
        source += '(?:[^/]*/)*'; // "**/": any number of directories, none included
        j++;
      } else if (j > i && segmentStart && j + 1 === glob.length) {
        source += '[\\s\\S]*'; // trailing "**": everything below
      } else {
        source += '[^/]*'; // "*", and "**" inside a name (as .gitignore reads it)
      }
      i = j;
    } else if (c === '?') {
      source += '[^/]';
      wild = true;
    } else if (c === '[' && classes) {
      let j = i + 1;
      const negate = glob[j] === '!' || glob[j] === '^';
      if (negate) j++;
      let body = '';
      // A "]" first in the class is a member, as in fnmatch.
      if (glob[j] === ']') {
        body += '\\]';
        j++;
      }
      for (; j < glob.length && glob[j] !== ']'; j++) {
        if (glob[j] === '\\' && j + 1 < glob.length) body += escapeClass(glob[++j]!);
        else body += escapeClass(glob[j]!);
      }
      if (j >= glob.length) {
        source += '\\['; // unbalanced: a literal "["
        continue;
      }
      // Like fnmatch with FNM_PATHNAME, a class never matches "/".
      source += negate ? `[^/${body}]` : `(?!/)[${body}]`;
      wild = true;
      i = j;
    } else {
      source += escapeRegex(c);
    }
  }
  return { source, wild };
}

function regexGlobMatcher(pattern: string): (path: string) => boolean {
  const anchored = pattern.startsWith('/');
  const glob = pattern.replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
  let compiled = compileGlob(glob, true);
  let regex: RegExp | undefined;
  if (compiled.wild) {
    const prefix = anchored || glob.includes('/') ? '^' : '(?:^|/)';
    try {
      regex = new RegExp(`${prefix}${compiled.source}$`);
    } catch {
      compiled = compileGlob(glob, false);
      if (compiled.wild) regex = new RegExp(`${prefix}${compiled.source}$`);
    }
  }
  const strip = (path: string) => (path.startsWith('/') ? path.replace(/^\/+/, '') : path);
  if (regex) {
    const re = regex;
    return (path) => re.test(strip(path));
  }
  const needle = pattern.replace(/\\([\s\S])/g, '$1').toLowerCase();
  if (anchored) {
    const prefix = needle.replace(/^\/+/, '');
    return (path) => strip(path).toLowerCase().startsWith(prefix);
  }
  return (path) => path.toLowerCase().includes(needle);
}

describe('globMatcher work is bounded by len(path) x len(pattern)', () => {
  // The input: "*a*a*b" against a name of 4,096 "a"s made the regex backtrack for 23 s.
  const cases: [string, string, boolean][] = [
    ['*a*a*b', 'a'.repeat(4096), false],
    ['*a*a*b', `dir/${'a'.repeat(4096)}`, false],
    ['*a*a*b', `${'a'.repeat(4096)}b`, true],
    ['*a*a*a*a*b', 'a'.repeat(1 << 16), false],
    ['**/*a*a*b', `${'a/'.repeat(2048)}${'a'.repeat(1 << 16)}`, false],
    ['**/**/**/x', `${'a/'.repeat(1 << 15)}y`, false],
    ['/**/a*a*a?b', `/${'a/'.repeat(1 << 15)}aaaaaaab`, true],
    [`${'[a-z]*'.repeat(8)}b`, 'a'.repeat(1 << 14), false],
  ];
  test.each(cases)('globMatcher(%j) over long path %#', (pattern, path, want) => {
    const work: GlobWork = { steps: 0 };
    expect(globMatcher(pattern, work)(path), `globMatcher(${pattern})`).toBe(want);
    const bound = 4 * (path.length + 1) * (pattern.length + 1);
    expect(work.steps, `steps for ${pattern} over ${path.length} code units`).toBeLessThanOrEqual(
      bound,
    );
    expect(work.steps).toBeGreaterThan(0);
  });
});

describe('globMatcher agrees with the regex it replaced', () => {
  // Corners of the regex engine's class syntax that the automaton reproduces.
  const corners: [string, string, boolean][] = [
    ['[!-a]', '-', true], // "[^/-a]": "/"-"a" is a range: "-" is below it, "0" in it
    ['[!-a]', 'b', true],
    ['[!-a]', '0', false],
    ['[!-!]*', '[!-!]x', true], // "/"-"!" is out of order: every "[" is literal
    ['[a-]', '-', true],
    ['[a\\-c]', 'b', true], // an escaped "-" still makes a range
    ['[--a]', '0', true],
    ['x[a-c-e]', 'x-', true],
    ['x[a-c-e]', 'xd', false],
  ];
  test.each(corners)('globMatcher(%j)(%j) = %s', (pattern, path, want) => {
    expect(regexGlobMatcher(pattern)(path), `regex(${pattern})(${path})`).toBe(want);
    expect(globMatcher(pattern)(path), `globMatcher(${pattern})(${path})`).toBe(want);
  });

  // Small alphabets make the interesting cases (classes, ranges, "**/", escapes) frequent.
  const patternChar = fc.constantFrom(
    ...['a', 'b', '-', '/', '/', '*', '*', '?', '[', ']', '!', '^', '\\', '.', 'z'],
    ...['[!', '[^', '[]', '-]', '**/', '/**', '[a-', '[!-', '[--', '\\-'],
  );
  const pathChar = fc.constantFrom('a', 'b', '/', '-', '.', 'z', '[', ']', '\\', '*', '^', '\n');
  const pattern = fc.array(patternChar, { maxLength: 10 }).map((cs) => cs.join(''));
  const path = fc.array(pathChar, { maxLength: 12 }).map((cs) => cs.join(''));
  test('on random patterns and paths', () => {
    fc.assert(
      fc.property(pattern, path, (p, s) => {
        expect(globMatcher(p)(s), `globMatcher(${JSON.stringify(p)})(${JSON.stringify(s)})`).toBe(
          regexGlobMatcher(p)(s),
        );
      }),
      { seed: 13, numRuns: 20_000 },
    );
  });
  test('on random code units', () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
    const any = fc.array(fc.oneof(patternChar, unit), { maxLength: 8 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(any, fc.array(fc.oneof(pathChar, unit), { maxLength: 8 }), (p, cs) => {
        const s = cs.join('');
        expect(globMatcher(p)(s), `globMatcher(${JSON.stringify(p)})(${JSON.stringify(s)})`).toBe(
          regexGlobMatcher(p)(s),
        );
      }),
      { seed: 13, numRuns: 5_000 },
    );
  });
});
