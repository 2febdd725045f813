// Damaged input never throws out of a language cataloger: random bytes, and real files (a jar,
// an ELF with .dep-v0, a Go binary's build info, a package.json, a METADATA) with bytes flipped
// or cut off. Each gives packages or problems, and returns.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { langCatalogers } from '../../src/lib/packages/lang.ts';
import type { CatalogResult, Cataloger } from '../../src/lib/packages/types.ts';

const tmp = mkdtempSync(join(tmpdir(), 'berth-lang-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const byId = (id: string) => langCatalogers.find((c) => c.id === id)!;

async function run(
  c: Cataloger,
  path: string,
  bytes: Uint8Array,
  chunk: number,
): Promise<CatalogResult> {
  const file = { path, size: bytes.length, mode: 0o755 };
  if (c.read) return c.read({ ...file, bytes });
  const scan = c.scan!(file);
  for (let i = 0; i < bytes.length; i += chunk) if (!scan.push(bytes.subarray(i, i + chunk))) break;
  return scan.finish();
}

function elfWithDeps(): [Uint8Array, number, number] {
  const section = join(tmp, 'dep.z');
  writeFileSync(
    section,
    execFileSync(
      'python3',
      ['-c', 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))'],
      {
        input: JSON.stringify({ packages: [{ name: 'a', version: '1.0.0', source: 'crates.io' }] }),
      },
    ),
  );
  const out = join(tmp, 'elf');
  copyFileSync('/bin/true', out);
  execFileSync('objcopy', ['--add-section', `.dep-v0=${section}`, out]);
  // The section's offset and size, so that flips can be aimed at it and at the tables.
  const row = execFileSync('readelf', ['-S', '-W', out], { encoding: 'utf8' });
  const line = / \.dep-v0\s+\S+\s+\S+\s+(\S+)\s+(\S+)/.exec(row)!;
  const at = parseInt(line[1]!, 16);
  return [new Uint8Array(readFileSync(out)), at, at + parseInt(line[2]!, 16)];
}

/** Where the Go build info header sits in `b`, and a window around it, so that flips land in it. */
function goWindow(path: string): Uint8Array {
  const b = readFileSync(path);
  let at = -1;
  const magic = Buffer.from('\xff Go buildinf:', 'latin1');
  for (let i = b.indexOf(magic); i >= 0; i = b.indexOf(magic, i + 1)) if (i % 16 === 0) at = i;
  // An ELF head, then the header at an aligned offset with what follows it.
  const head = b.subarray(0, 4096);
  return new Uint8Array(Buffer.concat([head, b.subarray(at, at + 8192)]));
}

const jar = new Uint8Array(readFileSync('/usr/share/java/commons-lang3.jar'));
const [elf, depFrom, depTo] = elfWithDeps();
const go = goWindow('/usr/bin/umoci');
const pj = new TextEncoder().encode('{"name":"a","version":"1.0.0","license":"MIT"}');
const metadata = new TextEncoder().encode('Name: a\nVersion: 1\nLicense: MIT\n');
/** Each sample with the range its flips land in: the part the cataloger reads. */
const samples: [cataloger: string, path: string, bytes: Uint8Array, from: number, to: number][] = [
  // The central directory and the small entries are in the last KiB of the jar.
  ['java', 'a.jar', jar, jar.length - 8192, jar.length],
  ['cargo', 'usr/bin/a', elf, depFrom, elf.length],
  ['cargo', 'usr/bin/a', elf, depFrom, depTo],
  ['go', 'usr/bin/umoci', go, 4096, go.length],
  ['npm', 'node_modules/a/package.json', pj, 0, pj.length],
  ['python', 'site-packages/a-1.dist-info/METADATA', metadata, 0, metadata.length],
];

describe('language catalogers on damaged input', { timeout: 120_000 }, () => {
  it('real files with bytes flipped or cut off give packages or problems, never an exception', async () => {
    for (const [id, path, bytes, from, to] of samples) {
      const c = byId(id);
      const clean = await run(c, path, bytes, 4096);
      expect(clean.problems, id).toEqual([]);
      expect(clean.packages.length, id).toBeGreaterThan(0);
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(fc.integer({ min: from, max: to - 1 }), fc.integer({ min: 0, max: 255 })),
            {
              maxLength: 8,
            },
          ),
          // Most runs whole, some cut off anywhere.
          fc.oneof(fc.constant(bytes.length), fc.constant(bytes.length), fc.nat(bytes.length)),
          fc.integer({ min: 1, max: 9000 }),
          async (flips, cut, chunk) => {
            const damaged = bytes.slice(0, Math.max(cut, 1));
            for (const [at, value] of flips) if (at < damaged.length) damaged[at] = value;
            const result = await run(c, path, damaged, chunk);
            expect(Array.isArray(result.packages) && Array.isArray(result.problems)).toBe(true);
          },
        ),
        { numRuns: id === 'java' ? 40 : 150, seed: 17 },
      );
    }
  });

  it('random bytes under every wanted name give packages or problems, never an exception', async () => {
    const names: [string, string][] = [
      ['npm', 'node_modules/a/package.json'],
      ['python', 'usr/lib/python3/dist-packages/a.egg-info'],
      ['java', 'a.war'],
      ['go', 'usr/bin/a'],
      ['cargo', 'usr/bin/a'],
    ];
    const prefixes = [[], [0x7f, 0x45, 0x4c, 0x46, 2, 1], [0x50, 0x4b, 3, 4]];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 4096 }),
        async ([id, path], prefix, body) => {
          const bytes = new Uint8Array([...prefix, ...body]);
          const result = await run(byId(id), path, bytes, 512);
          expect(Array.isArray(result.problems)).toBe(true);
        },
      ),
      { numRuns: 500, seed: 17 },
    );
  });
});
