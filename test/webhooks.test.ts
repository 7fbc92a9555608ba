// Webhooks through a real orchestrator with a data directory and real HTTP receivers: stream.started and
// stream.ended from sessions a broadcaster key opens and closes, the stream key's own receivers beside the
// global ones, recording.ready from the stream's relay only, the delivery log, and nothing lost when the
// orchestrator restarts while a receiver is failing.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from '../orchestrator/orchestrator.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { rejectsWith } from './support/assertions.ts';
import { randomIdentity, startNodeStub, type NodeStub } from './support/node-stub.ts';
import { testLogger, waitFor } from './support/network.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const globalSecret = 'whsec_global-secret-0000000000';
const keySecret = 'whsec_stream-key-secret-000000';
const renditions = [{ name: 'source', width: 640, height: 360 }];

describe('webhooks', () => {
  const cleanup: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function orchestrator(dataDir: string, receiver: WebhookReceiver, port = 0): Promise<Orchestrator> {
    const o = await createOrchestrator({ httpPort: port, dataDir, allowPrivateNodes: true, webhookUrls: [receiver.url], webhookSecret: globalSecret, webhookRetryMs: 100, streamTtlMs: 60_000 }, { logger: testLogger });
    await o.start();
    return o;
  }

  async function relay(o: Orchestrator): Promise<NodeStub> {
    const stub = await startNodeStub('relay');
    cleanup.push(() => stub.close());
    const answer = await stub.client(o.url).register({ role: 'relay', url: stub.url });
    await waitFor('the relay proved', () => o.nodes.status(answer.id)?.state === 'active', 5_000, 20);
    return stub;
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-webhooks-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  it("delivers stream.started, recording.ready and stream.ended, signed, to the global receivers and the stream key's own, and logs each delivery", async () => {
    const global = await startWebhookReceiver(globalSecret);
    const own = await startWebhookReceiver(keySecret, '/own');
    cleanup.push(() => global.close(), () => own.close());
    const o = await orchestrator(tempDir(), global);
    cleanup.push(() => o.stop());
    const relayNode = await relay(o);
    const broadcaster = new OrchestratorClient(o.url, { identity: randomIdentity() });
    const base = { playbackId: 'hooked', renditions: [], startedAt: new Date().toISOString(), webhooks: [{ url: own.url, secret: keySecret }] };
    await broadcaster.openSession(base);
    assert.equal((await broadcaster.stream('hooked')).state, 'idle');
    await broadcaster.openSession({ ...base, renditions });
    await waitFor('stream.started at both', () => global.events().length === 1 && own.events().length === 1, 5_000, 20);
    assert.equal(global.events()[0]!.type, 'stream.started');
    assert.deepEqual(own.events()[0], global.events()[0], 'the same event, each signed with its receiver\'s secret');
    assert.notEqual(global.received[0]!.signature, own.received[0]!.signature);

    // Only the stream's relay reports its recording.
    await rejectsWith(broadcaster.reportRecording('hooked', { recordingId: 'rec1' }), { code: 'FORBIDDEN', reason: 'not_stream_relay' });
    await relayNode.client(o.url).reportRecording('hooked', { recordingId: 'rec1', durationSeconds: 12 });
    assert.deepEqual((await broadcaster.stream('hooked')).recording, { recordingId: 'rec1', durationSeconds: 12 });

    await broadcaster.closeSession('hooked');
    await waitFor('recording.ready and stream.ended', () => global.events().length === 3 && own.events().length === 3, 5_000, 20);
    assert.deepEqual(global.events().map((e) => e.type), ['stream.started', 'recording.ready', 'stream.ended']);
    assert.equal(global.events()[2]!.data.reason, 'closed');
    const log = await waitFor('every delivery logged as delivered', async () => {
      const l = await broadcaster.webhookDeliveries('hooked');
      return l.length === 6 && l.every((d) => d.state === 'delivered') ? l : undefined;
    }, 5_000, 20);
    assert.deepEqual(new Set(log.map((d) => d.url)), new Set([global.url, own.url]));
    assert.ok(!JSON.stringify(log).includes(keySecret) && !JSON.stringify(await broadcaster.stream('hooked')).includes(keySecret), 'no secret is ever shown');
  });

  it('loses nothing across an orchestrator restart: deliveries queued for a failing receiver are sent by the restarted orchestrator', async () => {
    const receiver = await startWebhookReceiver(globalSecret);
    cleanup.push(() => receiver.close());
    receiver.answer = 503;
    const dataDir = tempDir();
    const first = await orchestrator(dataDir, receiver);
    await relay(first);
    const broadcaster = new OrchestratorClient(first.url, { identity: randomIdentity() });
    await broadcaster.openSession({ playbackId: 'restarted', renditions, startedAt: new Date().toISOString() });
    await broadcaster.closeSession('restarted');
    await waitFor('failed attempts at both events', () => new Set(receiver.received.map((r) => JSON.parse(r.body).type)).size === 2, 5_000, 20);
    await first.stop();
    const attemptsBefore = receiver.received.length;

    receiver.answer = 200;
    const second = await orchestrator(dataDir, receiver);
    cleanup.push(() => second.stop());
    await waitFor('both events delivered after the restart', () => receiver.events().length === 2, 10_000, 20);
    assert.ok(receiver.received.length > attemptsBefore);
    assert.deepEqual(receiver.events().map((e) => e.type).sort(), ['stream.ended', 'stream.started']);
    // The restarted orchestrator still knows the stream ended, and does not announce it again.
    const status = await new OrchestratorClient(second.url).stream('restarted');
    assert.equal(status.state, 'ended');
    const log = await new OrchestratorClient(second.url).webhookDeliveries();
    assert.deepEqual(log.map((d) => d.state), ['delivered', 'delivered']);
    assert.ok(log.every((d) => d.attempts >= 2));
  });
});
