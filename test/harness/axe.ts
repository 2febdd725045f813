/**
 * axe-core run inside a page. The source is evaluated through the DevTools protocol, which the
 * page's CSP (script-src 'self') does not govern, so the app is scanned exactly as it ships.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

let source: Promise<string> | undefined;

/** The violations axe finds on the page as it is now, every WCAG 2.x A/AA rule and axe's best
 * practices included. */
export async function axeViolations(page: Page): Promise<Violation[]> {
  source ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const src = await source;
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(src);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (...a: unknown[]) => Promise<unknown> } }).axe;
    const result = (await axe.run(document, { resultTypes: ['violations'] })) as {
      violations: {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: unknown[]; failureSummary?: string }[];
      }[];
    };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary ?? ''}`),
    }));
  });
}

/** Only what the bar counts: serious and critical. */
export const isSevere = (v: Violation) => v.impact === 'serious' || v.impact === 'critical';

/** Every element Tab reaches, in order, with whether its focus can be seen (an outline or a
 * box shadow), starting from the top of the page. */
export async function focusWalk(page: Page, max = 400) {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.evaluate(() => window.scrollTo(0, 0));
  const seen: { name: string; visible: boolean }[] = [];
  let first: string | undefined;
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const info = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const name =
        el.getAttribute('aria-label') ||
        (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent) ||
        el.closest('label')?.textContent ||
        el.textContent ||
        el.tagName;
      el.dataset.focusWalked = '1';
      const key = `${el.tagName}#${el.id}|${name}|${Array.from(el.parentNode?.children ?? []).indexOf(el)}|${el.getBoundingClientRect().top + window.scrollY}`;
      return {
        key,
        name: `${el.tagName.toLowerCase()} "${name.trim().replace(/\s+/g, ' ').slice(0, 60)}"`,
        visible:
          (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) ||
          style.boxShadow !== 'none',
      };
    });
    if (!info) continue;
    if (info.key === first) break;
    first ??= info.key;
    seen.push({ name: info.name, visible: info.visible });
  }
  // Every control on screen should have been reached: one stop per radio group.
  const missed = await page.evaluate(() => {
    const selector =
      'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])';
    const groups = new Set<string>();
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>(selector)) {
      if ((el as HTMLButtonElement).disabled || el.getClientRects().length === 0) continue;
      if (el.closest('[inert], [aria-hidden="true"]')) continue;
      // The content of a closed <details> has boxes in Chromium, but is not on screen.
      const details = el.closest('details');
      if (details && !details.open && !el.closest('summary')) continue;
      if (el instanceof HTMLInputElement && el.type === 'radio') {
        if (groups.has(el.name)) continue;
        groups.add(el.name);
        const group = document.querySelectorAll<HTMLElement>(
          `input[type=radio][name="${el.name}"]`,
        );
        if ([...group].some((r) => r.dataset.focusWalked)) continue;
      }
      if (!el.dataset.focusWalked) {
        out.push(
          `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 60)}"`,
        );
      }
    }
    for (const el of document.querySelectorAll<HTMLElement>('[data-focus-walked]')) {
      delete el.dataset.focusWalked;
    }
    return out;
  });
  return { seen, missed };
}
