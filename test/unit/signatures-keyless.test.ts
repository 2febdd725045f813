// cosign keyless, offline: signatures under a test Sigstore made with openssl (a test CA for
// Fulcio, a CT log key, a Rekor key), verified against its trusted_root.json, then every way
// they can be wrong. Also the shipped public-good trusted root.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { readSignatures } from '../../src/lib/signatures/found.ts';
import { shippedTrustRoot } from '../../src/lib/signatures/trustroot.ts';
import { parseTrustedRoot, verifyCosignKeyless } from '../../src/lib/signatures/verify.ts';
import type {
  FoundSignature,
  IdentityPolicy,
  SigstoreTrustRoot,
  VerificationResult,
} from '../../src/lib/signatures/types.ts';
import type { Descriptor, Manifest } from '../../src/lib/oci/types.ts';
import {
  makeKey,
  makeKeylessSignature,
  makeTestSigstore,
  sha256Hex,
  workDir,
  type KeylessFixture,
  type KeylessOptions,
  type SignatureArtifact,
  type TestSigstore,
  removeSigningFixtures,
} from '../harness/signing.ts';

// Fixtures are made by openssl (key generation, certificate issuance): seconds on a busy
// machine, so the default timeouts are too short; nothing here is timed.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const subject = {
  digest: `sha256:${sha256Hex('a keyless image')}`,
  repository: 'registry.example.com/team/app',
};
const policy: IdentityPolicy = {
  identity: 'signer@example.com',
  issuer: 'https://accounts.example.com',
};

let sigstore: TestSigstore;
let root: SigstoreTrustRoot;
let good: KeylessFixture;

async function found(a: SignatureArtifact): Promise<FoundSignature> {
  const blobs = new Map(a.blobs.map((b) => [b.digest, new Uint8Array(b.bytes)]));
  const [sig] = await readSignatures(
    a.manifest as unknown as Manifest,
    a.digest,
    'tag',
    async (d: Descriptor) => blobs.get(d.digest)!,
  );
  return sig!;
}

function cosignSig(f: KeylessFixture, change: Partial<FoundSignature> = {}): FoundSignature {
  return {
    kind: 'cosign',
    manifest: f.artifact.digest,
    via: 'tag',
    payload: new Uint8Array(f.payload),
    signature: f.signature,
    certificate: f.certificate,
    chain: f.chain,
    rekorBundle: f.rekorBundle,
    ...change,
  } as FoundSignature;
}

function failed(r: VerificationResult, fragment: string): void {
  expect(r.verified, JSON.stringify(r.checks, null, 1)).toBe(false);
  expect(r.error).toContain(fragment);
  expect(r.checks[r.checks.length - 1]?.ok).toBe(false);
}

beforeAll(() => {
  sigstore = makeTestSigstore();
  root = parseTrustedRoot(sigstore.trustedRootJson);
  good = makeKeylessSignature(sigstore, subject);
}, 120_000);

afterAll(removeSigningFixtures);

describe('keyless verifies', () => {
  test('a cosign signature with its certificate and Rekor bundle', async () => {
    const sig = await found(good.artifact);
    expect(sig).toMatchObject({ kind: 'cosign', certificate: good.certificate });
    const r = await verifyCosignKeyless(sig, root, subject, policy);
    expect(r.error, JSON.stringify(r.checks, null, 1)).toBeUndefined();
    expect(r.verified).toBe(true);
    expect(r.signer).toEqual({ identity: policy.identity, issuer: policy.issuer });
    const entry = JSON.parse(good.rekorBundle) as { Payload: { integratedTime: number } };
    expect(r.signedAt).toBe(new Date(entry.Payload.integratedTime * 1000).toISOString());
    const whats = r.checks.map((c) => c.what);
    for (const fragment of [
      "signed entry timestamp verifies with the log's key",
      "the log entry records the payload's hash",
      "the signature verifies with the certificate's key",
      `the payload names this image, ${subject.digest}`,
      "falls inside the certificate's validity",
      'chains to a Fulcio CA in the trusted root',
      'signed certificate timestamp from a CT log',
      `identity is ${policy.identity}`,
      `OIDC issuer is ${policy.issuer}`,
    ]) {
      expect(
        whats.some((w) => w.includes(fragment)),
        fragment,
      ).toBe(true);
    }
    expect(r.notChecked).toContain('no revocation check: offline');
    expect(r.notChecked.join('\n')).toContain('not checked against a live log');
  });

  test('an identity by regular expression (a workflow URI), no issuer given', async () => {
    const f = makeKeylessSignature(sigstore, subject, {
      identity: 'https://github.com/example/app/.github/workflows/release.yml@refs/heads/main',
      issuer: 'https://token.actions.githubusercontent.com',
    });
    const r = await verifyCosignKeyless(cosignSig(f), root, subject, {
      identity: '^https://github\\.com/example/',
      identityRegExp: true,
    });
    expect(r.verified, r.error).toBe(true);
    expect(r.signer?.issuer).toBe('https://token.actions.githubusercontent.com');
    expect(r.notChecked.join('\n')).toContain('the OIDC issuer is not checked');
  });

  test('long after the short-lived certificate expired', async () => {
    const later = new Date(Date.now() + 30 * 24 * 3600 * 1000);
    const r = await verifyCosignKeyless(cosignSig(good), root, subject, policy, later);
    expect(r.verified, r.error).toBe(true);
    expect(r.notChecked.join('\n')).toContain('what counts is that it was valid');
  });

  test('a Sigstore bundle v0.3 with the payload found beside it', async () => {
    const sig: FoundSignature = {
      kind: 'sigstore-bundle',
      manifest: 'sha256:00',
      via: 'referrer',
      bundle: good.sigstoreBundle,
    };
    const r = await verifyCosignKeyless(
      sig,
      root,
      subject,
      policy,
      undefined,
      new Uint8Array(good.payload),
    );
    expect(r.verified, r.error).toBe(true);
  });
});

describe('cosign 3: a Sigstore bundle with a DSSE statement, as a referrer', () => {
  async function bundleFound(f: KeylessFixture): Promise<FoundSignature> {
    const blobs = new Map(f.artifact.blobs.map((b) => [b.digest, new Uint8Array(b.bytes)]));
    const sigs = await readSignatures(
      f.artifact.manifest as unknown as Manifest,
      f.artifact.digest,
      'referrer',
      async (d: Descriptor) => blobs.get(d.digest)!,
    );
    expect(sigs.map((x) => x.kind)).toEqual(['sigstore-bundle']);
    return sigs[0]!;
  }

  test('verifies', async () => {
    const f = makeKeylessSignature(sigstore, subject, { dsse: true });
    const r = await verifyCosignKeyless(await bundleFound(f), root, subject, policy);
    expect(r.error, JSON.stringify(r.checks, null, 1)).toBeUndefined();
    expect(r.verified).toBe(true);
    expect(r.checks.map((c) => c.what)).toContain(
      `the statement names this image, ${subject.digest}`,
    );
  });

  test('a statement for another image fails', async () => {
    const f = makeKeylessSignature(sigstore, subject, {
      dsse: true,
      payloadDigest: `sha256:${sha256Hex('y')}`,
    });
    failed(
      await verifyCosignKeyless(await bundleFound(f), root, subject, policy),
      `it names sha256:${sha256Hex('y')}`,
    );
  });

  test('an attestation is not a signature', async () => {
    const f = makeKeylessSignature(sigstore, subject, {
      dsse: true,
      predicateType: 'https://slsa.dev/provenance/v1',
    });
    failed(
      await verifyCosignKeyless(await bundleFound(f), root, subject, policy),
      'attestation, not a signature',
    );
  });

  test('a tampered statement fails', async () => {
    const f = makeKeylessSignature(sigstore, subject, { dsse: true });
    const b = JSON.parse(f.sigstoreBundle) as { dsseEnvelope: { payload: string } };
    const st = Buffer.from(b.dsseEnvelope.payload, 'base64').toString().replace('{}', '{"x":1}');
    b.dsseEnvelope.payload = Buffer.from(st).toString('base64');
    const sig: FoundSignature = {
      kind: 'sigstore-bundle',
      manifest: 'sha256:00',
      via: 'referrer',
      bundle: JSON.stringify(b),
    };
    failed(await verifyCosignKeyless(sig, root, subject, policy), "the payload's hash");
  });
});

describe('keyless fails', () => {
  const cases: [string, KeylessOptions, string][] = [
    ['a payload for another digest', { payloadDigest: `sha256:${sha256Hex('x')}` }, 'it names'],
    [
      'a certificate expired before the log entry (signing time outside validity)',
      {
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() - 3000_000),
        integratedTime: new Date(Date.now() - 60_000),
      },
      'outside',
    ],
    ['a wrong identity', { identity: 'mallory@example.com' }, 'it is mallory@example.com'],
    ['a wrong issuer', { issuer: 'https://evil.example.com' }, 'it is https://evil.example.com'],
  ];
  test.each(cases)('%s', async (_name, opts, fragment) => {
    const f = makeKeylessSignature(sigstore, subject, opts);
    failed(await verifyCosignKeyless(cosignSig(f), root, subject, policy), fragment);
  });

  test('a chain to another CA', async () => {
    const other = makeTestSigstore();
    const f = makeKeylessSignature(sigstore, subject, { otherCa: other });
    failed(
      await verifyCosignKeyless(cosignSig(f), root, subject, policy),
      'no CA in the trusted root',
    );
  });

  test('an SCT signed by another log', async () => {
    const f = makeKeylessSignature(sigstore, subject, { sctKey: makeKey(workDir(), 'x', 'p256') });
    failed(
      await verifyCosignKeyless(cosignSig(f), root, subject, policy),
      "does not verify with the CT log's key",
    );
  });

  test('a SET signed by another key', async () => {
    const f = makeKeylessSignature(sigstore, subject, { setKey: makeKey(workDir(), 'x', 'p256') });
    failed(
      await verifyCosignKeyless(cosignSig(f), root, subject, policy),
      'signed entry timestamp',
    );
  });

  test('a tampered bundle: another integrated time', async () => {
    const b = JSON.parse(good.rekorBundle) as { Payload: { integratedTime: number } };
    b.Payload.integratedTime += 1;
    failed(
      await verifyCosignKeyless(
        cosignSig(good, { rekorBundle: JSON.stringify(b) }),
        root,
        subject,
        policy,
      ),
      'signed entry timestamp',
    );
  });

  test('a tampered bundle: a body for another signature', async () => {
    const other = makeKeylessSignature(sigstore, subject);
    // The other signature's bundle is genuine, but records another signature and certificate.
    failed(
      await verifyCosignKeyless(
        cosignSig(good, { rekorBundle: other.rekorBundle }),
        root,
        subject,
        policy,
      ),
      'the log entry records this signature',
    );
  });

  test('a tampered certificate (a byte of its key changed)', async () => {
    const der = Buffer.from(
      good.certificate.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''),
      'base64',
    );
    // Flip a byte inside the leaf's key: the chain signature breaks.
    const at = der.indexOf(Buffer.from('2a8648ce3d030107', 'hex')) + 20;
    der[at]! ^= 1;
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    failed(
      await verifyCosignKeyless(cosignSig(good, { certificate: pem }), root, subject, policy),
      'records another certificate',
    );
  });

  test('a tampered payload', async () => {
    const payload = new Uint8Array(Buffer.from(good.payload.toString().replace('null', '{}')));
    failed(
      await verifyCosignKeyless(cosignSig(good, { payload }), root, subject, policy),
      "the payload's hash",
    );
  });

  test('no Rekor bundle', async () => {
    failed(
      await verifyCosignKeyless(cosignSig(good, { rekorBundle: undefined }), root, subject, policy),
      'transparency log entry',
    );
  });

  test('no certificate (a key-signed signature)', async () => {
    failed(
      await verifyCosignKeyless(cosignSig(good, { certificate: undefined }), root, subject, policy),
      'verify it with the public key',
    );
  });

  test('the public-good root does not trust the test CA', async () => {
    failed(
      await verifyCosignKeyless(cosignSig(good), shippedTrustRoot(), subject, policy),
      'is not in it',
    );
  });

  const garbage: [string, Partial<FoundSignature>][] = [
    [
      'a certificate of garbage',
      { certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
    ],
    ['a bundle of garbage', { rekorBundle: '{"SignedEntryTimestamp": 5' }],
    ['a signature of garbage', { signature: '%%%' }],
  ];
  test.each(garbage)('%s', async (_name, change) => {
    const r = await verifyCosignKeyless(cosignSig(good, change), root, subject, policy);
    expect(r.verified).toBe(false);
    expect(r.error).toBeTruthy();
  });

  test('a bundle without its payload', async () => {
    const sig: FoundSignature = {
      kind: 'sigstore-bundle',
      manifest: 'sha256:00',
      via: 'referrer',
      bundle: good.sigstoreBundle,
    };
    failed(await verifyCosignKeyless(sig, root, subject, policy), 'payload itself was not found');
  });
});

describe('trusted roots', () => {
  test('the shipped public-good root', () => {
    const r = shippedTrustRoot();
    expect(r.certificateAuthorities.length).toBeGreaterThanOrEqual(2);
    expect(r.certificateAuthorities.every((ca) => ca.uri === 'https://fulcio.sigstore.dev')).toBe(
      true,
    );
    // Rekor's log id is the SHA-256 of its public key.
    const rekor = r.tlogs.find((l) => l.baseUrl === 'https://rekor.sigstore.dev')!;
    expect(rekor.logId).toBe('c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d');
    expect(r.ctlogs.length).toBeGreaterThan(0);
  });

  test.each([
    ['not JSON', '{', 'not JSON'],
    ['no CA', '{"tlogs":[]}', 'no certificate authority'],
    [
      'another document',
      '{"mediaType":"application/json","certificateAuthorities":[]}',
      'not a Sigstore',
    ],
  ])('%s is refused', (_name, json, fragment) => {
    expect(() => parseTrustedRoot(json)).toThrow(fragment);
  });
});

describe('damaged input never throws', () => {
  const fields = ['certificate', 'rekorBundle', 'signature'] as const;
  test('a character of the certificate, the Rekor bundle or the signature changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.nat(),
        fc.constantFrom('A', '0', '"', '{', '-', '\n', '=', 'z'),
        async (field, n, ch) => {
          const text = good[field];
          const at = n % text.length;
          const changed = text.slice(0, at) + ch + text.slice(at + 1);
          const r = await verifyCosignKeyless(
            cosignSig(good, { [field]: changed }),
            root,
            subject,
            policy,
          );
          if (changed !== text) {
            // A changed character may fall outside what is signed (PEM line breaks, JSON
            // whitespace); otherwise it fails, with a reason, and never throws.
            if (!r.verified) expect(r.error).toBeTruthy();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
