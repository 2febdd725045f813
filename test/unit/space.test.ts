import { describe, expect, test } from 'vitest';
import type { Library } from '../../src/lib/images/library.ts';
import { isQuotaError, storageFullError } from '../../src/lib/images/space.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const image = (name: string, size: number, shared: number) => ({
  name,
  target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('a'), size: 1 },
  manifests: [],
  complete: false,
  size,
  shared,
  pulledAt: 0,
});

describe('isQuotaError', () => {
  test("Chromium's transaction abort and an AbortError naming the quota", () => {
    expect(isQuotaError(new DOMException('', 'QuotaExceededError'))).toBe(true);
    expect(isQuotaError(new DOMException('Quota exceeded.', 'AbortError'))).toBe(true);
  });
  test('other failures are not', () => {
    expect(isQuotaError(new DOMException('The transaction was aborted.', 'AbortError'))).toBe(
      false,
    );
    expect(isQuotaError(new TypeError('Failed to fetch'))).toBe(false);
    expect(isQuotaError(undefined)).toBe(false);
    expect(isQuotaError('QuotaExceededError')).toBe(false);
  });
});

describe('storageFullError', () => {
  const library: Library = {
    images: [image('a:1', 5_000_000, 1_000_000), image('b:1', 2_000_000, 2_000_000)],
    pulls: [
      {
        name: 'big:1',
        target: image('x', 0, 0).target,
        startedAt: 0,
        updatedAt: 0,
        stored: 1_000_000,
        total: 13_300_000,
      },
    ],
    bytes: 8_000_000,
  };

  test('says what the pull needs, what deleting frees, and that the pull resumes', () => {
    const err = storageFullError('big:1', library, { usage: 8_100_000, quota: 8_200_000 });
    expect(err.kind).toBe('storage-full');
    expect(err.needed).toBe(12_300_000);
    expect(err.message).toBe(
      'Not enough storage: free about 12.3 MB to pull big:1 (the browser refused to store more). ' +
        'This site uses 8.10 MB of the 8.20 MB the browser allows. ' +
        // b:1 shares everything it holds: deleting it frees nothing, so it is not offered.
        'Deleting images from the library frees up to 4.00 MB: a:1 (4.00 MB). ' +
        'What was downloaded is kept: pull again once there is room, and it resumes.',
    );
  });

  test('with nothing to delete, and no record of the pull', () => {
    const err = storageFullError('other:1', { images: [], pulls: [], bytes: 0 });
    expect(err.needed).toBeUndefined();
    expect(err.message).toMatch(/^Not enough storage to pull other:1: the browser refused/);
    expect(err.message).toContain('No other image is stored here: free space on this device.');
  });
});
