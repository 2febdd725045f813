// Mounts the page. Every state object is made and wired in state/wiring.ts.
import { mount } from 'svelte';
import App from './ui/App.svelte';
import UpdateBanner from './ui/UpdateBanner.svelte';
import './ui/app.css';
import { start, wire } from './state/wiring.ts';

const page = wire();
start(page);
mount(App, { target: document.getElementById('app')!, props: page });
// Offline and updates: the "Update available" banner waits for a running task before it lets
// the page reload into a new version.
mount(UpdateBanner, {
  target: document.getElementById('updates')!,
  props: { updates: page.updates, activity: page.activity },
});
