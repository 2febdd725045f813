// Referrers found, checked and stored against the real registry (distribution 2.8: no referrers
// API, so the tag schema and cosign's `.sig` tag), in Node with the in-memory store: what is
// stored reads back as a cosign signature that verifies with the key it was made with, and the
// bad referrers leave nothing behind.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { findReferrers, storedReferrers } from '../../src/lib/images/attached.ts';
import { Documents } from '../../src/lib/images/documents.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { directTransport } from '../../src/lib/registry/transport.ts';
import { readSignatures } from '../../src/lib/signatures/found.ts';
import {
  parseTrustedRoot,
  verifyCosignKey,
  verifyCosignKeyless,
  verifyNotation,
} from '../../src/lib/signatures/verify.ts';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { startRegistry, type Registry } from '../harness/registry.ts';
import { buildTrustFixtures, type TrustFixtures } from '../harness/trust-fixtures.ts';

let registry: Registry;
let fx: TrustFixtures;

beforeAll(async () => {
  registry = await startRegistry();
  fx = await buildTrustFixtures(registry, 'trust/app', 100);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
});

test('the signature, the SBOM attestation and the SBOM referrer are stored; the bad ones are not', async () => {
  const store = memoryStore();
  const client = new RegistryClient({ transport: directTransport() });
  const signal = new AbortController().signal;
  await pullImage(
    parseReference(fx.ref),
    { os: 'linux', architecture: 'amd64' },
    {
      client,
      store,
      signal,
      onProgress: () => {},
    },
  );
  const name = fx.ref;
  const listing = await findReferrers({ client, store, signal }, name);
  expect(listing.listedVia).toBe('tag-schema');
  const kinds = Object.fromEntries(listing.referrers.map((r) => [r.descriptor.digest, r.kind]));
  expect(kinds).toEqual({
    [fx.signature]: 'cosign-signature',
    [fx.attestation]: 'sbom-spdx',
    [fx.huge.manifest]: 'sbom-spdx',
    [fx.notation.manifest]: 'notation-signature',
    [fx.keyless.manifest]: 'sigstore-bundle',
  });
  expect(listing.flagged.map((f) => f.descriptor.digest).sort()).toEqual(
    [fx.foreign, fx.notSignature].sort(),
  );
  const blobs = new Set((await store.content.list()).map((b) => b.digest));
  expect(blobs).not.toContain(fx.foreign);
  expect(blobs).not.toContain(fx.notSignature);

  // The stored signature, read back from the store alone, verifies with its key and not
  // with another.
  const sig = (await storedReferrers(store, name)).find(
    (r) => r.descriptor.digest === fx.signature,
  )!;
  const manifest = await new Documents(store.content).manifest(sig.descriptor);
  const found = await readSignatures(manifest, sig.descriptor.digest, 'tag', (d) =>
    store.content.readBytes(d.digest),
  );
  expect(found).toHaveLength(1);
  const subject = { digest: fx.index, repository: `${registry.host}/${fx.repository}` };
  expect((await verifyCosignKey(found[0]!, fx.key.publicPem, subject)).verified).toBe(true);
  expect((await verifyCosignKey(found[0]!, fx.wrongKey.publicPem, subject)).verified).toBe(false);

  // And so does the Notation signature, against its root and not against another.
  const n = (await storedReferrers(store, name)).find(
    (r) => r.descriptor.digest === fx.notation.manifest,
  )!;
  const notation = await readSignatures(
    await new Documents(store.content).manifest(n.descriptor),
    n.descriptor.digest,
    'referrer',
    (d) => store.content.readBytes(d.digest),
  );
  expect(notation).toHaveLength(1);
  const indexSubject = { ...subject, mediaType: 'application/vnd.oci.image.index.v1+json' };
  const ok = await verifyNotation(notation[0]!, [fx.notation.rootPem], indexSubject);
  expect(ok.error).toBeUndefined();
  expect(ok.verified).toBe(true);
  expect((await verifyNotation(notation[0]!, [fx.key.publicPem], indexSubject)).verified).toBe(
    false,
  );

  // And the keyless bundle, against the test Sigstore's trusted root, for its identity only.
  const k = (await storedReferrers(store, name)).find(
    (r) => r.descriptor.digest === fx.keyless.manifest,
  )!;
  const bundles = await readSignatures(
    await new Documents(store.content).manifest(k.descriptor),
    k.descriptor.digest,
    'referrer',
    (d) => store.content.readBytes(d.digest),
  );
  expect(bundles).toHaveLength(1);
  const root = parseTrustedRoot(fx.keyless.trustedRoot);
  const policy = { identity: fx.keyless.identity, issuer: fx.keyless.issuer };
  const keyless = await verifyCosignKeyless(bundles[0]!, root, indexSubject, policy);
  expect(keyless.error).toBeUndefined();
  expect(keyless.verified).toBe(true);
  const other = { ...policy, identity: 'someone-else@trust.test' };
  expect((await verifyCosignKeyless(bundles[0]!, root, indexSubject, other)).verified).toBe(false);
}, 120_000);
