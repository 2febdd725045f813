// POSIX shell quoting for the commands Berth shows. Paths and tags come from images and
// registries: they are data, so every argument that is not plainly safe is single-quoted,
// which is the one quoting form in which the shell expands nothing.

/** Characters that mean nothing to sh, bash or zsh anywhere in a word... */
const plain = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** ...except at its start: zsh expands `=cmd` to a path, and `~` is not in the set at all. */
const unsafeStart = /^=/;

/**
 * One argument as a POSIX shell reads it back byte for byte: plain words as they are, anything
 * else in single quotes, each `'` written as `'\''`. A leading `-` is not the quoter's
 * business: the commands put `--` before paths where the tool reads it. NUL cannot be passed
 * to a program at all (and no tar name holds one), so it is refused rather than dropped.
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new RangeError('a shell argument cannot hold a NUL character');
  if (plain.test(arg) && !unsafeStart.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A command line from its arguments, each quoted as it needs. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}
