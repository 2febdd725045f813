// cosign with a key: signatures made by openssl with each key kind cosign supports, read out of
// their manifests by readSignatures and verified with WebCrypto, then every way they can be wrong.
import { beforeAll, describe, expect, test } from 'vitest';
import { readSignatures } from '../../src/lib/signatures/found.ts';
import { verifyCosignKey } from '../../src/lib/signatures/verify.ts';
import type { FoundSignature, VerificationResult } from '../../src/lib/signatures/types.ts';
import type { Descriptor, Manifest } from '../../src/lib/oci/types.ts';
import {
  cosignManifest,
  cosignPayload,
  makeCosignKeySignature,
  makeKey,
  sha256Hex,
  sign,
  workDir,
  type CosignKeyFixture,
  type KeyKind,
  type SignatureArtifact,
} from '../harness/signing.ts';

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
});

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
