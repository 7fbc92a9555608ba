// The broadcaster's log lines about a session, from its events: an outage of the orchestrator is one
// warning and one line when it answers again, not a warning every refresh.

import assert from 'node:assert/strict';
import { pino } from 'pino';
import { describe, it } from 'vitest';
import { InMemoryOrchestrator } from './in-memory-orchestrator.ts';
import { ManualTimers } from './manual-timers.ts';
import { EventEmitter } from 'node:events';
import { logPipeline, logSession } from './stream-log.ts';
import type { StreamPipelineEvents } from './stream-pipeline.ts';
import { StreamSession } from './stream-session.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function capture() {
  const lines: Array<{ level: number; msg: string }> = [];
  return { lines, log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }) };
}

describe('stream pipeline log', () => {
  it('warns once while no transcoder is assigned, and again after renditions were published meanwhile', () => {
    const { lines, log } = capture();
    const pipeline = new EventEmitter<StreamPipelineEvents>();
    logPipeline(pipeline, log);
    for (const seq of [0, 1, 2]) pipeline.emit('transcodeFailed', { seq, reason: 'no_transcoder' });
    pipeline.emit('segmentPublished', { seq: 3, rendition: 'source', bytes: 1, latencyS: 0.1 });
    pipeline.emit('transcodeFailed', { seq: 3, reason: 'no_transcoder' });
    pipeline.emit('segmentPublished', { seq: 4, rendition: '360p', bytes: 1, latencyS: 0.1 });
    pipeline.emit('transcodeFailed', { seq: 5, reason: 'no_transcoder' });
    assert.deepEqual(lines.filter((l) => l.level >= 40).map((l) => l.msg), [
      'no transcoder assigned: segments are published as source only until the orchestrator assigns one',
      'no transcoder assigned: segments are published as source only until the orchestrator assigns one',
    ]);
    assert.equal(lines.filter((l) => l.msg === 'no transcoder assigned: segment published as source only').length, 3);
  });
});

describe('stream session log', () => {
  it('warns once when refreshes start failing, at debug while they go on, and at info when one answers again', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const orchestrator = new InMemoryOrchestrator({ relay: 'http://relay-1', transcoders: ['http://t-1'] });
    const session = new StreamSession({ playbackId: 'stream1', broadcaster: 'rtmp://127.0.0.1:1935', maxPricePerPixel: 10n, refreshMs: 10_000 }, { orchestrator, timers: new ManualTimers() });
    logSession(session, log);
    await session.open();
    orchestrator.failWith = new Error('the orchestrator at http://o:8935 could not be reached (ECONNREFUSED)');
    for (let i = 0; i < 3; i++) {
      session.refresh();
      await settle();
    }
    orchestrator.failWith = null;
    session.refresh();
    await settle();
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
      [40, 'session refresh failed (the orchestrator at http://o:8935 could not be reached (ECONNREFUSED)): the stream keeps its current nodes, retrying'],
      [20, 'session refresh failed again'],
      [20, 'session refresh failed again'],
      [30, 'session refreshed again'],
    ]);
    session.abandon();
  });
});
