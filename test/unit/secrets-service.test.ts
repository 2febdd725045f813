// The scan worker's secrets service over real layer tars: the plan says which layers are not
// stored or listed and what a scan reads; a report carries no value (not even as a field); Reveal
// gives one value of a held scan; a closed (or replaced) scan gives none; history commands come
// back with every value found masked.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ColumnIndex } from '../../src/lib/layers/columns.ts';
import { listLayer } from '../../src/lib/layers/read.ts';
import { loadPreset } from '../../src/lib/secrets/preset.ts';
import type { CallContext } from '../../src/workers/rpc.ts';
import {
  SecretsService,
  type SecretsEvent,
  type SecretsLayer,
} from '../../src/workers/secrets-service.ts';
import { buildTar } from '../harness/compare-fixtures.ts';
import { makeTestSecrets, type TestSecrets } from '../harness/secrets.ts';

let work: string;
let s: TestSecrets;
const tars = new Map<string, string>();
const indexes = new Map<string, ColumnIndex>();
const layers: NonNullable<SecretsLayer>[] = [];

const streamOf = (path: string) =>
  Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-secrets-service-'));
  s = await makeTestSecrets();
  const specs = [
    [{ type: 'file' as const, path: 'srv/.env', content: `API_KEY=${s.apiToken}\n` }],
    [{ type: 'file' as const, path: 'root/.npmrc', content: `_authToken=${s.npmToken}\n` }],
  ];
  for (const [i, entries] of specs.entries()) {
    const tar = await buildTar(work, entries);
    const digest = `sha256:${String(i).repeat(64)}`;
    tars.set(digest, tar);
    indexes.set(digest, (await listLayer(streamOf(tar))).files);
    layers.push({ digest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1 });
  }
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function service(stored = (_d: string) => true, listed = (_d: string) => true) {
  return new SecretsService({
    index: async (d) => (listed(d) ? indexes.get(d) : undefined),
    stored: async (d) => stored(d),
    tarFrom: async (l) => ({ tar: streamOf(tars.get(l.digest)!), start: 0 }),
    runner: loadPreset,
  });
}

function ctx(): CallContext<SecretsEvent> & { events: SecretsEvent[] } {
  const events: SecretsEvent[] = [];
  return {
    signal: new AbortController().signal,
    emit: (e: SecretsEvent) => events.push(e),
    events,
  };
}

test('the plan names the layers not stored and not listed, and what a scan reads', async () => {
  const svc = service(
    (d) => d !== layers[1]!.digest,
    (d) => d !== layers[1]!.digest,
  );
  const plan = await svc.api.secretsPlan({ layers: [...layers, null] });
  expect(plan).toMatchObject({ notStored: [1], missing: [1], files: 1 });
  await expect(svc.api.secretsScan({ layers, config: {} }, ctx())).rejects.toThrow(
    'layers 2 are not stored in this browser',
  );
});

test('a report holds no value; Reveal gives one; a closed scan gives none', async () => {
  const svc = service();
  const c = ctx();
  const history = [
    { createdBy: 'COPY .env /srv/', layer: 0 },
    { createdBy: `RUN /bin/sh -c echo _authToken=${s.npmToken} > /root/.npmrc`, layer: 1 },
  ];
  const report = await svc.api.secretsScan({ layers, config: { history } }, c);
  expect(report.findings.map((f) => f.rule)).toEqual([
    'berth/env-file',
    '@secretlint/secretlint-rule-npm',
    '@secretlint/secretlint-rule-npm',
  ]);
  const text = JSON.stringify(report);
  for (const v of [s.apiToken, s.npmToken]) expect(text).not.toContain(v);
  for (const f of report.findings) expect(Object.keys(f)).not.toContain('value');
  expect(report.steps[1]).toBe(
    `RUN /bin/sh -c echo _authToken=npm_… (40 characters) > /root/.npmrc`,
  );
  expect(c.events.at(-1)).toMatchObject({ type: 'progress', filesRead: 2, files: 2 });

  expect(await svc.api.secretsReveal({ scanId: report.scanId, id: 0 })).toBe(s.apiToken);
  await svc.api.secretsClose({ scanId: report.scanId });
  await expect(svc.api.secretsReveal({ scanId: report.scanId, id: 0 })).rejects.toThrow(
    'is not held by this worker',
  );
});
