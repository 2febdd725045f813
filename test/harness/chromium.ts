/**
 * The system Chromium (Debian package) driven by playwright-core, fully offline.
 */
import { access, constants } from 'node:fs/promises';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-default-apps',
  '--disable-extensions',
  '--metrics-recording-only',
  '--no-default-browser-check',
];

export async function launchChromium(
  opts: { args?: string[]; timeoutMs?: number } = {},
): Promise<Browser> {
  try {
    await access(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `${CHROMIUM_PATH} not found: install the Debian package (apt-get install -y chromium), ` +
        'or run `node scripts/require-system.mjs`',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
    timeout: opts.timeoutMs ?? 60_000,
  });
}

/** A page in a fresh context; close it with `page.context().close()`. */
export async function newPage(
  browser: Browser,
  opts: BrowserContextOptions = { acceptDownloads: true },
): Promise<Page> {
  const context = await browser.newContext({ acceptDownloads: true, ...opts });
  return context.newPage();
}
