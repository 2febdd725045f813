// Bounds on what an image may be, shared by every reader of images: pull, import, the store.

/** How deep indexes may nest below the root before an image is refused. */
export const maxIndexDepth = 4;

/** The most leaf manifests an index may hold, nested ones included: real indexes hold tens. */
export const maxIndexManifests = 1000;

/** The largest manifest, index or config read: containerd's bound on manifests, 4 MiB. */
export const maxDocumentBytes = 4 << 20;

export class IndexDepthError extends Error {
  override name = 'IndexDepthError';
}
