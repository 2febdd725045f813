import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/app.css';
import { PullState } from './state/pull.svelte.ts';
import { LibraryState } from './state/library.svelte.ts';
import { UpdateState } from './state/updates.svelte.ts';
import UpdateBanner from './ui/UpdateBanner.svelte';
import { LayerState } from './state/layers.svelte.ts';
import { createPullBridge } from './workers/pull.ts';
import { createLayersBridge } from './workers/layers.ts';
import { loadSettings } from './state/settings.ts';

/** localStorage throws in some privacy modes; settings then fall back to defaults. */
function safeStorage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined;
  }
}

const params = new URLSearchParams(location.search);

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

const bridge = createPullBridge();
const library = new LibraryState(bridge, navigator.storage);

const state = new PullState({
  bridge,
  onStoreChanged: () => void library.refresh(),
  onPullStart: () => void library.requestPersistence(),
  settings: loadSettings(safeStorage()),
  // A static build hosted apart from its proxy names the proxy at build time.
  proxy: import.meta.env.VITE_BERTH_PROXY || `${location.origin}/proxy`,
  onLocation: ({ image, platform }) => {
    const q = new URLSearchParams({ image, ...(platform ? { platform } : {}) });
    history.replaceState(null, '', `?${q}`);
  },
  save,
});

const layers = new LayerState({
  bridge: createLayersBridge(),
  fetchLayer: (layer) => state.fetchLayer(layer),
  save,
});

void library.open();
// Another tab may have pulled or deleted images meanwhile.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void library.refresh();
});

const image = params.get('image');
if (image) {
  state.reference = image;
  state.platform = params.get('platform') ?? '';
  void state.resolve();
}

mount(App, { target: document.getElementById('app')!, props: { state, library, layers } });

// Offline and updates: the service worker and the "Update available" banner. The banner waits
// for a running pull before it lets the page reload into a new version.
const updates = new UpdateState();
mount(UpdateBanner, {
  target: document.getElementById('updates')!,
  props: { updates, isBusy: () => state.busy },
});
void updates.start();
