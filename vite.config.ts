import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import type { Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { berthProxyPlugin } from './proxy/vite-plugin.ts';

const { version } = JSON.parse(
  readFileSync(new URL('./package.json', import.meta.url), 'utf8'),
) as {
  version: string;
};

/** secretlint's rule preset imports node:path for basename alone: in the browser build it gets
 * pathe, the same functions without Node. Its GCP rule imports node:fs to read a .p12 from the
 * disk, which the scan never asks of it (and a browser has no disk): it gets a module without
 * functions, whose call fails inside the rule's own try. Only that package's imports are
 * redirected, and only in a build (Node, in tests, has the real modules). */
const noFs = '\0berth-no-fs';
const secretlintPath: Plugin = {
  name: 'berth-secretlint-path',
  enforce: 'pre',
  apply: 'build',
  resolveId(id, importer) {
    if (!importer?.includes('/@secretlint/')) return null;
    if (id === 'node:path') return this.resolve('pathe', importer, { skipSelf: true });
    if (id === 'node:fs') return noFs;
    return null;
  },
  load: (id) => (id === noFs ? 'export default {};' : null),
};

export default defineConfig({
  plugins: [
    secretlintPath,
    svelte(),
    berthProxyPlugin(),
    VitePWA({
      // The page asks before an update takes over (src/ui/UpdateBanner.svelte); never mid-pull.
      registerType: 'prompt',
      // src/state/updates.svelte.ts registers it from the bundle: no inline script for the CSP.
      injectRegister: null,
      // The glob below already precaches them.
      includeManifestIcons: false,
      manifest: {
        name: 'Berth',
        short_name: 'Berth',
        description: 'Pull container images into your browser, look inside, export OCI archives.',
        // Relative to the manifest, like every URL of the build: the site may live in a directory.
        start_url: './',
        scope: './',
        display: 'standalone',
        // app.css's light theme: --accent and --bg.
        theme_color: '#0b5cad',
        background_color: '#f6f7f9',
        icons: [
          { src: './favicon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: './icon-maskable.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The app shell only (the pull worker is its own chunk under assets/); no source maps.
        globPatterns: ['**/*.{js,css,html,svg,wasm}'],
        // Registry data lives in IndexedDB. Nothing but this precache is ever cached, and there
        // is deliberately no runtimeCaching: proxy traffic goes to the network untouched.
        navigateFallback: 'index.html',
        // Berth is one page: only its directory (with a query such as ?image=) falls back to the
        // cached shell. The site may live in any directory, so that is any path ending in "/".
        navigateFallbackAllowlist: [/^[^?]*\/(?:\?|$)/],
        navigateFallbackDenylist: [/\/proxy\//],
        // The first visit is offline-capable at once; updates still wait for the prompt.
        clientsClaim: true,
        cleanupOutdatedCaches: true,
      },
      devOptions: { enabled: false },
    }),
  ],
  define: {
    // Identifies a build; the offline e2e test changes it to produce an update.
    __BERTH_BUILD__: JSON.stringify(process.env.BERTH_BUILD_ID ?? ''),
    // Berth's version as package.json gives it, for what Berth writes its name into (SBOMs).
    __BERTH_VERSION__: JSON.stringify(version),
  },
  // Relative URLs: the built site works from any directory of any static host.
  base: './',
  server: { host: '127.0.0.1', port: 5173 },
  build: { target: 'es2022', sourcemap: true },
  worker: { format: 'es', plugins: () => [secretlintPath] },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // One offline internet for every internet-*.test.ts here, started when the first
          // asks: the files run one at a time, and each resets it to its own emulators.
          globalSetup: ['test/harness/internet/global-setup.ts'],
        },
      },
    ],
  },
});
