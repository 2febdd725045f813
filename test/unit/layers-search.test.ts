import { describe, expect, test } from 'vitest';
import { searchPaths } from './reference/search.ts';

describe('searchPaths', () => {
  const paths = ['etc/passwd', 'a'.repeat(4096), `${'a'.repeat(4096)}b`, 'usr/lib/libc.so', 'ab'];

  test('answers the indexes of the matching paths, in order', async () => {
    expect([...(await searchPaths(paths, '*a*a*b'))]).toEqual([2]);
    expect([...(await searchPaths(paths, '*.so'))]).toEqual([3]);
    expect([...(await searchPaths(paths, 'PASS'))]).toEqual([0]);
    expect([...(await searchPaths(paths, 'a*'))]).toEqual([1, 2, 4]);
  });

  test('a search aborted while it runs stops at its next slice with the reason', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `dir/${'a'.repeat(64)}-${i}`);
    const ac = new AbortController();
    const reason = new DOMException('a newer query', 'AbortError');
    const run = searchPaths(many, '*a*a*b', { signal: ac.signal, stepsPerSlice: 1000 });
    ac.abort(reason);
    await expect(run).rejects.toBe(reason);
  });

  test('yields between slices, so that other work (a cancel message) runs meanwhile', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `f-${i}`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await searchPaths(many, 'f-*', { stepsPerSlice: 100 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });
});
