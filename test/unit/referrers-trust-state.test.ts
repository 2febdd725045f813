// The referrers card's state (state/trust.svelte.ts) over the real images worker's calls run in
// Node: the lib functions behind them, the in-memory registry and store. Keys and trust roots
// are remembered only when asked; an answer for an image no longer shown is dropped.
import { describe, expect, test } from 'vitest';
import { findReferrers, storedReferrers } from '../../src/lib/images/attached.ts';
import { MediaType } from '../../src/lib/oci/mediatypes.ts';
import { pullImage } from '../../src/lib/pull/pull.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { TrustState, type TrustStorage } from '../../src/state/trust.svelte.ts';
import type { Bridge } from '../../src/state/bridge.ts';
import type { ImagesWorkerApi } from '../../src/workers/images.ts';
import { berth } from '../harness/berth.ts';
import { pushImage } from '../harness/images.ts';

const name = 'registry.test/team/app:v1';

/** localStorage's shape over a Map. */
function memoryStorage(): TrustStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

async function setup() {
  const b = berth();
  await pushImage(b.registry, 'team/app', { tag: 'v1', layers: [{ a: new Uint8Array([1]) }] });
  // A referrer under the tag schema: an SBOM with a subject.
  const enc = new TextEncoder();
  const root = (await b.client.resolve(parseReference(name))).descriptor;
  const empty = b.registry.blob('team/app', enc.encode('{}'), 'application/vnd.oci.empty.v1+json');
  const doc = b.registry.blob(
    'team/app',
    enc.encode('{"spdxVersion":"SPDX-2.3"}'),
    'application/spdx+json',
  );
  const sbom = b.registry.manifest('team/app', {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: 'application/spdx+json',
    config: empty,
    layers: [doc],
    subject: root,
  } as { mediaType: string });
  b.registry.manifest(
    'team/app',
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...sbom, artifactType: 'application/spdx+json' }],
    } as {
      mediaType: string;
    },
    `sha256-${root.digest.slice(7)}`,
  );
  await pullImage(parseReference(name), undefined, b.pullContext());
  const signal = new AbortController().signal;
  const calls: string[] = [];
  // The images worker's calls the state makes, answered by the functions behind them.
  const images = {
    call: async (method: string, arg: { name: string; online?: boolean }) => {
      calls.push(`${method} ${arg.online ?? ''}`);
      if (method === 'attached') {
        return arg.online
          ? findReferrers({ client: b.client, store: b.store, signal }, arg.name)
          : { referrers: await storedReferrers(b.store, arg.name), flagged: [] };
      }
      if (method === 'verifySignature') return [];
      throw new Error(`${method} is not used here`);
    },
  } as unknown as Bridge<ImagesWorkerApi>;
  return { b, images, calls, sbom };
}

describe('TrustState', () => {
  test('shows what was stored, then what the registry adds', async () => {
    const { images, calls, sbom } = await setup();
    const trust = new TrustState({ images, connection: () => ({ proxy: '' }) as never });
    await trust.load(name);
    expect(calls).toEqual(['attached false', 'attached true']);
    expect(trust.referrers.map((r) => [r.descriptor.digest, r.kind])).toEqual([
      [sbom.digest, 'sbom-spdx'],
    ]);
    expect(trust.loading).toBe(false);
    expect(trust.error).toBeNull();
  });

  test('an answer for an image no longer shown is dropped', async () => {
    const { images } = await setup();
    const trust = new TrustState({ images, connection: () => ({ proxy: '' }) as never });
    const loading = trust.load(name);
    trust.clear();
    await loading;
    expect(trust.listing).toBeNull();
  });

  test('keys are remembered only when asked, and forgotten', async () => {
    const { images } = await setup();
    const storage = memoryStorage();
    const trust = new TrustState({ images, connection: () => ({ proxy: '' }) as never, storage });
    await trust.load(name);
    const pem = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n';
    await trust.verify('sha256:' + '0'.repeat(64), { scheme: 'cosign-key', publicKey: pem });
    expect(storage.data.size).toBe(0);
    await trust.verify('sha256:' + '0'.repeat(64), { scheme: 'cosign-key', publicKey: pem }, true);
    expect(JSON.parse(storage.data.get('berth.trust')!)).toEqual({ publicKey: pem });
    // A new page reads it back.
    expect(
      new TrustState({ images, connection: () => ({ proxy: '' }) as never, storage }).remembered,
    ).toEqual({
      publicKey: pem,
    });
    trust.forget();
    expect(storage.data.size).toBe(0);
    expect(trust.remembered).toEqual({});
  });
});
