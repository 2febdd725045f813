// npm run screenshots: photographs Berth's main views from the real app in Chromium, against a
// real registry with the test fixtures, into docs/screenshots/. The same tour the a11y test
// scans (test/harness/tour.ts), so the pictures never show something the tests do not check.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTourEnv, tour } from '../test/harness/tour.ts';

const docs = join(import.meta.dirname, '..', 'docs');
const out = join(docs, 'screenshots');

/** docs/README.md: the gallery, from the tour's own titles. */
function gallery(): string {
  const views = tour
    .map((s) => `### ${s.title}\n\n![${s.title}](screenshots/${s.name}.png)\n`)
    .join('\n');
  return `# Berth, view by view

These pictures are taken by \`npm run screenshots\` (\`scripts/screenshots.ts\`) from the real app
in Chromium, against a real registry holding the test fixtures, along the same tour the
accessibility test scans (\`test/harness/tour.ts\`). Run it again after a change to the UI; it
rewrites this page too.

Hosting the proxy on Node, workerd or Cloudflare Workers: [deploy.md](deploy.md).

${views}
### The same in the dark theme, and at 360 px

![The image summary in the dark theme](screenshots/summary-dark.png)

![A file in the dark theme](screenshots/file-dark.png)

![A file at 360 px](screenshots/file-360px.png)
`;
}

async function main() {
  await mkdir(out, { recursive: true });
  const env = await startTourEnv();
  try {
    for (const scheme of ['light', 'dark'] as const) {
      const context = await env.browser.newContext({
        viewport: { width: 1280, height: 860 },
        colorScheme: scheme,
        acceptDownloads: true,
      });
      const page = await context.newPage();
      for (const stop of tour) {
        await stop.visit(page, env);
        // Let progress bars and the skeleton settle, and focus rings go.
        await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
        await page.waitForTimeout(300);
        if (scheme === 'light' || stop.name === 'summary' || stop.name === 'file') {
          const file = join(out, `${stop.name}${scheme === 'dark' ? '-dark' : ''}.png`);
          await page.screenshot({ path: file, fullPage: stop.name !== 'summary' });
          console.log(file);
        }
      }
      await context.close();
    }
    // The narrowest layout the page supports.
    const phone = await env.browser.newContext({ viewport: { width: 360, height: 760 } });
    const page = await phone.newPage();
    for (const stop of tour.slice(0, 5)) await stop.visit(page, env);
    const file = join(out, 'file-360px.png');
    await page.screenshot({ path: file });
    console.log(file);
    await phone.close();
    await writeFile(join(docs, 'README.md'), gallery());
  } finally {
    await env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
