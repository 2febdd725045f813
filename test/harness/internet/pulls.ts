// The two pulls the integration tests of the offline internet's registries check with, through
// a local internet's client (Berth's own, through Berth's own proxy): every blob is hashed again
// on arrival, so a registry that mangles bytes fails the test whatever else it checks.
import { expect } from 'vitest';
import { allPlatforms } from '../../../src/lib/oci/platform.ts';
import { pullImage } from '../../../src/lib/pull/pull.ts';
import { parseReference } from '../../../src/lib/reference/reference.ts';
import type { RegistryClient } from '../../../src/lib/registry/client.ts';
import { memoryStore } from '../../../src/lib/store/memory.ts';
import { digestOf } from '../berth.ts';
import { sha256Bytes } from '../oci.ts';

/** Resolves a single-platform image and fetches its config and layers, each checked against
 * its digest; returns what the resolve answered. */
export async function fetchChecked(client: RegistryClient, ref: string) {
  const r = parseReference(ref);
  const resolved = await client.resolve(r);
  const manifest = JSON.parse(new TextDecoder().decode(resolved.bytes)) as {
    config: { digest: string; size: number; mediaType: string };
    layers: Array<{ digest: string; size: number; mediaType: string }>;
  };
  for (const d of [manifest.config, ...manifest.layers]) {
    const res = await client.fetchBlob(r, d);
    expect(sha256Bytes(new Uint8Array(await res.arrayBuffer()))).toBe(d.digest);
  }
  return resolved;
}

/** A pull of every platform into a fresh in-memory store; every stored blob is hashed again. */
export async function pullChecked(client: RegistryClient, ref: string) {
  const store = memoryStore();
  const pulled = await pullImage(parseReference(ref), allPlatforms, {
    client,
    store,
    signal: new AbortController().signal,
    onProgress: () => {},
    pieceSize: 16 << 10,
  });
  for (const { digest } of await store.content.list()) {
    expect(await digestOf(await store.content.read(digest)), digest).toBe(digest);
  }
  return { pulled, store };
}
