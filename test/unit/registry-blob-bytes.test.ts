// RegistryClient.fetchBlobBytes, the one small-blob read (a referrer's blobs, a SOCI zTOC):
// bounded before any request, read no further than the descriptor says, checked by digest.
import { describe, expect, test } from 'vitest';
import { DigestMismatchError } from '../../src/lib/oci/errors.ts';
import { parseReference } from '../../src/lib/reference/reference.ts';
import { RegistryClient } from '../../src/lib/registry/client.ts';
import { RegistryError } from '../../src/lib/registry/errors.ts';
import { MemoryRegistry } from '../harness/memory-registry.ts';

const enc = new TextEncoder();

function setup() {
  const reg = new MemoryRegistry();
  const client = new RegistryClient({ transport: reg.transport });
  const ref = parseReference(`${reg.host}/team/app:v1`);
  const desc = reg.blob('team/app', enc.encode('{"a small":"document"}'), 'application/json');
  return { reg, client, ref, desc };
}

describe('fetchBlobBytes', () => {
  test('returns the blob', async () => {
    const { client, ref, desc } = setup();
    const got = await client.fetchBlobBytes(ref, desc, 1024);
    expect(new TextDecoder().decode(got)).toBe('{"a small":"document"}');
  });

  test('a blob over the bound is refused without a request', async () => {
    const { reg, client, ref, desc } = setup();
    await expect(client.fetchBlobBytes(ref, desc, desc.size - 1)).rejects.toThrow(
      new RegistryError(
        `${reg.host}/team/app@${desc.digest}: blob is ${desc.size} bytes, over the ${desc.size - 1}-byte limit`,
        'protocol',
        0,
      ),
    );
    expect(reg.blobRequests(desc.digest)).toEqual([]);
  });

  test('bytes that do not match the digest are refused', async () => {
    const { reg, client, ref, desc } = setup();
    reg.fault({ when: (r) => r.kind === 'blob', fault: { kind: 'flip', at: 3 } });
    await expect(client.fetchBlobBytes(ref, desc, 1024)).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
  });

  test('a descriptor smaller than the blob: no more than it gives is read', async () => {
    const { client, ref, desc } = setup();
    await expect(
      client.fetchBlobBytes(ref, { ...desc, size: desc.size - 2 }, 1024),
    ).rejects.toThrow(/sent more than the \d+ bytes its descriptor gives/);
  });
});
