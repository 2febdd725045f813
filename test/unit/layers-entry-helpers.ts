// Index entries for the layer tests: a file, a directory, or any type, with unique offsets.
import type { EntryType, IndexEntry } from '../../src/lib/layers/entry.ts';

let offset = 0;
export const entry = (
  path: string,
  type: EntryType,
  size: number,
  extra: Partial<IndexEntry> = {},
): IndexEntry => ({
  path,
  type,
  size,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  offset: (offset += 512),
  ...extra,
});
export const f = (path: string, size = 0, extra: Partial<IndexEntry> = {}) =>
  entry(path, 'file', size, extra);
export const d = (path: string, extra: Partial<IndexEntry> = {}) => entry(path, 'dir', 0, extra);
