// Runs language catalogers over real directories of this machine, as the inventory would run
// them over a layer: every regular file is offered to `wants`, then read whole or streamed.
import { lstatSync, openSync, readSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CatalogResult, Cataloger } from '../../src/lib/packages/types.ts';

export interface Found extends CatalogResult {
  /** The files the cataloger wanted, relative to the root. */
  files: string[];
}

/** Every regular file under `root` (symlinks not followed), as [absolute path, size, mode]. */
export function* walk(root: string): Generator<[string, number, number]> {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(root, name);
    const st = lstatSync(path);
    if (st.isDirectory()) yield* walk(path);
    else if (st.isFile()) yield [path, st.size, st.mode & 0o7777];
  }
}

/** A file's bytes fed to a scan in chunks of `chunk` bytes, as the layer pass would. */
export async function scanFile(
  cataloger: Cataloger,
  path: string,
  name: string,
  size: number,
  mode: number,
  chunk = 65536,
) {
  const scan = cataloger.scan!({ path: name, size, mode });
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(chunk);
    for (;;) {
      const n = readSync(fd, buf, 0, chunk, null);
      if (n === 0) break;
      if (!scan.push(buf.subarray(0, n))) break;
      buf.fill(0); // the chunk is only lent: a scan that kept it would see it change
    }
  } finally {
    closeSync(fd);
  }
  return scan.finish();
}

/** What `cataloger` finds under `root`, with paths named relative to `prefix` (the image's
 * root, so that the cataloger sees paths as a layer index spells them). */
export async function catalog(cataloger: Cataloger, root: string, prefix = root): Promise<Found> {
  const found: Found = { packages: [], problems: [], files: [] };
  for (const [path, size, mode] of walk(root)) {
    const name = relative(prefix, path);
    if (!cataloger.wants(name, size, mode)) continue;
    found.files.push(name);
    let result: CatalogResult;
    if (cataloger.scan) result = await scanFile(cataloger, path, name, size, mode);
    else if (size > cataloger.maxBytes) {
      found.problems.push(`${name}: too large`);
      continue;
    } else
      result = await cataloger.read!({
        path: name,
        size,
        mode,
        bytes: new Uint8Array(readFileSync(path)),
      });
    found.packages.push(...result.packages);
    found.problems.push(...result.problems);
  }
  return found;
}

/** `a` minus `b`, sorted, for failure messages that list what differs. */
export function minus(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}
