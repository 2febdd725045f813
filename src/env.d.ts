/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The CORS proxy's base URL, e.g. https://proxy.example.com/proxy; same origin by default. */
  readonly VITE_BERTH_PROXY?: string;
}

/** Berth's version, from package.json (vite.config.ts `define`). */
declare const __BERTH_VERSION__: string;
