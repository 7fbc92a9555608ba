// Token buckets: a burst, then the refill rate; bounded memory.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { RateLimiter } from './rate-limiter.ts';

describe('rate limiter', () => {
  it('lets a burst through, then one per refill interval, per key', () => {
    const clock = { now: 0 };
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => clock.now });
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a')), [true, true, true, false]);
    assert.equal(limiter.take('b'), true, 'another key has its own bucket');
    clock.now += 500;
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [true, false]);
  });

  it('keeps at most maxKeys buckets, dropping the one used longest ago', () => {
    const limiter = new RateLimiter({ ratePerSecond: 0, burst: 1, maxKeys: 2, now: () => 0 });
    limiter.take('a');
    limiter.take('b');
    limiter.take('c');
    assert.equal(limiter.take('a'), true, "a's bucket was dropped and starts full");
    assert.equal(limiter.take('c'), false);
  });
});
