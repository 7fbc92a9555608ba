// The sample verifier against the signer: what it accepts and each reason it refuses.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { signWebhook } from './webhook.ts';
import { createWebhookVerifier, WebhookVerificationError } from './webhook-verifier.ts';

const secret = 'whsec_0123456789abcdefghijklmnop';
const body = JSON.stringify({ id: 'evt_abcdefgh1234', type: 'stream.started', createdAt: '2026-01-01T00:00:00.000Z', playbackId: 'p', data: {} });
const refuses = (f: () => unknown, reason: string) => assert.throws(f, (err) => err instanceof WebhookVerificationError && err.reason === reason);

describe('createWebhookVerifier', () => {
  it('accepts a body signed with the secret within the tolerance', () => {
    const now = 1_767_225_600_000;
    const verify = createWebhookVerifier({ secret, now: () => now });
    assert.equal(verify(body, signWebhook(secret, now / 1000 - 10, body)).id, 'evt_abcdefgh1234');
  });

  it('refuses a wrong secret, a changed body, a missing header, a stale timestamp and a replayed event', () => {
    let now = 1_767_225_600_000;
    const verify = createWebhookVerifier({ secret, toleranceSeconds: 300, now: () => now });
    const t = now / 1000;
    refuses(() => verify(body, signWebhook('whsec_another-secret-of-22chars', t, body)), 'bad_signature');
    refuses(() => verify(body.replace('started', 'ended'), signWebhook(secret, t, body)), 'bad_signature');
    // The timestamp is signed too: moving it forward breaks the signature.
    refuses(() => verify(body, signWebhook(secret, t, body).replace(`t=${t}`, `t=${t + 1}`)), 'bad_signature');
    refuses(() => verify(body, undefined), 'no_signature');
    refuses(() => verify(body, 'v1=zz'), 'no_signature');
    refuses(() => verify(body, signWebhook(secret, t - 301, body)), 'stale_timestamp');
    verify(body, signWebhook(secret, t, body));
    // The same event again, freshly signed (a captured delivery replayed within the tolerance).
    refuses(() => verify(body, signWebhook(secret, t + 5, body)), 'replayed');
    // Past the tolerance the id is forgotten, but an old capture then fails the timestamp check.
    now += 700_000;
    refuses(() => verify(body, signWebhook(secret, t, body)), 'stale_timestamp');
  });
});
