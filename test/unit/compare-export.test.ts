// The JSON export end to end over real tars: the small part from compareImages, the files part
// from the layers worker's compare service over the compare fixtures' layers (GNU tar), written
// as the page's "Export JSON" writes it, then checked against schema.json and read by the
// README's jq one-liners.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareImages, type ComparedSummary } from '../../src/lib/compare/meta.ts';
import schema from '../../src/lib/compare/schema.json';
import type { CompareExport, CompareLayer } from '../../src/lib/compare/types.ts';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import type { HistoryEntry } from '../../src/lib/oci/types.ts';
import { CompareService } from '../../src/workers/compare-service.ts';
import type { CallContext } from '../../src/workers/rpc.ts';
import { buildTar, COMPARE_LAYERS } from '../harness/compare-fixtures.ts';

const exec = promisify(execFile);

/** Runs jq; its exit code (jq -e says false with 1) and output. */
async function jq(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await exec('jq', args);
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '' };
  }
}

const validate = new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(
  schema,
);
const errorsOf = (doc: unknown) =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

const streamOf = (path: string) =>
  Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

let work: string;
const indexes = new Map<string, ColumnIndex>();
const diffIDs = new Map<string, string>();
const tars = new Map<string, string>();
let layersA: CompareLayer[];
let layersB: CompareLayer[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-compare-export-'));
  const layer = async (entries: (typeof COMPARE_LAYERS.a)[number], name: string) => {
    const tar = await buildTar(work, [...entries]);
    const listing = await listLayer(streamOf(tar));
    // Blob digests of their own: b's tool layer (recompressed) shares only its diffID.
    const digest = `sha256:${name.padEnd(64, '0')}`;
    indexes.set(digest, listing.files);
    diffIDs.set(digest, listing.diffID);
    tars.set(digest, tar);
    return { digest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1000 };
  };
  layersA = await Promise.all(COMPARE_LAYERS.a.map((l, i) => layer(l, `a${i}`)));
  layersB = await Promise.all(COMPARE_LAYERS.b.map((l, i) => layer(l, i === 0 ? 'a0' : `b${i}`)));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const step = (created_by: string, empty_layer?: true): HistoryEntry => ({
  created: '2024-01-01T00:00:00Z',
  created_by,
  ...(empty_layer ? { empty_layer } : {}),
});

/** A summary of an image made of these layers, as lib/images/summary.ts makes one. */
function summary(
  name: string,
  m: string,
  layers: CompareLayer[],
  config: Record<string, unknown>,
  history: HistoryEntry[],
): ComparedSummary {
  const ls = layers.map((l) => l!);
  return {
    name,
    manifest: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${m.repeat(64)}`,
      size: 500,
    },
    config: {
      architecture: 'amd64',
      os: 'linux',
      config,
      rootfs: { type: 'layers', diff_ids: ls.map((l) => diffIDs.get(l.digest)!) },
      history,
    },
    layers: ls.map((descriptor) => ({
      descriptor,
      diffID: diffIDs.get(descriptor.digest)!,
      stored: true,
      foreign: false,
    })),
    history: history.map((entry) => ({ entry })),
    totalSize: 500 + 300 + ls.reduce((n, l) => n + l.size, 0),
  };
}

const ctx = (): CallContext => ({ signal: new AbortController().signal, emit: () => {} });

async function exportOf(decide: boolean): Promise<{ json: CompareExport; text: string }> {
  const a = summary(
    'registry.example.com/app:1',
    'a',
    layersA,
    { Env: ['PATH=/bin', 'V=1'], Cmd: ['--serve'], Labels: { v: '1' } },
    [step('ADD rootfs.tar /'), step('COPY tool /opt/tool'), step('COPY app /app')],
  );
  const b = summary(
    'registry.example.com/app:2',
    'b',
    layersB,
    { Env: ['PATH=/bin', 'V=2'], Cmd: ['--serve', '-v'], Volumes: { '/data': {} } },
    [
      step('ADD rootfs.tar /'),
      step('COPY tool /opt/tool'),
      step('ENV V=2', true),
      step('COPY app /app'),
      step('RUN cleanup'),
    ],
  );
  const meta = compareImages(a, b);
  const { api } = new CompareService({
    index: async (digest) => indexes.get(digest),
    diffID: async (digest) => diffIDs.get(digest),
    tarFrom: async (layer) => ({ tar: streamOf(tars.get(layer.digest)!), start: 0 }),
  });
  const opened = await api.openCompare(
    {
      a: layersA,
      b: layersB,
      filter: { differences: [], aspects: [], query: '' },
      sort: 'name',
      expanded: [],
      window: [0, 10],
    },
    ctx(),
  );
  if (decide) await api.compareDecide({ compareId: opened.compareId }, ctx());
  const blob = await api.compareExport({ compareId: opened.compareId, meta }, ctx());
  const text = await blob.text();
  const json = JSON.parse(text) as CompareExport;
  // The small part goes through as compareImages made it.
  const { schema: name, files, ...rest } = json;
  expect(name).toBe('berth.compare.v1');
  expect(rest).toEqual(JSON.parse(JSON.stringify(meta)));
  expect(files.paths.length).toBeGreaterThan(0);
  return { json, text };
}

describe('the JSON export', () => {
  test('with files not hashed yet (pending), it is valid', async () => {
    const { json } = await exportOf(false);
    expect(json.files.summary.pending).toBeGreaterThan(0);
    expect(json.files.paths.some((p) => p.pending)).toBe(true);
    expect(errorsOf(json)).toEqual([]);
  });

  test('with every file decided, it is valid', async () => {
    const { json } = await exportOf(true);
    expect(json.files.summary.pending).toBe(0);
    expect(json.files.paths.some((p) => p.b?.digest)).toBe(true);
    expect(errorsOf(json)).toEqual([]);
    // The parts compareImages adds, as the fixtures make them.
    expect(json.layers.map((l) => l.by)).toEqual(['digest', 'diffID', 'none', 'none', 'none']);
    expect(json.base).toEqual({ layers: 2, aIsBaseOfB: false, bIsBaseOfA: false });
    expect(json.history.divergesAt).toBe(2);
  });

  test("the README's jq one-liners read it: /etc changed, so the CI check fails", async () => {
    const { text } = await exportOf(true);
    const file = join(work, 'compare.json');
    await writeFile(file, text);
    // The one-liner exits 1 (false): etc/motd is whited out in b, and b is not built on a.
    const check = await jq([
      '-e',
      '([.files.paths[] | select(.path == "etc" or (.path | startswith("etc/")))] | length == 0) and .base.aIsBaseOfB',
      file,
    ]);
    expect(check).toEqual({ code: 1, stdout: 'false\n' });
    const listed = await jq([
      '-r',
      '.files.paths[] | select(.path | startswith("etc/")) | "\\(.difference) \\(.path)"',
      file,
    ]);
    expect(listed).toEqual({ code: 0, stdout: 'removed etc/motd\n' });
  });
});
