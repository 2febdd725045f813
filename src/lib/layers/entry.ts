// The file index of a layer: one entry per tar header, with where its data starts.
import type { EntryType } from './tar.ts';

export type { EntryType };

/** One entry of a layer's file index, as the tar lists it. */
export interface IndexEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Offset of the data in the layer's uncompressed tar. */
  offset: number;
  /** A GNU sparse file: the tar holds a map and data regions, not its bytes in order. */
  sparse?: boolean;
}
