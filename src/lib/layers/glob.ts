// The search box's path matcher: substrings, and globs as .gitignore reads them.

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

/**
 * A path matcher for the search box. Without wildcards (after "\" escapes and unbalanced "["),
 * the pattern is a case-insensitive substring, and a leading "/" makes it a prefix from the
 * root. Otherwise it is a case-sensitive glob over the whole normalised path: `*` and `?` stay
 * within a segment, `**` spans directories, `[abc]` `[a-z]` `[!a]` are classes. As in
 * .gitignore, a pattern with a "/" at its start or middle is anchored at the root ("usr/**\/bin"
 * matches "usr/local/bin", not "opt/usr/bin"); one without matches the basename at any depth
 * ("*.so"). Never throws: a class the regex engine rejects (e.g. "[z-a]") is taken literally.
 */
export function globMatcher(pattern: string): (path: string) => boolean {
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
