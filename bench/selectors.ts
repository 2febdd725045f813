// Every hook the benchmark reads in the page, in one place: the tree's DOM may change (its rows
// may come from a worker), and these are the names the e2e tests already rely on.
export const SELECTORS = {
  filesRegion: 'section[aria-label="Files"]',
  summaryRegion: 'section[aria-label="Image summary"]',
  /** The summary of an image on screen, stored or still being pulled (its config is known). */
  anySummary:
    'section[aria-label="Image summary"], section[aria-label="Summary of the image being pulled"]',
  /** The config's history table: the first view is shown (during a pull too). */
  history: 'table.history',
  notice: '.notice',
  /** The home view's reference field: the app has started. */
  appReady: 'form.reference input',
  alert: '[role=alert]',
  /** While a layer is read. */
  reading: '.reading',
  /** While a search runs. */
  searching: '.searching',
  tree: '[role=tree]',
  treeItem: '[role=treeitem]',
  /** A virtual row of the tree, with its index. */
  row: '[data-index]',
  rowIndexAttribute: 'data-index',
  viewer: 'section[aria-label="File viewer"], [aria-label="File viewer"]',
} as const;

export type Selectors = typeof SELECTORS;

/** Button and field names, as Playwright's getByRole finds them. */
export const NAMES = {
  reference: 'Image reference',
  pull: 'Pull',
  inspect: 'Inspect',
  browseLayer: (n: number) => `Browse layer ${n}`,
  view: 'View',
  search: 'Search files',
  viewFile: 'View file',
  viewer: 'File viewer',
  closeViewer: 'Close',
  download: 'Download OCI archive',
  merged: 'merged',
} as const;

/** The page's text for a pulled image ("Pulled …"). */
export const PULLED_PREFIX = 'Pulled ';
