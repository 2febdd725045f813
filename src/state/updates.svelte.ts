// Offline support and updates. The service worker (vite-plugin-pwa's workbox build) precaches
// the app shell and nothing else; a new build waits until the user chooses to reload into it.

/** Set by vite.config.ts's define; names the build (empty unless BERTH_BUILD_ID was set). */
declare const __BERTH_BUILD__: string;
export const BUILD_ID: string = __BERTH_BUILD__;

export class UpdateState {
  /** A new version is ready; apply() reloads into it. */
  needRefresh = $state(false);
  /** The app shell is cached: the next visit loads without the network. */
  offlineReady = $state(false);
  #update: ((reload?: boolean) => Promise<void>) | undefined;
  #applying = false;
  /** Another tab applied the update: the new version already controls this page. */
  #takenOver = false;

  /**
   * Registers the service worker. It does nothing under `npm run dev` (a service worker would
   * serve stale modules there) or in a browser without service workers.
   */
  async start(): Promise<void> {
    if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
    const { registerSW } = await import('virtual:pwa-register');
    // Registers after the page's load event (workbox-window's default), so precaching does not
    // compete with the first load.
    this.#update = registerSW({
      onNeedRefresh: () => (this.needRefresh = true),
      onOfflineReady: () => (this.offlineReady = true),
      // Called when the new version takes control. Unless this page asked for it, the update
      // was applied in another tab: this one is never reloaded under the user, mid-pull or not.
      onNeedReload: () => {
        if (this.#applying) location.reload();
        else {
          this.#takenOver = true;
          this.needRefresh = true;
        }
      },
    });
  }

  /** Activates the waiting version; the page reloads once it has taken control. */
  async apply(): Promise<void> {
    this.#applying = true;
    if (this.#takenOver) location.reload();
    else await this.#update?.(true);
  }

  /** Hides the prompt. The new version takes over once no tab runs the old one. */
  dismiss(): void {
    this.needRefresh = false;
  }
}
