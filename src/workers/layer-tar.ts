// A stored layer's uncompressed tar from near an offset, for any worker that reads layers: from
// the checkpoint at or before the offset when the layer has checkpoints, else from its start.
import { layerCompression } from '../lib/oci/mediatypes.ts';
import { tarFrom, type LayerCheckpoints, type TarFrom } from '../lib/layers/checkpoints.ts';
import type { Store } from '../lib/store/store.ts';

/** A layer as readers name it. */
export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  /** The config's diffID for this layer: it names the hash algorithm. */
  diffID?: string;
}

/** A layer that is not in the store: reads need it downloaded first. */
export class LayerNotStoredError extends Error {
  override name = 'LayerNotStoredError';
  constructor(readonly digest: string) {
    super(`layer ${digest} is not stored in this browser`);
  }
}

/**
 * A stored layer's tar from near `offset`, from its stored checkpoints, or from `running` ones
 * (a checkpoint pass still recording, in the layers worker) when none are stored. A read from a
 * checkpoint cannot check the CRC-32 of the gzip member it starts in; it relies on the blob's
 * digest, checked at commit, and on the checkpoints having been recorded from those verified
 * bytes (checkpoints.ts tarFrom says what is still checked). Fails with LayerNotStoredError for
 * a layer that is not stored.
 */
export async function storedTarFrom(
  s: Store,
  layer: LayerRef,
  offset: number,
  signal: AbortSignal,
  running?: (digest: string, offset: number) => LayerCheckpoints | undefined,
): Promise<TarFrom & { live?: boolean }> {
  if (!(await s.content.info(layer.digest))) throw new LayerNotStoredError(layer.digest);
  const [blob, stored] = await Promise.all([
    s.content.read(layer.digest),
    s.layerCheckpoints.get(layer.digest),
  ]);
  const live = stored ? undefined : running?.(layer.digest, offset);
  const from = await tarFrom(blob, layerCompression(layer.mediaType), stored ?? live, offset, {
    signal,
  });
  return live && from.start > 0 ? { ...from, live: true } : from;
}
