// cosign with a key: signatures made by openssl with each key kind cosign supports, read out of
// their manifests by readSignatures and verified with WebCrypto, then every way they can be wrong.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { readSignatures } from '../../src/lib/signatures/found.ts';
import { verifyCosignKey } from '../../src/lib/signatures/verify.ts';
import type { FoundSignature, VerificationResult } from '../../src/lib/signatures/types.ts';
import type { Descriptor, Manifest } from '../../src/lib/oci/types.ts';
import {
  cosignManifest,
  cosignPayload,
  makeCosignKeyBundle,
  makeCosignKeySignature,
  makeKey,
  pushSignature,
  sha256Hex,
  sign,
  workDir,
  type CosignKeyFixture,
  type KeyKind,
  type SignatureArtifact,
  removeSigningFixtures,
} from '../harness/signing.ts';
import { MemoryRegistry } from '../harness/memory-registry.ts';

// Fixtures are made by openssl (key generation, certificate issuance): seconds on a busy
// machine, so the default timeouts are too short; nothing here is timed.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const subject = {
  digest: `sha256:${sha256Hex('an image manifest')}`,
  repository: 'registry.example.com/team/app',
};

async function found(
  a: SignatureArtifact,
  via: 'tag' | 'referrer' = 'tag',
): Promise<FoundSignature[]> {
  const blobs = new Map(a.blobs.map((b) => [b.digest, new Uint8Array(b.bytes)]));
  return readSignatures(a.manifest as unknown as Manifest, a.digest, via, async (d: Descriptor) => {
    const b = blobs.get(d.digest);
    if (!b) throw new Error(`no blob ${d.digest}`);
    return b;
  });
}

function failed(r: VerificationResult, fragment: string): void {
  expect(r.verified, JSON.stringify(r.checks)).toBe(false);
  expect(r.error).toContain(fragment);
  expect(r.checks[r.checks.length - 1]?.ok).toBe(false);
}

const kinds: KeyKind[] = ['p256', 'p384', 'rsa', 'ed25519'];
const fixtures = new Map<KeyKind, CosignKeyFixture>();

beforeAll(() => {
  const dir = workDir();
  for (const kind of kinds) {
    fixtures.set(
      kind,
      makeCosignKeySignature(subject, {
        kind,
        dir,
        key: makeKey(dir, kind, kind),
        optional: { build: '42' },
      }),
    );
  }
}, 120_000);

afterAll(removeSigningFixtures);

describe('cosign with a key verifies', () => {
  test.each(kinds)('%s', async (kind) => {
    const f = fixtures.get(kind)!;
    const [sig] = await found(f.artifact);
    expect(sig?.kind).toBe('cosign');
    const r = await verifyCosignKey(sig!, f.key.publicPem, subject);
    expect(r.error, JSON.stringify(r.checks)).toBeUndefined();
    expect(r.verified).toBe(true);
    expect(r.scheme).toBe('cosign-key');
    expect(r.signer?.keyId).toBe(sha256Hex(f.key.spki));
    expect(r.annotations).toEqual({ build: '42' });
    expect(r.checks.map((c) => c.what)).toEqual([
      'the public key is readable',
      'the signature verifies with the given key',
      'the payload\'s type is "cosign container image signature"',
      `the payload names this image, ${subject.digest}`,
    ]);
    expect(r.notChecked.join('\n')).toContain('no transparency log entry');
  });

  test('a P-384 signature made with SHA-256, as cosign before 2.4 did', async () => {
    const f = fixtures.get('p384')!;
    const signature = sign(f.key, f.payload, 'sha256').toString('base64');
    const [sig] = await found(cosignManifest([{ payload: f.payload, signature }], subject, 'tag'));
    const r = await verifyCosignKey(sig!, f.key.publicPem, subject);
    expect(r.verified, r.error).toBe(true);
    expect(r.checks[1]?.detail).toContain('SHA-256');
  });

  test('found as an OCI 1.1 referrer', async () => {
    const f = fixtures.get('p256')!;
    const a = cosignManifest([{ payload: f.payload, signature: f.signature }], subject, 'referrer');
    const [sig] = await found(a, 'referrer');
    expect(sig).toMatchObject({ kind: 'cosign', via: 'referrer', manifest: a.digest });
    expect((await verifyCosignKey(sig!, f.key.publicPem, subject)).verified).toBe(true);
  });
});

describe('cosign with a key fails', () => {
  test('another key', async () => {
    const f = fixtures.get('p256')!;
    const other = makeKey(workDir(), 'other', 'p256');
    const [sig] = await found(f.artifact);
    failed(await verifyCosignKey(sig!, other.publicPem, subject), 'verifies with the given key');
  });

  test('another kind of key', async () => {
    const [sig] = await found(fixtures.get('p256')!.artifact);
    failed(
      await verifyCosignKey(sig!, fixtures.get('rsa')!.key.publicPem, subject),
      'verifies with the given key',
    );
  });

  test('a payload for another digest', async () => {
    const f = fixtures.get('ed25519')!;
    const payload = cosignPayload(`sha256:${sha256Hex('another image')}`, subject.repository);
    const signature = sign(f.key, payload).toString('base64');
    const [sig] = await found(cosignManifest([{ payload, signature }], subject, 'tag'));
    const r = await verifyCosignKey(sig!, f.key.publicPem, subject);
    failed(r, `it names sha256:${sha256Hex('another image')}`);
    // The signature itself was good: only the digest check failed.
    expect(r.checks[1]?.ok).toBe(true);
  });

  test('a tampered payload', async () => {
    const f = fixtures.get('p256')!;
    const payload = Buffer.from(
      f.payload.toString().replace('"optional":{', '"optional":{"x":"y",'),
    );
    const [sig] = await found(
      cosignManifest([{ payload, signature: f.signature }], subject, 'tag'),
    );
    failed(await verifyCosignKey(sig!, f.key.publicPem, subject), 'payload was changed');
  });

  test('a signed payload of another type', async () => {
    const f = fixtures.get('p256')!;
    const payload = Buffer.from(
      f.payload.toString().replace('cosign container image signature', 'other'),
    );
    const signature = sign(f.key, payload).toString('base64');
    const [sig] = await found(cosignManifest([{ payload, signature }], subject, 'tag'));
    failed(await verifyCosignKey(sig!, f.key.publicPem, subject), 'it is "other"');
  });

  test('a signed payload that is not JSON', async () => {
    const f = fixtures.get('p256')!;
    const payload = Buffer.from('not json');
    const signature = sign(f.key, payload).toString('base64');
    const [sig] = await found(cosignManifest([{ payload, signature }], subject, 'tag'));
    failed(await verifyCosignKey(sig!, f.key.publicPem, subject), 'not JSON');
  });

  const garbage: [string, string, string][] = [
    ['a key that is not PEM', 'hello', 'no "-----BEGIN PUBLIC KEY-----" block'],
    [
      'a private key',
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
      'private key',
    ],
    [
      'a PEM block of garbage',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
      'public key',
    ],
  ];
  test.each(garbage)('%s', async (_name, pem, fragment) => {
    const [sig] = await found(fixtures.get('p256')!.artifact);
    failed(await verifyCosignKey(sig!, pem, subject), fragment);
  });

  test('a signature annotation of garbage', async () => {
    const f = fixtures.get('p256')!;
    for (const signature of ['!!!', 'AAAA', '']) {
      const [sig] = await found(
        cosignManifest([{ payload: f.payload, signature }], subject, 'tag'),
      );
      const r = await verifyCosignKey(sig!, f.key.publicPem, subject);
      expect(r.verified).toBe(false);
      expect(r.error).toBeTruthy();
    }
  });

  test('a Notation signature given to the cosign verifier', async () => {
    const sig: FoundSignature = {
      kind: 'notation',
      manifest: 'sha256:00',
      via: 'referrer',
      mediaType: 'application/cose',
      envelope: new Uint8Array([1, 2, 3]),
    };
    failed(await verifyCosignKey(sig, fixtures.get('p256')!.key.publicPem, subject), 'Notation');
  });
});

describe('cosign 3 with a key: a Sigstore bundle with a DSSE statement, as a referrer', () => {
  async function bundleSig(a: SignatureArtifact): Promise<FoundSignature> {
    const sigs = await found(a, 'referrer');
    expect(sigs.map((x) => x.kind)).toEqual(['sigstore-bundle']);
    return sigs[0]!;
  }

  test.each(['p256', 'ed25519'] as const)('%s verifies', async (kind) => {
    const f = makeCosignKeyBundle(subject, { key: fixtures.get(kind)!.key });
    const r = await verifyCosignKey(await bundleSig(f.artifact), f.key.publicPem, subject);
    expect(r.error, JSON.stringify(r.checks, null, 1)).toBeUndefined();
    expect(r.checks.map((c) => c.what)).toContain(
      `the statement names this image, ${subject.digest}`,
    );
    expect(r.notChecked.join('\n')).toContain('not checked when verifying with a key');
  });

  test('another key fails', async () => {
    const f = makeCosignKeyBundle(subject, { key: fixtures.get('p256')!.key });
    failed(
      await verifyCosignKey(
        await bundleSig(f.artifact),
        fixtures.get('p384')!.key.publicPem,
        subject,
      ),
      'verifies with the given key',
    );
  });

  test('a statement for another image fails', async () => {
    const other = `sha256:${sha256Hex('a third image')}`;
    const f = makeCosignKeyBundle(subject, { key: fixtures.get('p256')!.key, digest: other });
    failed(
      await verifyCosignKey(await bundleSig(f.artifact), f.key.publicPem, subject),
      `it names ${other}`,
    );
  });

  test('an attestation is not a signature', async () => {
    const f = makeCosignKeyBundle(subject, {
      key: fixtures.get('p256')!.key,
      predicateType: 'https://cyclonedx.org/bom',
    });
    failed(
      await verifyCosignKey(await bundleSig(f.artifact), f.key.publicPem, subject),
      'attestation, not a signature',
    );
  });
});

describe('pushSignature (for other tests)', () => {
  test('stores the manifest under its .sig tag with the digest readSignatures is told', async () => {
    const reg = new MemoryRegistry();
    const f = fixtures.get('p256')!;
    const digest = await pushSignature(reg, 'team/app', f.artifact);
    expect(digest).toBe(f.artifact.digest);
    // Read back through the registry, as the images worker will: by the tag cosign derives
    // from the image's digest, then the layer.
    const tag = `${subject.digest.replace(':', '-')}.sig`;
    const res = await reg.transport(
      `https://${reg.host}/v2/team/app/manifests/${tag}`,
      {},
      reg.host,
    );
    const manifest = (await res.json()) as Manifest;
    const sigs = await readSignatures(manifest, digest, 'tag', async (d) => {
      const r = await reg.transport(
        `https://${reg.host}/v2/team/app/blobs/${d.digest}`,
        {},
        reg.host,
      );
      return new Uint8Array(await r.arrayBuffer());
    });
    expect((await verifyCosignKey(sigs[0]!, f.key.publicPem, subject)).verified).toBe(true);
  });
});
