import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { AdmissionQueue } from './admission-queue.ts';

/** Whether a promise has settled, after the microtasks already queued have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('admission queue', () => {
  it('admits up to the concurrency at once', async () => {
    const q = new AdmissionQueue({ concurrency: 2, maxQueued: 0 });
    await q.admit();
    await q.admit();
    assert.equal(q.active, 2);
    assert.equal(q.queued, 0);
  });

  it('queues past the concurrency and refuses past the queue with 503 NO_NODE_AVAILABLE', async () => {
    const q = new AdmissionQueue({ concurrency: 1, maxQueued: 1 });
    await q.admit();
    const waiting = q.admit({ playbackId: 'p', seq: 1 });
    assert.equal(await settled(waiting), false);
    assert.equal(q.queued, 1);
    await assert.rejects(q.admit({ playbackId: 'p', seq: 2 }), { code: 'NO_NODE_AVAILABLE', context: { playbackId: 'p', seq: 2 } });
  });

  it('hands a released slot to the oldest waiter, so the count never passes the concurrency', async () => {
    const q = new AdmissionQueue({ concurrency: 1, maxQueued: 2 });
    const release = await q.admit();
    const order: number[] = [];
    const first = q.admit().then((r) => (order.push(1), r));
    const second = q.admit().then((r) => (order.push(2), r));
    release();
    const releaseFirst = await first;
    assert.deepEqual(order, [1]);
    assert.equal(q.active, 1);
    assert.equal(await settled(second), false);
    releaseFirst();
    (await second)();
    assert.deepEqual(order, [1, 2]);
    assert.equal(q.active, 0);
    assert.equal(q.queued, 0);
  });

  it('gives the slot back when the work fails, and ignores a second release', async () => {
    const q = new AdmissionQueue({ concurrency: 1, maxQueued: 0 });
    await assert.rejects(q.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(q.active, 0);
    const release = await q.admit();
    release();
    release();
    assert.equal(q.active, 0);
  });
});

describe('admission queue and senders that give up', () => {
  it('drops a waiter whose sender gave up, and hands the freed slot to the next one', async () => {
    const q = new AdmissionQueue({ concurrency: 1, maxQueued: 2 });
    const release = await q.admit();
    const gaveUp = new AbortController();
    const first = q.admit({ seq: 1 }, gaveUp.signal);
    const second = q.admit({ seq: 2 });
    assert.equal(q.queued, 2);
    gaveUp.abort();
    await assert.rejects(first, { code: 'UNAVAILABLE', context: { seq: 1 } });
    assert.equal(q.queued, 1);
    release();
    assert.equal(await settled(second), true);
    assert.equal(q.active, 1);
    assert.equal(q.queued, 0);
  });

  it('refuses at once a sender that already gave up', async () => {
    const q = new AdmissionQueue({ concurrency: 1, maxQueued: 1 });
    await assert.rejects(q.admit({}, AbortSignal.abort()), { code: 'UNAVAILABLE' });
    assert.equal(q.active, 0);
  });
});
