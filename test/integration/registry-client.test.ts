// The registry client against a real registry, through Berth's own proxy server.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer } from '../../proxy/server.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { proxyTransport } from '../../src/lib/registry/transport.ts';
import { buildFixtures, copyImage, type Fixtures } from '../harness/fixtures.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';

let registry: Registry;
let authRegistry: Registry;
let fixtures: Fixtures;
let app: { url: string; close(): Promise<void> };
let authRef: string;

beforeAll(async () => {
  registry = await startRegistry();
  authRegistry = await startRegistry({ auth: 'htpasswd', users: { alice: 's3cret' } });
  fixtures = await buildFixtures(registry);
  await copyImage(fixtures.whiteout.ref, `${authRegistry.host}/private/app:v1`, {
    destCreds: 'alice:s3cret',
  });
  authRef = `${authRegistry.host}/private/app:v1`;
  app = await startServer({
    host: '127.0.0.1',
    port: 0,
    distDir: 'dist',
    insecureRegistries: [registry.host, authRegistry.host],
  });
});

afterAll(async () => {
  await app?.close();
  await registry?.stop();
  await authRegistry?.stop();
});

const client = (creds?: { username: string; password: string }) =>
  new RegistryClient({
    transport: proxyTransport(`${app.url}/proxy`),
    credentials: () => creds,
    retry: { attempts: 2, baseDelayMs: 10 },
  });

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('resolve', () => {
  test('each fixture resolves to the digest and media type the registry serves', async () => {
    for (const fx of Object.values(fixtures)) {
      const r = await client().resolve(parseReference(fx.ref));
      expect(r.descriptor.digest, fx.ref).toBe(fx.digest);
      expect(r.descriptor.mediaType, fx.ref).toBe(fx.mediaType);
      expect(sha256(r.bytes)).toBe(fx.digest);
    }
  });

  test('a digest reference is checked against the bytes', async () => {
    const fx = fixtures.whiteout;
    const ref = parseReference(`${registry.host}/${fx.repository}@${fx.digest}`);
    expect((await client().resolve(ref)).descriptor.digest).toBe(fx.digest);
  });

  test('unknown tag and repository are typed not-found errors', async () => {
    for (const ref of [`${registry.host}/test/whiteout:nope`, `${registry.host}/no/such:v1`]) {
      const err = await client()
        .resolve(parseReference(ref))
        .catch((e: unknown) => e);
      expect(err, ref).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).kind, ref).toBe('not-found');
      expect((err as RegistryError).message).toContain(ref);
    }
  });
});

describe('blobs', () => {
  test('fetchManifest verifies, fetchBlob streams whole and by range', async () => {
    const fx = fixtures.whiteout;
    const ref = parseReference(fx.ref);
    const c = client();
    const layer = fx.layers![1]!;
    const whole = new Uint8Array(
      await (await c.fetchBlob(ref, { ...layer, digest: layer.digest })).arrayBuffer(),
    );
    expect(whole.byteLength).toBe(layer.size);
    expect(sha256(whole)).toBe(layer.digest);
    const res = await c.fetchBlob(ref, layer, { start: 100, end: 1099 });
    expect(res.status).toBe(206);
    expect(res.headers.get('Content-Range')).toBe(`bytes 100-1099/${layer.size}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(whole.subarray(100, 1100));
  });
});

describe('auth', () => {
  test('a Basic-auth registry without credentials says to sign in', async () => {
    const err = await client()
      .resolve(parseReference(authRef))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe('unauthorized');
    expect((err as RegistryError).message).toMatch(/credentials/);
  });

  test('with credentials it resolves', async () => {
    const r = await client({ username: 'alice', password: 's3cret' }).resolve(
      parseReference(authRef),
    );
    expect(r.descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });
});
