// Accessibility of every main view, in both themes: axe-core finds no serious or critical
// violation, and every control Tab reaches shows where focus is.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { axeViolations, focusWalk, isSevere } from '../harness/axe.ts';
import { startTourEnv, tour, type TourEnv } from '../harness/tour.ts';

let env: TourEnv;

beforeAll(async () => {
  env = await startTourEnv();
});
afterAll(async () => {
  await env?.stop();
});

for (const colorScheme of ['light', 'dark'] as const) {
  describe(`${colorScheme} theme`, () => {
    let page: Page;
    beforeAll(async () => {
      const context = await env.browser.newContext({ colorScheme, acceptDownloads: true });
      page = await context.newPage();
    });
    afterAll(async () => {
      await page?.context().close();
    });

    // The stops build on each other (a pull, then its layers, then a file): in order.
    for (const stop of tour) {
      test(stop.name, async () => {
        await stop.visit(page, env);
        const severe = (await axeViolations(page)).filter(isSevere);
        expect(
          severe,
          `axe on ${stop.name}: ${severe.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n')}`,
        ).toEqual([]);
        const { seen, missed } = await focusWalk(page);
        expect(seen.length, `Tab reaches controls on ${stop.name}`).toBeGreaterThan(3);
        expect(missed, `controls Tab never reaches on ${stop.name}`).toEqual([]);
        const hidden = seen.filter((w) => !w.visible).map((w) => w.name);
        expect(hidden, `focus not visible on ${stop.name}`).toEqual([]);
      });
    }
  });
}
