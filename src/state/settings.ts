// Preferences kept in localStorage. Nothing secret goes here: credentials never do.

export interface Settings {
  /** Blobs downloaded at once. */
  parallel: number;
  /** Size of each Range request for a layer, in MiB: a resume point, and the most one
   * request holds in the browser at a time. */
  pieceMiB: number;
  /** Seconds a download may stay silent (beyond its expected time) before it is presumed
   * dead and resumed. */
  stallSeconds: number;
}

export const defaultSettings: Settings = { parallel: 3, pieceMiB: 64, stallSeconds: 30 };

const key = 'berth.settings';

const clamp = (v: unknown, lo: number, hi: number, fallback: number) =>
  typeof v === 'number' && Number.isFinite(v)
    ? Math.min(hi, Math.max(lo, Math.round(v)))
    : fallback;

/** Reads settings, ignoring anything malformed. */
export function loadSettings(storage: Pick<Storage, 'getItem'> | undefined): Settings {
  let raw: Partial<Record<keyof Settings, unknown>>;
  try {
    raw = JSON.parse(storage?.getItem(key) ?? '{}') ?? {};
  } catch {
    raw = {};
  }
  return {
    parallel: clamp(raw.parallel, 1, 8, defaultSettings.parallel),
    pieceMiB: clamp(raw.pieceMiB, 1, 256, defaultSettings.pieceMiB),
    stallSeconds: clamp(raw.stallSeconds, 1, 600, defaultSettings.stallSeconds),
  };
}

export function saveSettings(storage: Pick<Storage, 'setItem'>, settings: Settings): void {
  storage.setItem(key, JSON.stringify(settings));
}
