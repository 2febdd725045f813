// What a descriptor is for, and containerd's ingest ref for it (remotes.MakeRefKey): shared by
// pull, import and progress.
import type { Descriptor } from './types.ts';
import { isConfig, isIndex, isLayer, isManifest } from './mediatypes.ts';

export type BlobRole = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

export function roleOf(desc: Descriptor): BlobRole {
  if (isIndex(desc.mediaType)) return 'index';
  if (isManifest(desc.mediaType)) return 'manifest';
  if (isConfig(desc.mediaType)) return 'config';
  if (isLayer(desc.mediaType)) return 'layer';
  return 'blob';
}

/** containerd's remotes.MakeRefKey: the ingest ref of a descriptor. */
export function refKey(desc: Descriptor): string {
  return `${roleOf(desc)}-${desc.digest}`;
}
