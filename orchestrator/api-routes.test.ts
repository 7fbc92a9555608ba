// The orchestrator's API through the one client every role uses: each endpoint's answer passes the
// client's schema, and refusals keep the orchestrator's codes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import type { CastnetError } from '../protocol/errors.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { redemptionRequest } from '../protocol/redemption.ts';
import { MAX_WIN_PROB, signTicket, toHex, type Ticket } from '../protocol/ticket.ts';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';
import { rejectsWith } from '../test/support/assertions.ts';
import { randomIdentity, startNodeStub, type NodeStub } from '../test/support/node-stub.ts';
import { waitFor } from '../test/support/wait.ts';


describe('the orchestrator API through OrchestratorClient', () => {
  let orchestrator: Orchestrator;
  /** A broadcaster's client: its key owns the sessions it opens. */
  let client: OrchestratorClient;
  /** The operator's client: deposits. */
  let operator: OrchestratorClient;
  const stubs: NodeStub[] = [];

  beforeAll(async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, allowPrivateNodes: true }, { logger: silentLogger });
    await orchestrator.start();
    client = new OrchestratorClient(`${orchestrator.url}/`, { identity: randomIdentity() });
    operator = new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator });
  });
  afterAll(async () => {
    await orchestrator.stop();
    await Promise.all(stubs.map((s) => s.close()));
  });

  /** A node that answers the URL challenge, registered with its own key and proved. */
  async function node(role: 'relay' | 'transcoder', extra: object = {}) {
    const stub = await startNodeStub(role);
    stubs.push(stub);
    const answer = await stub.client(orchestrator.url).register({ role, url: stub.url, ...extra });
    await waitFor('the node proved', () => orchestrator.nodes.status(answer.id)?.state === 'active', 5_000, 10);
    return { stub, answer };
  }

  it('registers, heartbeats, opens and closes a session, and reads the node list, directory and relays', async () => {
    const { stub: relayNode, answer: relay } = await node('relay', { streams: ['c1'] });
    assert.ok(relay.heartbeatIntervalMs > 0);
    assert.equal(relay.id, relayNode.identity.address);
    await relayNode.client(orchestrator.url).heartbeat(relay.id, { sessions: 1, inFlight: 0 });
    const { stub: transcoderNode } = await node('transcoder', { capabilities: { encoders: ['libx264'], maxSessions: 4, pricePerPixel: '0' } });
    const assignment = await client.openSession({ playbackId: 'c1', startedAt: new Date().toISOString() });
    assert.equal(assignment.relay.url, relayNode.url);
    assert.equal(assignment.transcoder?.url, transcoderNode.url);
    assert.deepEqual(await client.relaysFor('c1', { holding: true }), [relayNode.url]);
    assert.deepEqual((await client.streams()).map((s) => s.playbackId), ['c1']);
    const relayListing = (await client.nodes()).find((n) => n.id === relay.id)!;
    assert.equal(relayListing.streams, 1);
    assert.equal(relayListing.load.sessions, 1);
    assert.deepEqual([relayListing.state, relayListing.score, relayListing.bannedUntil], ['active', 1, null]);
    await client.closeSession('c1');
    assert.deepEqual(await client.streams(), []);
  });

  it('funds an account, reads it, and redeems a winning ticket once', async () => {
    const sender = identityFromPrivateKey(randomBytes(32));
    const recipient = `0x${'bb'.repeat(20)}`;
    const funded = await operator.deposit(sender.address, 1_000n, 500n);
    assert.deepEqual({ deposit: funded.deposit, reserve: funded.reserve }, { deposit: '1000', reserve: '500' });
    assert.equal((await client.account(sender.address)).deposit, '1000');
    assert.ok((await client.accounts()).some((a) => a.address === sender.address));
    const recipientRand = randomBytes(32);
    const ticket: Ticket = { recipient, sender: sender.address, faceValue: 100n, winProb: MAX_WIN_PROB, senderNonce: 1, recipientRandHash: toHex(keccak_256(recipientRand)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
    const request = redemptionRequest(ticket, signTicket(ticket, sender.privateKey), recipientRand);
    assert.equal((await client.redeem(request)).paid, 100n);
    await rejectsWith(client.redeem(request), { code: 'ALREADY_REDEEMED', status: 409 });
    // What it paid travels with the refusal, so a recipient that lost the first answer settles the ticket as paid.
    const again = await client.redeem(request).catch((err: CastnetError) => err);
    assert.deepEqual([(again as CastnetError).context['reason'], (again as CastnetError).context['paid']], ['paid_earlier', '100']);
  });

  it('keeps the orchestrator\'s code for a refusal: NODE_NOT_FOUND, STREAM_NOT_FOUND, BAD_REQUEST', async () => {
    const gone = randomIdentity();
    await rejectsWith(new OrchestratorClient(orchestrator.url, { identity: gone }).heartbeat(gone.address, { sessions: 0, inFlight: 0 }), { code: 'NODE_NOT_FOUND', status: 404 });
    await rejectsWith(client.relaysFor('nothing-here'), { code: 'STREAM_NOT_FOUND', status: 404 });
    await rejectsWith(client.account('not-an-address'), { code: 'BAD_REQUEST', status: 400 });
  });

  it("shows a stream's warnings in the directory and at /api/streams/<id>", async () => {
    await node('relay');
    const warnings = [{ code: 'long_keyframe_interval', message: 'Set a 2 s keyframe interval.' }];
    await client.openSession({ playbackId: 'warned', startedAt: new Date().toISOString(), warnings });
    const res = await fetch(`${orchestrator.url}/api/streams/warned`);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { warnings: unknown }).warnings, warnings);
    assert.deepEqual((await client.streams()).find((s) => s.playbackId === 'warned')?.warnings, warnings);
    assert.equal((await fetch(`${orchestrator.url}/api/streams/nothing-here`)).status, 404);
    await client.closeSession('warned');
  });

  it('refuses to send a request its schema refuses', async () => {
    await rejectsWith(client.openSession({ playbackId: 'has spaces', startedAt: 'yesterday' }), { code: 'BAD_REQUEST', message: /playbackId/ });
  });
  it("reports each node's clock skew from its signed writes in /api/nodes, and answers registrations with its own time", async () => {
    const stub = await startNodeStub('relay');
    stubs.push(stub);
    // A node whose clock is 10 s behind: within the signature bound, so accepted, and now reported.
    const behind = new OrchestratorClient(orchestrator.url, { identity: stub.identity, now: () => Date.now() - 10_000 });
    const answer = await behind.register({ role: 'relay', url: stub.url });
    assert.ok(Math.abs((answer.orchestratorTime ?? 0) - Date.now()) < 5_000);
    const listing = (await client.nodes()).find((n) => n.id === answer.id)!;
    assert.ok(listing.clockSkewMs !== null && listing.clockSkewMs <= -9_000 && listing.clockSkewMs >= -11_000, String(listing.clockSkewMs));
  });
});
