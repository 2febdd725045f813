// The secret scan of a whole image over real layer tars (GNU tar) and their real indexes: each
// kind of test secret found with its layer, path, line and history step; whether a later layer
// deletes, empties or replaces the file; binary and too-big files passed over; a text scanned
// in small windows finds the same secrets once each; the config's Env, labels and build
// arguments; and a scan that stops when cancelled.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toColumns, type ColumnIndex } from '../../src/lib/layers/columns.ts';
import type { IndexEntry } from '../../src/lib/layers/entry.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { loadPreset, type RuleRunner } from '../../src/lib/secrets/preset.ts';
import {
  scanImage,
  TextScan,
  type FoundSecret,
  type ScanConfig,
  type ScanLayer,
  type ScanResult,
} from '../../src/lib/secrets/scan.ts';
import type { FilePlace } from '../../src/lib/secrets/types.ts';
import { visibilityOf } from '../../src/lib/secrets/visibility.ts';
import { buildTar, type OwnedEntry } from '../harness/compare-fixtures.ts';
import { makeTestSecrets, type TestSecrets } from '../harness/secrets.ts';

let work: string;
let runner: RuleRunner;
let s: TestSecrets;
const tars: string[] = [];
const indexes: ColumnIndex[] = [];
/** Lines of filler before the secret in the big log: several small windows' worth. */
const FILLER_LINES = 3000;

function deployFile(t: TestSecrets): string {
  return [
    '# deploy credentials',
    `aws_access_key_id = ${t.awsAccessKeyId}`,
    `aws_secret_access_key = ${t.awsSecretAccessKey}`,
    `GITHUB=${t.githubToken}`,
    `SLACK=${t.slackBotToken}`,
    `//registry.npmjs.org/:_authToken=${t.npmToken}`,
    t.rsaKey.trimEnd(),
    t.ecKey.trimEnd(),
    '',
  ].join('\n');
}

function layerSpecs(t: TestSecrets): OwnedEntry[][] {
  const filler = Array.from({ length: FILLER_LINES }, (_, i) => `log line ${i} nothing here`);
  return [
    [
      { type: 'file', path: 'etc/os-release', content: 'ID=test\n' },
      { type: 'copy', path: 'bin/tool', from: '/bin/sh' },
      {
        type: 'file',
        path: 'srv/keep/config.yaml',
        content: `app:\n  signing_key: ${t.entropy}\n`,
      },
    ],
    [
      { type: 'file', path: 'root/secrets/deploy.txt', content: deployFile(t) },
      { type: 'file', path: 'srv/app/.env', content: `DB_HOST=db\nDB_PASSWORD=${t.dbPassword}\n` },
      { type: 'file', path: 'etc/old/token.txt', content: `token: ${t.npmToken}\n` },
      { type: 'file', path: 'srv/over.txt', content: `key ${t.githubToken}\n` },
      {
        type: 'file',
        path: 'var/log/big.log',
        content: [...filler, t.rsaKey.trimEnd(), `end ${t.githubToken}`, ''].join('\n'),
      },
    ],
    [{ type: 'file', path: 'srv/over.txt', content: 'nothing now\n' }],
    [
      { type: 'whiteout', path: 'root/secrets/deploy.txt' },
      { type: 'opaque', path: 'etc/old' },
    ],
  ];
}

const config = (t: TestSecrets): ScanConfig => ({
  env: ['PATH=/usr/bin', `API_TOKEN=${t.apiToken}`, `GH=${t.githubToken}`, 'DB_PASSWORD=changeme'],
  labels: { 'org.example.deploy-token': t.labelToken, 'org.opencontainers.image.title': 'x' },
  history: [
    { createdBy: 'ADD base.tar /', layer: 0 },
    { createdBy: `ARG NPM_TOKEN=${t.buildArgToken}` },
    { createdBy: `RUN |1 NPM_TOKEN=${t.buildArgToken} /bin/sh -c npm ci`, layer: 1 },
    { createdBy: 'RUN /bin/sh -c echo over > /srv/over.txt', layer: 2 },
    { createdBy: 'RUN /bin/sh -c rm -rf /root/secrets /etc/old/*', layer: 3 },
  ],
});

const streamOf = (path: string, start = 0) =>
  Readable.toWeb(createReadStream(path, { start })) as ReadableStream<Uint8Array>;

const layers = (): ScanLayer[] =>
  tars.map((tar, i) => ({
    index: indexes[i],
    tarFrom: async () => ({ tar: streamOf(tar), start: 0 }),
  }));

let result: ScanResult;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-secrets-'));
  [runner, s] = await Promise.all([loadPreset(), makeTestSecrets()]);
  for (const entries of layerSpecs(s)) {
    const tar = await buildTar(work, entries);
    tars.push(tar);
    indexes.push((await listLayer(streamOf(tar))).files);
  }
  result = await scanImage(layers(), config(s), {
    runner,
    signal: new AbortController().signal,
  });
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const inFile = (path: string, layer: number) =>
  result.findings.filter(
    (f): f is FoundSecret & { place: FilePlace } =>
      f.place.kind === 'file' && f.place.path === path && f.place.layer === layer,
  );
const summary = (list: FoundSecret[]) =>
  list.map((f) => [
    f.rule.replace('@secretlint/secretlint-rule-', ''),
    f.value,
    'line' in f.place ? f.place.line : undefined,
  ]);

describe('scanImage', () => {
  test('every kind in a file that layer 4 deletes: layer 2, its step, its lines', () => {
    const found = inFile('root/secrets/deploy.txt', 1);
    const ecLine = 7 + s.rsaKey.trimEnd().split('\n').length;
    expect(summary(found)).toEqual([
      ['aws', s.awsAccessKeyId, 2],
      ['aws', s.awsSecretAccessKey, 3],
      ['privatekey', s.rsaKey.trimEnd(), 7],
      ['privatekey', s.ecKey.trimEnd(), ecLine],
      ['npm', s.npmToken, 6],
      ['slack', s.slackBotToken, 5],
      ['github', s.githubToken, 4],
    ]);
    for (const f of found) {
      expect(f.place.step, 'step').toBe(2);
      expect(f.place.visibility).toEqual({ kind: 'deleted', layer: 3 });
    }
  });

  test('visibility: emptied by an opaque directory, replaced, or still in the merged filesystem', () => {
    expect(inFile('etc/old/token.txt', 1).map((f) => f.place.visibility)).toEqual([
      { kind: 'deleted', layer: 3 },
    ]);
    expect(inFile('srv/over.txt', 1).map((f) => f.place.visibility)).toEqual([
      { kind: 'overwritten', layer: 2 },
    ]);
    expect(inFile('srv/app/.env', 1).map((f) => [f.rule, f.value, f.place.visibility])).toEqual([
      ['berth/env-file', s.dbPassword, { kind: 'merged' }],
    ]);
    const entropy = inFile('srv/keep/config.yaml', 0);
    expect(summary(entropy)).toEqual([['berth/high-entropy', s.entropy, 2]]);
    expect(entropy[0]!.place.step).toBe(0);
    expect(entropy[0]!.place.visibility).toEqual({ kind: 'merged' });
  });

  test('binary files are passed over; text files are counted', () => {
    expect(result.binary).toBe(1);
    expect(result.text).toBe(result.files - 1);
    expect(
      result.findings.some((f) => f.place.kind === 'file' && f.place.path === 'bin/tool'),
    ).toBe(false);
  });

  test('findings are masked, and their ids are their places in the list', () => {
    result.findings.forEach((f, i) => {
      expect(f.id).toBe(i);
      expect(f.masked).not.toContain(f.value);
      expect(f.length).toBe(Array.from(f.value).length);
    });
  });

  test('the config: Env, labels, build arguments in history; placeholders left', () => {
    const cfg = result.findings
      .filter((f) => f.place.kind !== 'file')
      .map((f) => [f.place.kind, 'key' in f.place ? f.place.key : undefined, f.rule, f.value]);
    expect(cfg).toEqual([
      ['env', 'API_TOKEN', 'berth/secret-variable', s.apiToken],
      ['env', 'GH', '@secretlint/secretlint-rule-github', s.githubToken],
      ['label', 'org.example.deploy-token', 'berth/secret-variable', s.labelToken],
      ['history', 'NPM_TOKEN', 'berth/secret-variable', s.buildArgToken],
      ['history', 'NPM_TOKEN', 'berth/secret-variable', s.buildArgToken],
    ]);
    const steps = result.findings.flatMap((f) =>
      f.place.kind === 'history' ? [[f.place.step, f.place.layer, f.description]] : [],
    );
    expect(steps).toEqual([
      [1, undefined, 'Secret-named build argument (ARG)'],
      [2, 1, 'Secret-named build argument'],
    ]);
  });

  test('a text scanned in small windows finds the same secrets once each, on the same lines', async () => {
    const small = await scanImage(
      layers(),
      { history: config(s).history! },
      {
        runner,
        signal: new AbortController().signal,
        windowChars: 8 * 1024,
      },
    );
    const key = (f: FoundSecret) => JSON.stringify([f.rule, f.value, f.place]);
    const whole = result.findings.filter((f) => f.place.kind === 'file').map(key);
    expect(small.findings.filter((f) => f.place.kind === 'file').map(key)).toEqual(whole);
    // The big log's key and token are past many windows.
    expect(summary(inFile('var/log/big.log', 1))).toEqual([
      ['privatekey', s.rsaKey.trimEnd(), FILLER_LINES + 1],
      ['github', s.githubToken, FILLER_LINES + 1 + s.rsaKey.trimEnd().split('\n').length],
    ]);
  });

  test('a key across the edge of a window is found once, whole, on its line', () => {
    const windowChars = 8 * 1024;
    const key = s.rsaKey.trimEnd();
    // Filler lines up to a little before the window's end: the key crosses it.
    const lines: string[] = [];
    let length = 0;
    while (length < windowChars - 600) {
      const line = `filler ${lines.length}`;
      lines.push(line);
      length += line.length + 1;
    }
    const text = [...lines, key, 'after', ''].join('\n');
    const bytes = new TextEncoder().encode(text);
    const hits: { value: string; line: number }[] = [];
    const scan = new TextScan('var/log/x.log', runner, (h) => hits.push(h), windowChars);
    // In uneven pieces, as a tar stream hands them out.
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n * 7 + 3) % 3001) {
      scan.push(bytes.subarray(at, at + n));
    }
    scan.end();
    expect(hits.map((h) => [h.value, h.line])).toEqual([[key, lines.length + 1]]);
  });

  test('files over the size limit are listed as skipped, unread', async () => {
    const r = await scanImage(
      layers(),
      {},
      {
        runner,
        signal: new AbortController().signal,
        maxFileBytes: 4096,
      },
    );
    const big = r.skipped.map((x) => [x.layer, x.path]);
    expect(big).toEqual(
      expect.arrayContaining([
        [0, 'bin/tool'],
        [1, 'var/log/big.log'],
      ]),
    );
    expect(r.skipped[0]!.reason).toBe('larger than 4096 bytes');
    expect(
      r.findings.some((f) => f.place.kind === 'file' && f.place.path === 'var/log/big.log'),
    ).toBe(false);
  });

  test('cancelled, it fails with the signal’s reason', async () => {
    const abort = new AbortController();
    const run = scanImage(
      layers(),
      {},
      {
        runner,
        signal: abort.signal,
        onProgress: (p) => {
          if (p.filesRead === 1) abort.abort(new Error('stop'));
        },
      },
    );
    await expect(run).rejects.toThrow('stop');
  });
});

describe('visibilityOf', () => {
  const e = (path: string, type: IndexEntry['type'] = 'file', linkname?: string): IndexEntry => ({
    path,
    type,
    size: 0,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    offset: 0,
    ...(linkname ? { linkname } : {}),
  });
  const idx = (...entries: IndexEntry[]) => toColumns(entries);

  test.each([
    ['a whiteout of the file', [idx(e('a/.wh.f'))], { kind: 'deleted', layer: 1 }],
    ['a whiteout of a directory above', [idx(e('.wh.a'))], { kind: 'deleted', layer: 1 }],
    ['an opaque directory above', [idx(e('a/.wh..wh..opq'))], { kind: 'deleted', layer: 1 }],
    ['an opaque root', [idx(e('.wh..wh..opq'))], { kind: 'deleted', layer: 1 }],
    ['the file put again', [idx(e('./a/f'))], { kind: 'overwritten', layer: 1 }],
    [
      'a link where a directory above was',
      [idx(e('a', 'symlink', 'b'))],
      { kind: 'overwritten', layer: 1 },
    ],
    ['a directory above put again', [idx(e('a', 'dir'))], { kind: 'merged' }],
    ['a whiteout of another file', [idx(e('a/.wh.g'), e('a/g2'))], { kind: 'merged' }],
    ['a whiteout of a sibling with a longer name', [idx(e('.wh.a2'))], { kind: 'merged' }],
    ['a layer that is not a tar', [undefined], { kind: 'merged' }],
    // The first layer that hides it counts, not one that brings it back later.
    ['deleted, then put back', [idx(e('a/.wh.f')), idx(e('a/f'))], { kind: 'deleted', layer: 1 }],
    // In one layer, a deletion and a new file at the path: it was deleted.
    ['replaced in one layer', [idx(e('a/.wh.f'), e('a/f'))], { kind: 'deleted', layer: 1 }],
  ])('%s', (_, later, want) => {
    const base = idx(e('a', 'dir'), e('a/f'));
    expect(visibilityOf([{ layer: 0, path: 'a/f' }], [base, ...later])).toEqual([want]);
  });

  test('only layers after the file’s own count', () => {
    const l0 = idx(e('a/f'));
    const l1 = idx(e('a/.wh.f'), e('a/f'));
    const l2 = idx(e('x'));
    expect(
      visibilityOf(
        [
          { layer: 0, path: 'a/f' },
          { layer: 1, path: 'a/f' },
        ],
        [l0, l1, l2],
      ),
    ).toEqual([{ kind: 'deleted', layer: 1 }, { kind: 'merged' }]);
  });
});
