// The config part of a comparison against an independent reading: images built with real
// tools and pushed to a real registry, pulled by Berth and compared with compareImages, while
// jq compares the two config blobs as the registry serves them. Every difference jq finds must
// be in Berth's list, and Berth's list must hold nothing else.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareImages } from '../../src/lib/compare/meta.ts';
import type { ConfigDiff } from '../../src/lib/compare/types.ts';
import { StoredImage } from '../../src/lib/images/image.ts';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { directTransport } from '../../src/lib/registry/transport.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import {
  buildImage,
  OciLayout,
  push,
  type FixtureImage,
  type ImageConfigSpec,
} from '../harness/fixtures.ts';
import { buildCompareFixtures, COMPARE_EXPECTED } from '../harness/compare-fixtures.ts';
import { run } from '../harness/process.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

/**
 * The differences of two configs ($a and $b, each slurped), as compareImages defines them but
 * written independently: Env by variable name (the last of a name wins, as from_entries keeps
 * it), Labels by key, ExposedPorts and Volumes as sets of keys, whole values compared with jq's
 * `==` (arrays in order, objects by key), null and absent the same, and for the string fields
 * an empty string the same as absent too.
 */
const JQ_CONFIG_DIFF = String.raw`
def whole($f; $x; $y):
  if $x == null and $y == null then empty
  elif $x == null then {field: $f, difference: "added", after: $y}
  elif $y == null then {field: $f, difference: "removed", before: $x}
  elif $x == $y then empty
  else {field: $f, difference: "changed", before: $x, after: $y} end;
def str($f; $x; $y):
  whole($f; (if $x == "" then null else $x end); (if $y == "" then null else $y end));
def keyed($f; $x; $y):
  ([$x, $y] | map(keys) | add | unique)[] as $k
  | if ($x | has($k) | not) then {field: $f, key: $k, difference: "added", after: $y[$k]}
    elif ($y | has($k) | not) then {field: $f, key: $k, difference: "removed", before: $x[$k]}
    elif $x[$k] == $y[$k] then empty
    else {field: $f, key: $k, difference: "changed", before: $x[$k], after: $y[$k]} end;
def env: (.config.Env // []) | map({key: (split("=")[0]), value: .}) | from_entries;
def set($f): (.config[$f] // {}) | with_entries(.value = .key);
$a[0] as $a | $b[0] as $b
| [ keyed("Env"; $a | env; $b | env),
    whole("Entrypoint"; $a.config.Entrypoint; $b.config.Entrypoint),
    whole("Cmd"; $a.config.Cmd; $b.config.Cmd),
    str("WorkingDir"; $a.config.WorkingDir; $b.config.WorkingDir),
    str("User"; $a.config.User; $b.config.User),
    keyed("ExposedPorts"; $a | set("ExposedPorts"); $b | set("ExposedPorts")),
    keyed("Labels"; $a.config.Labels // {}; $b.config.Labels // {}),
    keyed("Volumes"; $a | set("Volumes"); $b | set("Volumes")),
    str("StopSignal"; $a.config.StopSignal; $b.config.StopSignal),
    whole("Healthcheck"; $a.config.Healthcheck; $b.config.Healthcheck),
    whole("Shell"; $a.config.Shell; $b.config.Shell),
    whole("OnBuild"; $a.config.OnBuild; $b.config.OnBuild),
    str("architecture"; $a.architecture; $b.architecture),
    str("os"; $a.os; $b.os),
    str("variant"; $a.variant; $b.variant),
    str("author"; $a.author; $b.author),
    str("created"; $a.created; $b.created) ]
`;

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const second = 1_000_000_000;

/** Configs in pairs: each pair is compared both ways, and each config with itself. */
const CONFIGS: Record<string, ImageConfigSpec> = {
  // Every field set, and every field different in `every-b`.
  'every-a': {
    architecture: 'amd64',
    author: 'alice',
    created: '2024-01-01T00:00:00Z',
    config: {
      Env: [PATH_ENV, 'APP_VERSION=1.0', 'DUP=1', 'DUP=2', 'OLD_ONLY=yes', 'OPTS=a=b'],
      Entrypoint: ['/app/run.sh'],
      Cmd: ['--serve'],
      WorkingDir: '/app',
      User: '0:0',
      ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
      Labels: { 'org.opencontainers.image.version': '1.0', keep: 'same', gone: 'x' },
      Volumes: { '/data': {}, '/cache': {} },
      StopSignal: 'SIGTERM',
      Healthcheck: {
        Test: ['CMD-SHELL', 'wget -q -O- localhost:8080/health'],
        Interval: 30 * second,
        Timeout: 5 * second,
        Retries: 3,
      },
      Shell: ['/bin/sh', '-c'],
      OnBuild: ['RUN make'],
    },
  },
  'every-b': {
    architecture: 'arm64',
    variant: 'v8',
    author: 'bob',
    created: '2025-06-01T12:00:00Z',
    config: {
      Env: [PATH_ENV, 'APP_VERSION=2.0', 'DUP=2', 'NEW_ONLY=yes', 'OPTS=a=c'],
      Entrypoint: ['/app/run.sh', '--'],
      Cmd: ['--serve', '--verbose'],
      WorkingDir: '/srv',
      User: '1000:1000',
      ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
      Labels: { 'org.opencontainers.image.version': '2.0', keep: 'same', added: 'yes' },
      Volumes: { '/data': {}, '/logs': {} },
      StopSignal: 'SIGQUIT',
      Healthcheck: {
        Test: ['CMD-SHELL', 'wget -q -O- localhost:8080/health'],
        Interval: 10 * second,
        Timeout: 5 * second,
        Retries: 3,
      },
      Shell: ['/bin/bash', '-c'],
      OnBuild: null,
    },
  },
  // Absent, null and empty; duplicates; the same values in another order.
  'edges-a': {
    config: {
      Env: ['A=1', 'A=2', 'B=1'],
      Entrypoint: [],
      Cmd: null,
      WorkingDir: '',
      Labels: null,
      ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
      Volumes: {},
      Healthcheck: { Test: ['NONE'], Retries: 0 },
      Shell: null,
    },
  },
  'edges-b': {
    config: {
      Env: ['B=1', 'A=2'],
      Entrypoint: null,
      WorkingDir: '/',
      Labels: {},
      ExposedPorts: { '443/tcp': {}, '80/tcp': {} },
      Healthcheck: { Retries: 0, Test: ['NONE'] },
      StopSignal: '',
    },
  },
  // No runtime config at all.
  bare: {},
};

const PAIRS: [string, string][] = [
  // The two versions of the files comparison's fixtures (test/compare:v1 and :v2).
  ['compare-v1', 'compare-v2'],
  ['every-a', 'every-b'],
  ['edges-a', 'edges-b'],
  ['bare', 'every-a'],
  ['bare', 'edges-a'],
];

let registry: Registry;
let work: string;
const images = new Map<string, FixtureImage>();
const summaries = new Map<string, ImageSummary>();
/** Each config blob's path, as the registry serves it. */
const blobs = new Map<string, string>();

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-compare-config-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  for (const [tag, config] of Object.entries(CONFIGS)) {
    const built = await buildImage({
      layout,
      layers: [{ entries: [{ type: 'file', path: 'etc/hostname', content: `${tag}\n` }] }],
      config,
    });
    images.set(tag, await push(layout, registry, 'test/compare-config', tag, built));
  }
  const fixtures = await buildCompareFixtures(registry);
  images.set('compare-v1', fixtures.a);
  images.set('compare-v2', fixtures.b);

  // Berth pulls the manifests and configs (no layers) and summarises each image.
  const store = memoryStore();
  const client = new RegistryClient({ transport: directTransport() });
  const signal = new AbortController().signal;
  for (const [tag, fx] of images) {
    await pullImage(parseReference(fx.ref), undefined, {
      client,
      store,
      signal,
      onProgress: () => {},
      lazy: true,
    });
    const image = (await StoredImage.open(store, fx.ref))!;
    summaries.set(tag, await image.summary(fx.digest));
  }

  // jq reads the config blobs as the registry serves them, not as Berth stored them.
  for (const [tag, fx] of images) {
    const res = await fetch(`${registry.url}/v2/${fx.repository}/blobs/${fx.configDigest}`);
    if (!res.ok) throw new Error(`GET config of ${tag}: ${res.status}`);
    const path = join(work, `${tag}.json`);
    await writeFile(path, new Uint8Array(await res.arrayBuffer()));
    blobs.set(tag, path);
  }
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function jqDiff(a: string, b: string): Promise<ConfigDiff[]> {
  const { stdout } = await run('jq', [
    '-c',
    '-n',
    '--slurpfile',
    'a',
    blobs.get(a)!,
    '--slurpfile',
    'b',
    blobs.get(b)!,
    JQ_CONFIG_DIFF,
  ]);
  return JSON.parse(stdout) as ConfigDiff[];
}

/** A list of differences as sorted lines, to compare as sets and read a failure at a glance. */
const lines = (diffs: ConfigDiff[]) =>
  diffs
    .map((d) =>
      JSON.stringify([d.field, d.key ?? null, d.difference, d.before ?? null, d.after ?? null]),
    )
    .sort();

describe('compareImages config against jq', () => {
  const directed = PAIRS.flatMap(([a, b]) => [
    [a, b],
    [b, a],
  ]);
  test.each(directed)('%s against %s', async (a, b) => {
    const want = await jqDiff(a, b);
    const got = compareImages(summaries.get(a)!, summaries.get(b)!).config;
    expect(lines(got), `compareImages(${a}, ${b}).config against jq`).toEqual(lines(want));
  });

  test.each([...Object.keys(CONFIGS), 'compare-v1'])(
    '%s against itself: no difference either way',
    async (tag) => {
      expect(await jqDiff(tag, tag)).toEqual([]);
      const s = summaries.get(tag)!;
      const got = compareImages(s, s);
      expect(got.identical).toBe(true);
      expect(got.config).toEqual([]);
    },
  );

  test.each(directed)('%s against %s: the shared base as jq counts it', async (a, b) => {
    // The common prefix of the two diff_ids lists, and whether one list is the other's prefix.
    const program = String.raw`
      $a[0].rootfs.diff_ids as $x | $b[0].rootfs.diff_ids as $y
      | ([$x, $y] | map(length) | min) as $n
      | (first(range(0; $n) | select($x[.] != $y[.])) // $n) as $common
      | {layers: $common,
         aIsBaseOfB: ($common == ($x | length) and (($x | length) > 0 or ($y | length) == 0)),
         bIsBaseOfA: ($common == ($y | length) and (($y | length) > 0 or ($x | length) == 0))}`;
    const { stdout } = await run('jq', [
      '-c',
      '-n',
      ...['--slurpfile', 'a', blobs.get(a)!, '--slurpfile', 'b', blobs.get(b)!],
      program,
    ]);
    const got = compareImages(summaries.get(a)!, summaries.get(b)!).base;
    expect(got, `compareImages(${a}, ${b}).base against jq`).toEqual(JSON.parse(stdout));
  });

  test('the files fixtures: as they were built to differ', () => {
    const got = compareImages(summaries.get('compare-v1')!, summaries.get('compare-v2')!);
    expect(got.history.divergesAt).toBe(COMPARE_EXPECTED.historyDivergesAt);
    expect(got.base.layers).toBe(COMPARE_EXPECTED.layers.sharedBase);
    expect(got.layers).toEqual([
      { a: 0, b: 0, by: 'digest' },
      { a: 1, b: 1, by: 'diffID' },
      { a: 2, by: 'none' },
      { b: 2, by: 'none' },
      { b: 3, by: 'none' },
    ]);
  });

  test('the fixtures exercise every field, key by key where keyed', async () => {
    // Guards the oracle against fixtures that stopped differing: a vacuous pass.
    const every = await jqDiff('every-a', 'every-b');
    expect(new Set(every.map((d) => d.field))).toEqual(
      new Set([
        'Env',
        'Entrypoint',
        'Cmd',
        'WorkingDir',
        'User',
        'ExposedPorts',
        'Labels',
        'Volumes',
        'StopSignal',
        'Healthcheck',
        'Shell',
        'OnBuild',
        'architecture',
        'variant',
        'author',
        'created',
      ]),
    );
    expect(new Set(every.map((d) => d.difference))).toEqual(
      new Set(['added', 'removed', 'changed']),
    );
    // Duplicates, empties and reordering: what is left is what really differs.
    expect(await jqDiff('edges-a', 'edges-b')).toEqual([
      { field: 'Entrypoint', difference: 'removed', before: [] },
      { field: 'WorkingDir', difference: 'added', after: '/' },
    ]);
  });
});
