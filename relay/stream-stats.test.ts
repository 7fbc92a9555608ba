// The relay's per-stream stats stay bounded whatever the traffic: entries, sessions and snapshots.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { StreamStats } from './stream-stats.ts';

describe('stream stats', () => {
  it('keeps at most maxStreams entries, forgetting the least recently active', () => {
    let now = 0;
    const stats = new StreamStats({ windowMs: 30_000, maxStreams: 3, now: () => now });
    for (const id of ['a', 'b', 'c']) {
      now++;
      stats.served(id, 10, true);
    }
    now++;
    stats.viewer('a', 'x');
    now++;
    stats.served('d', 10, true);
    assert.equal(stats.size, 3);
    assert.deepEqual(stats.snapshot().map((s) => s.playbackId).sort(), ['a', 'c', 'd']);
  });

  it('lists at most snapshotLimit streams in a snapshot, the busiest by bytes served', () => {
    const stats = new StreamStats({ windowMs: 30_000, snapshotLimit: 256, now: () => 0 });
    for (let i = 0; i < 1_000; i++) stats.served(`s${i}`, i, true);
    const snapshot = stats.snapshot();
    assert.equal(snapshot.length, 256);
    assert.equal(snapshot[0]!.playbackId, 's999');
    assert.equal(Math.min(...snapshot.map((s) => s.bytesServed)), 744);
    assert.ok(JSON.stringify(snapshot).length < 64 * 1024, 'fits a heartbeat with room to spare');
  });

  it('counts at most maxSessions sessions a stream, however many user agents a client makes up', () => {
    const stats = new StreamStats({ windowMs: 30_000, maxSessions: 100, now: () => 0 });
    for (let i = 0; i < 5_000; i++) stats.viewer('a', `1.2.3.4|agent-${i}-${'x'.repeat(1_000)}`);
    assert.equal(stats.snapshot()[0]!.viewers, 100);
  });
});
