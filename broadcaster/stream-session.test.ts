// The stream session as the one owner of a stream's assignment: opening, refreshing, rate-limited and
// immediate reassignment, and closing, against an in-memory orchestrator and a manual clock.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'vitest';
import { InMemoryOrchestrator } from './in-memory-orchestrator.ts';
import { ManualTimers } from './manual-timers.ts';
import { StreamSession } from './stream-session.ts';

function setup(refreshMs = 10_000) {
  const timers = new ManualTimers();
  const orchestrator = new InMemoryOrchestrator({ relay: 'http://relay-1', transcoders: ['http://t-1', 'http://t-2'] });
  const session = new StreamSession({ playbackId: 'stream1', broadcaster: 'rtmp://127.0.0.1:1935', maxPricePerPixel: 10n, refreshMs }, { orchestrator, timers });
  return { timers, orchestrator, session };
}

/** Lets pending promise callbacks run (the in-memory orchestrator answers in microtasks). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('stream session', () => {
  it('opens with what it was told, and asks to keep its relay on later requests', async () => {
    const { session, orchestrator, timers } = setup();
    session.describe({ startedAt: timers.now() - 5_000 });
    const assignment = await session.open();
    assert.equal(session.assignment, assignment);
    assert.equal(assignment.relay.url, 'http://relay-1');
    assert.equal(orchestrator.requests[0]!.preferRelay, undefined);
    assert.equal(orchestrator.requests[0]!.startedAt, new Date(timers.now() - 5_000).toISOString());
    assert.equal(orchestrator.requests[0]!.maxPricePerPixel, '10');

    session.describe({ renditions: [{ name: 'source', width: 1280, height: 720 }] });
    session.refresh();
    await settle();
    assert.equal(orchestrator.requests[1]!.preferRelay, 'http://relay-1');
    assert.deepEqual(orchestrator.requests[1]!.renditions, [{ name: 'source', width: 1280, height: 720 }]);
    session.abandon();
  });

  it('asks for transcoders with the encoders it was configured to prefer, and for any when none', async () => {
    const timers = new ManualTimers();
    const orchestrator = new InMemoryOrchestrator({ relay: 'http://relay-1', transcoders: ['http://t-1'] });
    const picky = new StreamSession({ playbackId: 'stream1', broadcaster: 'rtmp://127.0.0.1:1935', maxPricePerPixel: 10n, encoders: ['h264_nvenc'], refreshMs: 10_000 }, { orchestrator, timers });
    await picky.open();
    assert.deepEqual(orchestrator.requests[0]!.encoders, ['h264_nvenc']);
    picky.abandon();
    const { session, orchestrator: other } = setup();
    await session.open();
    assert.equal(other.requests[0]!.encoders, undefined);
    session.abandon();
  });

  it('refuses to open when the orchestrator has nowhere to send the stream', async () => {
    const { session, orchestrator } = setup();
    orchestrator.failWith = new Error('no relay');
    await assert.rejects(session.open(), { message: 'no relay' });
    assert.equal(session.assignment, null);
  });

  it('refreshes every refreshMs while open, and stops once closed', async () => {
    const { session, orchestrator, timers } = setup(10_000);
    await session.open();
    orchestrator.assign({ transcoders: ['http://t-3'] });
    timers.advance(10_000);
    await settle();
    assert.equal(orchestrator.requests.length, 2);
    assert.deepEqual(session.assignment?.transcoders.map((t) => t.url), ['http://t-3']);
    timers.advance(10_000);
    await settle();
    assert.equal(orchestrator.requests.length, 3);

    await session.close();
    assert.deepEqual(orchestrator.closed, ['stream1']);
    timers.advance(60_000);
    await settle();
    assert.equal(orchestrator.requests.length, 3);
    assert.equal(timers.size, 0, 'no timer left behind');
  });

  it('reassigns at most once a second, however many failures ask', async () => {
    const { session, orchestrator, timers } = setup();
    await session.open();
    orchestrator.assign({ transcoders: ['http://t-2'] });
    const reassigned = once(session, 'reassigned');
    for (let i = 0; i < 5; i++) session.reassign(['http://t-1']);
    const [event] = await reassigned;
    assert.equal(event.changed, true);
    assert.deepEqual(event.avoid, ['http://t-1']);
    assert.deepEqual(session.assignment?.transcoders.map((t) => t.url), ['http://t-2']);
    session.reassign(['http://t-2']);
    await settle();
    assert.equal(orchestrator.reassignments.length, 1);

    timers.advance(999);
    session.reassign(['http://t-2']);
    await settle();
    assert.equal(orchestrator.reassignments.length, 1);
    timers.advance(1);
    session.reassign(['http://t-2']);
    await settle();
    assert.equal(orchestrator.reassignments.length, 2);
    session.abandon();
  });

  it('reassigns now whatever the rate, and answers null when the orchestrator fails', async () => {
    const { session, orchestrator } = setup();
    await session.open();
    session.reassign(['http://t-1']);
    const now = await session.reassignNow(['http://t-1', 'http://t-2']);
    assert.equal(now?.relay.url, 'http://relay-1');
    assert.equal(orchestrator.reassignments.length, 2);

    orchestrator.failWith = new Error('orchestrator down');
    const failed = once(session, 'reassignFailed');
    assert.equal(await session.reassignNow(['http://t-1']), null);
    assert.equal(((await failed)[0].err as Error).message, 'orchestrator down');
    assert.equal(session.assignment?.relay.url, 'http://relay-1', 'the assignment in hand stays');
    session.abandon();
  });
});
