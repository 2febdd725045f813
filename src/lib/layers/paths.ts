// Paths inside layers, shared by the overlay and the tree. Paths are opaque data: a leading "/",
// repeated "/" and "." segments are normalised away so "/etc/x" and "etc/x" are one file, but
// ".." is a name like any other and is never resolved, and control characters are kept. Symlinks
// are never followed. (containerd resolves ".." lexically, clamped at the root, when it unpacks;
// showing the entry under its own name keeps a hostile "../x" visible as what the tar says.)

const NEEDS_NORMALISING = /^\/|\/\/|\/$|(?:^|\/)\.(?:\/|$)/;

export function normalisePath(path: string): string {
  if (!NEEDS_NORMALISING.test(path)) return path;
  return path
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

export const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
/** The last component of a path, trailing "/" ignored (cut with a loop: /\/+$/ is quadratic). */
export function baseName(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}

export const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));

/**
 * The deepest path the merged filesystem and the tree hold, in components. Every directory of a
 * path is a node with its own full path, so a path's cost is its depth times its length: one
 * PAX name of 1 MiB made of "x/" is half a million directories, and a few thousand levels
 * already took seconds. Real images stay far below this (node_modules trees reach a few dozen).
 * Deeper entries are left out, and the browser says how many (see depthOf).
 */
export const MAX_DEPTH = 256;

/** The number of components of a normalised path ("" has none); stops counting past `limit`. */
export function depthOf(path: string, limit = Infinity): number {
  if (path === '') return 0;
  let depth = 1;
  for (let i = path.indexOf('/'); i >= 0 && depth <= limit; i = path.indexOf('/', i + 1)) depth++;
  return depth;
}
