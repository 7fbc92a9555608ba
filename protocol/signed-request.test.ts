// Signed requests: what is signed (method, path and query, body bytes, timestamp, signer), and what the
// verifier refuses: missing or malformed headers, a stale timestamp, a replay, a signature over anything else.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { identityFromPrivateKey } from './identity.ts';
import { RequestVerifier, SIGNED_REQUEST_HEADERS, SIGNED_REQUEST_MAX_SKEW_MS, signRequest, signedRequestHash } from './signed-request.ts';

const alice = identityFromPrivateKey(randomBytes(32));
const body = new TextEncoder().encode('{"role":"relay"}');

function received(headers: Record<string, string>, overrides: Partial<{ method: string; path: string; body: Uint8Array }> = {}) {
  return { method: 'POST', path: '/api/nodes', body, ...overrides, header: (name: string) => headers[name] };
}

describe('signed requests', () => {
  it("verifies a request signed by its key and answers the signer's address", () => {
    const clock = { now: 1_000_000 };
    const verifier = new RequestVerifier({ now: () => clock.now });
    const headers = signRequest(alice, { method: 'post', path: '/api/nodes', body, timestamp: clock.now });
    assert.equal(verifier.verify(received(headers)), alice.address);
  });

  it('signs every part: another method, path, query, body byte, timestamp or signer is another hash', () => {
    const base = { method: 'POST', path: '/api/nodes', body, timestamp: 1, address: alice.address };
    const hash = Buffer.from(signedRequestHash(base)).toString('hex');
    const variants = [{ method: 'DELETE' }, { path: '/api/streams' }, { path: '/api/nodes?x=1' }, { body: new TextEncoder().encode('{"role":"relay" }') }, { timestamp: 2 }, { address: `0x${'11'.repeat(20)}` }];
    for (const v of variants) assert.notEqual(Buffer.from(signedRequestHash({ ...base, ...v })).toString('hex'), hash, JSON.stringify(v));
  });

  it('refuses a request without, or with malformed, signature headers', () => {
    const verifier = new RequestVerifier();
    assert.throws(() => verifier.verify(received({})), { code: 'SIGNATURE_INVALID', context: { reason: 'signature_missing' } } as object);
    const headers = { ...signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() }), [SIGNED_REQUEST_HEADERS.timestamp]: 'yesterday' };
    assert.throws(() => verifier.verify(received(headers)), { context: { reason: 'signature_malformed' } } as object);
  });

  it(`refuses a timestamp more than ${SIGNED_REQUEST_MAX_SKEW_MS / 1000} s from its clock, either way`, () => {
    const clock = { now: 10_000_000 };
    const verifier = new RequestVerifier({ now: () => clock.now });
    for (const offset of [-SIGNED_REQUEST_MAX_SKEW_MS - 1, SIGNED_REQUEST_MAX_SKEW_MS + 1]) {
      const headers = signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: clock.now + offset });
      assert.throws(() => verifier.verify(received(headers)), { context: { reason: 'signature_stale' } } as object);
    }
    assert.equal(verifier.verify(received(signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: clock.now + SIGNED_REQUEST_MAX_SKEW_MS }))), alice.address);
  });

  it('refuses a replay within the window, and forgets requests once their timestamp can no longer pass', () => {
    const clock = { now: 10_000_000 };
    const verifier = new RequestVerifier({ now: () => clock.now });
    const headers = signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: clock.now });
    verifier.verify(received(headers));
    assert.throws(() => verifier.verify(received(headers)), { context: { reason: 'signature_replayed' } } as object);
    clock.now += 2 * SIGNED_REQUEST_MAX_SKEW_MS + 1;
    verifier.verify(received(signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: clock.now })));
    assert.equal(verifier.remembered, 1, 'the old request aged out');
    assert.throws(() => verifier.verify(received(headers)), { context: { reason: 'signature_stale' } } as object);
  });

  it('refuses a signature over another body, path or signer, and remembers nothing it refused', () => {
    const verifier = new RequestVerifier();
    const headers = signRequest(alice, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() });
    assert.throws(() => verifier.verify(received(headers, { body: new TextEncoder().encode('{}') })), { context: { reason: 'signature_invalid' } } as object);
    assert.throws(() => verifier.verify(received(headers, { path: '/api/streams' })), { context: { reason: 'signature_invalid' } } as object);
    const claimed = { ...headers, [SIGNED_REQUEST_HEADERS.address]: `0x${'22'.repeat(20)}` };
    assert.throws(() => verifier.verify(received(claimed)), { context: { reason: 'signature_invalid' } } as object);
    assert.equal(verifier.remembered, 0);
    assert.equal(verifier.verify(received(headers)), alice.address);
  });

  it('refuses new requests once the replay window holds its maximum, with a reason to retry', () => {
    const verifier = new RequestVerifier({ maxRemembered: 1 });
    verifier.verify(received(signRequest(alice, { method: 'POST', path: '/a', body, timestamp: Date.now() }), { path: '/a' }));
    assert.throws(() => verifier.verify(received(signRequest(alice, { method: 'POST', path: '/b', body, timestamp: Date.now() }), { path: '/b' })), { code: 'UNAVAILABLE', context: { reason: 'signature_busy' } } as object);
  });
});
