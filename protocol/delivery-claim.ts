// Wire contract of a relay's claim to a stream's payer (`POST /delivery/claims`, signed by the relay's node
// key) and the payer's answer: the relay's newest receipts and its ticket parameters, then per receipt what
// was credited or why not, and the tickets paying for it.

import { z } from 'zod';
import { MAX_RECEIPTS_PER_CLAIM, signedReceiptSchema } from './delivery-receipt.ts';
import { idPattern } from './fields.ts';
import { ticketParamsSchema } from './ticket-params.ts';

/** What a relay sends its payer (`POST /delivery/claims`, a signed request by the relay's node key). */
export const claimSchema = z.object({
  playbackId: z.string().regex(idPattern),
  /** Ticket parameters the relay issued to the payer (its `pricePerPixel` field carries wei per byte). */
  ticketParams: ticketParamsSchema,
  receipts: z.array(signedReceiptSchema).max(MAX_RECEIPTS_PER_CLAIM),
});
export type Claim = z.infer<typeof claimSchema>;

/** Why the payer credits nothing for a receipt. */
export type ReceiptRefusal =
  | 'bad_certificate'
  | 'bad_signature'
  | 'wrong_stream'
  | 'wrong_relay'
  | 'replayed'
  | 'regressed'
  | 'over_budget'
  | 'expired'
  | 'implausible'
  | 'unknown_segment'
  | 'not_an_edge'
  | 'busy';

export const claimResultSchema = z.object({
  session: z.string(),
  /** New bytes credited for this receipt (0 when refused). */
  credited: z.number().int().nonnegative(),
  reason: z.string().optional(),
});

/** The payer's answer to a claim: per receipt what was credited or why not, and the tickets paying for it. */
export const claimAnswerSchema = z.object({
  results: z.array(claimResultSchema).max(MAX_RECEIPTS_PER_CLAIM),
  /** Wei per byte the credit is paid at. */
  pricePerByte: z.string().regex(/^\d{1,78}$/),
  /** A Castnet-Payment value (protocol/payment.ts), or null when nothing is owed this time. */
  payment: z.string().max(64 * 1024).nullable(),
  /** Wei this relay has been credited and paid (in expected value) for the stream, over every claim. */
  owedWei: z.string().regex(/^\d{1,78}$/),
  paidWei: z.string().regex(/^\d{1,78}$/),
});
export type ClaimAnswer = z.infer<typeof claimAnswerSchema>;

