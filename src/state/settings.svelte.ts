// The page's preferences, reactive and kept in localStorage, plus the sign-ins the images worker
// holds. Components change settings through this class only.
import type { Connection } from '../lib/registry/transport.ts';
import type { ImagesWorkerApi } from '../workers/images.ts';
import type { Bridge } from './bridge.ts';
import {
  defaultSettings,
  loadSettings,
  normalPlatform,
  proxyUrlProblem,
  saveSettings,
  type Settings,
} from './settings.ts';

export type { Settings };

/** A registry Berth has credentials for: in the worker's memory, and stored when remembered. */
export interface SignIn {
  registry: string;
  username: string;
  remembered: boolean;
}

export interface SettingsStateOptions {
  storage: Storage | undefined;
  /** The proxy this build names: same origin, or VITE_BERTH_PROXY. */
  defaultProxy: string;
  bridge?: Bridge<ImagesWorkerApi>;
}

export class SettingsState {
  current = $state<Settings>(defaultSettings);
  signIns = $state.raw<SignIn[]>([]);
  /** The last change that could not be applied, with why. */
  problem = $state<string | null>(null);
  readonly defaultProxy: string;
  readonly #opts: SettingsStateOptions;

  constructor(opts: SettingsStateOptions) {
    this.#opts = opts;
    this.defaultProxy = opts.defaultProxy;
    this.current = loadSettings(opts.storage);
  }

  /** How the images worker reaches registries now. */
  get connection(): Connection {
    return this.current.direct
      ? { kind: 'direct' }
      : { kind: 'proxy', url: this.current.proxy || this.defaultProxy };
  }

  /** Applies a change, or says why it cannot be applied (the old value stays). */
  update(patch: Partial<Settings>): boolean {
    if (patch.proxy !== undefined) {
      const problem = proxyUrlProblem(patch.proxy);
      if (problem) {
        this.problem = problem;
        return false;
      }
      patch = { ...patch, proxy: patch.proxy.trim().replace(/\/+$/, '') };
    }
    if (patch.platform !== undefined) {
      const p = normalPlatform(patch.platform);
      if (p === null) {
        this.problem = `${patch.platform} is not a platform: write it as os/architecture[/variant], for example linux/arm64.`;
        return false;
      }
      patch = { ...patch, platform: p };
    }
    this.problem = null;
    // Through loadSettings, so what is kept is what a later visit reads back.
    const next = loadSettings({ getItem: () => JSON.stringify({ ...this.current, ...patch }) });
    this.current = next;
    try {
      if (this.#opts.storage) saveSettings(this.#opts.storage, next);
    } catch {
      // Storage refused (private mode, full): the setting holds for this visit.
    }
    return true;
  }

  reset() {
    this.update({ ...defaultSettings });
  }

  /** Reads which registries the images worker holds credentials for. */
  async refreshSignIns(): Promise<void> {
    if (!this.#opts.bridge) return;
    this.signIns = await this.#opts.bridge.call('listCredentials', {}).catch(() => []);
  }

  /** Adds or replaces a registry's credentials; `remember` keeps them in this browser. */
  async signIn(registry: string, username: string, password: string, remember: boolean) {
    await this.#opts.bridge?.call('setCredentials', {
      registry,
      credentials: { username, password },
      remember,
    });
    await this.refreshSignIns();
  }

  async forget(registry: string) {
    await this.#opts.bridge?.call('setCredentials', { registry, credentials: null });
    await this.refreshSignIns();
  }

  async forgetAll() {
    await this.#opts.bridge?.call('forgetCredentials', {});
    await this.refreshSignIns();
  }
}
