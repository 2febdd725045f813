// Where the page is, as a URL query: `/?image=alpine:3.20&platform=linux/arm64/v8&layer=2&path=/etc/os-release`.
// Every view has one, so it can be shared, bookmarked and reached with back and forward.

/** The file browser's view in a URL: the merged filesystem, every layer, or one layer
 * (0-based here, 1-based in the URL as on screen). */
export type LayerView = typeof mergedLayers | typeof allLayers | number;

/** The file browser's view of every layer side by side (not `allPlatforms`, also `all`). */
export const allLayers = 'all';
/** The file browser's view of the merged filesystem. */
export const mergedLayers = 'merged';

export type RouteView =
  'home' | 'image' | 'compare' | 'library' | 'settings' | 'registry' | 'repository';

export interface Route {
  view: RouteView;
  /** The image reference as the user gave it. */
  image?: string;
  /** A platform string, or `all`. */
  platform?: string;
  layer?: LayerView;
  /** The file open in the viewer, as the tree names it (no leading slash). */
  path?: string;
  /** The registry whose catalog is shown, as typed (`registry.example:5000`, `docker.io`). */
  registry?: string;
  /** The repository whose tags are shown, with its registry (`ghcr.io/owner/app`). */
  repository?: string;
  /** The tags' order, when not by name. */
  sort?: 'date';
  /** The image `image` is compared with (view `compare`), as the user gave it. */
  compare?: string;
  /** The platform of `compare`, when it is an index (`platform` is `image`'s). */
  comparePlatform?: string;
}

export const home: Route = { view: 'home' };

/** Reads a URL query. What cannot be read is dropped, never guessed: a layer that is not a
 * positive number, a path without an image. */
export function parseRoute(search: string): Route {
  const q = new URLSearchParams(search);
  const image = q.get('image')?.trim();
  const compare = q.get('compare')?.trim();
  if (image && compare) {
    // A comparison: both images, each with its platform, and the file whose diff is open.
    // A layer has no meaning here and is dropped.
    const route: Route = { view: 'compare', image, compare };
    const platform = q.get('platform')?.trim();
    if (platform) route.platform = platform;
    const comparePlatform = q.get('comparePlatform')?.trim();
    if (comparePlatform) route.comparePlatform = comparePlatform;
    const path = q.get('path')?.replace(/^\/+/, '');
    if (path) route.path = path;
    return route;
  }
  if (image) {
    const route: Route = { view: 'image', image };
    const platform = q.get('platform')?.trim();
    if (platform) route.platform = platform;
    const layer = parseLayer(q.get('layer'));
    if (layer !== undefined) {
      route.layer = layer;
      const path = q.get('path')?.replace(/^\/+/, '');
      if (path) route.path = path;
    }
    return route;
  }
  const registry = q.get('registry')?.trim();
  if (registry) return { view: 'registry', registry };
  const repository = q.get('repository')?.trim();
  if (repository) {
    return {
      view: 'repository',
      repository,
      ...(q.get('sort') === 'date' ? { sort: 'date' } : {}),
    };
  }
  const view = q.get('view');
  return view === 'library' || view === 'settings' ? { view } : home;
}

function parseLayer(v: string | null): LayerView | undefined {
  if (v === mergedLayers || v === allLayers) return v;
  if (v && /^[1-9]\d{0,5}$/.test(v)) return Number(v) - 1;
  return undefined;
}

/** Characters a query value may carry as they are (RFC 3986 query), so that a shared link
 * reads `image=ghcr.io/owner/app:v1` rather than a wall of escapes. */
const readable = /%(2F|3A|40)/g;
const decoded: Record<string, string> = { '%2F': '/', '%3A': ':', '%40': '@' };

function param(name: string, value: string): string {
  return `${name}=${encodeURIComponent(value).replace(readable, (m) => decoded[m]!)}`;
}

/** The URL query for a route: `?…`, or the empty string for home. */
export function formatRoute(route: Route): string {
  if (route.view === 'library' || route.view === 'settings') return `?view=${route.view}`;
  if (route.view === 'registry' && route.registry) return `?${param('registry', route.registry)}`;
  if (route.view === 'repository' && route.repository) {
    const sort = route.sort === 'date' ? '&sort=date' : '';
    return `?${param('repository', route.repository)}${sort}`;
  }
  if (route.view === 'compare' && route.image && route.compare) {
    const parts = [param('image', route.image)];
    if (route.platform) parts.push(param('platform', route.platform));
    parts.push(param('compare', route.compare));
    if (route.comparePlatform) parts.push(param('comparePlatform', route.comparePlatform));
    if (route.path) parts.push(param('path', `/${route.path}`));
    return `?${parts.join('&')}`;
  }
  if (route.view !== 'image' || !route.image) return '';
  const parts = [param('image', route.image)];
  if (route.platform) parts.push(param('platform', route.platform));
  if (route.layer !== undefined) {
    parts.push(
      param('layer', typeof route.layer === 'number' ? String(route.layer + 1) : route.layer),
    );
    if (route.path) parts.push(param('path', `/${route.path}`));
  }
  return `?${parts.join('&')}`;
}
