// The per-client token bucket on its own, with a scripted clock.

import { describe, expect, it } from 'vitest';
import { clientKey, createRateLimiter } from '../../proxy/ratelimit.ts';

function clocked(perMinute: number, maxClients?: number) {
  let t = 1_000_000;
  const limiter = createRateLimiter({ perMinute, maxClients, now: () => t });
  return { limiter, advance: (ms: number) => (t += ms) };
}

describe('createRateLimiter', () => {
  it('allows a burst of perMinute, then asks to wait until a token refills', () => {
    const { limiter, advance } = clocked(60); // one token a second
    for (let i = 0; i < 60; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    advance(500);
    expect(limiter.take('a')).toBe(1); // half a token is not a token
    advance(500);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
  });

  it('says how many whole seconds to wait', () => {
    const { limiter } = clocked(2); // one token every 30 s
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(30);
  });

  it('keeps one bucket per client', () => {
    const { limiter } = clocked(3);
    for (let i = 0; i < 3; i++) limiter.take('a');
    expect(limiter.take('a')).toBeGreaterThan(0);
    expect(limiter.take('b')).toBe(0);
  });

  it('refills to the burst size and no further', () => {
    const { limiter, advance } = clocked(10);
    limiter.take('a');
    advance(60 * 60 * 1000);
    for (let i = 0; i < 10; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });

  it('remembers a bounded number of clients, forgetting the least recently seen', () => {
    const { limiter } = clocked(1, 3);
    for (const k of ['a', 'b', 'c', 'd']) expect(limiter.take(k)).toBe(0);
    // 'a' was dropped to make room for 'd', so it starts afresh; that in turn drops 'b'.
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('c')).toBeGreaterThan(0);
    expect(limiter.take('d')).toBeGreaterThan(0);
    expect(limiter.take('b')).toBe(0);
  });

  it('refuses a nonsensical limit', () => {
    expect(() => createRateLimiter({ perMinute: 0 })).toThrow(/positive/);
    expect(() => createRateLimiter({ perMinute: Number.NaN })).toThrow(/positive/);
  });
});

describe('clientKey', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::99]', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('%s -> %s', (address, key) => expect(clientKey(address)).toBe(key));
});
