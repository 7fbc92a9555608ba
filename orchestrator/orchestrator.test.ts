// The orchestrator's API over real HTTP, with a manual clock for heartbeat timeouts. Every test starts its
// own orchestrator, so none depends on what another registered or opened.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';

interface Harness {
  orchestrator: Orchestrator;
  clock: { now: number };
  post(path: string, body: unknown): Promise<Response>;
  get<T>(path: string): Promise<T>;
}

const node = (role: string, url: string, sessions = 0) => ({ role, url, capabilities: { encoders: role === 'transcoder' ? ['libx264'] : [], maxSessions: 4 }, load: { sessions, inFlight: 0 } });

describe('orchestrator', () => {
  const started: Orchestrator[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((o) => o.stop()));
  });

  async function start(): Promise<Harness> {
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, nodeTimeoutMs: 5_000 }, { logger: silentLogger, now: () => clock.now });
    await orchestrator.start();
    started.push(orchestrator);
    return {
      orchestrator,
      clock,
      post: (path, body) => fetch(`${orchestrator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      get: async (path) => (await fetch(`${orchestrator.url}${path}`)).json(),
    };
  }
  const session = (h: Harness, playbackId: string, extra: object = {}) => ({ playbackId, startedAt: new Date(h.clock.now).toISOString(), ...extra });

  it('says where its network settles: at its ledger by default', async () => {
    const h = await start();
    assert.deepEqual(await h.get('/api/settlement'), { mode: 'ledger', ledger: '/api/ledger' });
  });

  it('refuses to start on chain when there is no broker at the address', async () => {
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, settlement: 'chain', chainRpc: 'http://127.0.0.1:9', broker: `0x${'11'.repeat(20)}` }, { logger: silentLogger });
    await assert.rejects(orchestrator.start(), /the chain at http:\/\/127\.0\.0\.1:9 could not be asked/);
  });

  it('answers 503 NO_NODE_AVAILABLE for a session when no relay is registered', async () => {
    const h = await start();
    const res = await h.post('/api/streams', session(h, 'early'));
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NO_NODE_AVAILABLE');
  });

  it('keeps one record, and one id, for a node that registers twice from the same URL', async () => {
    const h = await start();
    const a = (await (await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'))).json()) as { id: string };
    const b = (await (await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'))).json()) as { id: string };
    assert.equal(a.id, b.id);
  });

  it('assigns the least loaded transcoder and keeps a stream on its relay when it reconnects', async () => {
    const h = await start();
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'));
    await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2001', 3));
    await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2002', 1));
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1002', 2));
    const first = (await (await h.post('/api/streams', session(h, 's1'))).json()) as { transcoder: { url: string }; relay: { url: string } };
    assert.equal(first.transcoder.url, 'http://127.0.0.1:2002');
    assert.equal(first.relay.url, 'http://127.0.0.1:1001');
    const again = (await (await h.post('/api/streams', session(h, 's1', { preferRelay: 'http://127.0.0.1:1001' }))).json()) as { relay: { url: string } };
    assert.equal(again.relay.url, 'http://127.0.0.1:1001');
  });

  it('moves a stream off a transcoder the broadcaster reports as failing, when another exists', async () => {
    const h = await start();
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'));
    await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2001', 3));
    await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2002', 1));
    const first = (await (await h.post('/api/streams', session(h, 's2'))).json()) as { transcoder: { url: string } };
    assert.equal(first.transcoder.url, 'http://127.0.0.1:2002');
    const moved = (await (await h.post('/api/streams', session(h, 's2', { avoid: ['http://127.0.0.1:2002'] }))).json()) as { transcoder: { url: string } };
    assert.equal(moved.transcoder.url, 'http://127.0.0.1:2001');
  });

  it('assigns a transcoder with the encoder the stream asks for', async () => {
    const h = await start();
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'));
    await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2001'));
    await h.post('/api/nodes', { ...node('transcoder', 'http://127.0.0.1:2002', 3), capabilities: { encoders: ['h264_nvenc'], maxSessions: 4 } });
    const gpu = (await (await h.post('/api/streams', session(h, 'gpu', { encoders: ['h264_nvenc'] }))).json()) as { transcoder: { url: string } };
    assert.equal(gpu.transcoder.url, 'http://127.0.0.1:2002');
  });

  it('lists streams with their playback URL on the relay, never a stream key', async () => {
    const h = await start();
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'));
    await h.post('/api/streams', session(h, 's3'));
    const streams = await h.get<Array<Record<string, unknown>>>('/api/streams');
    const s3 = streams.find((s) => s.playbackId === 's3')!;
    assert.equal(s3.playbackUrl, 'http://127.0.0.1:1001/hls/s3/master.m3u8');
    assert.ok(!('streamKey' in s3));
  });

  it('answers which relays serve a stream, the origin first, and only holders when asked for parents', async () => {
    const h = await start();
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1001'));
    await h.post('/api/streams', session(h, 's4'));
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1002'));
    assert.deepEqual(await h.get('/api/streams/s4/relays'), ['http://127.0.0.1:1001', 'http://127.0.0.1:1002']);
    assert.deepEqual(await h.get('/api/streams/s4/relays?holding=1'), ['http://127.0.0.1:1001']);
    assert.equal((await fetch(`${h.orchestrator.url}/api/streams/unknown/relays`)).status, 404);
  });

  it('refuses a malformed registration with 400 and the field at fault', async () => {
    const h = await start();
    const res = await h.post('/api/nodes', { role: 'miner', url: 'not a url' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /role.*url|url.*role/s);
  });

  it('drops nodes whose heartbeats stop, and tells a forgotten node to register again', async () => {
    const h = await start();
    const { id } = (await (await h.post('/api/nodes', node('transcoder', 'http://127.0.0.1:2003'))).json()) as { id: string };
    await h.post('/api/nodes', node('relay', 'http://127.0.0.1:1003'));
    h.clock.now += 4_000;
    assert.equal((await h.post(`/api/nodes/${id}/heartbeat`, { load: { sessions: 0, inFlight: 0 } })).status, 204);
    h.clock.now += 4_000;
    const nodes = await h.get<Array<{ url: string }>>('/api/nodes');
    assert.deepEqual(nodes.map((n) => n.url), ['http://127.0.0.1:2003']);
    h.clock.now += 6_000;
    const res = await h.post(`/api/nodes/${id}/heartbeat`, { load: { sessions: 0, inFlight: 0 } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NODE_NOT_FOUND');
  });

  it('allows any origin to read its API', async () => {
    const h = await start();
    const res = await fetch(`${h.orchestrator.url}/api/streams`);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });
});
