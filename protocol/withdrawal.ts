// Wire contract of a withdrawal of earnings from the embedded ledger (`POST /api/ledger/withdrawals`): the
// account's owner signs {address, amount, to, timestamp} with its own key, so only it can move its earnings,
// and the ledger refuses a stale timestamp or an (address, timestamp) pair it has already seen (replays).

import { keccak_256 } from '@noble/hashes/sha3.js';
import { z } from 'zod';
import { decimalString, hex, uint } from './fields.ts';
import { fromHex, signHash, toHex } from './ticket.ts';

/** Versioned domain of the signed message: a signature over anything else never reads as a withdrawal. */
export const WITHDRAWAL_DOMAIN = 'castnet/withdrawal/1';
/** A withdrawal whose timestamp is further than this from the ledger's clock is refused. */
export const WITHDRAWAL_MAX_SKEW_MS = 60_000;

export interface Withdrawal {
  /** The account whose earnings move (lower case). */
  address: string;
  /** Wei. */
  amount: bigint;
  /** Where they go (lower case). */
  to: string;
  /** Milliseconds since the epoch, when the owner signed. */
  timestamp: number;
}

/** keccak-256 of the domain and every field, newline-separated: what the owner signs (EIP-191). */
export function withdrawalHash(w: Withdrawal): Uint8Array {
  return keccak_256(new TextEncoder().encode([WITHDRAWAL_DOMAIN, w.address.toLowerCase(), w.amount.toString(), w.to.toLowerCase(), String(w.timestamp)].join('\n')));
}

export const withdrawalRequestSchema = z.object({
  address: hex(20),
  amount: uint,
  to: hex(20),
  timestamp: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  signature: hex(65).transform((s) => fromHex(s, 65)),
});
export type WithdrawalRequest = z.infer<typeof withdrawalRequestSchema>;

/** A signed withdrawal as JSON. */
export function withdrawalRequest(w: Withdrawal, privateKey: Uint8Array) {
  return { address: w.address.toLowerCase(), amount: w.amount.toString(), to: w.to.toLowerCase(), timestamp: w.timestamp, signature: toHex(signHash(withdrawalHash(w), privateKey)) };
}

/** The answer to `POST /api/ledger/withdrawals`: the withdrawal as recorded, and the account's totals after it. */
export const withdrawalAnswerSchema = z.object({ address: z.string(), amount: decimalString, to: z.string(), timestamp: z.number(), withdrawn: decimalString, withdrawable: decimalString });
export type WithdrawalAnswer = z.infer<typeof withdrawalAnswerSchema>;
