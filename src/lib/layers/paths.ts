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
export const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));
