// The `Castnet-Payment` header on a segment request: base64 JSON carrying the fields a batch of tickets
// shares once (sender and ticket parameters) plus each ticket's nonce and signature.

import { z } from 'zod';
import { CastnetError } from './errors.ts';
import { addressString, describeIssues, signatureString } from './fields.ts';
import { ticketParamsSchema, ticketParamsToJson, type TicketParams } from './ticket-params.ts';
import { fromHex, toHex, type Ticket } from './ticket.ts';

export const PAYMENT_HEADER = 'castnet-payment';
/** On a transcode answer: a ticket won, so the parameters used are spent; fetch new ones before the next segment. */
export const PARAMS_SPENT_HEADER = 'castnet-ticket-params-spent';
/** A bound on one header's batch: the header stays well under HTTP header limits. */
export const MAX_TICKETS_PER_PAYMENT = 64;

const paymentSchema = z.object({
  sender: addressString.transform((s) => s.toLowerCase()),
  ticketParams: ticketParamsSchema,
  tickets: z
    .array(z.object({ senderNonce: z.number().int().nonnegative().max(0xffffffff), signature: signatureString }))
    .min(1)
    .max(MAX_TICKETS_PER_PAYMENT),
});

export interface Payment {
  sender: string;
  ticketParams: TicketParams;
  tickets: Array<{ senderNonce: number; signature: Uint8Array }>;
}

export function encodePayment(p: Payment): string {
  const json = { sender: p.sender, ticketParams: ticketParamsToJson(p.ticketParams), tickets: p.tickets.map((t) => ({ senderNonce: t.senderNonce, signature: toHex(t.signature) })) };
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

export type PaymentRefusal =
  | 'missing'
  | 'malformed'
  | 'wrong_recipient'
  | 'invalid_params'
  | 'expired'
  | 'params_revealed'
  | 'bad_signature'
  | 'replayed_nonce'
  | 'insufficient_value'
  | 'insufficient_deposit'
  /** The recipient cannot learn the sender's funds (or the chain's state) now: it will not work on trust. */
  | 'funds_unknown'
  | 'price_too_high';

export function paymentRequired(reason: PaymentRefusal, message: string, context: Record<string, unknown> = {}): CastnetError {
  return new CastnetError('PAYMENT_REQUIRED', message, { ...context, reason });
}

export function decodePayment(header: string | string[] | undefined): Payment {
  if (!header || Array.isArray(header)) throw paymentRequired('missing', 'a Castnet-Payment header is required');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw paymentRequired('malformed', 'Castnet-Payment is not base64 JSON');
  }
  const parsed = paymentSchema.safeParse(json);
  if (!parsed.success) throw paymentRequired('malformed', `Castnet-Payment is malformed: ${describeIssues(parsed.error)}`);
  return { ...parsed.data, tickets: parsed.data.tickets.map((t) => ({ senderNonce: t.senderNonce, signature: fromHex(t.signature, 65) })) };
}

export function ticketOf(p: Payment, senderNonce: number): Ticket {
  const tp = p.ticketParams;
  return {
    recipient: tp.recipient,
    sender: p.sender,
    faceValue: tp.faceValue,
    winProb: tp.winProb,
    senderNonce,
    recipientRandHash: tp.recipientRandHash,
    creationRound: tp.creationRound,
    creationRoundBlockHash: tp.creationRoundBlockHash,
  };
}
