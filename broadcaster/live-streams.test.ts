// A stream's life across publications: the reconnect grace, and what the end of a stream tells the
// orchestrator and the relay. Real FFmpeg cutters (fed nothing), an in-memory orchestrator, a relay
// answered by an injected fetch, and a manual clock for the grace period.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import { InMemoryOrchestrator } from './in-memory-orchestrator.ts';
import { LiveStreams } from './live-streams.ts';
import { ManualTimers } from './manual-timers.ts';
import { createBroadcasterMetrics } from './metrics.ts';
import { RelayClient, TranscoderClient, type Fetch } from './node-clients.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { identityFromPrivateKey } from '../protocol/identity.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'castnet-live-streams-'));
const GRACE_MS = 30_000;
const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());

function setup() {
  const timers = new ManualTimers();
  const orchestrator = new InMemoryOrchestrator({ relay: 'http://relay.test', transcoders: [] });
  const relayCalls: string[] = [];
  const fetch: Fetch = async (input, init) => {
    relayCalls.push(`${init?.method ?? 'GET'} ${String(input)}`);
    return new Response(null, { status: 204 });
  };
  const streams = new LiveStreams(
    { broadcaster: 'rtmp://test', dataDir, segmentSeconds: 2, ladderRungs: [], maxTranscodeBacklog: 3, reconnectGraceMs: GRACE_MS, sessionRefreshMs: 3_600_000, maxPricePerPixel: 10n },
    { orchestrator, publisherOf: () => publisher, payments: null, transcoders: new TranscoderClient({ fetch }), relays: new RelayClient({ fetch }), timers, metrics: createBroadcasterMetrics(new Registry()), logger: silentLogger },
  );
  return { timers, orchestrator, relayCalls, streams };
}

describe('live streams', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('closes the session and ends the stream at its relay once the reconnect grace runs out', async () => {
    const { timers, orchestrator, relayCalls, streams } = setup();
    const sink = await streams.publish('stream1', '127.0.0.1');
    assert.equal(streams.livePublications, 1);
    const waiting = once(streams, 'waiting');
    sink.onEnd();
    assert.deepEqual((await waiting)[0], { playbackId: 'stream1' });
    assert.equal(streams.livePublications, 0);
    timers.advance(GRACE_MS - 1);
    assert.deepEqual(orchestrator.closed, []);
    assert.equal(streams.pipelines.size, 1, 'the stream waits for a reconnect');
    const closed = once(streams, 'closed');
    timers.advance(1);
    await closed;
    assert.deepEqual(orchestrator.closed, ['stream1']);
    assert.deepEqual(relayCalls, ['POST http://relay.test/hls/stream1/end']);
    assert.equal(streams.pipelines.size, 0);
  });

  it('keeps the stream, its session and its pipeline when the streamer reconnects within the grace', async () => {
    const { timers, orchestrator, relayCalls, streams } = setup();
    const first = await streams.publish('stream2', '127.0.0.1');
    const pipeline = streams.pipelines.get('stream2');
    const waiting = once(streams, 'waiting');
    first.onEnd();
    await waiting;
    timers.advance(GRACE_MS / 2);
    const second = await streams.publish('stream2', '127.0.0.1');
    timers.advance(GRACE_MS * 2);
    assert.deepEqual(orchestrator.closed, []);
    assert.deepEqual(relayCalls, []);
    assert.equal(streams.pipelines.get('stream2'), pipeline, 'sequence numbers continue in the same pipeline');
    assert.equal(orchestrator.requests.length, 2, 'the session was opened again');
    const waitingAgain = once(streams, 'waiting');
    second.onEnd();
    await waitingAgain;
    streams.stop();
    assert.equal(timers.size, 0, 'stopping leaves no timer behind');
  });
});
