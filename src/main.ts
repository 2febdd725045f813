import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/app.css';
import { PullState } from './state/pull.svelte.ts';
import { LibraryState } from './state/library.svelte.ts';
import { UpdateState } from './state/updates.svelte.ts';
import UpdateBanner from './ui/UpdateBanner.svelte';
import { LayerState } from './state/layers.svelte.ts';
import { AppState } from './state/app.svelte.ts';
import { SettingsState } from './state/settings.svelte.ts';
import { parseRoute } from './state/route.ts';
import { createImagesBridge } from './workers/images.ts';
import { createLayersBridge } from './workers/layers.ts';

/** localStorage throws in some privacy modes; settings then fall back to defaults. */
function safeStorage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined;
  }
}

/** Hands a Blob to the user as a download. */
function save(blob: Blob, fileName: string) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
  document.body.append(a);
  a.click();
  a.remove();
  // The download keeps its own reference; revoke after it has started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const storage = safeStorage();
const bridge = createImagesBridge();
const library = new LibraryState(bridge, navigator.storage);
const settings = new SettingsState({
  storage,
  bridge,
  // A static build hosted apart from its proxy names the proxy at build time.
  defaultProxy: import.meta.env.VITE_BERTH_PROXY || `${location.origin}/proxy`,
});

// The states call each other through callbacks; `app` exists before any of them fires.
// eslint-disable-next-line prefer-const
let app: AppState;
const state = new PullState({
  bridge,
  settings,
  onStoreChanged: () => void library.refresh(),
  onPullStart: () => void library.requestPersistence(),
  // Only a person's action switches to the image view; the registry's answers refine its URL.
  onLocation: (_location, started) => (started ? app.imageShown() : app.record()),
  onSummary: (summary, changed) => {
    layers.show(summary);
    if (summary && changed) app.summaryShown();
  },
  save,
});

const layers = new LayerState({
  bridge: createLayersBridge(),
  fetchLayer: (layer) => state.fetchLayer(layer),
  save,
  onLocation: () => app.record(),
});

/** The page's own URL for a query: the empty query is the page's path alone. */
const urlOf = (query: string) => query || location.pathname;
app = new AppState({
  pull: state,
  layers,
  storage,
  history: {
    read: () => location.search,
    push: (q) => history.pushState(null, '', urlOf(q)),
    replace: (q) => history.replaceState(null, '', urlOf(q)),
  },
});

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

mount(App, {
  target: document.getElementById('app')!,
  props: { app, state, library, layers, settings },
});

// Offline and updates: the service worker and the "Update available" banner. The banner waits
// for a running pull before it lets the page reload into a new version.
const updates = new UpdateState();
mount(UpdateBanner, {
  target: document.getElementById('updates')!,
  props: { updates, isBusy: () => state.busy },
});
void updates.start();
