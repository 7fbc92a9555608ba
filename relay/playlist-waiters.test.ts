import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { PlaylistWaiters } from './playlist-waiters.ts';

describe('playlist waiters', () => {
  it('wakes the waiters for sequence numbers up to the newest and keeps the others', async () => {
    const w = new PlaylistWaiters();
    const woken: number[] = [];
    const two = w.wait(2, 60_000, {}).then(() => woken.push(2));
    const three = w.wait(3, 60_000, {}).then(() => woken.push(3));
    w.wake(2);
    await two;
    assert.deepEqual(woken, [2]);
    assert.equal(w.size, 1);
    w.wake(3);
    await three;
    assert.equal(w.size, 0);
  });

  it('wakes every waiter when the playlist ends', async () => {
    const w = new PlaylistWaiters();
    const all = Promise.all([w.wait(5, 60_000, {}), w.wait(9, 60_000, {})]);
    w.wakeAll();
    await all;
    assert.equal(w.size, 0);
  });

  it('rejects with 503 UNAVAILABLE and forgets the waiter when the segment does not come in time', async () => {
    const w = new PlaylistWaiters();
    await assert.rejects(w.wait(1, 5, { playbackId: 'p' }), { code: 'UNAVAILABLE', context: { playbackId: 'p' } });
    assert.equal(w.size, 0);
  });
});
