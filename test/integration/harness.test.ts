/**
 * The harness itself, checked with real clients: a real registry, real fixture images read
 * back by skopeo, the corrupting shim, the htpasswd registry and the system Chromium.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, newPage } from '../harness/chromium.ts';
import {
  ACCEPT_ALL_MANIFESTS,
  buildFixtures,
  buildImage,
  fetchManifest,
  MT,
  OciLayout,
  pushLayout,
  sha256Bytes,
  skopeo,
  type Fixtures,
} from '../harness/fixtures.ts';
import { basicAuth, htpasswdSupported, startRegistry, type Registry } from '../harness/registry.ts';
import { startCorruptingShim, type Shim } from '../harness/shim.ts';

let registry: Registry;
let fixtures: Fixtures;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-harness-test-'));
  registry = await startRegistry();
  const t0 = Date.now();
  fixtures = await buildFixtures(registry);
  console.log(`fixtures built and pushed in ${Date.now() - t0} ms`);
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function inspectRaw(ref: string): Promise<{ digest: string; json: Record<string, unknown> }> {
  const { stdoutBytes } = await skopeo([
    'inspect',
    '--raw',
    '--tls-verify=false',
    `docker://${ref}`,
  ]);
  return { digest: sha256Bytes(stdoutBytes), json: JSON.parse(stdoutBytes.toString('utf8')) };
}

async function inspectConfig(ref: string): Promise<Record<string, unknown>> {
  const { stdout } = await skopeo([
    'inspect',
    '--config',
    '--raw',
    '--tls-verify=false',
    `docker://${ref}`,
  ]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('registry', () => {
  it('answers /v2/ with the CORS headers for direct mode', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('Docker-Content-Digest');
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('fixtures, read back with skopeo', () => {
  it('test/whiteout:v1 is a 3-layer gzip OCI image', async () => {
    const f = fixtures.whiteout;
    expect(f.ref).toBe(`${registry.host}/test/whiteout:v1`);
    const { digest, json } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(json.mediaType).toBe(MT.ociManifest);
    expect(f.mediaType).toBe(MT.ociManifest);
    expect(f.layers).toHaveLength(3);
    for (const l of f.layers ?? []) expect(l.mediaType).toBe(MT.ociLayerGzip);

    const config = await inspectConfig(f.ref);
    expect(config.architecture).toBe('amd64');
    expect((config.rootfs as { diff_ids: string[] }).diff_ids).toEqual(
      f.layers?.map((l) => l.diffID),
    );
    const history = config.history as { empty_layer?: boolean }[];
    expect(history.filter((h) => h.empty_layer).length).toBeGreaterThanOrEqual(2);
    expect(history.filter((h) => !h.empty_layer)).toHaveLength(3);
    expect((config.config as { ExposedPorts: unknown }).ExposedPorts).toEqual({ '8080/tcp': {} });
  });

  it('test/dockertypes:v1 uses Docker schema2 media types', async () => {
    const f = fixtures.dockerTypes;
    const { digest, json } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(json.mediaType).toBe(MT.dockerManifest);
    expect((json.config as { mediaType: string }).mediaType).toBe(MT.dockerConfig);
    for (const l of json.layers as { mediaType: string }[])
      expect(l.mediaType).toBe(MT.dockerLayerGzip);
    // Served with the docker content type too.
    const served = await fetchManifest(registry, f.repository, f.tag);
    expect(served.mediaType).toBe(MT.dockerManifest);
    expect(served.headerDigest).toBe(f.digest);
  });

  it('test/multiarch:v1 is an OCI index with amd64, arm64/v8 and an attestation', async () => {
    const f = fixtures.multiArch;
    const { digest, json } = await inspectRaw(f.ref);
    expect(digest).toBe(f.digest);
    expect(json.mediaType).toBe(MT.ociIndex);
    const entries = json.manifests as {
      digest: string;
      platform: { os: string; architecture: string; variant?: string };
      annotations?: Record<string, string>;
    }[];
    expect(entries).toHaveLength(3);
    expect(entries.map((e) => e.digest)).toEqual(f.manifests?.map((m) => m.digest));
    const [amd64, arm64, att] = entries;
    expect(amd64?.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(arm64?.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(att?.platform).toEqual({ os: 'unknown', architecture: 'unknown' });
    expect(att?.annotations).toEqual({
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': amd64?.digest,
    });
    expect(amd64?.digest).not.toBe(arm64?.digest);

    const repo = `${registry.host}/${f.repository}`;
    const armConfig = await inspectConfig(`${repo}@${arm64?.digest}`);
    expect(armConfig).toMatchObject({ architecture: 'arm64', variant: 'v8', os: 'linux' });
    const amdConfig = await inspectConfig(`${repo}@${amd64?.digest}`);
    expect(amdConfig).toMatchObject({ architecture: 'amd64', os: 'linux' });

    const attManifest = await inspectRaw(`${repo}@${att?.digest}`);
    expect(attManifest.digest).toBe(att?.digest);
    const layers = attManifest.json.layers as { mediaType: string; digest: string }[];
    expect(layers.map((l) => l.mediaType)).toEqual([MT.inToto]);
    const blob = await fetch(`${registry.url}/v2/${f.repository}/blobs/${layers[0]?.digest}`);
    const statement = (await blob.json()) as { subject: { digest: { sha256: string } }[] };
    expect('sha256:' + statement.subject[0]?.digest.sha256).toBe(amd64?.digest);
  });

  it('skopeo copies test/whiteout:v1 to an OCI layout, checking every digest', async () => {
    const dest = join(work, 'copy-whiteout');
    await skopeo([
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${fixtures.whiteout.ref}`,
      `oci:${dest}:v1`,
    ]);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]?.digest).toBe(fixtures.whiteout.digest);
    for (const l of fixtures.whiteout.layers ?? []) {
      const bytes = await readFile(join(dest, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
      expect(bytes.length).toBe(l.size);
    }
  });

  it('keeps the whole fixture set small', () => {
    const sizes = [fixtures.whiteout, fixtures.dockerTypes].flatMap((f) => f.layers ?? []);
    const multi = fixtures.multiArch.manifests?.flatMap((m) => m.layers) ?? [];
    const total = [...sizes, ...multi].reduce((n, l) => n + l.size, 0);
    expect(total).toBeLessThan(20 * 1024 * 1024);
  });
});

describe('corrupting shim', () => {
  let shim: Shim;
  beforeAll(async () => {
    const target = fixtures.whiteout.layers?.[1];
    if (!target) throw new Error('whiteout has no layer 2');
    shim = await startCorruptingShim(registry.url, { corruptDigest: target.digest });
  });
  afterAll(async () => {
    await shim?.stop();
  });

  it('changes the bytes of the chosen blob but not their length', async () => {
    const target = fixtures.whiteout.layers?.[1];
    const res = await fetch(`${shim.url}/v2/test/whiteout/blobs/${target?.digest}`);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(target?.size);
    expect(sha256Bytes(bytes)).not.toBe(target?.digest);
    const rec = shim.requests.find((r) => r.path.endsWith(target?.digest ?? '-'));
    expect(rec).toMatchObject({ method: 'GET', status: 200, bytes: target?.size, mutated: true });
  });

  it('passes other blobs and manifests through untouched', async () => {
    const other = fixtures.whiteout.layers?.[0];
    const res = await fetch(`${shim.url}/v2/test/whiteout/blobs/${other?.digest}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(other?.digest.slice(7));
    const m = await fetch(`${shim.url}/v2/test/whiteout/manifests/v1`, {
      headers: { accept: ACCEPT_ALL_MANIFESTS },
    });
    expect(sha256Bytes(Buffer.from(await m.arrayBuffer()))).toBe(fixtures.whiteout.digest);
    expect(shim.bytesServed(/\/blobs\//)).toBeGreaterThan(other?.size ?? 0);
  });

  it('makes skopeo fail its digest check', async () => {
    const ref = `${shim.host}/test/whiteout:v1`;
    await expect(
      skopeo([
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${ref}`,
        `oci:${join(work, 'bad')}:v1`,
      ]),
    ).rejects.toThrow(/digest/i);
  });
});

describe('htpasswd registry', async () => {
  const supported = await htpasswdSupported();
  it.skipIf(!supported)('needs credentials and accepts a push with them', async () => {
    const secured = await startRegistry({ auth: 'htpasswd', users: { alice: 's3cret:pw' } });
    const dir = await mkdtemp(join(tmpdir(), 'berth-auth-layout-'));
    try {
      const anon = await fetch(`${secured.url}/v2/`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="berth-test"/);
      const bad = await fetch(`${secured.url}/v2/`, {
        headers: { authorization: basicAuth('alice', 'nope') },
      });
      expect(bad.status).toBe(401);
      const ok = await fetch(`${secured.url}/v2/`, {
        headers: { authorization: basicAuth('alice', 's3cret:pw') },
      });
      expect(ok.status).toBe(200);

      const layout = await OciLayout.create(dir);
      const image = await buildImage({
        layout,
        layers: [{ entries: [{ type: 'file', path: 'secret.txt', content: 'only for alice\n' }] }],
      });
      await layout.tag(image.descriptor, 'private');
      const served = await pushLayout({
        layout,
        layoutTag: 'private',
        registry: secured,
        repository: 'test/private',
        tag: 'v1',
        expect: image.descriptor,
      });
      expect(served.digest).toBe(image.descriptor.digest);
    } finally {
      await secured.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('chromium', () => {
  it('reads a manifest cross-origin from the registry (CORS preflight, exposed digest)', async () => {
    const browser = await launchChromium();
    const shim = await startCorruptingShim(registry.url, { corruptDigest: 'sha256:none' });
    try {
      const page = await newPage(browser);
      // Page origin: the shim; the registry is another origin (another port).
      await page.goto(`${shim.url}/v2/`);
      const result = await page.evaluate(
        async ({ url, accept }) => {
          const res = await fetch(url, { headers: { accept } });
          return { status: res.status, digest: res.headers.get('docker-content-digest') };
        },
        { url: `${registry.url}/v2/test/multiarch/manifests/v1`, accept: ACCEPT_ALL_MANIFESTS },
      );
      expect(result).toEqual({ status: 200, digest: fixtures.multiArch.digest });
      await page.context().close();
    } finally {
      await shim.stop();
      await browser.close();
    }
  });
});
