// Notation COSE envelopes under a test CA made with openssl, verified against its root
// certificate, then every way they can be wrong.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { readSignatures } from '../../src/lib/signatures/found.ts';
import { verifyNotation } from '../../src/lib/signatures/verify.ts';
import type { FoundSignature, VerificationResult } from '../../src/lib/signatures/types.ts';
import type { Descriptor, Manifest } from '../../src/lib/oci/types.ts';
import {
  makeNotationCa,
  makeNotationSignature,
  sha256Hex,
  type NotationCa,
  type NotationFixture,
  type NotationOptions,
  type SignatureArtifact,
  removeSigningFixtures,
} from '../harness/signing.ts';

// Fixtures are made by openssl (key generation, certificate issuance): seconds on a busy
// machine, so the default timeouts are too short; nothing here is timed.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const subject = {
  digest: `sha256:${sha256Hex('a notation image')}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 1234,
};

let ca: NotationCa;
let good: NotationFixture;

async function found(a: SignatureArtifact): Promise<FoundSignature> {
  const blobs = new Map(a.blobs.map((b) => [b.digest, new Uint8Array(b.bytes)]));
  const [sig] = await readSignatures(
    a.manifest as unknown as Manifest,
    a.digest,
    'referrer',
    async (d: Descriptor) => blobs.get(d.digest)!,
  );
  return sig!;
}

function envelope(bytes: Uint8Array, mediaType = 'application/cose'): FoundSignature {
  return {
    kind: 'notation',
    manifest: 'sha256:00',
    via: 'referrer',
    mediaType: mediaType as 'application/cose',
    envelope: bytes,
  };
}

function failed(r: VerificationResult, fragment: string): void {
  expect(r.verified, JSON.stringify(r.checks, null, 1)).toBe(false);
  expect(r.error).toContain(fragment);
  expect(r.checks[r.checks.length - 1]?.ok).toBe(false);
}

beforeAll(() => {
  ca = makeNotationCa();
  good = makeNotationSignature(ca, subject);
}, 120_000);

afterAll(removeSigningFixtures);

describe('Notation verifies', () => {
  test('an ES256 COSE envelope found as a referrer', async () => {
    const sig = await found(good.artifact);
    expect(sig).toMatchObject({ kind: 'notation', mediaType: 'application/cose' });
    const r = await verifyNotation(sig, [ca.root.certPem], subject);
    expect(r.error, JSON.stringify(r.checks, null, 1)).toBeUndefined();
    expect(r.verified).toBe(true);
    expect(r.scheme).toBe('notation');
    expect(r.signer?.identity).toBe(good.subjectDn);
    expect(r.signedAt).toBeTruthy();
    expect(r.checks.find((c) => c.what.includes('verifies'))?.detail).toBe('COSE, ES256');
    expect(r.notChecked).toContain('no revocation check: offline');
    expect(r.notChecked.join('\n')).toContain('what the signer claims');
  });

  test('a PS256 envelope (an RSA key), with an expiry to come', async () => {
    const f = makeNotationSignature(ca, subject, {
      kind: 'rsa',
      expiry: new Date(Date.now() + 3600_000),
    });
    const r = await verifyNotation(await found(f.artifact), [ca.root.certPem], subject);
    expect(r.verified, r.error).toBe(true);
    expect(r.checks.map((c) => c.what)).toContain('the signature has not expired');
  });

  test('among several trust roots', async () => {
    const other = makeNotationCa(undefined, 'Other');
    const r = await verifyNotation(
      await found(good.artifact),
      [other.root.certPem, ca.root.certPem],
      subject,
    );
    expect(r.verified, r.error).toBe(true);
  });
});

describe("Notation JWS (notation's default format)", () => {
  test.each(['p256', 'rsa'] as const)('a %s envelope verifies', async (kind) => {
    const f = makeNotationSignature(ca, subject, { format: 'jws', kind });
    const sig = await found(f.artifact);
    expect(sig).toMatchObject({ kind: 'notation', mediaType: 'application/jose+json' });
    const r = await verifyNotation(sig, [ca.root.certPem], subject);
    expect(r.error, JSON.stringify(r.checks, null, 1)).toBeUndefined();
    expect(r.checks.find((c) => c.what.includes('verifies'))?.detail).toBe(
      `JWS, ${kind === 'rsa' ? 'PS256' : 'ES256'}`,
    );
    expect(r.signer?.identity).toBe(f.subjectDn);
  });

  test('a JWS envelope for another descriptor fails', async () => {
    const f = makeNotationSignature(ca, subject, {
      format: 'jws',
      target: { ...subject, digest: `sha256:${sha256Hex('other')}` },
    });
    failed(await verifyNotation(await found(f.artifact), [ca.root.certPem], subject), 'it names');
  });

  test('an expired JWS signature fails', async () => {
    const f = makeNotationSignature(ca, subject, {
      format: 'jws',
      expiry: new Date(Date.now() - 60_000),
    });
    failed(
      await verifyNotation(await found(f.artifact), [ca.root.certPem], subject),
      'it expired at',
    );
  });

  test('a JWS envelope with a changed payload fails', async () => {
    const f = makeNotationSignature(ca, subject, { format: 'jws' });
    const doc = JSON.parse(f.envelope.toString()) as { payload: string };
    const payload = Buffer.from(doc.payload, 'base64url')
      .toString()
      .replace('"size":1234', '"size":1235');
    doc.payload = Buffer.from(payload).toString('base64url');
    failed(
      await verifyNotation(
        envelope(new Uint8Array(Buffer.from(JSON.stringify(doc))), 'application/jose+json'),
        [ca.root.certPem],
        { ...subject, size: 1235 },
      ),
      'envelope was changed',
    );
  });
});

describe('Notation fails', () => {
  const cases: [string, NotationOptions, string][] = [
    [
      'an envelope for another descriptor',
      { target: { ...subject, digest: `sha256:${sha256Hex('other')}` } as never },
      'it names sha256:',
    ],
    ['an envelope with another size', { target: { ...subject, size: 99 } as never }, 'it says 99'],
    ['an expired signature', { expiry: new Date(Date.now() - 60_000) }, 'it expired at'],
    [
      'an expired signing certificate',
      { notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) },
      'is valid',
    ],
    ['a certificate not for code signing', { noCodeSigning: true }, 'code signing'],
  ];
  test.each(cases)('%s', async (_name, opts, fragment) => {
    const f = makeNotationSignature(ca, subject, opts);
    failed(await verifyNotation(await found(f.artifact), [ca.root.certPem], subject), fragment);
  });

  test('a chain to another root', async () => {
    const other = makeNotationCa(undefined, 'Other');
    failed(
      await verifyNotation(await found(good.artifact), [other.root.certPem], subject),
      'not issued under any of them',
    );
  });

  test('no trust root', async () => {
    failed(await verifyNotation(await found(good.artifact), [], subject), 'no trust root');
  });

  test('a tampered payload', async () => {
    const bytes = new Uint8Array(good.envelope);
    const at = Buffer.from(bytes).indexOf('targetArtifact');
    bytes[at] = 'T'.charCodeAt(0);
    failed(
      await verifyNotation(envelope(bytes), [ca.root.certPem], subject),
      'envelope was changed',
    );
  });

  test('COSE bytes labelled as JWS', async () => {
    failed(
      await verifyNotation(
        envelope(new Uint8Array(good.envelope), 'application/jose+json'),
        [ca.root.certPem],
        subject,
      ),
      'the envelope is JWS: it is not JSON',
    );
  });

  test.each([
    ['empty', new Uint8Array(0)],
    ['garbage', new Uint8Array([0xff, 0x00, 0x13, 0x37])],
    ['CBOR of another shape', new Uint8Array([0x83, 0x01, 0x02, 0x03])],
    ['a truncated envelope', new Uint8Array(0)],
  ])('%s bytes', async (_name, bytes) => {
    const b =
      bytes.length === 0 && _name.startsWith('a truncated')
        ? good.envelope.subarray(0, 100)
        : bytes;
    const r = await verifyNotation(envelope(new Uint8Array(b)), [ca.root.certPem], subject);
    expect(r.verified).toBe(false);
    expect(r.error).toBeTruthy();
  });

  test('a trust root that is not a certificate', async () => {
    const r = await verifyNotation(await found(good.artifact), ['hello'], subject);
    failed(r, 'no CERTIFICATE block');
  });
});

describe('readSignatures', () => {
  test('a manifest that is not a signature is []', async () => {
    const m = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44', size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: 'sha256:55', size: 10 }],
    } as Manifest;
    let reads = 0;
    const got = await readSignatures(m, 'sha256:00', 'referrer', async () => {
      reads++;
      return new Uint8Array(0);
    });
    expect(got).toEqual([]);
    expect(reads).toBe(0);
  });

  test('a signature layer over the size bound is refused without reading it', async () => {
    const m = JSON.parse(JSON.stringify(good.artifact.manifest)) as Manifest;
    m.layers[0]!.size = 50 << 20;
    let reads = 0;
    await expect(
      readSignatures(m, 'sha256:00', 'referrer', async () => {
        reads++;
        return new Uint8Array(0);
      }),
    ).rejects.toThrow('over the');
    expect(reads).toBe(0);
  });

  test('garbage in place of a manifest is []', async () => {
    const got = await readSignatures(
      {} as Manifest,
      'sha256:00',
      'tag',
      async () => new Uint8Array(),
    );
    expect(got).toEqual([]);
  });
});

describe('damaged input never throws', () => {
  test('a COSE envelope with any byte changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: good.envelope.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, x) => {
          const bytes = new Uint8Array(good.envelope);
          bytes[at]! ^= x;
          const r = await verifyNotation(envelope(bytes), [ca.root.certPem], subject);
          // Some bytes are not signed (the signing agent, the intermediate's own signature
          // is checked though): verified or not, the result is a result with its reason.
          expect(typeof r.verified).toBe('boolean');
          if (!r.verified) expect(r.error).toBeTruthy();
        },
      ),
      { numRuns: 150 },
    );
  });

  test('random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        const r = await verifyNotation(envelope(bytes), [ca.root.certPem], subject);
        expect(r.verified).toBe(false);
        expect(r.error).toBeTruthy();
      }),
      { numRuns: 150 },
    );
  });
});
