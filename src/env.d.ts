/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The CORS proxy's base URL, e.g. https://proxy.example.com/proxy; same origin by default. */
  readonly VITE_BERTH_PROXY?: string;
}
