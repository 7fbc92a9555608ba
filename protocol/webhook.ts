// Wire contract of webhooks: the events the orchestrator delivers to a streamer's receivers, the endpoint a
// streamer configures (URL and shared secret), and the signature scheme. Like Stripe's: the
// `Castnet-Signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, so a
// receiver checks both that the body is the sender's and that it was signed recently; the event's `id` in
// the signed body lets it refuse a replay of a delivery it already took (protocol/webhook-verifier.ts).

import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { idPattern } from './fields.ts';

export const WEBHOOK_SIGNATURE_HEADER = 'castnet-signature';
/** The event id, also in the body: a receiver may dedupe before parsing. */
export const WEBHOOK_ID_HEADER = 'castnet-webhook-id';

export const WEBHOOK_EVENT_TYPES = ['stream.started', 'stream.ended', 'recording.ready', 'stream.transcode_failed'] as const;
export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof webhookEventTypeSchema>;

/** One event as delivered (the JSON body of the POST). The same event keeps its id over every retry. */
export const webhookEventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_-]{8,64}$/),
  type: webhookEventTypeSchema,
  createdAt: z.iso.datetime({ offset: true }),
  playbackId: z.string().regex(idPattern),
  data: z.record(z.string(), z.unknown()),
});
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

/** Shortest secret accepted: 128 bits of base64url. */
export const WEBHOOK_SECRET_MIN_CHARS = 22;

/**
 * A receiver: an http(s) URL without userinfo (a path and query are fine: it is not a node URL). Whether its
 * host may be private is the orchestrator's rule (--allow-private-nodes), checked again at connect time.
 */
export const webhookUrlSchema = z
  .string()
  .max(2_048)
  .refine((v) => URL.canParse(v), 'a webhook URL must be a URL')
  .refine((v) => /^https?:$/.test(new URL(v).protocol), 'a webhook URL must be http or https')
  .refine((v) => !new URL(v).username && !new URL(v).password, 'a webhook URL must not carry a user name or password');

export const webhookEndpointSchema = z.object({
  url: webhookUrlSchema,
  secret: z.string().min(WEBHOOK_SECRET_MIN_CHARS).max(256).regex(/^[\x21-\x7e]+$/, 'a webhook secret is printable ASCII without spaces'),
});
export type WebhookEndpoint = z.infer<typeof webhookEndpointSchema>;
/** Receivers one stream key may name. */
export const MAX_STREAM_WEBHOOKS = 4;

/** The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`. */
export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
}

/** The `Castnet-Signature` header value for `body` signed at `timestampSeconds`. */
export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  return `t=${timestampSeconds},v1=${webhookSignature(secret, timestampSeconds, body)}`;
}

/** One delivery as `GET /api/webhooks/deliveries` lists it (no secret; the URL without its query). */
export const webhookDeliverySchema = z.object({
  id: z.number().int(),
  eventId: z.string(),
  type: z.string(),
  playbackId: z.string(),
  url: z.string(),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type WebhookDeliveryListing = z.infer<typeof webhookDeliverySchema>;
