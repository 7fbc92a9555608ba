// Ticket parameters a recipient hands a sender (`GET /ticket-params?sender=`), and the recipient's
// stateless check of them: recipientRand = HMAC-SHA256(secret, seed ‖ sender ‖ faceValue ‖ winProb ‖
// expiry ‖ price ‖ auxData), so the recipient recomputes it from what the sender echoes, keeps nothing
// per parameter set, and any tampered parameter fails the recipientRandHash check.

import { randomBytes } from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { hex, uint } from './fields.ts';
import { auxData, fromHex, toHex, uint256 } from './ticket.ts';

export const ticketParamsSchema = z.object({
  recipient: hex(20),
  faceValue: uint,
  winProb: uint,
  recipientRandHash: hex(32),
  seed: hex(32),
  /** Unix ms after which the recipient refuses tickets made with these parameters. */
  expiresAt: z.number().int().nonnegative(),
  /** Wei per output pixel. */
  pricePerPixel: uint,
  creationRound: uint.default(0n),
  creationRoundBlockHash: hex(32).default(`0x${'00'.repeat(32)}`),
});
export type TicketParams = z.infer<typeof ticketParamsSchema>;

/** JSON form: bigints as decimal strings. */
export function ticketParamsToJson(p: TicketParams): Record<string, string | number> {
  return {
    recipient: p.recipient,
    faceValue: p.faceValue.toString(),
    winProb: p.winProb.toString(),
    recipientRandHash: p.recipientRandHash,
    seed: p.seed,
    expiresAt: p.expiresAt,
    pricePerPixel: p.pricePerPixel.toString(),
    creationRound: p.creationRound.toString(),
    creationRoundBlockHash: p.creationRoundBlockHash,
  };
}

export class TicketParamsIssuer {
  private readonly secret: Uint8Array;
  readonly recipient: string;

  constructor(recipient: string, secret: Uint8Array = randomBytes(32)) {
    this.recipient = recipient;
    this.secret = secret;
  }

  recipientRand(p: Omit<TicketParams, 'recipientRandHash' | 'recipient'>, sender: string): Uint8Array {
    return hmac(
      sha256,
      this.secret,
      concatBytes(fromHex(p.seed, 32), fromHex(sender, 20), uint256(p.faceValue), uint256(p.winProb), uint256(BigInt(p.expiresAt)), uint256(p.pricePerPixel), auxData(p)),
    );
  }

  /** `creation`: the block tickets are bound to when they settle on chain (auxData); none off chain. */
  issue(sender: string, terms: { faceValue: bigint; winProb: bigint; pricePerPixel: bigint; ttlMs: number; now: number; creation?: { round: bigint; blockHash: string } }): TicketParams {
    const base = {
      faceValue: terms.faceValue,
      winProb: terms.winProb,
      seed: toHex(randomBytes(32)),
      expiresAt: terms.now + terms.ttlMs,
      pricePerPixel: terms.pricePerPixel,
      creationRound: terms.creation?.round ?? 0n,
      creationRoundBlockHash: terms.creation?.blockHash.toLowerCase() ?? `0x${'00'.repeat(32)}`,
    };
    return { ...base, recipient: this.recipient, recipientRandHash: toHex(keccak_256(this.recipientRand(base, sender))) };
  }

  /** The recipientRand behind echoed parameters, or null if any of them was not issued by us to this sender. */
  verify(p: TicketParams, sender: string): Uint8Array | null {
    if (p.recipient !== this.recipient) return null;
    const rand = this.recipientRand(p, sender);
    return toHex(keccak_256(rand)) === p.recipientRandHash ? rand : null;
  }
}
