import type { Descriptor } from '../oci/types.ts';
import { isConfig, isIndex, isLayer, isManifest } from '../oci/mediatypes.ts';

export type BlobRole = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

export type BlobState =
  | 'waiting'
  | 'downloading'
  | 'verifying'
  | 'done'
  | 'exists'
  | 'failed'
  /** Stopped because the pull stopped: another blob failed, or the user cancelled. */
  | 'cancelled';

/** One row of pull progress, per descriptor. `ref` is containerd's MakeRefKey. */
export interface BlobProgress {
  ref: string;
  role: BlobRole;
  digest: string;
  mediaType: string;
  size: number;
  offset: number;
  state: BlobState;
  error?: string;
}

export type ProgressListener = (p: BlobProgress) => void;

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

export function progressOf(
  desc: Descriptor,
  state: BlobState,
  offset: number,
  error?: string,
): BlobProgress {
  return {
    ref: refKey(desc),
    role: roleOf(desc),
    digest: desc.digest,
    mediaType: desc.mediaType,
    size: desc.size,
    offset,
    state,
    ...(error ? { error } : {}),
  };
}
