// The lifecycle over a real SQLite file in a temp directory, with a manual clock.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import type { SessionRequest } from '../protocol/stream-record.ts';
import { StreamLifecycle, type StreamRecord } from './stream-lifecycle.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(path = ':memory:', maxEnded?: number) {
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const lifecycle = new StreamLifecycle({ path, now: () => clock.now, ...(maxEnded ? { maxEnded } : {}) });
  const events: Array<[string, StreamRecord]> = [];
  lifecycle.on('started', (r) => events.push(['started', r])).on('ended', (r) => events.push(['ended', r]));
  const request = (playbackId: string, live: boolean): SessionRequest => ({ playbackId, broadcaster: 'b', renditions: live ? [{ name: 'source', width: 640, height: 360 }] : [], startedAt: new Date(clock.now).toISOString(), avoid: [] });
  return { clock, lifecycle, events, request };
}

describe('StreamLifecycle', () => {
  it('goes idle → live → ended, announcing the start and the end once each', () => {
    const t = setup();
    t.lifecycle.observe(t.request('s', false), 'owner');
    assert.equal(t.lifecycle.get('s')?.state, 'idle');
    assert.equal(t.lifecycle.get('s')?.startedAt, null);
    t.clock.now += 1_000;
    t.lifecycle.observe(t.request('s', true), 'owner');
    t.lifecycle.observe(t.request('s', true), 'owner');
    assert.equal(t.lifecycle.get('s')?.state, 'live');
    assert.equal(t.lifecycle.get('s')?.startedAt, '2026-01-01T00:00:01.000Z');
    t.clock.now += 5_000;
    t.lifecycle.end('s', 'closed');
    t.lifecycle.end('s', 'expired');
    assert.deepEqual(t.events.map(([e]) => e), ['started', 'ended']);
    assert.deepEqual({ ...t.lifecycle.get('s') }, { playbackId: 's', owner: 'owner', state: 'ended', startedAt: '2026-01-01T00:00:01.000Z', endedAt: '2026-01-01T00:00:06.000Z', renditions: [{ name: 'source', width: 640, height: 360 }], publisher: null, endReason: 'closed', relay: null, webhooks: [], recording: null });
  });

  it('keeps a live stream live (and its start time) through refreshes, and starts a new run after it ended', () => {
    const t = setup();
    t.lifecycle.observe(t.request('s', true), 'owner');
    const first = t.lifecycle.get('s')!.startedAt;
    t.clock.now += 60_000;
    t.lifecycle.observe(t.request('s', true), 'owner');
    assert.equal(t.lifecycle.get('s')!.startedAt, first);
    t.lifecycle.end('s', 'expired');
    t.clock.now += 1_000;
    t.lifecycle.observe(t.request('s', true), 'owner');
    assert.equal(t.lifecycle.get('s')!.state, 'live');
    assert.equal(t.lifecycle.get('s')!.endedAt, null);
    assert.notEqual(t.lifecycle.get('s')!.startedAt, first);
    assert.deepEqual(t.events.map(([e]) => e), ['started', 'ended', 'started']);
  });

  it('announces no end for a stream that never went live', () => {
    const t = setup();
    t.lifecycle.observe(t.request('s', false), 'owner');
    t.lifecycle.end('s', 'closed');
    assert.equal(t.lifecycle.get('s')!.state, 'ended');
    assert.deepEqual(t.events, []);
  });

  it('remembers every stream across a restart, so a live stream refreshed after it is not announced again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-lifecycle-'));
    dirs.push(dir);
    const path = join(dir, 'streams.sqlite');
    const a = setup(path);
    a.lifecycle.observe(a.request('live', true), 'owner');
    a.lifecycle.observe(a.request('over', true), 'owner');
    a.lifecycle.end('over', 'closed');
    a.lifecycle.close();
    const b = setup(path);
    assert.equal(b.lifecycle.get('over')!.state, 'ended');
    assert.deepEqual(b.lifecycle.unended().map((r) => r.playbackId), ['live']);
    b.lifecycle.observe(b.request('live', true), 'owner');
    assert.deepEqual(b.events, []);
    b.lifecycle.close();
  });

  it('keeps at most maxEnded ended streams, dropping the oldest first', () => {
    const t = setup(':memory:', 2);
    for (const id of ['a', 'b', 'c']) {
      t.lifecycle.observe(t.request(id, true), 'owner');
      t.clock.now += 1_000;
      t.lifecycle.end(id, 'closed');
    }
    assert.deepEqual(['a', 'b', 'c'].map((id) => t.lifecycle.get(id)?.state ?? null), [null, 'ended', 'ended']);
  });
});
