// The state's hook for layers read through their table of contents: a layer that is not stored
// and has a TOC is listed from it (never fetched, never read by the layers worker), and the
// viewer reads its files through the images worker; a layer without one is fetched as before.
import { describe, expect, test } from 'vitest';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import { Listings } from '../../src/state/layers/listings.svelte.ts';
import { RemoteLayers } from '../../src/state/layers/remote.ts';
import { Viewer } from '../../src/state/layers/viewer.svelte.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { ImagesWorkerApi } from '../../src/workers/images.ts';
import type { LayersWorkerApi } from '../../src/workers/layers.ts';
import { entry, summaryOf } from './state-fakes.ts';

function inspected(): ImageSummary {
  const s = summaryOf('lazy', 3, 2);
  s.layers = s.layers.map((l, i) => ({
    ...l,
    stored: false,
    descriptor: {
      ...l.descriptor,
      ...(i === 0
        ? {
            annotations: { 'containerd.io/snapshot/stargz/toc.digest': `sha256:${'1'.repeat(64)}` },
          }
        : {}),
    },
  }));
  return s;
}

function setup() {
  const summary = inspected();
  const calls: string[] = [];
  const lazyDigest = summary.layers[0]!.descriptor.digest;
  const images = {
    call: async (
      method: string,
      arg: { layer: { digest: string }; file?: number; path?: string },
    ) => {
      calls.push(`images.${method} ${arg.layer.digest === lazyDigest ? 'lazy' : 'plain'}`);
      if (method === 'remoteIndex') {
        return arg.layer.digest === lazyDigest
          ? {
              format: 'estargz',
              verified: true,
              files: [entry('etc', 'dir'), entry('etc/a', 'file', 0)],
            }
          : null;
      }
      if (method === 'readRemoteFile') {
        return {
          bytes: new TextEncoder().encode(`file ${arg.file} ${arg.path}`),
          truncated: false,
        };
      }
      throw new Error(`unexpected ${method}`);
    },
  } as unknown as Bridge<ImagesWorkerApi>;
  const layers = {
    call: async (method: string, arg: { digest?: string; layer?: { digest: string } }) => {
      const d = arg.digest ?? arg.layer?.digest;
      calls.push(`layers.${method} ${d === lazyDigest ? 'lazy' : 'plain'}`);
      if (method === 'listLayer') {
        return { files: [entry('usr/b', 'file', 512)], diffID: 'sha256:x', uncompressedSize: 1024 };
      }
      return { bytes: new Uint8Array([1]), truncated: false };
    },
  } as unknown as Bridge<LayersWorkerApi>;
  const remote = new RemoteLayers({
    images,
    summary: () => summary,
    connection: () => ({ mode: 'direct' }) as never,
  });
  const fetched: string[] = [];
  const listings = new Listings({
    bridge: layers,
    fetchLayer: async (d) => void fetched.push(d.digest === lazyDigest ? 'lazy' : 'plain'),
    remote,
  });
  listings.show(summary);
  const viewer = new Viewer({
    bridge: layers,
    listings,
    save: () => {},
    onError: () => {},
    remote,
  });
  return { listings, viewer, calls, fetched };
}

describe('layers with a table of contents', () => {
  test('are listed from it without a download; others are fetched and listed as before', async () => {
    const { listings, calls, fetched } = setup();
    await listings.read([0, 1]);
    expect(listings.of(0)).toMatchObject({ status: 'done', uncompressed: 10 });
    expect(listings.of(0)!.files.map((f) => f.path)).toEqual(['etc', 'etc/a']);
    expect(listings.of(1)!.files.map((f) => f.path)).toEqual(['usr/b']);
    expect(fetched).toEqual(['plain']);
    expect(calls).not.toContain('layers.listLayer lazy');
    // The merged view counts the lazy layer as listed.
    expect(listings.upTo(2)).toHaveLength(2);
  });

  test('their files are read through the TOC, the others by the layers worker', async () => {
    const { listings, viewer, calls } = setup();
    await listings.read([0, 1]);
    const a = listings.of(0)!.files[1]!;
    await viewer.open('etc/a', a, 0);
    expect(new TextDecoder().decode(viewer.file!.bytes!)).toBe('file 0 etc/a');
    await viewer.open('usr/b', listings.of(1)!.files[0]!, 1);
    expect(viewer.file!.bytes).toEqual(new Uint8Array([1]));
    expect(calls.filter((c) => /readFile|readRemoteFile/.test(c))).toEqual([
      'images.readRemoteFile lazy',
      'layers.readFile plain',
    ]);
  });
});
