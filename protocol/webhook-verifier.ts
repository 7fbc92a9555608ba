// The sample webhook verifier the docs show (README "Webhooks"), and the one our tests use: checks the
// `Castnet-Signature` header over the raw body, refuses a timestamp outside the tolerance (a captured
// delivery replayed later) and an event id it has already accepted (one replayed within the tolerance).
// Ids are remembered for the tolerance only: an older replay already fails the timestamp check.

import { createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookRefusal = 'no_signature' | 'bad_signature' | 'stale_timestamp' | 'replayed' | 'bad_body';

export class WebhookVerificationError extends Error {
  readonly reason: WebhookRefusal;
  constructor(reason: WebhookRefusal, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

export interface WebhookVerifierOptions {
  secret: string;
  /** How far a delivery's timestamp may be from the receiver's clock (Stripe's default is 5 minutes). */
  toleranceSeconds?: number;
  now?: () => number;
}

/**
 * Returns `verify(rawBody, signatureHeader)`: the parsed event, or a WebhookVerificationError. A receiver
 * should answer 2xx to `replayed` (it already handled that event: the sender may be retrying a delivery
 * whose answer it lost) and 4xx to the others.
 */
export function createWebhookVerifier({ secret, toleranceSeconds = 300, now = Date.now }: WebhookVerifierOptions) {
  const seen = new Map<string, number>(); // event id → when it stops mattering (ms)
  return function verify(rawBody: string, signatureHeader: string | null | undefined): { id: string; type: string; playbackId: string; data: Record<string, unknown> } {
    const parts = new Map((signatureHeader ?? '').split(',').map((p) => p.trim().split('=', 2) as [string, string]));
    const t = Number(parts.get('t'));
    const v1 = parts.get('v1');
    if (!Number.isInteger(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) throw new WebhookVerificationError('no_signature', 'no t=…,v1=… signature');
    const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
    if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) throw new WebhookVerificationError('bad_signature', 'the signature does not match the body');
    const nowMs = now();
    if (Math.abs(nowMs / 1000 - t) > toleranceSeconds) throw new WebhookVerificationError('stale_timestamp', `signed at ${t}, more than ${toleranceSeconds} s from now`);
    let event: { id: string; type: string; playbackId: string; data: Record<string, unknown> };
    try {
      event = JSON.parse(rawBody);
    } catch {
      throw new WebhookVerificationError('bad_body', 'the body is not JSON');
    }
    for (const [id, until] of seen) if (until < nowMs) seen.delete(id);
    if (seen.has(event.id)) throw new WebhookVerificationError('replayed', `event ${event.id} was already accepted`);
    seen.set(event.id, nowMs + toleranceSeconds * 2_000);
    return event;
  };
}
