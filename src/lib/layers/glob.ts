// The search box's path matcher: substrings, and globs as .gitignore reads them.
//
// A glob is matched by simulating its automaton over the path one UTF-16 code unit at a time,
// with the set of live states (Thompson's construction), never by backtracking: the work is at
// most proportional to len(path) × len(pattern), whatever the input. A compiled RegExp would
// backtrack: "*a*a*b" over a name of 4,096 "a"s took V8 23 s. picomatch, micromatch and
// minimatch all compile globs to such regexes, so none of them bounds the work either.

/** Optional work counter: the matcher adds the automaton steps it takes (for tests). */
export interface GlobWork {
  steps: number;
}

const SLASH = 0x2f;

// One state per token, two for "**/"; a state's number is its index.
const Kind = {
  /** One given code unit. */
  Char: 0,
  /** `?`: any code unit but "/". */
  Any: 1,
  /** `[...]`: a code unit of the class ("/" never). */
  Class: 2,
  /** `*`: any run within a segment. */
  Star: 3,
  /** Trailing `**`: anything, "/" included. */
  All: 4,
  /** `**` then `/`: any number of whole directories. Head: may leave (to s + 2), or start one. */
  DirsHead: 5,
  /** Inside a directory of `**` then `/`: its "/" goes back to the head. */
  DirsBody: 6,
  Final: 7,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Automaton {
  kinds: Kind[];
  /** Char: its code unit. */
  codes: number[];
  /** Class: inclusive [lo, hi] pairs, and whether a code unit in them is a non-match. */
  classes: ({ ranges: number[]; negate: boolean } | undefined)[];
}

/** The glob's automaton; wild = has wildcards; invalid = a class has a range out of order,
 * which a regular expression engine rejects: the caller then reads every "[" literally. */
function compileGlob(
  glob: string,
  classes: boolean,
): { nfa: Automaton; wild: boolean; invalid: boolean } {
  const nfa: Automaton = { kinds: [], codes: [], classes: [] };
  const push = (kind: Kind, code = 0, cls?: { ranges: number[]; negate: boolean }) => {
    nfa.kinds.push(kind);
    nfa.codes.push(code);
    nfa.classes.push(cls);
  };
  let wild = false;
  let invalid = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      push(Kind.Char, i + 1 < glob.length ? glob.charCodeAt(i + 1) : 0x5c);
      i++;
    } else if (c === '*') {
      let j = i;
      while (glob[j + 1] === '*') j++;
      const segmentStart = i === 0 || glob[i - 1] === '/';
      wild = true;
      if (j > i && segmentStart && glob[j + 1] === '/') {
        push(Kind.DirsHead); // "**/": any number of directories, none included
        push(Kind.DirsBody);
        j++;
      } else if (j > i && segmentStart && j + 1 === glob.length) {
        push(Kind.All); // trailing "**": everything below
      } else {
        push(Kind.Star); // "*", and "**" inside a name (as .gitignore reads it)
      }
      i = j;
    } else if (c === '?') {
      push(Kind.Any);
      wild = true;
    } else if (c === '[' && classes) {
      let j = i + 1;
      const negate = glob[j] === '!' || glob[j] === '^';
      if (negate) j++;
      // A negated class is "[^/...]" to a regex engine: "/" is its first member and may start
      // a range ("[!-a]" is "/"-"a"), and the engine reads ranges the same way here.
      const members: number[] = negate ? [SLASH] : [];
      // A "]" first in the class is a member, as in fnmatch.
      if (glob[j] === ']') {
        members.push(0x5d);
        j++;
      }
      for (; j < glob.length && glob[j] !== ']'; j++) {
        if (glob[j] === '\\' && j + 1 < glob.length) j++;
        members.push(glob.charCodeAt(j));
      }
      if (j >= glob.length) {
        push(Kind.Char, 0x5b); // unbalanced: a literal "["
        continue;
      }
      const ranges = classRanges(members);
      if (!ranges) invalid = true;
      // Like fnmatch with FNM_PATHNAME, a class never matches "/".
      push(Kind.Class, 0, { ranges: ranges ?? [], negate });
      wild = true;
      i = j;
    } else {
      push(Kind.Char, glob.charCodeAt(i));
    }
  }
  push(Kind.Final);
  return { nfa, wild, invalid };
}

const DASH = 0x2d;

/** A class's members as a regex engine reads them: "a-z" is a range unless the "-" is last.
 * (Every member is literal: escapes were resolved, and an escaped "-" is still a range's "-",
 * as it was when globs compiled to regexes.) Undefined when a range is out of order. */
function classRanges(members: number[]): number[] | undefined {
  const ranges: number[] = [];
  for (let k = 0; k < members.length; k++) {
    const lo = members[k]!;
    if (members[k + 1] === DASH && k + 2 < members.length) {
      const hi = members[k + 2]!;
      if (lo > hi) return undefined;
      ranges.push(lo, hi);
      k += 2;
    } else {
      ranges.push(lo, lo);
    }
  }
  return ranges;
}

/** Whether the automaton accepts the path; unanchored, it may start after any "/". */
function run(nfa: Automaton, path: string, anchored: boolean, work?: GlobWork): boolean {
  const { kinds, codes, classes } = nfa;
  const size = kinds.length;
  const final = size - 1;
  // stamp[s] = the step at which s was last added: a set per step without clearing.
  const stamp = new Int32Array(size).fill(-1);
  let cur = new Int32Array(size);
  let next = new Int32Array(size);
  let curLen = 0;
  let nextLen = 0;
  let steps = 0;
  // Adds s and what it reaches without input: each state has at most one such edge, forward.
  const add = (s: number, step: number) => {
    for (;;) {
      if (stamp[s] === step) return;
      stamp[s] = step;
      next[nextLen++] = s;
      steps++;
      const k = kinds[s]!;
      if (k === Kind.Star || k === Kind.All) s += 1;
      else if (k === Kind.DirsHead) s += 2;
      else return;
    }
  };
  const swap = () => {
    [cur, next] = [next, cur];
    curLen = nextLen;
    nextLen = 0;
  };

  add(0, 0);
  swap();
  for (let i = 0; i < path.length; i++) {
    if (curLen === 0) {
      if (anchored) break;
      // Nothing is alive: only a new start after the next "/" can match.
      const slash = path.indexOf('/', i);
      if (slash < 0) break;
      i = slash;
    }
    const step = i + 1;
    const c = path.charCodeAt(i);
    for (let k = 0; k < curLen; k++) {
      const s = cur[k]!;
      steps++;
      switch (kinds[s]) {
        case Kind.Char:
          if (c === codes[s]) add(s + 1, step);
          break;
        case Kind.Any:
          if (c !== SLASH) add(s + 1, step);
          break;
        case Kind.Class: {
          if (c === SLASH) break;
          const { ranges, negate } = classes[s]!;
          let member = false;
          for (let r = 0; r < ranges.length && !member; r += 2) {
            member = c >= ranges[r]! && c <= ranges[r + 1]!;
          }
          steps += ranges.length >> 1;
          if (member !== negate) add(s + 1, step);
          break;
        }
        case Kind.Star:
          if (c !== SLASH) add(s, step);
          break;
        case Kind.All:
          add(s, step);
          break;
        case Kind.DirsHead:
          add(c === SLASH ? s : s + 1, step);
          break;
        case Kind.DirsBody:
          add(c === SLASH ? s - 1 : s, step);
          break;
        case Kind.Final:
          break;
      }
    }
    if (!anchored && c === SLASH) add(0, step);
    swap();
  }
  if (work) work.steps += steps;
  for (let k = 0; k < curLen; k++) if (cur[k] === final) return true;
  return false;
}

/**
 * A path matcher for the search box. Without wildcards (after "\" escapes and unbalanced "["),
 * the pattern is a case-insensitive substring, and a leading "/" makes it a prefix from the
 * root. Otherwise it is a case-sensitive glob over the whole normalised path: `*` and `?` stay
 * within a segment, `**` spans directories, `[abc]` `[a-z]` `[!a]` are classes. As in
 * .gitignore, a pattern with a "/" at its start or middle is anchored at the root ("usr/**\/bin"
 * matches "usr/local/bin", not "opt/usr/bin"); one without matches the basename at any depth
 * ("*.so"). Never throws: a class with a range out of order (e.g. "[z-a]") makes every "[" of
 * the pattern literal. Globs compare UTF-16 code units; a match takes at most
 * O(len(path) × len(pattern)) steps, which `work` counts when given.
 */
export function globMatcher(pattern: string, work?: GlobWork): (path: string) => boolean {
  const anchored = pattern.startsWith('/');
  // Trimmed by hand: /\/+$/ would rescan every run of "/" to the end, quadratic on a pasted one.
  let start = 0;
  let end = pattern.length;
  while (start < end && pattern.charCodeAt(start) === SLASH) start++;
  while (end > start && pattern.charCodeAt(end - 1) === SLASH) end--;
  const glob = pattern.slice(start, end).replace(/\/{2,}/g, '/');
  let compiled = compileGlob(glob, true);
  if (compiled.invalid) compiled = compileGlob(glob, false);
  const strip = (path: string) => (path.startsWith('/') ? path.replace(/^\/+/, '') : path);
  if (compiled.wild) {
    const { nfa } = compiled;
    const rooted = anchored || glob.includes('/');
    return (path) => run(nfa, strip(path), rooted, work);
  }
  const needle = pattern.replace(/\\([\s\S])/g, '$1').toLowerCase();
  if (anchored) {
    const prefix = needle.replace(/^\/+/, '');
    return (path) => strip(path).toLowerCase().startsWith(prefix);
  }
  return (path) => path.toLowerCase().includes(needle);
}
