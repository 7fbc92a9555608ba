// The node registry's states with a URL proof it is given: pending until proved, unproven (retried with
// backoff) when the proof fails, proved again after a URL change; records keyed by key; source caps.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { CastnetError } from '../protocol/errors.ts';
import type { NodeRegistration } from '../protocol/node-record.ts';
import { NodeRegistry } from './node-registry.ts';

const key = (n: number) => `0x${String(n).padStart(40, '0')}`;
const registration = (n: number, url = `http://127.0.0.1:${1000 + n}`): NodeRegistration => ({ role: 'relay', url, paymentAddress: key(n), version: '1', capabilities: { encoders: [], maxSessions: 4, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } });
const settled = () => new Promise((r) => setImmediate(r));

describe('node registry', () => {
  it('schedules a node only once its URL is proved, and proves a new URL again', async () => {
    const answers = new Map<string, boolean>();
    const proofs: string[] = [];
    const nodes = new NodeRegistry({ timeoutMs: 10_000, proveUrl: async (url) => { proofs.push(url); if (!answers.get(url)) throw new CastnetError('FORBIDDEN', 'no', { reason: 'proof_wrong_key' }); } });
    answers.set('http://127.0.0.1:1001', true);
    nodes.register(registration(1));
    assert.equal(nodes.status(key(1))?.state, 'pending-proof');
    assert.deepEqual(nodes.schedulable(), []);
    await settled();
    assert.equal(nodes.status(key(1))?.state, 'active');
    nodes.register(registration(1));
    assert.equal(proofs.length, 1, 'a known URL is not proved again');
    nodes.register(registration(1, 'http://127.0.0.1:2001'));
    assert.equal(nodes.status(key(1))?.state, 'pending-proof');
    await settled();
    assert.deepEqual(nodes.status(key(1)), { state: 'unproven', reason: 'proof_wrong_key: no' });
    assert.deepEqual(nodes.schedulable(), []);
  });

  it('retries a failed proof on later heartbeats, after a backoff', async () => {
    const clock = { now: 0 };
    let honest = false;
    let attempts = 0;
    const nodes = new NodeRegistry({ timeoutMs: 60_000, now: () => clock.now, proveUrl: async () => { attempts++; if (!honest) throw new CastnetError('FORBIDDEN', 'not yet', { reason: 'proof_unreachable' }); } });
    nodes.register(registration(1));
    await settled();
    nodes.heartbeat(key(1), { sessions: 0, inFlight: 0 });
    assert.equal(attempts, 1, 'not retried within the backoff');
    honest = true;
    clock.now += 5_000;
    nodes.heartbeat(key(1), { sessions: 0, inFlight: 0 });
    await settled();
    assert.equal(attempts, 2);
    assert.equal(nodes.status(key(1))?.state, 'active');
  });

  it('caps nodes per source and in all, and frees a slot when a node falls silent', () => {
    const clock = { now: 0 };
    const nodes = new NodeRegistry({ timeoutMs: 1_000, now: () => clock.now, limits: { maxNodes: 3, maxNodesPerSource: 2 } });
    nodes.register(registration(1), '10.0.0.1');
    nodes.register(registration(2), '10.0.0.1');
    assert.throws(() => nodes.register(registration(3), '10.0.0.1'), { code: 'RATE_LIMITED', context: { node: key(3), reason: 'too_many_nodes_from_source' } } as object);
    nodes.register(registration(1), '10.0.0.1');
    nodes.register(registration(3), '10.0.0.2');
    assert.throws(() => nodes.register(registration(4), '10.0.0.3'), { code: 'UNAVAILABLE' });
    clock.now += 2_000;
    nodes.register(registration(3), '10.0.0.2');
    nodes.sweep();
    nodes.register(registration(5), '10.0.0.1');
    assert.deepEqual(nodes.list().map((n) => n.id).sort(), [key(3), key(5)]);
  });

  it('limits how fast one source brings new keys', () => {
    const nodes = new NodeRegistry({ timeoutMs: 1_000, limits: { newNodesPerMinute: 2 }, now: () => 0 });
    nodes.register(registration(1), 's');
    nodes.register(registration(2), 's');
    assert.throws(() => nodes.register(registration(3), 's'), { code: 'RATE_LIMITED', context: { node: key(3), reason: 'registration_rate' } } as object);
  });

  it('keeps a banned node out of scheduling until the ban is lifted', () => {
    const nodes = new NodeRegistry({ timeoutMs: 10_000 });
    nodes.register(registration(1));
    nodes.ban(key(1), 'repeated failures');
    assert.deepEqual(nodes.status(key(1)), { state: 'banned', reason: 'repeated failures' });
    assert.deepEqual(nodes.schedulable(), []);
    nodes.unban(key(1));
    assert.equal(nodes.status(key(1))?.state, 'active');
  });
});
