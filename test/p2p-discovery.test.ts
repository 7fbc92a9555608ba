// Discovery over libp2p with real hosts on loopback: a transcoder and a relay join through the
// orchestrator's multiaddr and are known from their signed gossip alone; forged, stale and unknown-version
// records are dropped and counted; a record's URL is proved before it is scheduled; a gossiped relay's
// per-stream stats reach /api/nodes; a node that stops announcing is dropped.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from '../orchestrator/orchestrator.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { createP2pHost, type P2pHost } from '../p2p/p2p-host.ts';
import { createRelay, type Relay } from '../relay/relay.ts';
import { createTranscoder, type Transcoder } from '../transcoder/transcoder.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { ANNOUNCEMENT_TOPIC, ANNOUNCEMENT_VERSION, signAnnouncement } from '../protocol/node-announcement.ts';
import { getText, metric, testLogger, waitFor } from './support/network.ts';
import { TestPublisher } from './support/signed-content.ts';

interface Listed {
  id: string;
  role: string;
  url: string;
  state: string;
  stateReason: string | null;
  paymentAddress?: string;
  capabilities: { encoders: string[]; pricePerPixel: string };
  stats?: Array<{ playbackId: string; bytesServed: number }>;
}

describe('discovery over libp2p', () => {
  let orchestrator: Orchestrator;
  let transcoder: Transcoder;
  let relay: Relay;
  let rogue: P2pHost;
  let bootstrap: string[];
  const nodes = async () => JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as Listed[];
  const listed = (url: string) => waitFor(`${url} to be known from gossip`, async () => (await nodes()).find((n) => n.url === url), 20_000);
  // No orchestrator URL for registration: it can only be known through gossip.
  const gossipingTranscoder = () => createTranscoder({ httpPort: 0, dataDir: null, encoder: 'libx264', orchestrator: false, bootstrap, p2pPort: 0, announceIntervalMs: 500 }, { logger: testLogger });

  beforeAll(async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, p2p: true, p2pPort: 0, nodeTimeoutMs: 4_000, announcementMaxAgeMs: 10_000, allowPrivateNodes: true }, { logger: testLogger });
    await orchestrator.start();
    bootstrap = orchestrator.multiaddrs;
    transcoder = await gossipingTranscoder();
    relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, bootstrap, p2pPort: 0, announceIntervalMs: 500 }, { logger: testLogger });
    await Promise.all([transcoder.start(), relay.start()]);
    rogue = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap, logger: testLogger });
  });

  afterAll(async () => {
    await rogue.stop();
    await Promise.all([transcoder.stop(), relay.stop()]);
    await orchestrator.stop();
  });

  it('learns transcoders and relays from their signed records', async () => {
    const t = await listed(transcoder.url);
    assert.equal(t.role, 'transcoder');
    assert.equal(t.paymentAddress, transcoder.payments.recipient);
    assert.deepEqual(t.capabilities.encoders, ['libx264']);
    assert.equal((await listed(relay.url)).role, 'relay');
  });

  it('drops forged, stale, unknown-version and malformed records, counts each by reason, and keeps accepting honest ones', async () => {
    await Promise.all([listed(transcoder.url), listed(relay.url)]);
    const liar = identityFromPrivateKey(randomBytes(32));
    const victim = identityFromPrivateKey(randomBytes(32));
    const record = (over: object) => ({ version: ANNOUNCEMENT_VERSION, role: 'transcoder' as const, url: 'http://127.0.0.1:1', paymentAddress: victim.address, capabilities: { encoders: ['libx264'], maxSessions: 99, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 }, streams: [], timestamp: Date.now(), ...over });
    const forged = signAnnouncement(record({}), liar); // claims the victim's address, signed by another key
    const stale = signAnnouncement(record({ paymentAddress: liar.address, timestamp: Date.now() - 60_000 }), liar);
    const future = signAnnouncement(record({ paymentAddress: liar.address, version: 99 }), liar);
    const result = (r: string) => metric(orchestrator.url, new RegExp(`^castnet_orchestrator_announcements_total\\{[^}]*result="${r}"`));
    // Gossip refuses to publish until a peer subscribes to the topic; the records are sent again until heard.
    await waitFor('the forged records to be heard and dropped', async () => {
      for (const bytes of [forged, stale, future, new TextEncoder().encode('not json')]) await rogue.publish(ANNOUNCEMENT_TOPIC, bytes).catch(() => {});
      return (await result('bad_signature')) >= 1 && (await result('stale')) >= 1 && (await result('unknown_version')) >= 1 && (await result('malformed')) >= 1;
    }, 20_000, 500);
    assert.ok(!(await nodes()).some((n) => n.url === 'http://127.0.0.1:1'), 'no dropped record reached the registry');
    assert.ok((await result('accepted')) >= 2);
  });

  it("proves a gossiped record's URL as over HTTP: a validly signed record naming another node's URL never proves", async () => {
    const t = await listed(transcoder.url);
    await waitFor('the honest transcoder proved over gossip', async () => (await nodes()).find((n) => n.url === transcoder.url && n.state === 'active'), 20_000);
    const hijacker = identityFromPrivateKey(randomBytes(32));
    const hijack = signAnnouncement({ version: ANNOUNCEMENT_VERSION, role: 'transcoder', url: transcoder.url, paymentAddress: hijacker.address, capabilities: { encoders: ['libx264'], maxSessions: 99, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 }, streams: [], timestamp: Date.now() }, hijacker);
    const record = await waitFor('the hijacking record to fail its URL proof', async () => {
      await rogue.publish(ANNOUNCEMENT_TOPIC, hijack).catch(() => {});
      return (await nodes()).find((n) => n.id === hijacker.address.toLowerCase() && n.state === 'unproven');
    }, 20_000, 500);
    assert.match(record.stateReason ?? '', /proof_wrong_key/);
    const honest = (await nodes()).find((n) => n.id === t.id)!;
    assert.deepEqual([honest.state, honest.paymentAddress], ['active', transcoder.payments.recipient]);
    assert.ok(!orchestrator.nodes.schedulable().some((n) => n.id === hijacker.address.toLowerCase()));
  });

  it('lets an edge relay find the relay holding a stream through the orchestrator', async () => {
    await listed(relay.url);
    await waitFor('the relay proved', () => orchestrator.nodes.schedulable('relay').some((n) => n.url === relay.url), 20_000);
    const broadcaster = new OrchestratorClient(orchestrator.url, { identity: identityFromPrivateKey(randomBytes(32)) });
    const publisher = new TestPublisher();
    const session = await broadcaster.openSession({ playbackId: 'gossiped', startedAt: new Date().toISOString(), publisher: publisher.address });
    assert.equal(session.relay.url, relay.url);
    const segment = new Uint8Array(188 * 10);
    for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
    // This relay has no orchestrator to ask (--orchestrator none): the first key that signs binds the stream;
    // the edge checks what it pulls against the publisher key the directory binds to the playback id.
    assert.equal((await publisher.segment(relay.url, 'gossiped', 'source', 0, segment)).status, 201);
    assert.equal((await new TestPublisher().segment(relay.url, 'gossiped', 'source', 1, segment)).status, 401);
    const edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: orchestrator.url, allowPrivateNodes: true }, { logger: testLogger });
    await edge.start();
    try {
      const res = await fetch(`${edge.url}/hls/gossiped/source/0.ts`);
      assert.equal(res.status, 200);
      assert.equal((await res.arrayBuffer()).byteLength, segment.length);
      assert.match(res.headers.get('castnet-content-signature') ?? '', /^0x[0-9a-f]{130}$/);
      assert.equal((await fetch(`${edge.url}/hls/not-live/source/0.ts`)).status, 404, 'a stream nobody holds is not found, without loops');
      // The gossiped relay's record carries its per-stream stats, so /api/nodes shows what it served the edge.
      await waitFor("the gossiped relay's stats for the stream in /api/nodes", async () => (await nodes()).find((n) => n.url === relay.url)?.stats?.some((s) => s.playbackId === 'gossiped' && s.bytesServed >= segment.length), 20_000);
    } finally {
      await edge.stop();
    }
  });

  it('drops a node that stops announcing', async () => {
    // A transcoder of its own, so the nodes the other cases use keep announcing.
    const silent = await gossipingTranscoder();
    await silent.start();
    try {
      await listed(silent.url);
    } finally {
      await silent.stop();
    }
    await waitFor('the silent transcoder to be dropped', async () => !(await nodes()).some((n) => n.url === silent.url), 15_000);
    const left = (await nodes()).map((n) => n.url);
    assert.ok(left.includes(relay.url) && left.includes(transcoder.url), 'the nodes still announcing stay');
  });
});
