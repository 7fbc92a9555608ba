// The orchestrator's API over real HTTP, with a manual clock for heartbeat timeouts. Every test starts its
// own orchestrator, so none depends on what another registered or opened. Nodes are real HTTP skeletons
// with keys (test/support/node-stub.ts): they answer the URL challenge, as a transcoder or relay does.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import type { Identity } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { signRequest } from '../protocol/signed-request.ts';
import { randomIdentity, startNodeStub, type NodeStub } from '../test/support/node-stub.ts';
import { waitFor } from '../test/support/wait.ts';
import { rejectsWith } from '../test/support/assertions.ts';
import { createOrchestrator, type Orchestrator, type OrchestratorOptions } from './orchestrator.ts';

interface Harness {
  orchestrator: Orchestrator;
  clock: { now: number };
  /** A broadcaster's key and its client, signing with the harness clock. */
  broadcaster: OrchestratorClient;
  client(identity: Identity): OrchestratorClient;
  /** A node stub registered as `role` and proved. */
  node(role: 'relay' | 'transcoder', options?: { sessions?: number; encoders?: string[]; streams?: string[] }): Promise<NodeStub & { id: string }>;
  /** A signed POST with the harness clock (the body sent as given). */
  post(identity: Identity | null, path: string, body: unknown): Promise<Response>;
  get<T>(path: string): Promise<T>;
}

describe('orchestrator', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(init: Partial<OrchestratorOptions> = {}): Promise<Harness> {
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, nodeTimeoutMs: 5_000, allowPrivateNodes: true, ...init }, { logger: silentLogger, now: () => clock.now });
    await orchestrator.start();
    cleanups.push(() => orchestrator.stop());
    const client = (identity: Identity) => new OrchestratorClient(orchestrator.url, { identity, now: () => clock.now });
    const h: Harness = {
      orchestrator,
      clock,
      broadcaster: client(randomIdentity()),
      client,
      async node(role, options = {}) {
        const stub = await startNodeStub(role);
        cleanups.push(() => stub.close());
        const { id } = await client(stub.identity).register({
          role,
          url: stub.url,
          capabilities: { encoders: options.encoders ?? (role === 'transcoder' ? ['libx264'] : []), maxSessions: 4, pricePerPixel: '0' },
          load: { sessions: options.sessions ?? 0, inFlight: 0 },
          ...(options.streams ? { streams: options.streams } : {}),
        });
        await waitFor(`${role} ${stub.url} proved`, () => orchestrator.nodes.status(id)?.state === 'active', 5_000, 10);
        return { ...stub, id };
      },
      post: (identity, path, body) => {
        const bytes = new TextEncoder().encode(JSON.stringify(body));
        const headers = { 'content-type': 'application/json', ...(identity ? signRequest(identity, { method: 'POST', path, body: bytes, timestamp: clock.now }) : {}) };
        return fetch(`${orchestrator.url}${path}`, { method: 'POST', headers, body: bytes });
      },
      get: async (path) => (await fetch(`${orchestrator.url}${path}`)).json(),
    };
    return h;
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
    await rejectsWith(h.broadcaster.openSession(session(h, 'early')), { code: 'NO_NODE_AVAILABLE', status: 503 });
  });

  it('keeps one record, keyed by the node key, for a node that registers twice', async () => {
    const h = await start();
    const relay = await h.node('relay');
    const again = await h.client(relay.identity).register({ role: 'relay', url: relay.url });
    assert.equal(again.id, relay.id);
    assert.equal(relay.id, relay.identity.address);
    assert.equal(h.orchestrator.nodes.list().length, 1);
  });

  it('assigns the least loaded transcoder and keeps a stream on its relay when it reconnects', async () => {
    const h = await start();
    const r1 = await h.node('relay');
    await h.node('transcoder', { sessions: 3 });
    const t2 = await h.node('transcoder', { sessions: 1 });
    await h.node('relay', { sessions: 2 });
    const first = await h.broadcaster.openSession(session(h, 's1'));
    assert.equal(first.transcoder?.url, t2.url);
    assert.equal(first.relay.url, r1.url);
    const again = await h.broadcaster.openSession(session(h, 's1', { preferRelay: r1.url }));
    assert.equal(again.relay.url, r1.url);
  });

  it('moves a stream off a transcoder its broadcaster reports as failing, when another exists', async () => {
    const h = await start();
    await h.node('relay');
    const t1 = await h.node('transcoder', { sessions: 3 });
    const t2 = await h.node('transcoder', { sessions: 1 });
    assert.equal((await h.broadcaster.openSession(session(h, 's2'))).transcoder?.url, t2.url);
    h.orchestrator.ledger!.fund(h.broadcaster.signer!, 1_000n);
    const moved = await h.broadcaster.openSession(session(h, 's2', { avoid: [t2.url], failures: [{ node: t2.url, reason: 'transcoder_error' }] }));
    assert.equal(moved.transcoder?.url, t1.url);
    assert.equal(h.orchestrator.reputation.score(t2.id), 0.9);
  });

  it("avoids what an unfunded broadcaster reports for its own stream, but its reports weigh nothing on the node", async () => {
    const h = await start();
    await h.node('relay');
    const t1 = await h.node('transcoder');
    await h.node('transcoder', { sessions: 1 });
    assert.equal((await h.broadcaster.openSession(session(h, 'free'))).transcoder?.url, t1.url);
    const moved = await h.broadcaster.openSession(session(h, 'free', { avoid: [t1.url] }));
    assert.notEqual(moved.transcoder?.url, t1.url);
    assert.equal(h.orchestrator.reputation.score(t1.id), 1);
    assert.equal((await h.get<Array<{ id: string; recentFailures: number }>>('/api/nodes')).find((n) => n.id === t1.id)?.recentFailures, 0);
  });

  it('assigns a transcoder with the encoder the stream asks for', async () => {
    const h = await start();
    await h.node('relay');
    await h.node('transcoder');
    const gpu = await h.node('transcoder', { sessions: 3, encoders: ['h264_nvenc'] });
    assert.equal((await h.broadcaster.openSession(session(h, 'gpu', { encoders: ['h264_nvenc'] }))).transcoder?.url, gpu.url);
  });

  it('lists streams with their playback URL on the relay, never a stream key', async () => {
    const h = await start();
    const relay = await h.node('relay');
    await h.broadcaster.openSession(session(h, 's3'));
    const streams = await h.get<Array<Record<string, unknown>>>('/api/streams');
    const s3 = streams.find((s) => s.playbackId === 's3')!;
    assert.equal(s3.playbackUrl, `${relay.url}/hls/s3/master.m3u8`);
    assert.ok(!('streamKey' in s3));
  });

  it('answers which relays serve a stream, the origin first, and only holders when asked for parents', async () => {
    const h = await start();
    const r1 = await h.node('relay');
    await h.broadcaster.openSession(session(h, 's4'));
    const r2 = await h.node('relay');
    assert.deepEqual(await h.get('/api/streams/s4/relays'), [r1.url, r2.url]);
    assert.deepEqual(await h.get('/api/streams/s4/relays?holding=1'), [r1.url]);
    assert.equal((await fetch(`${h.orchestrator.url}/api/streams/unknown/relays`)).status, 404);
  });

  it('refuses a malformed registration with 400 and the field at fault', async () => {
    const h = await start();
    const res = await h.post(randomIdentity(), '/api/nodes', { role: 'miner', url: 'not a url' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /role.*url|url.*role/s);
  });

  it('drops nodes whose heartbeats stop, and tells a forgotten node to register again', async () => {
    const h = await start();
    const t = await h.node('transcoder');
    await h.node('relay');
    const beat = () => h.client(t.identity).heartbeat(t.id, { sessions: 0, inFlight: 0 });
    h.clock.now += 4_000;
    await beat();
    h.clock.now += 4_000;
    const nodes = await h.get<Array<{ url: string }>>('/api/nodes');
    assert.deepEqual(nodes.map((n) => n.url), [t.url]);
    h.clock.now += 6_000;
    await rejectsWith(beat(), { code: 'NODE_NOT_FOUND', status: 404 });
  });

  it('allows any origin to read its API', async () => {
    const h = await start();
    const res = await fetch(`${h.orchestrator.url}/api/streams`);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });
});

describe('orchestrator writes are signed', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function started(init: Partial<OrchestratorOptions> = {}, dataDir: string | null = null) {
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir, allowPrivateNodes: true, ...init }, { logger: silentLogger });
    await orchestrator.start();
    cleanups.push(() => orchestrator.stop());
    return orchestrator;
  }
  async function stub(role: 'relay' | 'transcoder' = 'relay', identity?: Identity) {
    const s = await startNodeStub(role, identity);
    cleanups.push(() => s.close());
    return s;
  }
  const refusedCount = async (url: string, reason: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(new RegExp(`castnet_orchestrator_requests_refused_total\\{reason="${reason}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  it('refuses an unsigned write with 401 signature_missing and counts it, while reads stay open', async () => {
    const o = await started();
    const res = await fetch(`${o.url}/api/nodes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'relay', url: 'http://127.0.0.1:1' }) });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { reason: string } }).error.reason, 'signature_missing');
    assert.equal(await refusedCount(o.url, 'signature_missing'), 1);
    assert.equal((await fetch(`${o.url}/api/nodes`)).status, 200);
  });

  it('refuses a replayed, a stale, and a tampered signed request', async () => {
    const o = await started();
    const s = await stub();
    const body = new TextEncoder().encode(JSON.stringify({ role: 'relay', url: s.url }));
    const send = (headers: Record<string, string>, bytes = body) => fetch(`${o.url}/api/nodes`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: bytes });
    const signed = signRequest(s.identity, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() });
    assert.equal((await send(signed)).status, 201);
    const replay = await send(signed);
    assert.equal(replay.status, 401);
    assert.equal(((await replay.json()) as { error: { reason: string } }).error.reason, 'signature_replayed');
    const stale = await send(signRequest(s.identity, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() - 31_000 }));
    assert.equal(((await stale.json()) as { error: { reason: string } }).error.reason, 'signature_stale');
    const other = new TextEncoder().encode(JSON.stringify({ role: 'transcoder', url: s.url }));
    const tampered = await send(signRequest(s.identity, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() }), other);
    assert.equal(((await tampered.json()) as { error: { reason: string } }).error.reason, 'signature_invalid');
    assert.equal(o.nodes.get(s.identity.address)?.role, 'relay');
  });

  it("never lets another key take a node's URL: its record stays, the hijacker's never proves", async () => {
    const o = await started();
    const honest = await stub('transcoder');
    const { id } = await honest.client(o.url).register({ role: 'transcoder', url: honest.url, capabilities: { encoders: ['libx264'], maxSessions: 4, pricePerPixel: '5' } });
    await waitFor('the honest node proved', () => o.nodes.status(id)?.state === 'active', 5_000, 10);
    const attacker = randomIdentity();
    const hijack = await new OrchestratorClient(o.url, { identity: attacker }).register({ role: 'transcoder', url: honest.url, capabilities: { encoders: ['libx264'], maxSessions: 100, pricePerPixel: '0' } });
    await waitFor('the hijacker to fail its proof', () => o.nodes.status(hijack.id)?.state === 'unproven', 5_000, 10);
    assert.match(o.nodes.status(hijack.id)!.reason!, /proof_wrong_key/);
    assert.equal(o.nodes.get(id)?.capabilities.pricePerPixel, '5');
    assert.equal(o.nodes.get(id)?.paymentAddress, honest.identity.address);
    assert.deepEqual(o.nodes.schedulable('transcoder').map((n) => n.id), [id]);
  });

  it('refuses a registration that names another payment address, and a heartbeat for another key', async () => {
    const o = await started();
    const s = await stub();
    await rejectsWith(s.client(o.url).register({ role: 'relay', url: s.url, paymentAddress: randomIdentity().address }), { code: 'FORBIDDEN', reason: 'payment_address' });
    const { id } = await s.client(o.url).register({ role: 'relay', url: s.url });
    await rejectsWith(new OrchestratorClient(o.url, { identity: randomIdentity() }).heartbeat(id, { sessions: 0, inFlight: 0 }), { code: 'FORBIDDEN', reason: 'not_node_key' });
  });

  it('refuses loopback and private node URLs without --allow-private-nodes, and URLs that are not origins', async () => {
    const o = await started({ allowPrivateNodes: false });
    const client = new OrchestratorClient(o.url, { identity: randomIdentity() });
    await rejectsWith(client.register({ role: 'relay', url: 'http://127.0.0.1:9' }), { code: 'FORBIDDEN', reason: 'private_address' });
    await rejectsWith(client.register({ role: 'relay', url: 'http://[::ffff:10.0.0.1]:9' }), { code: 'FORBIDDEN', reason: 'private_address' });
    for (const [url, reason] of [['http://127.0.0.1:9/metrics#', 'url_not_origin'], ['http://user:pw@example.com', 'url_userinfo'], ['ftp://example.com', 'url_scheme']] as const) {
      const identity = randomIdentity();
      const body = new TextEncoder().encode(JSON.stringify({ role: 'relay', url }));
      const res = await fetch(`${o.url}/api/nodes`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(identity, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() }) }, body });
      assert.equal(res.status, 400, url);
      assert.equal(((await res.json()) as { error: { reason: string } }).error.reason, reason, url);
    }
    assert.equal(o.nodes.list().length, 0);
  });

  it('caps the nodes one source address registers, and says so', async () => {
    const o = await started({ maxNodesPerSource: 2 });
    for (let i = 0; i < 2; i++) await new OrchestratorClient(o.url, { identity: randomIdentity() }).register({ role: 'relay', url: `http://127.0.0.1:${1000 + i}` });
    await rejectsWith(new OrchestratorClient(o.url, { identity: randomIdentity() }).register({ role: 'relay', url: 'http://127.0.0.1:1009' }), { code: 'RATE_LIMITED', reason: 'too_many_nodes_from_source', status: 429 });
    assert.equal(await refusedCount(o.url, 'too_many_nodes_from_source'), 1);
  });

  it('deposits only with an operator signature, and never past uint256', async () => {
    const o = await started();
    const account = randomIdentity().address;
    await rejectsWith(new OrchestratorClient(o.url).deposit(account, 1_000n), { code: 'SIGNATURE_INVALID', reason: 'signature_missing' });
    await rejectsWith(new OrchestratorClient(o.url, { identity: randomIdentity() }).deposit(account, 1_000n), { code: 'FORBIDDEN', reason: 'not_operator' });
    const operator = new OrchestratorClient(o.url, { identity: o.operator });
    const max = (1n << 256n) - 1n;
    assert.equal((await operator.deposit(account, max)).deposit, max.toString());
    await rejectsWith(operator.deposit(account, 1n), { code: 'BAD_REQUEST', reason: 'exceeds_uint256' });
    assert.equal(o.ledger!.account(account).deposit, max);
  });

  it('under --admission allowlist, admits only keys the operator allowed; a denied key is out at once', async () => {
    const o = await started({ admission: 'allowlist' });
    const s = await stub();
    await rejectsWith(s.client(o.url).register({ role: 'relay', url: s.url }), { code: 'FORBIDDEN', reason: 'not_allowed' });
    await rejectsWith(s.client(o.url).setAdmission(s.identity.address, 'allow'), { code: 'FORBIDDEN', reason: 'not_operator' });
    const operator = new OrchestratorClient(o.url, { identity: o.operator });
    await operator.setAdmission(s.identity.address, 'allow');
    const { id } = await s.client(o.url).register({ role: 'relay', url: s.url });
    await waitFor('the allowed node proved', () => o.nodes.status(id)?.state === 'active', 5_000, 10);
    await operator.setAdmission(s.identity.address, 'deny');
    assert.equal(o.nodes.status(id)?.state, 'banned');
    await rejectsWith(s.client(o.url).heartbeat(id, { sessions: 0, inFlight: 0 }), { code: 'FORBIDDEN', reason: 'denied' });
    assert.deepEqual((await operator.admission()).entries.map((e) => [e.address, e.list]), [[id, 'deny']]);
  });

  it('bans a node after repeated failure reports, and the ban outlives a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-ban-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    // The orchestrator's clock stands still while the three reports are made: points halve every 10 minutes,
    // so three reports spread over more than about half a second (a loaded run) sum to just under 3.
    let frozenAt: number | null = null;
    const first = await createOrchestrator({ httpPort: 0, dataDir, allowPrivateNodes: true, banPoints: 3 }, { logger: silentLogger, now: () => frozenAt ?? Date.now() });
    await first.start();
    cleanups.push(() => first.stop());
    const relay = await stub('relay');
    const transcoder = await stub('transcoder');
    for (const [s, role] of [[relay, 'relay'], [transcoder, 'transcoder']] as const) {
      const { id } = await s.client(first.url).register({ role, url: s.url, capabilities: { encoders: ['libx264'], maxSessions: 50, pricePerPixel: '0' } });
      await waitFor(`${role} proved`, () => first.nodes.status(id)?.state === 'active', 5_000, 10);
    }
    const reporter = randomIdentity();
    first.ledger!.fund(reporter.address, 1_000n);
    const broadcaster = new OrchestratorClient(first.url, { identity: reporter });
    frozenAt = Date.now();
    for (let i = 0; i < 3; i++) {
      await broadcaster.openSession({ playbackId: `b${i}`, startedAt: new Date().toISOString() });
      await broadcaster.openSession({ playbackId: `b${i}`, startedAt: new Date().toISOString(), avoid: [transcoder.url] });
    }
    frozenAt = null;
    const listed = (await broadcaster.nodes()).find((n) => n.id === transcoder.identity.address)!;
    assert.equal(listed.state, 'banned');
    assert.equal(listed.score, 1, 'a ban is served in full, with the points cleared');
    assert.ok(listed.bannedUntil && Date.parse(listed.bannedUntil) > Date.now() + 3_000_000);
    await first.stop();
    const second = await started({ banPoints: 3 }, dataDir);
    await rejectsWith(transcoder.client(second.url).register({ role: 'transcoder', url: transcoder.url }), { code: 'FORBIDDEN', reason: 'banned' });
    assert.deepEqual((await new OrchestratorClient(second.url).admission()).bans.map((b) => b.address), [transcoder.identity.address]);
  });
});
