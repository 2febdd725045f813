// Fixtures for looking inside layers, built at test time with GNU tar, gzip and zstd: layer
// formats (multi-member gzip, zstd, PAX long names), a hostile tar, a gzip bomb, a config whose
// diffIDs lie, and an image with a big layer for lazy fetching.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { push, type FixtureImage } from './fixtures.ts';
import { buildImage, OciLayout } from './oci.ts';
import type { Registry } from './registry.ts';

/** A 230-character path: over ustar's 100-byte name and 155-byte prefix, so only PAX holds it. */
export const LONG_PATH = `deep/${'very-long-directory-name/'.repeat(6)}${'f'.repeat(60)}.txt`;
export const BOMB_SIZE = 200_000_000;
export const LAZY_SIZE = 50 << 20;

/** Names in the hostile layer, as a reader must show them: literally. */
export const HOSTILE = {
  escape: '../../escape.txt',
  absolute: '/abs/file.txt',
  control: 'evil\x1b[31mred\nline.txt',
  html: '<img src=x onerror=alert(1)>.html',
  htmlContent: '<script>document.title = "pwned"</script>\n',
  loopA: 'loop/a',
  loopB: 'loop/b',
  dangling: 'dangling',
  missing: 'missing.txt',
  /** An env value whose right-to-left override and newline must show as escapes. */
  env: 'SPOOF=invoice-\u202Efdp.exe\nINJECTED=1',
  envShown: 'SPOOF=invoice-\\u202Efdp.exe\\nINJECTED=1',
} as const;

export interface BrowseFixtures {
  /** Layer 1: multi-member gzip with a PAX long name; layer 2: zstd. */
  formats: FixtureImage;
  hostile: FixtureImage;
  bomb: FixtureImage;
  /** rootfs.diff_ids[1] is wrong. */
  badDiffID: FixtureImage;
  /** One small layer and one uncompressed 50 MiB layer. */
  lazy: FixtureImage;
}

export async function buildBrowseFixtures(registry: Registry): Promise<BrowseFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'berth-browse-'));
  try {
    const layout = await OciLayout.create(join(work, 'layout'));
    const formats = await buildImage({
      layout,
      layers: [
        {
          multiMember: true,
          entries: [
            { type: 'copy', path: 'bin/busybox', from: '/bin/busybox', mode: 0o755 },
            { type: 'file', path: LONG_PATH, content: 'found at the end of a long path\n' },
            { type: 'file', path: 'etc/os-release', content: 'NAME="Berth test"\n' },
          ],
        },
        {
          compression: 'zstd',
          entries: [
            { type: 'file', path: 'etc/zstd.txt', content: 'this layer is zstd\n' },
            { type: 'symlink', path: 'bin/sh', target: 'busybox' },
          ],
        },
      ],
    });
    const hostile = await buildImage({
      layout,
      layers: [
        {
          entries: [
            { type: 'file', path: 'escape.txt', content: 'outside the root\n' },
            { type: 'file', path: 'abs.txt', content: 'absolute\n' },
            { type: 'file', path: HOSTILE.control, content: 'control characters\n' },
            { type: 'file', path: HOSTILE.html, content: HOSTILE.htmlContent },
            { type: 'symlink', path: HOSTILE.loopA, target: 'b' },
            { type: 'symlink', path: HOSTILE.loopB, target: 'a' },
            // Sorted first, so it is archived as the file and `dangling` as the link to it.
            { type: 'file', path: 'a-original.txt', content: 'the hard link pointed here\n' },
            { type: 'hardlink', path: HOSTILE.dangling, target: 'a-original.txt' },
          ],
          transform: [
            's,^escape\\.txt$,../../escape.txt,',
            's,^abs\\.txt$,/abs/file.txt,',
            // Only the hard link's target: the file itself keeps its name, so the link dangles.
            's,^a-original\\.txt$,missing.txt,RSh',
          ],
        },
      ],
      config: { config: { Env: [HOSTILE.env] } },
    });
    const bomb = await buildImage({
      layout,
      layers: [
        {
          entries: [
            { type: 'file', path: 'README', content: 'zeros.bin is 200 MB of zeros\n' },
            { type: 'zeros', path: 'zeros.bin', size: BOMB_SIZE },
          ],
        },
      ],
    });
    const badDiffID = await buildImage({
      layout,
      layers: [
        { entries: [{ type: 'file', path: 'ok.txt', content: 'this layer is fine\n' }] },
        { entries: [{ type: 'file', path: 'lie.txt', content: 'the config lies about me\n' }] },
      ],
      config: { diffIDs: (real) => [real[0]!, real[0]!] },
    });
    const lazy = await buildImage({
      layout,
      layers: [
        { entries: [{ type: 'file', path: 'etc/hostname', content: 'lazy\n' }] },
        {
          compression: 'none',
          entries: [{ type: 'copy', path: 'data/big.bin', from: '/bin/busybox', size: LAZY_SIZE }],
        },
      ],
    });
    return {
      formats: await push(layout, registry, 'browse/formats', 'v1', formats),
      hostile: await push(layout, registry, 'browse/hostile', 'v1', hostile),
      bomb: await push(layout, registry, 'browse/bomb', 'v1', bomb),
      badDiffID: await push(layout, registry, 'browse/baddiffid', 'v1', badDiffID),
      lazy: await push(layout, registry, 'browse/lazy', 'v1', lazy),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
