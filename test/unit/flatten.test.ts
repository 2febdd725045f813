// Flattening nested indexes: the depth bound exactly, each nested index read once, and a cap
// on how many manifests an index may hold.
import { describe, expect, test } from 'vitest';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import type { Descriptor, Index } from '../../src/lib/oci/types.ts';
import { maxIndexDepth, maxIndexManifests } from '../../src/lib/oci/limits.ts';
import { flattenIndex } from '../../src/lib/images/documents.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const manifest = (n: number, arch = 'amd64'): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: digest(n),
  size: 100,
  platform: { os: 'linux', architecture: arch },
});
const indexDesc = (n: number): Descriptor => ({
  mediaType: MediaType.OciIndex,
  digest: digest(n),
  size: 100,
});

/** An index nested `levels` deep below the root, ending in one manifest. */
function chain(levels: number) {
  const docs = new Map<string, Index>();
  for (let i = 1; i <= levels; i++) {
    docs.set(digest(i), {
      schemaVersion: 2,
      manifests: [i === levels ? manifest(1000) : indexDesc(i + 1)],
    });
  }
  const root: Index = { schemaVersion: 2, manifests: [levels > 0 ? indexDesc(1) : manifest(1000)] };
  const reads: string[] = [];
  const load = async (d: Descriptor) => {
    reads.push(d.digest);
    return docs.get(d.digest)!;
  };
  return { root, load, reads };
}

describe('flattenIndex', () => {
  test(`${maxIndexDepth} nested levels are read`, async () => {
    const c = chain(maxIndexDepth);
    expect((await flattenIndex(c.root, c.load)).map((d) => d.digest)).toEqual([digest(1000)]);
  });

  test(`${maxIndexDepth + 1} nested levels are refused`, async () => {
    const c = chain(maxIndexDepth + 1);
    await expect(flattenIndex(c.root, c.load)).rejects.toThrow(
      `indexes nest deeper than ${maxIndexDepth} levels`,
    );
  });

  test('a nested index listed many times is read once', async () => {
    const inner: Index = { schemaVersion: 2, manifests: [manifest(7)] };
    const root: Index = { schemaVersion: 2, manifests: Array(50).fill(indexDesc(9)) };
    const reads: string[] = [];
    const leaves = await flattenIndex(root, async (d) => (reads.push(d.digest), inner));
    expect(reads).toEqual([digest(9)]);
    expect(leaves).toHaveLength(1);
  });

  test('a nested index without a platform takes its parent entry’s', async () => {
    const inner: Index = {
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.OciManifest, digest: digest(3), size: 1 }],
    };
    const root: Index = {
      schemaVersion: 2,
      manifests: [{ ...indexDesc(2), platform: { os: 'linux', architecture: 'arm64' } }],
    };
    const [leaf] = await flattenIndex(root, async () => inner);
    expect(leaf!.platform).toEqual({ os: 'linux', architecture: 'arm64' });
  });

  test(`more than ${maxIndexManifests} manifests are refused`, async () => {
    const root: Index = {
      schemaVersion: 2,
      manifests: Array.from({ length: maxIndexManifests + 1 }, (_, i) => manifest(i)),
    };
    await expect(flattenIndex(root, async () => root)).rejects.toThrow(
      `more than ${maxIndexManifests} manifests`,
    );
  });
});
