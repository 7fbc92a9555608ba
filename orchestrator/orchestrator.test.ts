// The orchestrator's API over real HTTP, with a manual clock for heartbeat timeouts.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';

describe('orchestrator', () => {
  let orchestrator: Orchestrator;
  let now = Date.parse('2026-01-01T00:00:00Z');
  const post = (path: string, body: unknown) =>
    fetch(`${orchestrator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const node = (role: string, url: string, sessions = 0) => ({ role, url, capabilities: { encoders: role === 'transcoder' ? ['libx264'] : [], maxSessions: 4 }, load: { sessions, inFlight: 0 } });
  const session = (playbackId: string, extra: object = {}) => ({ playbackId, startedAt: new Date(now).toISOString(), ...extra });

  beforeAll(async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, nodeTimeoutMs: 5_000 }, { logger: silentLogger, now: () => now });
    await orchestrator.start();
  });

  afterAll(() => orchestrator.stop());

  it('answers 503 NO_NODE_AVAILABLE for a session when no relay is registered', async () => {
    const res = await post('/api/streams', session('early'));
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NO_NODE_AVAILABLE');
  });

  it('keeps one record, and one id, for a node that registers twice from the same URL', async () => {
    const a = (await (await post('/api/nodes', node('relay', 'http://127.0.0.1:1001'))).json()) as { id: string };
    const b = (await (await post('/api/nodes', node('relay', 'http://127.0.0.1:1001'))).json()) as { id: string };
    assert.equal(a.id, b.id);
  });

  it('assigns the least loaded transcoder and keeps a stream on its relay when it reconnects', async () => {
    await post('/api/nodes', node('transcoder', 'http://127.0.0.1:2001', 3));
    await post('/api/nodes', node('transcoder', 'http://127.0.0.1:2002', 1));
    await post('/api/nodes', node('relay', 'http://127.0.0.1:1002', 2));
    const first = (await (await post('/api/streams', session('s1'))).json()) as { transcoder: { url: string }; relay: { url: string } };
    assert.equal(first.transcoder.url, 'http://127.0.0.1:2002');
    assert.equal(first.relay.url, 'http://127.0.0.1:1001');
    const again = (await (await post('/api/streams', session('s1', { preferRelay: 'http://127.0.0.1:1001' }))).json()) as { relay: { url: string } };
    assert.equal(again.relay.url, 'http://127.0.0.1:1001');
  });

  it('moves a stream off a transcoder the broadcaster reports as failing, when another exists', async () => {
    const moved = (await (await post('/api/streams', session('s1', { avoid: ['http://127.0.0.1:2002'] }))).json()) as { transcoder: { url: string } };
    assert.equal(moved.transcoder.url, 'http://127.0.0.1:2001');
  });

  it('lists streams with their playback URL on the relay, never a stream key', async () => {
    const streams = (await (await fetch(`${orchestrator.url}/api/streams`)).json()) as Array<Record<string, unknown>>;
    const s1 = streams.find((s) => s.playbackId === 's1')!;
    assert.equal(s1.playbackUrl, 'http://127.0.0.1:1001/hls/s1/master.m3u8');
    assert.ok(!('streamKey' in s1));
  });

  it('refuses a malformed registration with 400 and the field at fault', async () => {
    const res = await post('/api/nodes', { role: 'miner', url: 'not a url' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /role.*url|url.*role/s);
  });

  it('drops nodes whose heartbeats stop, and tells a forgotten node to register again', async () => {
    const { id } = (await (await post('/api/nodes', node('transcoder', 'http://127.0.0.1:2003'))).json()) as { id: string };
    now += 4_000;
    assert.equal((await post(`/api/nodes/${id}/heartbeat`, { load: { sessions: 0, inFlight: 0 } })).status, 204);
    now += 4_000;
    const nodes = (await (await fetch(`${orchestrator.url}/api/nodes`)).json()) as Array<{ url: string }>;
    assert.deepEqual(nodes.map((n) => n.url), ['http://127.0.0.1:2003']);
    now += 6_000;
    const res = await post(`/api/nodes/${id}/heartbeat`, { load: { sessions: 0, inFlight: 0 } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NODE_NOT_FOUND');
  });
});
