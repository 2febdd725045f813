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
import { toColumns, toEntries, type ColumnIndex } from '../../src/lib/layers/columns.ts';

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
  /** The paths of the indexes the layers worker was given, by digest. */
  const adopted = new Map<string, string[]>();
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
              files: toColumns([entry('etc', 'dir'), entry('etc/a', 'file', 0)]),
              uncompressed: 10,
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
        return { entries: 1, tooDeep: 0, diffID: 'sha256:x', uncompressedSize: 1024 };
      }
      if (method === 'adoptIndex') {
        adopted.set(
          d!,
          toEntries((arg as { index: ColumnIndex }).index).map((e) => e.path),
        );
        return 0;
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
    hardlinkTarget: async () => undefined,
    remote,
  });
  return { listings, viewer, calls, fetched, adopted, lazyDigest };
}

describe('layers with a table of contents', () => {
  test('are listed from it without a download; others are fetched and listed as before', async () => {
    const { listings, calls, fetched, adopted, lazyDigest } = setup();
    await listings.read([0, 1]);
    expect(listings.of(0)).toMatchObject({ status: 'done', entries: 2, uncompressed: 10 });
    // The tree lives in the layers worker: it was given the TOC's entries.
    expect(adopted.get(lazyDigest)).toEqual(['etc', 'etc/a']);
    expect(listings.of(1)).toMatchObject({ status: 'done', entries: 1 });
    expect(fetched).toEqual(['plain']);
    expect(calls).not.toContain('layers.listLayer lazy');
    // The merged view counts the lazy layer as listed.
    expect(listings.doneUpTo(2)).toBe(true);
  });

  test('their files are read through the TOC, the others by the layers worker', async () => {
    const { listings, viewer, calls } = setup();
    await listings.read([0, 1]);
    // The remote index numbers its files: entry.offset is the file's number there.
    await viewer.open('etc/a', { ...entry('etc/a', 'file', 0), offset: 0 }, 0);
    expect(new TextDecoder().decode(viewer.file!.bytes!)).toBe('file 0 etc/a');
    await viewer.open('usr/b', entry('usr/b', 'file', 512), 1);
    expect(viewer.file!.bytes).toEqual(new Uint8Array([1]));
    expect(calls.filter((c) => /readFile|readRemoteFile/.test(c))).toEqual([
      'images.readRemoteFile lazy',
      'layers.readFile plain',
    ]);
  });
});
