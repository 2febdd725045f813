// The composition root: the workers' bridges and every state object, created once and wired
// to the browser (history, storage, visibility, downloads). main.ts mounts what this returns.
// Read this file to see who talks to whom; nothing here holds state of its own.
//
// The states, top down (each file's header says more):
//   AppState        app.svelte.ts        the view, the URL and history, the title, recent images;
//                                        the only one that moves the page (ui/App.svelte routes)
//   ImageState      image.svelte.ts      one image on screen, with its
//     ReferenceState  reference.svelte.ts  reference box, tags and platforms,
//     PullProgress    pull.svelte.ts       progress rows, and
//     FileBrowser     layers/browser.svelte.ts  files (Listings, Viewer, rows.ts beside it)
//   ImageActions    actions.svelte.ts    verify, delete, export, import, discard
//   Activity        activity.svelte.ts   the one task line: phase, error and its kind, notice
//   LibraryState, SettingsState, UpdateState: the store, the preferences, the service worker
//   CompareState    compare.svelte.ts    two images compared: both resolved, the small part, and
//                                        the files part kept by the layers worker
import { createDiffBridge } from '../workers/diff.ts';
import { createDocumentsBridge } from '../workers/documents.ts';
import { createScanBridge } from '../workers/scan.ts';
import { createImagesBridge } from '../workers/images.ts';
import { createLayersBridge } from '../workers/layers.ts';
import { Activity } from './activity.svelte.ts';
import { ImageActions } from './actions.svelte.ts';
import { AppState } from './app.svelte.ts';
import { compareFilesOf } from './compare-files.ts';
import { CompareState } from './compare.svelte.ts';
import { ImageState } from './image.svelte.ts';
import { LibraryState } from './library.svelte.ts';
import { RegistryBrowser } from './registry.svelte.ts';
import { parseRoute } from './route.ts';
import { SettingsState } from './settings.svelte.ts';
import { UpdateState } from './updates.svelte.ts';

/** What the components are given. */
export interface Page {
  app: AppState;
  activity: Activity;
  actions: ImageActions;
  library: LibraryState;
  settings: SettingsState;
  updates: UpdateState;
  registry: RegistryBrowser;
}

/** localStorage throws in some privacy modes; settings then fall back to defaults. */
function safeStorage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined;
  }
}

/** Hands a Blob to the person as a download. */
function save(blob: Blob, fileName: string) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
  document.body.append(a);
  a.click();
  a.remove();
  // The download keeps its own reference; revoke after it has started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The page's own URL for a query: the empty query is the page's path alone. */
const urlOf = (query: string) => query || location.pathname;

export function wire(): Page {
  const storage = safeStorage();
  const images = createImagesBridge();
  const library = new LibraryState(images, navigator.storage);
  const settings = new SettingsState({
    storage,
    bridge: images,
    // A static build hosted apart from its proxy names the proxy at build time.
    defaultProxy: import.meta.env.VITE_BERTH_PROXY || `${location.origin}/proxy`,
  });
  const layers = createLayersBridge(() => settings.current.layerJobSeconds * 1000);
  const activity = new Activity();
  const storeChanged = () => void library.refresh();
  let scan: ReturnType<typeof createScanBridge> | undefined;
  const image = new ImageState({
    images,
    layers,
    settings,
    activity,
    save,
    onStoreChanged: storeChanged,
    onPullStart: () => void library.requestPersistence(),
    // Made when a referrer's document is first opened; its jobs are bounded like the layers'.
    documents: () => createDocumentsBridge(() => settings.current.layerJobSeconds * 1000),
    ...(storage ? { trustStorage: storage } : {}),
    // Made when a search or a secret scan first runs; one worker for both.
    scan: () => (scan ??= createScanBridge(() => settings.current.layerJobSeconds * 1000)),
  });
  const actions = new ImageActions({
    bridge: images,
    activity,
    save,
    onStoreChanged: storeChanged,
    onDeleted: (name) => image.forget(name),
  });
  const registry = new RegistryBrowser({
    bridge: images,
    connection: () => settings.connection,
    preferredPlatform: () => settings.current.platform,
  });
  const compare = new CompareState({
    images,
    layers,
    files: compareFilesOf(layers),
    diff: createDiffBridge,
    settings,
    save,
    onStoreChanged: storeChanged,
  });
  const app = new AppState({
    compare,
    registry,
    image,
    activity,
    actions,
    storage,
    history: {
      read: () => location.search,
      push: (q) => history.pushState(null, '', urlOf(q)),
      replace: (q) => history.replaceState(null, '', urlOf(q)),
    },
  });
  const updates = new UpdateState();
  return { app, activity, actions, library, settings, updates, registry };
}

/** Starts the page: opens the store, applies the URL and listens to the browser. */
export function start({ app, library, settings, updates }: Page) {
  void library.open();
  void settings.refreshSignIns();
  // Another tab may have pulled or deleted images meanwhile.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void library.refresh();
  });
  window.addEventListener('popstate', () => void app.apply(parseRoute(location.search)));
  // A click or a key on a control while a URL is being applied: the person takes over.
  for (const type of ['pointerdown', 'keydown'] as const) {
    document.addEventListener(
      type,
      (e) => {
        const target = e.target instanceof Element ? e.target : null;
        if (target?.closest('a, button, input, select, textarea, [role="tree"]')) app.interrupt();
      },
      { capture: true },
    );
  }
  void app.apply(parseRoute(location.search));
  void updates.start();
}
