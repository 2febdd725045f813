// The small part of a comparison of two images: everything but the files, computed from the
// two image summaries (manifest, config, layers, history) the image view already reads. It is
// cheap (a config is at most 4 MiB, a history tens of steps), so it runs wherever the page
// likes, and is done before the files part starts.
import type { ImageSummary } from '../images/summary.ts';
import { compareConfigs } from './config.ts';
import { compareHistories } from './history.ts';
import { type LayerIds, matchLayers, sharedBase } from './layers.ts';
import type { ComparedImage, ImageComparison } from './types.ts';

/** The fields of a summary the comparison reads. */
export type ComparedSummary = Pick<
  ImageSummary,
  'name' | 'manifest' | 'platform' | 'config' | 'layers' | 'history' | 'totalSize'
>;

function compared(s: ComparedSummary): ComparedImage {
  return {
    name: s.name,
    manifestDigest: s.manifest.digest,
    ...(s.platform ? { platform: s.platform } : {}),
    // totalSize counts the manifest too; the comparison names the config and layers only.
    size: Math.max(0, s.totalSize - s.manifest.size),
    layers: s.layers.length,
  };
}

const layerIds = (s: ComparedSummary): LayerIds[] =>
  s.layers.map((l) => ({
    digest: l.descriptor.digest,
    ...(l.diffID !== undefined ? { diffID: l.diffID } : {}),
  }));

/**
 * Compares image a (the one compared from) with image b. Both are summaries as
 * lib/images/summary.ts makes them; an artifact (no config) compares as an image with an empty
 * config and no history. Never throws on a hostile config: fields of unexpected shapes are
 * compared as whole values.
 */
export function compareImages(a: ComparedSummary, b: ComparedSummary): ImageComparison {
  const la = layerIds(a);
  const lb = layerIds(b);
  return {
    a: compared(a),
    b: compared(b),
    identical: a.manifest.digest === b.manifest.digest,
    config: compareConfigs(a.config, b.config),
    history: compareHistories(
      a.history.map((h) => h.entry),
      b.history.map((h) => h.entry),
    ),
    layers: matchLayers(la, lb),
    base: sharedBase(la, lb),
  };
}
