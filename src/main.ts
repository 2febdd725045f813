import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/app.css';
import { PullState } from './state/pull.svelte.ts';
import { LibraryState } from './state/library.svelte.ts';
import { createPullBridge } from './workers/pull.ts';
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
  save: (blob, fileName) => {
    const url = URL.createObjectURL(blob);
    const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
    document.body.append(a);
    a.click();
    a.remove();
    // The download keeps its own reference; revoke after it has started.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  },
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

mount(App, { target: document.getElementById('app')!, props: { state, library } });
