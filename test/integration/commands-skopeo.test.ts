// The command lines Berth shows, run for real against a real registry. An index of two
// platforms (files with hostile names, a gzip and a zstd layer) is built with GNU tar, gzip and
// zstd, pushed, and pulled by Berth; the commands are built from Berth's own summary, as the
// page builds them, and run verbatim by bash. skopeo's output must say what Berth shows: the
// manifest digest, the config, the layers, and the OCI archive its download gives. crane is not
// installed, so its blob fetch is stood in for by a shell function that does what `crane blob`
// does (one GET of the blob, made by node) and refuses plain http unless given --insecure, as crane does; the
// rest of each layer and file pipeline (zstd, tar, the quoted path) runs as written.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  fileCommands,
  imageCommands,
  layerCommands,
  type Command,
  type ImageTarget,
} from '../../src/lib/commands/commands.ts';
import { StoredImage } from '../../src/lib/images/image.ts';
import type { ImageSummary } from '../../src/lib/images/summary.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { directTransport } from '../../src/lib/registry/transport.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { imageTarget, layerTarget } from '../../src/state/commands.ts';
import { buildImage, buildIndex, OciLayout, push, type FixtureImage } from '../harness/fixtures.ts';
import { run } from '../harness/process.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

/** Names a shell would mangle if a command did not quote them. */
const HOSTILE: Record<string, string> = {
  "data/it's $HOME": 'quote and dollar\n',
  '-rf': 'leading dash\n',
  'data/new\nline': 'newline in the name\n',
  'data/back`tick` & (sub)': 'backquotes\n',
  'data/sp ace/ümlaut *': 'space, unicode, star\n',
};

const STAND_IN_CRANE = [
  'crane() {',
  '  if [ "$1" != --insecure ]; then echo "crane: plain http needs --insecure" >&2; return 1; fi',
  '  shift',
  '  if [ "$1" != blob ]; then echo "stand-in crane: only blob" >&2; return 2; fi',
  '  local ref=$2 repo digest',
  '  repo=${ref%@*}; digest=${ref##*@}',
  `  ${JSON.stringify(process.execPath)} -e "$GET_BLOB" "http://\${repo%%/*}/v2/\${repo#*/}/blobs/$digest"`,
  '}',
].join('\n');

/** One GET, the body to stdout, failing on an error status: what `crane blob` does. */
const GET_BLOB = `fetch(process.argv[1]).then(async (r) => {
  if (!r.ok) { console.error('GET ' + r.status); process.exit(1); }
  process.stdout.write(new Uint8Array(await r.arrayBuffer()));
});`;

let registry: Registry;
let work: string;
let fx: FixtureImage;
let summary: ImageSummary;
let target: ImageTarget;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-commands-'));
  const layout = await OciLayout.create(join(work, 'layout'));
  const files = Object.entries(HOSTILE).map(([path, content]) => ({
    type: 'file' as const,
    path,
    content,
  }));
  const amd64 = await buildImage({
    layout,
    layers: [{ entries: [{ type: 'file', path: 'etc/hostname', content: 'amd64\n' }] }],
  });
  const arm64 = await buildImage({
    layout,
    layers: [
      { entries: [{ type: 'file', path: 'etc/hostname', content: 'arm64\n' }, ...files] },
      { compression: 'zstd', entries: files.map((f) => ({ ...f, content: `zstd ${f.content}` })) },
    ],
    config: {
      architecture: 'arm64',
      variant: 'v8',
      config: { Env: ['PATH=/bin', 'GREETING=hello world'], Cmd: ['/bin/sh'] },
    },
  });
  const index = await buildIndex({ layout, manifests: [{ image: amd64 }, { image: arm64 }] });
  fx = await push(layout, registry, 'test/cli', 'v1', index);

  // Berth pulls the arm64 image (manifests and config; layers stay in the registry).
  const store = memoryStore();
  const pulled = await pullImage(
    parseReference(fx.ref),
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    {
      client: new RegistryClient({ transport: directTransport() }),
      store,
      signal: new AbortController().signal,
      onProgress: () => {},
      lazy: true,
    },
  );
  summary = await (await StoredImage.open(store, fx.ref))!.summary(pulled.manifest.digest);
  target = imageTarget(summary)!;
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function pick(cmds: Command[], tool: string, title: string): string {
  const c = cmds.find((x) => x.tool === tool && x.title === title);
  if (!c)
    throw new Error(`no ${tool} command "${title}" in ${cmds.map((x) => x.title).join(', ')}`);
  return c.text;
}

/** Runs a command line as a person pastes it, with pipefail so a failing fetch fails. */
async function sh(text: string): Promise<Buffer> {
  const r = await run('bash', ['-c', `set -o pipefail\n${STAND_IN_CRANE}\n${text}`], {
    cwd: work,
    env: { ...process.env, GET_BLOB },
    timeoutMs: 60_000,
  });
  return r.stdoutBytes;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('what Berth knows of the image', () => {
  test('the summary names an arm64 manifest of an index on a loopback registry', () => {
    expect(target.platform).toMatchObject({ architecture: 'arm64', variant: 'v8' });
    expect(target.insecure).toBe(true);
    expect(summary.rootDigest).toBe(fx.digest);
    expect(summary.manifest.digest).not.toBe(fx.digest);
  });
});

describe.each([true, false])('skopeo commands, pinned %s', (pinned) => {
  const cmds = () => imageCommands(target, { pinned });

  test('inspect names the manifest and the layers Berth shows', async () => {
    const out = JSON.parse((await sh(pick(cmds(), 'skopeo', 'Inspect'))).toString()) as {
      Digest: string;
      Architecture: string;
      Layers: string[];
    };
    // Not pinned, the index is resolved by the platform overrides, not by this machine's;
    // skopeo's Digest is then the index's, the document the reference names.
    expect(out.Digest).toBe(pinned ? summary.manifest.digest : summary.rootDigest);
    expect(out.Architecture).toBe('arm64');
    expect(out.Layers).toEqual(summary.layers.map((l) => l.descriptor.digest));
  });

  test('inspect --raw gives the bytes of the document the reference names', async () => {
    const title = pinned ? 'Raw manifest' : 'Raw index';
    const raw = await sh(pick(cmds(), 'skopeo', title));
    expect(sha256(raw)).toBe(pinned ? summary.manifest.digest : summary.rootDigest);
  });

  test('inspect --config gives the config Berth shows', async () => {
    const out = JSON.parse((await sh(pick(cmds(), 'skopeo', 'Config'))).toString()) as {
      architecture: string;
      variant?: string;
      config: { Env: string[]; Cmd: string[] };
      rootfs: { diff_ids: string[] };
    };
    const cfg = summary.config!;
    expect(out.architecture).toBe(cfg.architecture);
    expect(out.variant).toBe(cfg.variant);
    expect(out.config.Env).toEqual(cfg.config?.Env);
    expect(out.config.Cmd).toEqual(cfg.config?.Cmd);
    expect(out.rootfs.diff_ids).toEqual(cfg.rootfs.diff_ids);
  });

  test('copy to oci-archive writes the archive Berth downloads: same name, same manifest', async () => {
    const text = pick(cmds(), 'skopeo', 'Download as an OCI archive');
    await rm(join(work, 'cli_v1.tar'), { force: true });
    await sh(text);
    expect(text).toMatch(/ oci-archive:cli_v1\.tar:v1$/);
    const index = JSON.parse(
      (await run('tar', ['-xOf', join(work, 'cli_v1.tar'), 'index.json'])).stdout,
    ) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([summary.manifest.digest]);
    expect(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe('v1');
    await rm(join(work, 'cli_v1.tar'), { force: true });
  });
});

describe('layer and file pipelines', () => {
  test.each([0, 1])('layer %i lists every file, hostile names included', async (i) => {
    const layer = layerTarget(summary, i)!;
    const listing = (await sh(pick(layerCommands(target, layer), 'crane', 'List the layer')))
      .toString()
      .split('\n');
    // GNU tar -tv writes a newline in a name as \n.
    for (const name of Object.keys(HOSTILE)) {
      const shown = name.replaceAll('\n', '\\n');
      expect(
        listing.some((l) => l.endsWith(` ${shown}`)),
        `${JSON.stringify(name)} in layer ${i}`,
      ).toBe(true);
    }
  });

  for (const [path, content] of Object.entries(HOSTILE)) {
    test.each([
      [0, content],
      [1, `zstd ${content}`],
    ])(`${JSON.stringify(path)}: layer %i's copy is its bytes`, async (i, want) => {
      const cmds = fileCommands(
        target,
        { path: `/${path}`, layer: layerTarget(summary, i) },
        { pinned: true },
      );
      const got = await sh(pick(cmds, 'crane', "This layer's copy"));
      expect(got.toString()).toBe(want);
    });
  }

  test('without --insecure the stand-in refuses, as crane would', async () => {
    const layer = layerTarget(summary, 0)!;
    const text = pick(
      layerCommands({ ...target, insecure: false }, layer),
      'crane',
      'List the layer',
    );
    await expect(sh(text)).rejects.toThrow(/--insecure/);
  });
});

test('the archive is read back by skopeo as the image Berth shows', async () => {
  const text = pick(
    imageCommands(target, { pinned: true }),
    'skopeo',
    'Download as an OCI archive',
  );
  await sh(text);
  const got = JSON.parse(
    (await run('skopeo', ['inspect', `oci-archive:${join(work, 'cli_v1.tar')}`])).stdout,
  ) as { Digest: string; Layers: string[] };
  expect(got.Digest).toBe(summary.manifest.digest);
  expect(got.Layers).toEqual(summary.layers.map((l) => l.descriptor.digest));
  expect(await readFile(join(work, 'cli_v1.tar'))).toBeTruthy();
});
