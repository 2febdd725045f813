// The scan worker's search (src/workers/search-service.ts) over real GNU tar layers: every
// layer's files with what later layers did to them (deleted by a whiteout or an opaque
// directory, overwritten), the merged view only, filters, layers not stored, the caps on
// results, events in batches, 'matching' before an expression runs, and cancelling.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { noFilters, type SearchFilters } from '../../src/lib/search/filters.ts';
import type { CallContext } from '../../src/workers/rpc.ts';
import {
  SearchService,
  type SearchEvent,
  type SearchLayer,
  type SearchLimits,
  type SearchRequest,
  type SearchResult,
} from '../../src/workers/search-service.ts';
import { buildTar, pseudoRandomBytes, type OwnedEntry } from '../harness/compare-fixtures.ts';

let work: string;
const indexes = new Map<string, ColumnIndex>();
const tars = new Map<string, string>();
const notStored = new Set<string>();
let layers: SearchLayer[];

const streamOf = (path: string) =>
  Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

function service(limits: Partial<SearchLimits> = {}) {
  return new SearchService({
    index: async (digest) => indexes.get(digest),
    stored: async (digest) => !notStored.has(digest),
    tarFrom: async (layer) => ({ tar: streamOf(tars.get(layer.digest)!), start: 0 }),
    limits,
  });
}

async function layer(name: string, entries: OwnedEntry[]): Promise<SearchLayer> {
  const tar = await buildTar(work, entries);
  const digest = `sha256:${name.padEnd(64, '0')}`;
  indexes.set(digest, (await listLayer(streamOf(tar))).files);
  tars.set(digest, tar);
  return { digest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1234 };
}

const ELF = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]),
  Buffer.from('the word needle inside a binary\n'),
  pseudoRandomBytes('elf', 4000),
]);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-search-service-'));
  layers = [
    await layer('base', [
      { type: 'file', path: 'etc/app.conf', content: 'name=app\nneedle=one\n' },
      { type: 'file', path: 'etc/gone.txt', content: 'a needle that a later layer deletes\n' },
      { type: 'file', path: 'var/cache/a.txt', content: 'needle in a directory made opaque\n' },
      { type: 'file', path: 'opt/old/x.txt', content: 'needle under a directory deleted\n' },
      { type: 'file', path: 'usr/bin/tool', content: ELF, mode: 0o755 },
      { type: 'file', path: 'srv/many.txt', content: 'needle\n'.repeat(150) },
      { type: 'file', path: 'lib/twice.txt', content: 'needle v1\n' },
    ]),
    null,
    await layer('change', [
      { type: 'file', path: 'etc/app.conf', content: 'name=app\nneedle=two\n' },
      { type: 'whiteout', path: 'etc/gone.txt' },
      { type: 'opaque', path: 'var/cache' },
      { type: 'file', path: 'var/cache/b.txt', content: 'a new needle\n' },
      { type: 'whiteout', path: 'opt/old' },
      { type: 'file', path: 'home/readme.md', content: 'No match here.\n' },
      { type: 'file', path: 'lib/twice.txt', content: 'needle v2\n' },
    ]),
    await layer('late', [{ type: 'whiteout', path: 'lib' }]),
  ];
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const request = (q: Partial<SearchRequest> = {}, filters: Partial<SearchFilters> = {}) => ({
  layers,
  query: { text: 'needle', regex: false, caseSensitive: true },
  filters: { ...noFilters, ...filters },
  scope: 'all' as const,
  ...q,
});

async function search(s: SearchService, req: SearchRequest, signal = new AbortController().signal) {
  const events: SearchEvent[] = [];
  const ctx: CallContext<SearchEvent> = { signal, emit: (e) => void events.push(e) };
  const summary = await s.api.searchStart(req, ctx);
  const results = events.flatMap((e) => (e.type === 'results' ? e.results : []));
  return { summary, events, results };
}

/** "layer path line status" for each result, sorted. */
const rows = (results: SearchResult[]) =>
  results
    .map(
      (r) =>
        `${r.layer + 1} ${r.path}:${r.line} ${r.status.kind}${'by' in r.status ? ` ${r.status.by + 1}` : ''}`,
    )
    .sort();

describe('search service', () => {
  test('every layer: deleted and overwritten files marked by the layer that did it', async () => {
    const all = await search(service(), request());
    expect(rows(all.results.filter((r) => r.path !== 'srv/many.txt'))).toEqual([
      '1 etc/app.conf:2 overwritten 3',
      '1 etc/gone.txt:1 deleted 3',
      '1 lib/twice.txt:1 overwritten 3',
      '1 opt/old/x.txt:1 deleted 3',
      '1 var/cache/a.txt:1 deleted 3',
      '3 etc/app.conf:2 merged',
      '3 lib/twice.txt:1 deleted 4',
      '3 var/cache/b.txt:1 merged',
    ]);
    // The binary was skipped (not asked for); the markdown file was searched.
    expect(all.summary.skipped).toBe(1);
    expect(all.summary.unread).toEqual([]);
    expect(all.events[0]).toMatchObject({ type: 'plan', files: 11 });
    const one = all.results.find((r) => r.path === 'etc/app.conf' && r.layer === 2)!;
    expect(one).toMatchObject({ line: 2, column: 1, snippet: 'needle=two', start: 0, length: 6 });
  });

  test('the merged view: only the surviving copy of each path', async () => {
    const { results } = await search(service(), request({ scope: 'merged' }));
    expect(rows(results).filter((r) => !r.includes('many'))).toEqual([
      '3 etc/app.conf:2 merged',
      '3 var/cache/b.txt:1 merged',
    ]);
  });

  test('filters: path glob, extension, size, binary and executables', async () => {
    const glob = await search(service(), request({}, { path: 'etc/**' }));
    expect(new Set(glob.results.map((r) => r.path))).toEqual(
      new Set(['etc/app.conf', 'etc/gone.txt']),
    );
    const ext = await search(service(), request({}, { extensions: 'txt' }));
    expect(ext.results.every((r) => r.path.endsWith('.txt'))).toBe(true);
    const size = await search(service(), request({}, { maxSize: 30 }));
    expect(new Set(size.results.map((r) => r.path))).toEqual(
      new Set(['etc/app.conf', 'var/cache/b.txt', 'lib/twice.txt']),
    );
    const bin = await search(service(), request({}, { binary: true, path: 'usr/**' }));
    expect(rows(bin.results)).toEqual(['1 usr/bin/tool:1 merged']);
    const exe = await search(service(), request({}, { kind: 'executable' }));
    expect(rows(exe.results)).toEqual(['1 usr/bin/tool:1 merged']);
    const text = await search(service(), request({}, { kind: 'text', path: 'usr/**' }));
    expect(text.results).toEqual([]);
  });

  test('a layer not stored is said, with its size, and not read', async () => {
    notStored.add(layers[2]!.digest);
    try {
      const { results, summary } = await search(service(), request());
      expect(summary.unread).toEqual([{ layer: 2, size: 1234, why: 'not-stored' }]);
      expect(results.every((r) => r.layer === 0)).toBe(true);
      // What it hides is still known from its index.
      expect(rows(results).filter((r) => r.includes('gone'))).toEqual([
        '1 etc/gone.txt:1 deleted 3',
      ]);
    } finally {
      notStored.delete(layers[2]!.digest);
    }
  });

  test('caps: per file and in all, with results sent in batches', async () => {
    const perFile = await search(service(), request({}, { path: 'srv/**' }));
    expect(perFile.results.length).toBe(100);
    expect(perFile.summary.moreInFiles).toBe(1);
    const capped = await search(
      service({ maxResults: 5, batchResults: 2 }),
      request({}, { path: 'srv/**' }),
    );
    expect(capped.results.length).toBe(5);
    expect(capped.summary.truncated).toBe(true);
    expect(capped.summary.results).toBe(5);
    // Batches go at files' ends, once big enough (or old enough).
    const batched = await search(service({ batchResults: 1 }), request());
    expect(batched.events.filter((e) => e.type === 'results').length).toBe(
      batched.summary.matchedFiles,
    );
    // Once capped, the rest of the files are not read.
    const first = await search(service({ maxResults: 1 }), request());
    expect(first.results.length).toBe(1);
    expect(first.summary.searched).toBeLessThanOrEqual(2);
  });

  test("an expression: 'matching' names each file before it runs; an invalid one is refused", async () => {
    const { events, results } = await search(
      service(),
      request({ query: { text: '^needle=\\w+$', regex: true, caseSensitive: true } }),
    );
    expect(rows(results)).toEqual(['1 etc/app.conf:2 overwritten 3', '3 etc/app.conf:2 merged']);
    const matching = events.flatMap((e) => (e.type === 'matching' ? [e.path] : []));
    expect(matching).toContain('etc/app.conf');
    expect(matching).toContain('home/readme.md');
    // Text never backtracks: nothing to say.
    const plain = await search(service(), request());
    expect(plain.events.some((e) => e.type === 'matching')).toBe(false);
    await expect(
      search(service(), request({ query: { text: '(', regex: true, caseSensitive: true } })),
    ).rejects.toThrow(/The regular expression is not valid/);
  });

  test('cancelling stops the search', async () => {
    const abort = new AbortController();
    abort.abort(new Error('cancelled'));
    await expect(search(service(), request(), abort.signal)).rejects.toThrow('cancelled');
  });
});
