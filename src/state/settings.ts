// Preferences kept in localStorage. Nothing secret goes here: credentials never do.
import { formatPlatform, parsePlatform } from '../lib/oci/platform.ts';
import { defaultParallelBlobs, maxParallelBlobs } from '../lib/pull/defaults.ts';

export type Theme = 'system' | 'light' | 'dark';
export const themes: readonly Theme[] = ['system', 'light', 'dark'];

export interface Settings {
  /** Blobs downloaded at once. */
  parallel: number;
  /** Size of each Range request for a layer, in MiB: a resume point, and the most one
   * request holds in the browser at a time. */
  pieceMiB: number;
  /** Seconds a download may stay silent (beyond its expected time) before it is presumed
   * dead and resumed. */
  stallSeconds: number;
  /** Seconds one job of the layers worker (reading a layer's files, a file's bytes) may run
   * before it is stopped with an error naming the layer: the answer to a hostile layer that
   * would keep the worker busy for ever. */
  layerJobSeconds: number;
  /** List each layer's files as soon as the pull has stored it, in the background, so that
   * the file browser finds the index ready. */
  indexWhilePulling: boolean;
  /** Base URL of the CORS proxy; empty means the one this build names (same origin unless it
   * was built with VITE_BERTH_PROXY). */
  proxy: string;
  /** Talk to registries without a proxy: only registries that send CORS headers answer. */
  direct: boolean;
  /** The platform chosen for a multi-platform image unless one is asked for; empty means
   * linux/amd64, or the index's first platform. */
  platform: string;
  theme: Theme;
}

export const defaultSettings: Settings = {
  parallel: defaultParallelBlobs,
  pieceMiB: 64,
  stallSeconds: 30,
  layerJobSeconds: 600,
  indexWhilePulling: true,
  proxy: '',
  direct: false,
  platform: '',
  theme: 'system',
};

export const settingsKey = 'berth.settings';

const clamp = (v: unknown, lo: number, hi: number, fallback: number) =>
  typeof v === 'number' && Number.isFinite(v)
    ? Math.min(hi, Math.max(lo, Math.round(v)))
    : fallback;

/** Why a proxy URL cannot be used, or null when it can (empty means the default proxy). */
export function proxyUrlProblem(value: string): string | null {
  const v = value.trim();
  if (!v) return null;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return `${v} is not a URL: write it in full, for example https://proxy.example.com/proxy.`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    return `${v} is not an http or https URL.`;
  }
  if (u.username || u.password) return 'A proxy URL must not carry a user name or password.';
  if (u.search || u.hash) return 'A proxy URL has no query or fragment: give its base path only.';
  return null;
}

/** The platform in its canonical form, or null when it cannot be read. */
export function normalPlatform(value: string): string | null {
  const v = value.trim();
  if (!v) return '';
  try {
    return formatPlatform(parsePlatform(v));
  } catch {
    return null;
  }
}

/** Reads settings, ignoring anything malformed. */
export function loadSettings(storage: Pick<Storage, 'getItem'> | undefined): Settings {
  let raw: Partial<Record<keyof Settings, unknown>>;
  try {
    raw = JSON.parse(storage?.getItem(settingsKey) ?? '{}') ?? {};
  } catch {
    raw = {};
  }
  if (typeof raw !== 'object') raw = {};
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const proxy = str(raw.proxy).trim();
  const platform = normalPlatform(str(raw.platform));
  return {
    parallel: clamp(raw.parallel, 1, maxParallelBlobs, defaultSettings.parallel),
    pieceMiB: clamp(raw.pieceMiB, 1, 256, defaultSettings.pieceMiB),
    stallSeconds: clamp(raw.stallSeconds, 1, 600, defaultSettings.stallSeconds),
    layerJobSeconds: clamp(raw.layerJobSeconds, 1, 86_400, defaultSettings.layerJobSeconds),
    indexWhilePulling: raw.indexWhilePulling !== false,
    proxy: proxyUrlProblem(proxy) === null ? proxy.replace(/\/+$/, '') : '',
    direct: raw.direct === true,
    platform: platform ?? '',
    theme: themes.includes(raw.theme as Theme) ? (raw.theme as Theme) : 'system',
  };
}

export function saveSettings(storage: Pick<Storage, 'setItem'>, settings: Settings): void {
  storage.setItem(settingsKey, JSON.stringify(settings));
}
