// How much a pull does at once, shared by the pull and the page's settings (which must not
// import the pull itself).

/** Blobs fetched at once unless told otherwise. skopeo starts every layer at once; six covers
 * the layers of most images, and is what Chromium opens to one host over HTTP/1.1 (the proxy
 * is one host to the page), so more would wait in the browser's queue, not on the network. */
export const defaultParallelBlobs = 6;
/** The most blobs fetched at once that a setting may ask for. */
export const maxParallelBlobs = 16;
