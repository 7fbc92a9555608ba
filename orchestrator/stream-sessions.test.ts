// Stream sessions over a real registry and the real scheduler, with a manual clock.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import type { NodeRegistration } from '../protocol/node-record.ts';
import type { SessionRequest } from '../protocol/stream-record.ts';
import { NodeRegistry } from './node-registry.ts';
import { CapacityPriceScheduler, MAX_RECENT_FAILURES } from './scheduler.ts';
import { StreamSessions } from './stream-sessions.ts';

function network(options: { transcodersPerStream?: number } = {}) {
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const nodes = new NodeRegistry({ timeoutMs: 10_000, now: () => clock.now });
  const sessions = new StreamSessions({ nodes, scheduler: new CapacityPriceScheduler(), ttlMs: 30_000, now: () => clock.now, ...options });
  // A registry without a URL prover takes every record as proved: these tests are about sessions.
  const add = (role: 'relay' | 'transcoder', port: number, extra: Partial<NodeRegistration> = {}) =>
    nodes.register({ role, url: `http://127.0.0.1:${port}`, paymentAddress: `0x${String(port).padStart(40, '0')}`, version: '1', capabilities: { encoders: ['libx264'], maxSessions: 10, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 }, ...extra });
  const request = (playbackId: string, extra: Partial<SessionRequest> = {}): SessionRequest => ({ playbackId, broadcaster: 'b', renditions: [], startedAt: new Date(clock.now).toISOString(), avoid: [], ...extra });
  return { clock, nodes, sessions, add, request };
}

describe('StreamSessions.open', () => {
  it('assigns a spare transcoder beside the first, each a different node', () => {
    const n = network({ transcodersPerStream: 2 });
    n.add('relay', 1001);
    const t1 = n.add('transcoder', 2001);
    const t2 = n.add('transcoder', 2002);
    n.add('transcoder', 2003, { load: { sessions: 5, inFlight: 0 } });
    const { assignment, changed } = n.sessions.open(n.request('s'));
    assert.equal(changed, true);
    assert.deepEqual(assignment.transcoders.map((t) => t.id), [t1.id, t2.id]);
    assert.equal(assignment.transcoder?.id, t1.id);
  });

  it('replaces an avoided transcoder and keeps the one still working, with no change reported when refreshed as is', () => {
    const n = network({ transcodersPerStream: 2 });
    n.add('relay', 1001);
    const t1 = n.add('transcoder', 2001);
    const t2 = n.add('transcoder', 2002);
    const t3 = n.add('transcoder', 2003, { load: { sessions: 1, inFlight: 0 } });
    n.sessions.open(n.request('s'));
    assert.equal(n.sessions.open(n.request('s')).changed, false);
    const { assignment, changed } = n.sessions.open(n.request('s', { avoid: [t1.url] }));
    assert.equal(changed, true);
    assert.deepEqual(assignment.transcoders.map((t) => t.id), [t2.id, t3.id]);
    assert.equal(n.sessions.recentFailures(t1.id), 1, 'an avoided node counts as a failure report');
  });

  it('falls back to an avoided transcoder for the first when nothing else is left, but never for a spare', () => {
    const n = network({ transcodersPerStream: 2 });
    n.add('relay', 1001);
    const only = n.add('transcoder', 2001);
    const { assignment } = n.sessions.open(n.request('s', { avoid: [only.id] }));
    assert.deepEqual(assignment.transcoders.map((t) => t.id), [only.id]);
  });

  it('answers NO_NODE_AVAILABLE without a relay, and keeps an avoided relay when it is the only one', () => {
    const n = network();
    assert.throws(() => n.sessions.open(n.request('s')), { code: 'NO_NODE_AVAILABLE' });
    const relay = n.add('relay', 1001);
    n.sessions.open(n.request('s'));
    const avoided = n.sessions.open(n.request('s', { avoid: [relay.url] }));
    assert.equal(avoided.assignment.relay.id, relay.id, 'the scheduler falls back to the only relay');
    assert.equal(n.sessions.size, 1);
    assert.equal(n.sessions.assigned(relay.id), 1);
  });

  it('passes the stream\'s encoder preference to the scheduler', () => {
    const n = network({ transcodersPerStream: 1 });
    n.add('relay', 1001);
    n.add('transcoder', 2001);
    const gpu = n.add('transcoder', 2002, { capabilities: { encoders: ['h264_nvenc'], maxSessions: 10, pricePerPixel: '0' }, load: { sessions: 4, inFlight: 0 } });
    assert.equal(n.sessions.open(n.request('s', { encoders: ['h264_nvenc'] })).assignment.transcoder?.id, gpu.id);
  });

  it('emits assigned on a change, ended on close and expired when the broadcaster stops refreshing', () => {
    const n = network();
    n.add('relay', 1001);
    const events: string[] = [];
    n.sessions.on('assigned', (r) => events.push(`assigned ${r.playbackId}`));
    n.sessions.on('ended', (id) => events.push(`ended ${id}`));
    n.sessions.on('expired', (id) => events.push(`expired ${id}`));
    n.sessions.open(n.request('a'));
    n.sessions.open(n.request('a'));
    n.sessions.open(n.request('b'));
    n.sessions.close('a');
    n.sessions.close('a');
    n.clock.now += 31_000;
    n.add('relay', 1001); // keeps the relay registered; only the stream is stale
    assert.deepEqual(n.sessions.expire(), ['b']);
    assert.deepEqual(events, ['assigned a', 'assigned b', 'ended a', 'expired b']);
  });
});

describe('StreamSessions.relaysFor', () => {
  it('ranks the origin first, then relays holding the stream, then the least loaded', () => {
    const n = network();
    const origin = n.add('relay', 1001, { load: { sessions: 9, inFlight: 0 } });
    n.sessions.open(n.request('s', { preferRelay: origin.url }));
    const busy = n.add('relay', 1002, { load: { sessions: 8, inFlight: 0 } });
    const idle = n.add('relay', 1003);
    const holder = n.add('relay', 1004, { load: { sessions: 9, inFlight: 0 }, streams: ['s'] });
    assert.deepEqual(n.sessions.relaysFor('s').map((r) => r.id), [origin.id, holder.id, idle.id, busy.id]);
    assert.deepEqual(n.sessions.relaysFor('s', { holding: true }).map((r) => r.id), [origin.id, holder.id]);
  });

  it(`leaves out relays with ${MAX_RECENT_FAILURES} recent failure reports, until the reports age out`, () => {
    const n = network();
    const origin = n.add('relay', 1001);
    n.sessions.open(n.request('s'));
    const failing = n.add('relay', 1002);
    // Reports count about a stream's own nodes: each of these streams is on the failing relay when it is reported.
    for (let i = 0; i < MAX_RECENT_FAILURES; i++) {
      n.sessions.open(n.request(`f${i}`, { preferRelay: failing.url }));
      n.sessions.open(n.request(`f${i}`, { avoid: [failing.url] }));
    }
    assert.deepEqual(n.sessions.relaysFor('s').map((r) => r.id), [origin.id]);
    n.clock.now += 31_000;
    n.nodes.heartbeat(origin.id, origin.load);
    n.nodes.heartbeat(failing.id, failing.load);
    assert.deepEqual(n.sessions.relaysFor('s').map((r) => r.id), [origin.id, failing.id]);
  });

  it('answers STREAM_NOT_FOUND for a stream with no session', () => {
    const n = network();
    n.add('relay', 1001);
    assert.throws(() => n.sessions.relaysFor('nope'), { code: 'STREAM_NOT_FOUND' });
  });
});

describe('StreamSessions.directory', () => {
  it('lists each stream with its relay and transcoder URLs, skipping streams whose relay is gone', () => {
    const n = network({ transcodersPerStream: 1 });
    const relay = n.add('relay', 1001);
    const t = n.add('transcoder', 2001);
    const publisher = `0x${'ab'.repeat(20)}`;
    n.sessions.open(n.request('s', { renditions: [{ name: '360p', width: 640, height: 360 }], publisher }));
    assert.deepEqual(n.sessions.directory(), [
      {
        playbackId: 's',
        playbackUrl: `${relay.url}/hls/s/master.m3u8`,
        watchUrl: `${relay.url}/watch/s`,
        renditions: [{ name: '360p', width: 640, height: 360 }],
        startedAt: new Date(n.clock.now).toISOString(),
        relay: relay.url,
        transcoder: t.url,
        transcoders: [t.url],
        warnings: [],
        publisher,
        // A stream whose broadcaster pays no relay says so.
        delivery: null,
        playbackPolicy: null,
      },
    ]);
    n.clock.now += 11_000;
    n.nodes.heartbeat(t.id, t.load);
    n.nodes.sweep();
    assert.deepEqual(n.sessions.directory(), []);
  });
});

describe('StreamSessions and paid delivery', () => {
  it('assigns and lists only relays whose delivery price the payer accepts, and names the payer in the directory', () => {
    const n = network({ transcodersPerStream: 1 });
    n.add('relay', 1001, { capabilities: { encoders: [], maxSessions: 10, pricePerPixel: '0', pricePerByte: '50' } });
    const cheap = n.add('relay', 1002, { capabilities: { encoders: [], maxSessions: 10, pricePerPixel: '0', pricePerByte: '5' }, load: { sessions: 5, inFlight: 0 } });
    n.add('transcoder', 2001);
    const delivery = { payer: `0x${'cd'.repeat(20)}`, url: 'http://127.0.0.1:9/', maxPricePerByte: '10' };
    const { assignment } = n.sessions.open({ ...n.request('paid'), delivery });
    assert.equal(assignment.relay.url, cheap.url);
    assert.deepEqual(n.sessions.relaysFor('paid').map((r) => r.url), [cheap.url]);
    assert.deepEqual(n.sessions.entry('paid')?.delivery, delivery);
    // A stream that pays no relay may use any.
    n.sessions.open(n.request('free'));
    assert.equal(n.sessions.relaysFor('free').length, 2);
  });
});

describe('StreamSessions ownership and failure reports', () => {
  const alice = '0x' + 'a'.repeat(40);
  const mallory = '0x' + 'e'.repeat(40);

  it('refuses a second key the playback id the first opened, and lets only the owner close it', () => {
    const n = network();
    const relay = n.add('relay', 1001);
    n.sessions.open(n.request('s'), alice);
    assert.throws(() => n.sessions.open(n.request('s', { avoid: [relay.url] }), mallory), { code: 'FORBIDDEN', context: { playbackId: 's', reason: 'stream_owned' } } as object);
    assert.throws(() => n.sessions.close('s', mallory), { code: 'FORBIDDEN' });
    assert.equal(n.sessions.ownerOf('s'), alice);
    assert.equal(n.sessions.recentFailures(relay.id), 0, "the refused request's avoid list was not counted");
    assert.equal(n.sessions.close('s', alice), true);
  });

  it('keeps an ended playback id for its owner through the retention, then frees it', () => {
    const n = network();
    n.add('relay', 1001);
    n.sessions.open(n.request('s'), alice);
    n.sessions.close('s', alice);
    assert.throws(() => n.sessions.open(n.request('s'), mallory), { code: 'FORBIDDEN' });
    n.sessions.open(n.request('s'), alice);
    n.sessions.close('s', alice);
    n.clock.now += 600_001;
    n.add('relay', 1001);
    assert.equal(n.sessions.open(n.request('s'), mallory).assignment.relay.url, 'http://127.0.0.1:1001');
  });

  it("counts only the owner's reports about nodes assigned to the stream, once a second per node, with the reason", () => {
    const n = network({ transcodersPerStream: 1 });
    n.add('relay', 1001);
    const used = n.add('transcoder', 2001);
    const other = n.add('transcoder', 2002, { load: { sessions: 5, inFlight: 0 } });
    const reports: Array<{ node: string; reason: string; counted: boolean }> = [];
    n.sessions.on('failureReported', (r) => reports.push({ node: r.node, reason: r.reason, counted: r.counted }));
    n.sessions.open(n.request('s'), alice);
    n.sessions.open(n.request('s', { avoid: [other.url] }), alice);
    assert.equal(n.sessions.recentFailures(other.id), 0, 'a node the stream does not use is not counted');
    n.sessions.open(n.request('s', { avoid: [used.url], failures: [{ node: used.url, reason: 'bad_output' }] }), alice);
    assert.equal(n.sessions.recentFailures(used.id), 1);
    assert.deepEqual(reports, [
      { node: other.url, reason: 'unreachable', counted: false },
      { node: used.id, reason: 'bad_output', counted: true },
    ]);
  });

  it('caps the sessions one key may hold', () => {
    const clock = { now: 0 };
    const nodes = new NodeRegistry({ timeoutMs: 10_000, now: () => clock.now });
    nodes.register({ role: 'relay', url: 'http://127.0.0.1:1001', paymentAddress: '0x' + '1'.repeat(40), version: '1', capabilities: { encoders: [], maxSessions: 10, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } });
    const sessions = new StreamSessions({ nodes, scheduler: new CapacityPriceScheduler(), ttlMs: 30_000, maxStreamsPerKey: 2, now: () => clock.now });
    const request = (playbackId: string): SessionRequest => ({ playbackId, broadcaster: 'b', renditions: [], startedAt: new Date(0).toISOString(), avoid: [] });
    sessions.open(request('a'), alice);
    sessions.open(request('b'), alice);
    assert.throws(() => sessions.open(request('c'), alice), { code: 'RATE_LIMITED' });
    sessions.open(request('a'), alice);
    sessions.open(request('c'), mallory);
  });
});
