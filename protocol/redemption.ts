// Wire contract of the ledger API: a ticket as JSON (bigints as decimal strings), redemption requests,
// deposits and account answers.

import { z } from 'zod';
import { decimalString, hex, uint } from './fields.ts';
import { fromHex, toHex, type Ticket } from './ticket.ts';

export const ticketJsonSchema = z.object({
  recipient: hex(20),
  sender: hex(20),
  faceValue: uint,
  winProb: uint,
  senderNonce: z.number().int().nonnegative().max(0xffffffff),
  recipientRandHash: hex(32),
  creationRound: uint,
  creationRoundBlockHash: hex(32),
});

export function ticketToJson(t: Ticket): Record<string, string | number> {
  return { ...t, faceValue: t.faceValue.toString(), winProb: t.winProb.toString(), creationRound: t.creationRound.toString() };
}

export const redemptionRequestSchema = z.object({
  ticket: ticketJsonSchema,
  signature: hex(65).transform((s) => fromHex(s, 65)),
  recipientRand: hex(32).transform((s) => fromHex(s, 32)),
});

export function redemptionRequest(ticket: Ticket, signature: Uint8Array, recipientRand: Uint8Array) {
  return { ticket: ticketToJson(ticket), signature: toHex(signature), recipientRand: toHex(recipientRand) };
}

export const depositRequestSchema = z.object({
  address: hex(20),
  amount: uint,
  reserve: uint.default(0n),
});

/** A deposit of `amount` (and `reserve`) wei for `address`, as JSON. */
export function depositRequest(address: string, amount: bigint, reserve = 0n) {
  return { address, amount: amount.toString(), reserve: reserve.toString() };
}

/** An account as `GET /api/ledger/accounts[/:address]` and `POST /api/ledger/deposits` answer it; wei as decimal strings. */
export const accountJsonSchema = z.object({
  address: z.string(),
  deposit: decimalString,
  reserve: decimalString,
  /** Reserve paid out of this account's reserve so far (absent from older ledgers). */
  reserveClaimed: decimalString.default('0'),
  earned: decimalString,
  spent: decimalString,
  /** Earnings moved out with `POST /api/ledger/withdrawals` (absent from older ledgers). */
  withdrawn: decimalString.default('0'),
  /** With `?recipient=`: the most one winning ticket pays that recipient now (deposit + its reserve allocation). */
  payable: decimalString.optional(),
});
export type AccountJson = z.infer<typeof accountJsonSchema>;

/** The answer to `POST /api/ledger/redemptions`. */
export const redemptionAnswerSchema = z.object({ ticketHash: z.string(), paid: uint, fromReserve: uint });
export type RedemptionAnswer = z.infer<typeof redemptionAnswerSchema>;
