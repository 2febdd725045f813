// Berth's version reaches what it writes (the SBOM's tool fields) from package.json, through
// the build's define: one place to change it.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { toolVersion } from '../../src/state/packages.svelte.ts';

test("the SBOM tool version is package.json's", () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(toolVersion).toBe(pkg.version);
});
