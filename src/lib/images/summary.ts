// What the image view shows, read back from the store.
import type { Descriptor, HistoryEntry, ImageConfig, Platform } from '../oci/types.ts';
import type { ImageRecord, Provider } from '../store/store.ts';
import { Documents } from './documents.ts';

export interface HistoryRow {
  entry: HistoryEntry;
  /** The layer this step created; absent for empty_layer steps. */
  layer?: Descriptor;
  layerIndex?: number;
}

export interface LayerRow {
  descriptor: Descriptor;
  diffID?: string;
  stored: boolean;
  /** A foreign (non-distributable) layer: its bytes live at its urls, and Berth does not
   * fetch them. */
  foreign: boolean;
}

export interface ImageSummary {
  name: string;
  rootDigest: string;
  rootMediaType: string;
  manifest: Descriptor;
  platform?: Platform;
  config?: ImageConfig;
  /** Set when the config is not an image config: the manifest is an artifact. */
  artifactType?: string;
  layers: LayerRow[];
  history: HistoryRow[];
  /** Compressed size of the manifest, config and layers. */
  totalSize: number;
  pulledAt: number;
  /** Read while the image was being pulled, before it was recorded: the layers not stored
   * are still to come (or, if the pull stopped, missing), and nothing can be exported yet. */
  partial?: true;
}

/** Lines up history with layers: each entry that is not an empty_layer made the next layer. */
export function alignHistory(history: HistoryEntry[], layers: Descriptor[]): HistoryRow[] {
  let next = 0;
  return history.map((entry) => {
    if (entry.empty_layer) return { entry };
    const layerIndex = next++;
    const layer = layers[layerIndex];
    return layer ? { entry, layer, layerIndex } : { entry };
  });
}

/** The summary of one pulled manifest of an image record. Documents a pull just parsed are
 * taken from `docs`, not read back. */
export async function summarize(
  store: Pick<Provider, 'info' | 'readBytes'>,
  image: Pick<ImageRecord, 'name' | 'target' | 'manifests'>,
  manifestDigest: string,
  docs = new Documents(store),
): Promise<ImageSummary> {
  const pulled = image.manifests.find((m) => m.descriptor.digest === manifestDigest);
  if (!pulled) throw new Error(`${image.name}: ${manifestDigest} was not pulled`);
  const m = await docs.manifest(pulled.descriptor);
  const config: ImageConfig | undefined = await docs.config(m);
  const artifactType = config ? undefined : (m.artifactType ?? m.config.mediaType);
  const layers = await Promise.all(
    m.layers.map(async (descriptor, i) => ({
      descriptor,
      ...(config?.rootfs.diff_ids[i] ? { diffID: config.rootfs.diff_ids[i] } : {}),
      stored: (await store.info(descriptor.digest)) !== undefined,
      foreign: (descriptor.urls?.length ?? 0) > 0,
    })),
  );
  return {
    name: image.name,
    rootDigest: image.target.digest,
    rootMediaType: image.target.mediaType,
    manifest: pulled.descriptor,
    ...(pulled.descriptor.platform ? { platform: pulled.descriptor.platform } : {}),
    ...(config ? { config } : {}),
    ...(artifactType ? { artifactType } : {}),
    layers,
    history: alignHistory(config?.history ?? [], m.layers),
    totalSize: pulled.descriptor.size + m.config.size + m.layers.reduce((n, l) => n + l.size, 0),
    pulledAt: pulled.pulledAt,
  };
}
