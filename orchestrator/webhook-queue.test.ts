// The delivery queue against a real HTTP receiver on loopback, over a real SQLite file.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { outboundFetch } from '../http/outbound-fetch.ts';
import type { WebhookEvent } from '../protocol/webhook.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../test/support/webhook-receiver.ts';
import { testLogger, waitFor } from '../test/support/network.ts';
import { WebhookQueue } from './webhook-queue.ts';

const secret = 'whsec_queue-test-secret-000000';
const event = (id: string, playbackId = 'p1'): WebhookEvent => ({ id: `evt_${id}`, type: 'stream.started', createdAt: new Date().toISOString(), playbackId, data: { n: 1 } });

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(secret);
  cleanup.push(() => r.close());
  return r;
}

function queue(path: string, options: { allowPrivate?: boolean; maxAttempts?: number } = {}): WebhookQueue {
  const q = new WebhookQueue({ path, fetch: outboundFetch({ allowPrivate: options.allowPrivate ?? true }), logger: testLogger, retryBaseMs: 50, maxAttempts: options.maxAttempts ?? 8, pollMs: 20 });
  cleanup.push(() => q.close());
  q.start();
  return q;
}

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-webhooks-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'webhooks.sqlite');
}

describe('WebhookQueue', () => {
  it('delivers an event signed so that the sample verifier accepts it, and logs the delivery', async () => {
    const r = await receiver();
    const q = queue(':memory:');
    q.enqueue(event('delivered01'), [{ url: `${r.url}?token=receiver-own`, secret }]);
    await waitFor('the delivery', () => r.events().length === 1, 5_000, 20);
    assert.equal(r.events()[0]!.id, 'evt_delivered01');
    const [d] = await waitFor('the log', () => (q.deliveries()[0]?.state === 'delivered' ? q.deliveries() : undefined), 5_000, 20);
    assert.equal(d!.attempts, 1);
    assert.equal(d!.lastStatus, 200);
    assert.equal(d!.url, r.url, 'the log shows no query string');
  });

  it('retries a failing receiver with growing delays until it answers, under the same event id', async () => {
    const r = await receiver();
    r.answer = 503;
    const q = queue(':memory:');
    const retries: number[] = [];
    q.on('retrying', (d) => retries.push(Date.parse(d.nextAttemptAt!) - Date.now()));
    q.enqueue(event('retried001'), [{ url: r.url, secret }]);
    await waitFor('three failed attempts', () => r.received.length >= 3, 5_000, 10);
    r.answer = 200;
    await waitFor('the delivery', () => r.events().length === 1, 5_000, 10);
    const ids = new Set(r.received.map((x) => JSON.parse(x.body).id));
    assert.deepEqual([...ids], ['evt_retried001']);
    assert.ok(retries.length >= 3);
    assert.ok(retries[2]! > retries[0]!, `backoff grows: ${retries.join(', ')} ms`);
    const d = await waitFor('delivered in the log', () => (q.deliveries()[0]?.state === 'delivered' ? q.deliveries()[0] : undefined), 5_000, 10);
    assert.equal(d.attempts, r.received.length);
  });

  it('marks a delivery failed after its last attempt', async () => {
    const r = await receiver();
    r.answer = 500;
    const q = queue(':memory:', { maxAttempts: 2 });
    q.enqueue(event('gives-up01'), [{ url: r.url, secret }]);
    const d = await waitFor('failed in the log', () => (q.deliveries()[0]?.state === 'failed' ? q.deliveries()[0] : undefined), 5_000, 10);
    assert.equal(d.attempts, 2);
    assert.equal(d.lastError, 'answered 500');
  });

  it('keeps queued deliveries across a restart and sends them after it', async () => {
    const path = tempFile();
    const r = await receiver();
    r.answer = 503;
    const first = queue(path);
    first.enqueue(event('survives01'), [{ url: r.url, secret }]);
    await waitFor('a failed attempt', () => r.received.length >= 1, 5_000, 10);
    await first.close();
    r.answer = 200;
    const second = queue(path);
    await waitFor('the delivery after the restart', () => r.events().length === 1, 5_000, 10);
    assert.equal(r.events()[0]!.id, 'evt_survives01');
    // The receiver has the request before the queue has its answer: the queue marks it delivered just after.
    await waitFor('the delivery marked delivered', () => second.deliveries()[0]?.state === 'delivered', 5_000, 10);
    assert.equal(second.deliveries()[0]!.state, 'delivered');
  });

  it('refuses a receiver on a private address without --allow-private-nodes, at once and without retrying', async () => {
    const r = await receiver();
    const q = queue(':memory:', { allowPrivate: false });
    q.enqueue(event('private001'), [{ url: r.url, secret }]);
    const d = await waitFor('failed in the log', () => (q.deliveries()[0]?.state === 'failed' ? q.deliveries()[0] : undefined), 5_000, 10);
    assert.equal(d.attempts, 1);
    assert.match(d.lastError!, /^refused: .*private/);
    assert.equal(r.received.length, 0);
  });
});
