// The store's tag details (the repository view's dates, kept by digest across garbage
// collections), as the in-memory store keeps them: replaced by digest, bounded in count, the
// oldest stored dropped first.
import { expect, test } from 'vitest';
import { memoryStore } from '../../src/lib/store/memory.ts';
import { keptTagDetails, type TagDetailsRecord } from '../../src/lib/store/store.ts';

const digestOf = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
const record = (i: number, extra: Partial<TagDetailsRecord> = {}): TagDetailsRecord => ({
  digest: digestOf(i),
  platforms: 0,
  size: 100 + i,
  created: Date.UTC(2024, 0, 1) + i,
  preferred: '',
  storedAt: i,
  ...extra,
});

test('a record is read back by digest, and a second put of the digest replaces it', async () => {
  const s = memoryStore();
  expect(await s.tagDetails.get(digestOf(1))).toBeUndefined();
  await s.tagDetails.put(record(1));
  expect(await s.tagDetails.get(digestOf(1))).toEqual(record(1));
  await s.tagDetails.put(record(1, { platforms: 3, preferred: 'linux/arm64', storedAt: 9 }));
  expect((await s.tagDetails.get(digestOf(1)))?.platforms).toBe(3);
});

test(`at most ${keptTagDetails} records: the oldest stored go first`, async () => {
  const s = memoryStore();
  for (let i = 0; i < keptTagDetails + 2; i++) await s.tagDetails.put(record(i));
  expect(await s.tagDetails.get(digestOf(0)), 'the oldest').toBeUndefined();
  expect(await s.tagDetails.get(digestOf(1)), 'the second oldest').toBeUndefined();
  expect(await s.tagDetails.get(digestOf(2))).toEqual(record(2));
  expect(await s.tagDetails.get(digestOf(keptTagDetails + 1))).toEqual(record(keptTagDetails + 1));
});
