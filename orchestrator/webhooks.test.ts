// Which events become webhooks: real sessions, registry, lifecycle and queue, a real receiver.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'vitest';
import { outboundFetch } from '../http/outbound-fetch.ts';
import { startWebhookReceiver } from '../test/support/webhook-receiver.ts';
import { testLogger, waitFor } from '../test/support/network.ts';
import { NodeRegistry } from './node-registry.ts';
import { CapacityPriceScheduler } from './scheduler.ts';
import { StreamLifecycle } from './stream-lifecycle.ts';
import { StreamSessions } from './stream-sessions.ts';
import { WebhookQueue } from './webhook-queue.ts';
import { TRANSCODE_FAILED_INTERVAL_MS, Webhooks } from './webhooks.ts';

const secret = 'whsec_webhooks-unit-secret-000';
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const clock = { now: Date.now() };
  const receiver = await startWebhookReceiver(secret);
  const nodes = new NodeRegistry({ timeoutMs: 3_600_000, now: () => clock.now });
  const streams = new StreamSessions({ nodes, scheduler: new CapacityPriceScheduler(), ttlMs: 3_600_000, now: () => clock.now });
  const lifecycle = new StreamLifecycle({ path: ':memory:', now: () => clock.now });
  streams.on('opened', (r, owner) => lifecycle.observe(r, owner, streams.get(r.playbackId)?.relayId ?? null));
  const queue = new WebhookQueue({ path: ':memory:', fetch: outboundFetch({ allowPrivate: true }), logger: testLogger, pollMs: 10 });
  queue.start();
  const webhooks = new Webhooks({ queue, lifecycle, streams, nodes, global: [{ url: receiver.url, secret }], now: () => clock.now });
  cleanup.push(() => receiver.close(), () => queue.close(), () => webhooks.close(), () => lifecycle.close());
  const node = (role: 'relay' | 'transcoder', port: number) =>
    nodes.register({ role, url: `http://127.0.0.1:${port}`, paymentAddress: `0x${String(port).padStart(40, '0')}`, version: '1', capabilities: { encoders: ['libx264'], maxSessions: 10, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } });
  const request = (avoid: string[] = [], reason = 'transcoder_error') => ({ playbackId: 's', broadcaster: 'b', renditions: [{ name: 'source', width: 2, height: 2 }], startedAt: new Date(clock.now).toISOString(), avoid, failures: avoid.map((node) => ({ node, reason })) });
  return { clock, receiver, streams, node, request };
}

describe('Webhooks', () => {
  it("turns the owner's failure reports about the stream's transcoders into stream.transcode_failed, at most once per interval, and ignores reports about relays", async () => {
    const t = await setup();
    const relay = t.node('relay', 1001);
    const bad = t.node('transcoder', 2001);
    t.node('transcoder', 2002);
    t.node('transcoder', 2003);
    t.streams.open(t.request(), 'owner');
    t.streams.open(t.request([bad.url]), 'owner');
    t.clock.now += 2_000;
    t.streams.open(t.request([t.streams.get('s')!.transcoderIds[0]!]), 'owner');
    t.streams.open(t.request([relay.url], 'unreachable'), 'owner');
    await waitFor('the started and one failure event', () => t.receiver.events().length === 2, 5_000, 10);
    t.clock.now += TRANSCODE_FAILED_INTERVAL_MS;
    t.streams.open(t.request([t.streams.get('s')!.transcoderIds[0]!], 'bad_output'), 'owner');
    await waitFor('the second failure event', () => t.receiver.events().length === 3, 5_000, 10);
    const events = t.receiver.events();
    assert.deepEqual(events.map((e) => e.type), ['stream.started', 'stream.transcode_failed', 'stream.transcode_failed']);
    assert.deepEqual(events[1]!.data, { transcoder: bad.url, reason: 'transcoder_error' });
    assert.equal(events[2]!.data.reason, 'bad_output');
  });
});
