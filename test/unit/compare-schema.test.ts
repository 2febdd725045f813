// The JSON export's schema (src/lib/compare/schema.json) against what Berth writes: exports
// built from compareImages (of fixed and of random configs, histories and layers), the
// README's example, and documents that break one rule each.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { configFields } from '../../src/lib/compare/config.ts';
import { compareImages, type ComparedSummary } from '../../src/lib/compare/meta.ts';
import schema from '../../src/lib/compare/schema.json';
import {
  compareSchema,
  type CompareExport,
  type FilesSummary,
  type ImageComparison,
  type PathDiff,
} from '../../src/lib/compare/types.ts';
import type { Descriptor, ImageConfig } from '../../src/lib/oci/types.ts';

// Strict, so a misspelt keyword is an error, not ignored; but `required` in an if/then may name
// properties that the enclosing object defines.
const validate = new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(
  schema,
);

/** The errors of a document, one line each, to read a failure at a glance. */
function errorsOf(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

const digest = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
const layer = (c: string): Descriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: digest(c),
  size: 1000,
});

function summary(name: string, m: string, layers: Descriptor[], config?: unknown): ComparedSummary {
  const c = config as ImageConfig | undefined;
  const history = Array.isArray(c?.history) ? c.history : [];
  return {
    name,
    manifest: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digest(m),
      size: 9,
    },
    ...(c ? { config: c } : {}),
    layers: layers.map((descriptor, i) => ({
      descriptor,
      ...(c?.rootfs?.diff_ids?.[i] ? { diffID: c.rootfs.diff_ids[i] } : {}),
      stored: false,
      foreign: false,
    })),
    history: history.map((entry) => ({ entry })),
    totalSize: 9 + layers.length * 1000,
  };
}

const filesPart = (): { summary: FilesSummary; paths: PathDiff[] } => ({
  summary: {
    added: { count: 1, bytes: 10 },
    removed: { count: 1, bytes: 7 },
    changed: { count: 2, bytesBefore: 20, bytesAfter: 24 },
    unchanged: 40,
    pending: 1,
    bytesBefore: 1000,
    bytesAfter: 1027,
  },
  paths: [
    {
      path: 'app',
      difference: 'changed',
      aspects: ['mode'],
      a: { type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0, layer: 1, offset: 0 },
      b: { type: 'dir', size: 0, mode: 0o700, uid: 0, gid: 0, mtime: 0, layer: 2, offset: 0 },
      delta: 3,
    },
    {
      path: 'app/added.txt',
      difference: 'added',
      aspects: [],
      b: { type: 'file', size: 10, mode: 0o644, uid: 0, gid: 0, mtime: 1, layer: 2, offset: 512 },
      delta: 10,
    },
    {
      path: 'app/current',
      difference: 'changed',
      aspects: ['link'],
      a: {
        ...{ type: 'symlink', size: 0, mode: 0o777, uid: 0, gid: 0, mtime: 0 },
        ...{ linkname: 'v1', layer: 1, offset: 1024 },
      },
      b: {
        ...{ type: 'symlink', size: 0, mode: 0o777, uid: 0, gid: 0, mtime: 0 },
        ...{ linkname: 'v2', layer: 2, offset: 1536 },
      },
      delta: 0,
    },
    {
      path: 'app/data.bin',
      difference: 'changed',
      aspects: ['content'],
      a: { type: 'file', size: 20, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 1, offset: 2048 },
      b: {
        ...{ type: 'file', size: 20, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 2 },
        ...{ offset: 2560, digest: digest('b') },
      },
      delta: 0,
    },
    {
      path: 'app/maybe.txt',
      difference: 'changed',
      aspects: [],
      pending: true,
      a: { type: 'file', size: 5, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 1, offset: 3072 },
      b: { type: 'file', size: 5, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 2, offset: 3584 },
      delta: 0,
    },
    {
      path: 'etc/motd',
      difference: 'removed',
      aspects: [],
      a: { type: 'file', size: 7, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 0, offset: 0 },
      delta: -7,
    },
  ],
});

/** The export as the worker writes it: through JSON, so absent fields are gone. */
const exported = (meta: ImageComparison): unknown =>
  JSON.parse(
    JSON.stringify({ schema: compareSchema, ...meta, files: filesPart() } satisfies CompareExport),
  );

const rich = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: {
    Env: ['A=1', 'B=2'],
    Cmd: ['x'],
    Labels: { a: '1' },
    ExposedPorts: { '80/tcp': {} },
    Healthcheck: { Test: ['NONE'] },
  },
  rootfs: { type: 'layers', diff_ids: [digest('d'), digest('e')] },
  history: [
    { created_by: 'ADD /' },
    { created_by: 'ENV A=1', empty_layer: true },
    { created_by: 'RUN x' },
  ],
};
const richer = {
  ...rich,
  architecture: 'arm64',
  config: {
    Env: ['A=2', 'C=3'],
    Cmd: null,
    Labels: ['odd'],
    Volumes: { '/data': {} },
    Healthcheck: { Test: ['CMD', 'true'] },
  },
  rootfs: { type: 'layers', diff_ids: [digest('d'), digest('f'), digest('0')] },
  history: [
    { created_by: 'ADD /' },
    { created_by: 'RUN y' },
    { created_by: 'RUN z' },
    { comment: 'x' },
  ],
};

describe('schema.json', () => {
  test('an export of two images that differ in config, history, layers and files is valid', () => {
    const a = summary('x:1', '1', [layer('1'), layer('2')], rich);
    const b = {
      ...summary('x:2', '2', [layer('1'), layer('3'), layer('4')], richer),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    };
    for (const [x, y] of [
      [a, b],
      [b, a],
      [a, a],
    ] as const) {
      const doc = exported(compareImages(x, y));
      expect(errorsOf(doc), `${x.name} against ${y.name}`).toEqual([]);
    }
  });

  test('the README example is valid', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Comparing two images: the JSON export'));
    const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    expect(example, 'the README section has a JSON example').toBeDefined();
    expect(errorsOf(JSON.parse(example!))).toEqual([]);
  });

  test('the schema lists every ConfigField', () => {
    expect(schema.$defs.ConfigDiff.properties.field.enum).toEqual([...configFields]);
  });

  test('random configs, histories and layers always export valid documents', () => {
    const value = fc.jsonValue({ maxDepth: 3 });
    const configArb = fc.record(
      {
        architecture: fc.oneof(fc.constantFrom('amd64', 'arm64', ''), value),
        os: fc.constant('linux'),
        variant: value,
        created: value,
        config: fc.oneof(
          fc.record(
            Object.fromEntries(configFields.map((f) => [f, value])) as Record<string, typeof value>,
            { requiredKeys: [] },
          ),
          fc.record(
            {
              Env: fc.array(fc.oneof(fc.constantFrom('A=1', 'A=2', 'B', 'B='), fc.string())),
              Labels: fc.dictionary(fc.constantFrom('a', 'b', '__proto__'), value),
              Volumes: fc.dictionary(fc.string(), fc.constant({})),
            },
            { requiredKeys: [] },
          ),
          value,
        ),
        history: fc.array(
          fc.oneof(
            fc.record(
              {
                created_by: fc.constantFrom('ADD /', 'RUN a', 'RUN b'),
                empty_layer: fc.boolean(),
                comment: fc.constantFrom('x', 'y'),
              },
              { requiredKeys: [] },
            ),
            value,
          ),
          { maxLength: 8 },
        ),
      },
      { requiredKeys: ['architecture', 'os'] },
    );
    const layersArb = fc.array(fc.constantFrom('1', '2', '3', '4'), { maxLength: 5 });
    fc.assert(
      fc.property(configArb, configArb, layersArb, layersArb, (ca, cb, la, lb) => {
        const withRootfs = (c: object, ls: string[]) => ({
          ...c,
          rootfs: { type: 'layers', diff_ids: ls.map((l) => digest(String(Number(l) % 2))) },
        });
        const a = summary('x:1', '1', la.map(layer), withRootfs(ca, la));
        const b = summary('x:2', '2', lb.map(layer), withRootfs(cb, lb));
        expect(errorsOf(exported(compareImages(a, b)))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  describe('documents that break one rule each are refused', () => {
    const good = () =>
      exported(
        compareImages(
          summary('x:1', '1', [layer('1')], rich),
          summary('x:2', '2', [layer('1'), layer('2')], richer),
        ),
      ) as Record<string, never> & CompareExport;
    const cases: { name: string; spoil: (d: CompareExport & Record<string, unknown>) => void }[] = [
      { name: 'another schema name', spoil: (d) => void (d.schema = 'berth.compare.v2' as never) },
      { name: 'no files part', spoil: (d) => void delete (d as Partial<CompareExport>).files },
      { name: 'a field not in the format', spoil: (d) => void (d.extra = 1) },
      {
        name: 'an added config value with a before',
        spoil: (d) =>
          void d.config.push({ field: 'Cmd', difference: 'added', before: 1, after: 2 }),
      },
      {
        name: 'a removed config value without a before',
        spoil: (d) => void d.config.push({ field: 'Cmd', difference: 'removed' }),
      },
      {
        name: 'a config field not in ConfigField',
        spoil: (d) =>
          void d.config.push({ field: 'Memory' as never, difference: 'added', after: 1 }),
      },
      {
        name: 'an added history step with an index in a',
        spoil: (d) => void d.history.steps.push({ difference: 'added', a: 0, b: 1, createdBy: '' }),
      },
      { name: 'divergesAt below -1', spoil: (d) => void (d.history.divergesAt = -2) },
      {
        name: 'an unmatched layer in both images',
        spoil: (d) => void d.layers.push({ a: 0, b: 0, by: 'none' }),
      },
      {
        name: 'a layer matched by digest in one image only',
        spoil: (d) => void d.layers.push({ a: 0, by: 'digest' }),
      },
      { name: 'a negative count', spoil: (d) => void (d.files.summary.added.count = -1) },
      {
        name: 'an unchanged path with aspects',
        spoil: (d) => {
          const p = d.files.paths[0]!;
          p.difference = 'unchanged';
        },
      },
      {
        name: 'a removed path with a b side',
        spoil: (d) => {
          const p = d.files.paths.find((x) => x.difference === 'removed')!;
          p.b = p.a!;
        },
      },
      {
        name: 'an aspect not in Aspect',
        spoil: (d) => void d.files.paths[0]!.aspects.push('size' as never),
      },
      {
        name: 'a path side of an unknown type',
        spoil: (d) => void (d.files.paths[1]!.b!.type = 'socket' as never),
      },
      {
        name: 'a manifest digest that is not a digest',
        spoil: (d) => void (d.a.manifestDigest = 'latest'),
      },
    ];
    test('the unspoilt document is valid', () => {
      expect(errorsOf(good())).toEqual([]);
    });
    test.each(cases)('$name', ({ spoil }) => {
      const doc = good();
      spoil(doc);
      expect(errorsOf(doc)).not.toEqual([]);
    });
  });
});
