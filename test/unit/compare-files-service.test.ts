// The layers worker's compare service (src/workers/compare-service.ts) over the compare
// fixtures' real tars: its calls, one object each, as the page makes them; deciding reads
// each layer once; the export is the JSON the README documents.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type {
  CompareLayer,
  ImageComparison,
  OpenCompareRequest,
  PathDiff,
} from '../../src/lib/compare/types.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { CompareService } from '../../src/workers/compare-service.ts';
import type { CallContext } from '../../src/workers/rpc.ts';
import { buildTar, COMPARE_EXPECTED, COMPARE_LAYERS } from '../harness/compare-fixtures.ts';

const streamOf = (path: string, start = 0) =>
  Readable.toWeb(createReadStream(path, { start })) as ReadableStream<Uint8Array>;

let work: string;
const indexes = new Map<string, ColumnIndex>();
const diffIDs = new Map<string, string>();
const tars = new Map<string, string>();
let a: CompareLayer[];
let b: CompareLayer[];
/** Reads the service made of layers, by digest. */
const reads: string[] = [];

const ctx = (): CallContext => ({ signal: new AbortController().signal, emit: () => {} });

function service() {
  return new CompareService({
    index: async (digest) => indexes.get(digest),
    diffID: async (digest) => diffIDs.get(digest),
    tarFrom: async (layer) => {
      reads.push(layer.digest);
      return { tar: streamOf(tars.get(layer.digest)!), start: 0 };
    },
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-compare-service-'));
  const layer = async (entries: (typeof COMPARE_LAYERS.a)[number], name: string) => {
    const tar = await buildTar(work, [...entries]);
    const listing = await listLayer(streamOf(tar));
    // Blob digests of their own: the recompressed layer shares only its diffID.
    const digest = `sha256:${name.padEnd(64, '0')}`;
    indexes.set(digest, listing.files);
    diffIDs.set(digest, listing.diffID);
    tars.set(digest, tar);
    return { digest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 0 };
  };
  a = await Promise.all(COMPARE_LAYERS.a.map((l, i) => layer(l, `a${i}`)));
  b = await Promise.all(COMPARE_LAYERS.b.map((l, i) => layer(l, i === 0 ? 'a0' : `b${i}`)));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const request = (over: Partial<OpenCompareRequest> = {}): OpenCompareRequest => ({
  a,
  b,
  filter: { differences: [], aspects: [], query: '' },
  sort: 'name',
  expanded: [],
  window: [0, 50],
  ...over,
});

describe('the compare service', () => {
  test('opens, windows, decides reading each layer once, and exports the JSON', async () => {
    const { api } = service();
    const opened = await api.openCompare(request({ expanded: ['app'] }), ctx());
    expect(opened.missing).toEqual({ a: [], b: [] });
    expect(opened.summary.pending).toBe(10);
    expect(opened.rows.map((r) => r.path).slice(0, 3)).toEqual([
      'app',
      'app/added.txt',
      'app/config.txt',
    ]);
    expect(opened.count).toBe(4 + 14);
    const window = await api.compareRows({ compareId: opened.compareId, window: [15, 30] });
    expect(window).toMatchObject({ start: 15, count: 18 });
    expect(window.rows.map((r) => r.path)).toEqual(['cache', 'etc', 'opt']);

    reads.length = 0;
    const summary = await api.compareDecide({ compareId: opened.compareId }, ctx());
    expect(summary.pending).toBe(0);
    expect(summary.changed.count).toBe(8);
    // a's app layer, b's app and cleanup layers: once each.
    expect(reads.sort()).toEqual([a[2]!.digest, b[2]!.digest, b[3]!.digest].sort());
    reads.length = 0;
    await api.compareDecide({ compareId: opened.compareId }, ctx());
    expect(reads).toEqual([]);

    const path = await api.comparePath({ compareId: opened.compareId, path: 'app/moved.bin' });
    expect(path).toMatchObject({ difference: 'unchanged' });
    expect(path!.a!.digest).toBe(path!.b!.digest);

    const meta = { identical: false, note: 'the page computes this part' };
    const blob = await api.compareExport(
      { compareId: opened.compareId, meta: meta as unknown as ImageComparison },
      ctx(),
    );
    expect(blob.type).toBe('application/json');
    const json = JSON.parse(await blob.text()) as {
      schema: string;
      identical: boolean;
      note: string;
      files: { summary: unknown; paths: PathDiff[] };
    };
    expect(Object.keys(json)).toEqual(['schema', 'identical', 'note', 'files']);
    expect(json.schema).toBe('berth.compare.v1');
    expect(json.files.summary).toEqual(summary);
    expect(json.files.paths.map((p) => p.path).sort()).toEqual(
      Object.keys(COMPARE_EXPECTED.paths).sort(),
    );
  });

  test('filters, sorts and toggles by id; a closed comparison is lost', async () => {
    const { api } = service();
    const { compareId } = await api.openCompare(
      request({ filter: { differences: ['removed'], aspects: [], query: '' }, sort: 'delta' }),
      ctx(),
    );
    let w = await api.compareToggle({ compareId, path: 'cache', open: true, window: [0, 50] });
    // By |delta|: etc -32, app -17, cache -2; in cache, sub -13 before one and two at -11.
    expect(w.rows.map((r) => r.path)).toEqual([
      'etc',
      'app',
      'cache',
      'cache/sub',
      'cache/one.txt',
      'cache/two.txt',
    ]);
    // Opening an open directory leaves it open: the page says open or closed, never "flip", so
    // a page that opened it already (a URL's path) and asks again does not close it.
    const again = await api.compareToggle({
      compareId,
      path: 'cache',
      open: true,
      window: [0, 50],
    });
    expect(again.rows.map((r) => r.path)).toEqual(w.rows.map((r) => r.path));
    // Any row's index and type-ahead are answered from the whole view, not the page's window.
    expect(await api.compareIndexOf({ compareId, path: 'cache/two.txt' })).toBe(5);
    expect(await api.compareIndexOf({ compareId, path: 'etc/nothing' })).toBe(-1);
    expect(await api.compareFind({ compareId, prefix: 'tw', from: 0 }, ctx())).toBe(5);
    expect(await api.compareFind({ compareId, prefix: 'ca', from: 3 }, ctx())).toBe(2);
    expect(await api.compareFind({ compareId, prefix: 'zz', from: 0 }, ctx())).toBe(-1);
    w = await api.compareSort({ compareId, sort: 'name', window: [0, 50] }, ctx());
    expect(w.rows.map((r) => r.path)).toEqual([
      'app',
      'cache',
      'cache/one.txt',
      'cache/sub',
      'cache/two.txt',
      'etc',
    ]);
    w = await api.compareFilter(
      { compareId, filter: { differences: [], aspects: [], query: 'etc/*' }, window: [0, 50] },
      ctx(),
    );
    expect(w.rows.map((r) => r.path)).toEqual(['etc', 'etc/motd', 'etc/os-release', 'etc/passwd']);
    await api.closeCompare({ compareId });
    await expect(api.compareRows({ compareId, window: [0, 10] })).rejects.toThrow(
      /not held by this worker/,
    );
  });

  test('a layer not listed yet is reported missing', async () => {
    const { api } = service();
    const unknown = { digest: `sha256:${'f'.repeat(64)}`, mediaType: 'x', size: 0 };
    const opened = await api.openCompare(request({ b: [...b, unknown, null] }), ctx());
    expect(opened.missing).toEqual({ a: [], b: [4] });
  });
});
