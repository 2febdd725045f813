import type { Descriptor } from '../oci/types.ts';
import { type BlobRole, refKey, roleOf } from '../oci/refkey.ts';

export type { BlobRole };

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
